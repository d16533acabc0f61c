"""Runs as a collection: find the search runs under a folder and say what each is, without writing.

``edgenas runs list``, ``runs show``, ``runs compare`` and the dashboard all start here. Everything
is read from the run folders as they are, while searches may be writing them: the store opened
read-only, the run lock probed without being taken (:func:`edgenas.store.lock.is_held`). A folder
whose store cannot be read is reported as ``unreadable`` with the reason, and the others are
still listed: one damaged run must not hide the rest.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgenas.errors import EdgenasError, InvalidInputError
from edgenas.store import RunFolder
from edgenas.store.lock import is_held

#: How deep under the folder given runs are looked for (runs/<name>/, and a sweep's latency-<T>ms/).
MAX_DEPTH = 3
#: Most run folders one listing reads (a home folder passed by mistake must not be walked for minutes).
MAX_RUNS = 1000
#: What a run is doing: a search holds it, it ended with its report, it stopped before (killed,
#: interrupted, out of time: ``--resume`` continues it), or its store cannot be read.
STATES = ("running", "finished", "stopped", "unreadable")


@dataclass(frozen=True)
class RunOverview:
    """One run folder at a glance: what it searched, how far it got, its best trial so far."""

    path: Path
    state: str
    summary: dict[str, Any] = field(default_factory=dict)  # build_summary's dict (empty when unreadable)
    error: str | None = None  # why the run could not be read

    @property
    def name(self) -> str:
        return self.path.name

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.name, "state": self.state, "error": self.error, "summary": self.summary}


def find_runs(root: Path, max_depth: int = MAX_DEPTH) -> list[RunFolder]:
    """The search run folders at or under ``root`` (sorted by path), ``root`` itself included.

    Raises ``InvalidInputError`` when ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError(f"{root}: not a folder (pass a run folder or a folder of runs, e.g. runs/)")
    found = sorted(_walk(root, max_depth), key=lambda run: str(run.path))
    return found[:MAX_RUNS]


def _walk(folder: Path, depth: int) -> Iterator[RunFolder]:
    run = RunFolder(folder)
    if run.holds_search():
        yield run
    if depth <= 0:
        return
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    except OSError:  # a folder we may not read: skipped, like `find` does
        return
    for child in children:
        yield from _walk(child, depth - 1)


def run_state(run: RunFolder) -> str:
    """``running`` while a search holds the folder, ``finished`` once its report is written after
    its last trial, else ``stopped`` (``--resume`` continues it)."""
    if is_held(run.lock_file):
        return "running"
    report = run.report_json
    if report.is_file() and report.stat().st_mtime >= _last_write(run) and not _rebuilt_after_a_stop(report):
        return "finished"
    return "stopped"


def _rebuilt_after_a_stop(report: Path) -> bool:
    """Whether ``edgenas report`` wrote this report for a search that had stopped before its own."""
    try:
        return REBUILT_STOPPED in report.read_text(encoding="utf-8")
    except OSError:
        return False


def _last_write(run: RunFolder) -> float:
    """When the store last changed (the store or its write-ahead log, whichever is newer)."""
    times = [p.stat().st_mtime for p in (run.store_path, run.wal_path) if p.is_file()]
    return max(times, default=0.0) - 1.0  # a report written in the same second as the last trial still counts


def read_run(run: RunFolder) -> RunOverview:
    """The overview of one run; a store that cannot be read gives ``unreadable`` with the reason."""
    from edgenas.report.summary import build_summary

    state = run_state(run)
    try:
        with run.read_store() as store:
            summary = build_summary(store, run.path)
    except (sqlite3.Error, EdgenasError, ValueError, KeyError, TypeError) as exc:
        reason = _reason(exc)
        where = "" if str(run.store_path) in reason else f"{run.store_path}: "  # the reason may name it already
        return RunOverview(run.path, "unreadable", error=where + reason)
    return RunOverview(run.path, state, summary)


