"""What the dashboard shows, as JSON, read from the run folders while searches write them.

Everything here reads: the store through :meth:`RunFolder.read_store` (read-only), the lock
through :func:`edgenas.workflows.runs.run_state` (probed, never taken), the report's files by
``stat`` and ``open``. A run whose store cannot be read becomes ``unreadable`` with the reason and
the other runs are still shown: a damaged folder must not blank the page of a healthy one.

A run is named by its path relative to the folder the dashboard watches (``runs/a`` under
``runs``); only names found by :func:`find_runs` are ever served, so a request can never reach a
file outside the watched runs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgenas.errors import EdgenasError
from edgenas.store import RunFolder
from edgenas.workflows.runs import find_runs, run_state

#: The cost figures a trial carries, each with the source the store recorded for it.
COST_FIGURES = ("latency_ms", "peak_sram_bytes", "flash_bytes", "macs", "params", "energy_mj")
#: What no stored run holds today, said on the page instead of an empty panel.
NO_PROFILE = (
    "no best model yet (or its target cannot be loaded again); `edgenas profile RUN/best/model.onnx` measures one on this machine"
)
PROFILE_NOTE = (
    "estimated by the target's analytical model, operator by operator, with the kernel each runs on "
    "(measured per-operator times: `edgenas profile RUN/best/model.onnx`, or `--agent` for a device)"
)


@dataclass(frozen=True)
class WatchedRun:
    """One run folder the dashboard serves, under the name the pages and the API use for it."""

    name: str
    folder: RunFolder


def watched_runs(root: Path) -> dict[str, WatchedRun]:
    """The runs at or under ``root`` by name (a path relative to ``root``'s parent when ``root`` is a
    run itself, so that a run and the runs inside it never share a name)."""
    root = Path(root)
    base = root.parent if RunFolder(root).holds_search() else root
    out: dict[str, WatchedRun] = {}
    for run in find_runs(root):
        name = run.path.relative_to(base).as_posix() if run.path != base else run.path.name
        out[name] = WatchedRun(name, run)
    return out


def signature(run: RunFolder) -> str:
    """Changes whenever what the run page shows may have changed: the store, its log, the report
    files, the lock. Read by ``stat`` alone, so a page that polls costs nothing until a trial lands."""
    parts = []
    for path in (run.store_path, run.wal_path, run.report_json, run.pareto_png, run.measured_latency):
        try:
            info = path.stat()
        except OSError:
            parts.append("-")
            continue
        parts.append(f"{info.st_size}:{info.st_mtime_ns}")
    parts.append(run_state(run) if run.holds_search() else "gone")
    return "/".join(parts)


def overview(watched: WatchedRun) -> dict[str, Any]:
    """One line of the runs list: state, task, strategy, trials by state, best so far."""
    detail = run_detail(watched, with_trials=False)
    keep = ("name", "path", "state", "error", "signature", "task", "target", "strategy", "trials", "best", "limits")
    return {key: detail[key] for key in keep}


def run_detail(watched: WatchedRun, *, with_trials: bool = True) -> dict[str, Any]:
    """Everything the run page draws (``with_trials=False``: the run's line in the list only)."""
    run = watched.folder
    sig = signature(run)
    head: dict[str, Any] = {"name": watched.name, "path": str(run.path), "signature": sig, "error": None}
    try:
        state = run_state(run)
        with run.read_store() as store:
            from edgenas.report.summary import build_summary, trial_record
            from edgenas.spaces import space_from_config

            summary = build_summary(store, run.path)
            if with_trials:
                config = store.read_config() or {}
                space = space_from_config(config)
                trials = [trial_record(t, space.describe) | {"role": t.role} for t in store.trials()]
    except (sqlite3.Error, EdgenasError, ValueError, KeyError, TypeError, OSError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        empty: dict[str, Any] = {"task": None, "target": None, "strategy": None, "trials": {}, "best": None, "limits": {}}
        return head | empty | {"state": "unreadable", "error": f"{run.store_path}: {reason}"}
    search = summary["search"]
    best = summary["best"]
    head |= {
        "state": state,
        "task": summary["task"]["name"],
        "target": summary["target"].get("name"),
        "strategy": search["strategy"],
        "trials": search["trials"],
        "best": None if best is None else {k: best.get(k) for k in ("number", "accuracy", "latency_ms", "peak_sram_bytes")},
        "limits": summary["constraints"],
    }
    if not with_trials:
        return head
    return head | {
        "evaluator": search["evaluator"],
        "seed": search["seed"],
        "epochs": search["epochs"],
        "latency_measured_by": search["latency_measured_by"],
        "latency_predicted_by": search["latency_predicted_by"],
        "trial_rows": trials,
        "best_so_far": best_so_far(trials),
        "estimated_vs_measured": estimated_vs_measured(trials),
        "pareto_png": run.pareto_png.is_file(),
        "profile": summary.get("best_operators"),
        "profile_note": PROFILE_NOTE if summary.get("best_operators") else NO_PROFILE,
        "timing": summary["timing"],
    }


def best_so_far(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The best search accuracy after each completed trial, by trial number (the curve a search climbs)."""
    out: list[dict[str, Any]] = []
    best: float | None = None
    for t in sorted((t for t in trials if t["role"] == "search"), key=lambda t: t["number"]):
        accuracy = t.get("accuracy")
        if t["state"] != "complete" or not isinstance(accuracy, int | float):
            continue
        if best is None or accuracy > best:
            best = float(accuracy)
        out.append({"number": t["number"], "accuracy": accuracy, "best": best})
    return out


def estimated_vs_measured(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each figure a run holds both ways: the search's latency beside the one measured on the agent's
    device (``device_latency_ms``), the estimated peak SRAM and flash beside TFLite Micro's arena and
    the int8 file. Only pairs the store already holds; nothing is measured here."""
    pairs: list[dict[str, Any]] = []
    for t in trials:
        sources = t.get("sources") or {}
        label = "baseline" if t["role"] == "baseline" else f"trial {t['number']}"
        if "device_latency_ms" in t and t.get("latency_ms") is not None:
            pairs.append(_pair(label, "latency_ms", t["latency_ms"], sources.get("latency_ms"), t["device_latency_ms"], "agent"))
        measured = t.get("measured") or {}
        if "arena_bytes" in measured and t.get("peak_sram_bytes") is not None:
            source = sources.get("peak_sram_bytes")
            pairs.append(_pair(label, "peak_sram_bytes", t["peak_sram_bytes"], source, measured["arena_bytes"], "tflm"))
        if "file_bytes" in measured and t.get("flash_bytes") is not None:
            source = sources.get("flash_bytes")
            pairs.append(_pair(label, "flash_bytes", t["flash_bytes"], source, measured["file_bytes"], "tflite"))
    return pairs


def _pair(label: str, figure: str, estimate: float, source: str | None, measured: float, how: str) -> dict[str, Any]:
    by = {"agent": "on the agent's device", "tflm": "TFLite Micro arena", "tflite": "int8 .tflite file"}[how]
    return {
        "trial": label,
        "figure": figure,
        "estimate": estimate,
        "source": source or "estimated",
        "measured": measured,
        "by": by,
    }