def _reason(exc: BaseException) -> str:
    """An exception's first line, short enough for a table cell."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def read_runs(root: Path) -> list[RunOverview]:
    """Every run under ``root``, each read on its own (a damaged one is ``unreadable``, the rest are read)."""
    return [read_run(run) for run in find_runs(root)]


# -- one run's headline figures, the same for `runs list`, `runs show` and `runs compare` -------
#: What a run's stop reason says when its report was rebuilt after the search stopped before its
#: own report (killed, interrupted): such a run is still ``stopped``, whatever the report's time.
REBUILT_STOPPED = "the search stopped before writing its report (rebuilt by `edgenas report`; `--resume` continues it)"


def headline(overview: RunOverview, root: Path | None = None) -> dict[str, Any]:
    """A run's headline as flat JSON: identity, limits in KiB, trial counts, best and baseline.

    Every figure keeps its unit in its name and its source beside it (``latency_source``:
    estimated, measured or predicted, from the trial's cost sources). ``root``: name the run by
    its path under it (a sweep's ``latency-3ms`` folders would otherwise share names).
    """
    name = overview.name
    if root is not None:
        relative = overview.path.relative_to(root) if overview.path.is_relative_to(root) else overview.path
        name = str(relative) if str(relative) != "." else overview.path.name
    out: dict[str, Any] = {"name": name, "path": str(overview.path), "state": overview.state, "error": overview.error}
    summary = overview.summary
    if not summary:
        return out
    search, limits = summary.get("search", {}), summary.get("constraints", {})
    counts = dict(search.get("trials", {}))
    out.update(
        task=summary.get("task", {}).get("name"),
        target=summary.get("target", {}).get("name"),
        limits={
            "latency_ms": limits.get("latency_ms"),
            "sram_kib": _kib(limits.get("sram_bytes")),
            "flash_kib": _kib(limits.get("flash_bytes")),
        },
        strategy=search.get("strategy"),
        latency_source=latency_source(summary),
        evaluator=search.get("evaluator", "train"),
        seed=search.get("seed"),
        epochs=search.get("epochs"),
        trials={"complete": counts.get("complete", 0), "all": sum(counts.values()), "by_state": counts},
        best=figures(summary.get("best")),
        baseline=figures(summary.get("baseline")),
        front_size=len(summary.get("pareto_front", [])),
        wall_s=summary.get("timing", {}).get("wall_s"),
        stop_reason=search.get("stop_reason") or (_reported_stop_reason(overview.path) if overview.state == "finished" else None),
    )
    return out


def latency_source(summary: dict[str, Any]) -> str:
    """How the run's latencies were got: ``estimated``, ``measured`` or ``predicted`` (its best
    trial's cost source, else what the run folder says measured or predicted them)."""
    best = summary.get("best") or {}
    if best.get("sources", {}).get("latency_ms"):
        return str(best["sources"]["latency_ms"])
    search = summary.get("search", {})
    if search.get("latency_measured_by"):
        return "measured"
    if search.get("latency_predicted_by"):
        return "predicted"
    return "estimated"


def figures(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A trial record's headline figures: accuracies as fractions, costs in ms and KiB, with sources."""
    if record is None:
        return None
    sources = record.get("sources", {})
    out: dict[str, Any] = {
        "number": record.get("number"),
        "description": record.get("description"),
        "val_accuracy": record.get("accuracy"),
        "test_accuracy": record.get("test_accuracy"),
        "latency_ms": record.get("latency_ms"),
        "latency_source": sources.get("latency_ms", "estimated"),
        "peak_sram_kib": _kib(record.get("peak_sram_bytes")),
        "peak_sram_source": sources.get("peak_sram_bytes", "estimated"),
        "flash_kib": _kib(record.get("flash_bytes")),
        "flash_source": sources.get("flash_bytes", "estimated"),
    }
    if "proxy_score" in record:  # found by a proxy: its score is not an accuracy
        out.update(proxy=record.get("proxy"), proxy_score=record["proxy_score"])
    if "device_latency_ms" in record:
        out["device_latency_ms"] = record["device_latency_ms"]
    if "measured" in record:  # TFLite Micro's arena and file beside the estimates
        out["measured_arena_kib"] = _kib(record["measured"].get("arena_bytes"))
        out["measured_file_kib"] = _kib(record["measured"].get("file_bytes"))
    return out


def _kib(n_bytes: float | None) -> float | None:
    return None if n_bytes is None else n_bytes / 1024


def rebuilt_stop_reason(run: RunFolder) -> str:
    """The stop reason a rebuilt report keeps: the finished search's own, or that it stopped early."""
    reason = _reported_stop_reason(run.path) if run_state(run) == "finished" else None
    return reason or REBUILT_STOPPED


def _reported_stop_reason(path: Path) -> str | None:
    """Why the search stopped, as its own report says (None when it cannot be read)."""
    try:
        reason = json.loads(RunFolder(path).report_json.read_text(encoding="utf-8"))["search"]["stop_reason"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return reason if isinstance(reason, str) and reason else None


def rebuild_report(path: Path) -> dict[str, Any]:
    """Write ``report.json``, ``report.md`` and ``pareto.png`` again from the run's store, as the
    search writes them at its end; return the summary.

    The store is only read. A search holding the folder is refused (it writes its own report), and
    the run's lock is held meanwhile, so no search starts on the folder halfway through.
    """
    from edgenas.report import write_report
    from edgenas.store.lock import RunFolderBusy

    run = RunFolder(path).require()
    if is_held(run.lock_file):
        raise InvalidInputError(f"{run.path}: a search is running there and writes its own report when it ends; wait for it")
    stop_reason = rebuilt_stop_reason(run)
    try:
        lock = run.lock()
    except RunFolderBusy:
        raise InvalidInputError(f"{run.path}: a search started there just now; it writes its own report when it ends") from None
    try:
        with run.read_store() as store:
            if not store.read_config():
                raise InvalidInputError(f"{run.store_path} holds no search configuration: nothing to report")
            return write_report(store, run.path, stop_reason=stop_reason)
    except EdgenasError:
        raise
    except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{run.store_path}: cannot be read ({_reason(exc)}); no report written") from exc
    finally:
        lock.release()


# -- several runs side by side -----------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """Runs side by side: each one's overview and headline, and what makes them hard to compare."""

    overviews: list[RunOverview]
    headlines: list[dict[str, Any]]
    notes: list[str]

    def fronts(self) -> list[list[tuple[float, float, int]]]:
        """Each run's accuracy-latency front (empty for an unreadable run)."""
        return [accuracy_latency_front(o.summary) for o in self.overviews]

    def to_dict(self) -> dict[str, Any]:
        runs = [
            {**h, "front": [{"latency_ms": lat, "val_accuracy": acc, "number": n} for lat, acc, n in front]}
            for h, front in zip(self.headlines, self.fronts(), strict=True)
        ]
        return {"runs": runs, "notes": self.notes}


def compare_runs(paths: list[Path]) -> Comparison:
    """Read each named run (each must be a run folder; the same one named twice counts once).

    Runs of different tasks are compared anyway, with a note: their accuracies are of different
    data and do not rank one against the other. An unreadable run stays in, saying why.
    """
    unique = list(dict.fromkeys(Path(p).resolve() for p in paths))
    if len(unique) < 2:
        raise InvalidInputError("runs compare: name at least two different run folders, e.g. runs/a runs/b")
    overviews = [read_run(RunFolder(path).require()) for path in unique]
    headlines = [headline(o) for o in overviews]
    names = [h["name"] for h in headlines]
    if len(set(names)) < len(names):  # runs/x/a and runs/y/a: tell them apart by their paths
        headlines = [{**h, "name": h["path"]} for h in headlines]
    readable = [h for h in headlines if h["state"] != "unreadable"]
    notes = [f"{h['name']} is unreadable: {h['error']}" for h in headlines if h["state"] == "unreadable"]
    if not readable:
        raise InvalidInputError("runs compare: none of the runs could be read: " + "; ".join(notes))
    tasks = sorted({str(h.get("task")) for h in readable})
    if len(tasks) > 1:
        notes.append(f"the runs search different tasks ({', '.join(tasks)}): their accuracies are not comparable")
    sources = sorted({h["best"]["latency_source"] for h in readable if h.get("best")})
    if len(sources) > 1:
        notes.append(f"the runs' latencies come from different sources ({', '.join(sources)})")
    return Comparison(overviews, headlines, notes)


def accuracy_latency_front(summary: dict[str, Any]) -> list[tuple[float, float, int]]:
    """(latency ms, validation accuracy, trial number) of the run's accuracy-latency front, fastest first.

    Read from the run's Pareto front (accuracy, latency, SRAM), which holds every point of the
    two-objective front. Empty for a run scored by a proxy: its scores are not accuracies.
    """
    points = sorted(
        (
            (float(rec["latency_ms"]), float(rec["accuracy"]), int(rec["number"]))
            for rec in summary.get("pareto_front", [])
            if "proxy_score" not in rec and rec.get("accuracy") is not None and rec.get("latency_ms") is not None
        ),
        key=lambda point: (point[0], -point[1]),  # the most accurate of equally fast ones first
    )
    front: list[tuple[float, float, int]] = []
    for point in points:
        if not front or point[1] > front[-1][1]:
            front.append(point)
    return front


def plot_comparison(comparison: Comparison, path: Path) -> Path:
    """The runs' accuracy-latency fronts on one plot at ``path`` (an unreadable run is left out)."""
    from edgenas.report.compare_plot import RunFront, plot_fronts

    fronts = [
        RunFront(h["name"], [(lat, acc) for lat, acc, _ in front], h["limits"]["latency_ms"], h["latency_source"])
        for h, front in zip(comparison.headlines, comparison.fronts(), strict=True)
        if h["state"] != "unreadable"
    ]
    tasks = sorted({str(h["task"]) for h in comparison.headlines if h["state"] != "unreadable"})
    title = f"{' vs '.join(tasks)}: accuracy-latency fronts" + (" (different tasks)" if len(tasks) > 1 else "")
    return plot_fronts(fronts, path, title)
