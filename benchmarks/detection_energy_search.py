"""Detection on ``npu-int8`` at 30 FPS: the energy-aware search against the same search on latency.

Runs (or, with ``--reuse``, reads) two ``edgenas search --task detection --target npu-int8 --fps 30
--strategy nsga2`` runs with the same seed, data, epochs and wall-clock limit, one with
``--objectives accuracy,energy`` and one with ``--objectives accuracy,latency``, and prints:

* each run's Pareto front of validation mAP@0.5 against estimated energy per inference (feasible,
  trained candidates), and the hypervolume of both fronts against one reference point;
* the energy each run needs at equal mAP: for each mAP level its cheapest candidate reaching it;
* each run's best model as finalised: test mAP@0.5 in fp32 and as int8 on LiteRT and on TFLite
  Micro, estimated latency, energy and average power at the frame rate, and the arena and file
  measured on TFLite Micro against the estimates.

Every energy and latency figure is an *estimate* of the ``npu-int8`` target's models (sources in
docs/targets.md); mAP, the arena and the file size are *measured*. The searches train every
candidate on the CPU: on a shared 2-core VM each takes one to four minutes at the defaults below.
The two searches run side by side with one thread each, so that they share the machine alike.

    PYTHONPATH=$PWD python benchmarks/detection_energy_search.py --out /tmp/det --time-limit 1800
    PYTHONPATH=$PWD python benchmarks/detection_energy_search.py --out /tmp/det --reuse   # tables only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "detection_energy_search.md"


def search_command(out: Path, objectives: str, config: Path, args: argparse.Namespace) -> list[str]:
    """One search as a user would type it."""
    return [
        sys.executable, "-m", "edgenas.cli", "search", "--config", str(config), "--target", "npu-int8",
        "--fps", str(args.fps), "--objectives", objectives, "--strategy", "nsga2", "--population", str(args.population),
        "--epochs", str(args.epochs), "--time-limit", str(args.time_limit), "--seed", str(args.seed),
        "--threads-per-trial", "1", "--out", str(out),
    ]  # fmt: skip


def run_searches(runs: dict[str, Path], objectives: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    """Both searches side by side, one thread each, so that they share the machine alike; wall-clock seconds."""
    config = args.out / "detection.yaml"
    lines = ["task: detection"] + ([f"scenes: {args.scenes}"] if args.scenes else []) + [f"image_size: {args.image_size}"]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    todo = {name: path for name, path in runs.items() if not (args.reuse and (path / "report.json").is_file())}
    started = time.perf_counter()
    procs = {}
    for name, path in todo.items():
        log = open(args.out / f"{name}.log", "w", encoding="utf-8")  # noqa: SIM115 (closed with its process)
        procs[name] = (subprocess.Popen(search_command(path, objectives[name], config, args), stdout=log, stderr=log), log)
    walls = dict.fromkeys(runs, 0.0)
    for name, (proc, log) in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"the {name} search failed: see {args.out / (name + '.log')}")
        log.close()
        walls[name] = time.perf_counter() - started
    return walls


def trials(run: Path) -> list[dict[str, Any]]:
    """Feasible trained candidates of a run: number, description, mAP, estimated energy and latency."""
    from edgenas.spaces import space_from_config
    from edgenas.store import RunFolder

    with RunFolder(run).read_store() as store:
        space = space_from_config(store.read_config() or {})
        stored = store.trials("search")
    rows = []
    for t in stored:
        if t.state.value != "complete" or not t.metrics or not t.cost or t.violations or t.cost.energy_mj is None:
            continue
        rows.append(
            {
                "number": t.number,
                "description": space.describe(t.arch),
                "map": float(t.metrics.accuracy),
                "energy_mj": float(t.cost.energy_mj),
                "latency_ms": float(t.cost.latency_ms),
            }
        )
    return rows


def front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Higher mAP and lower energy: the non-dominated rows, by energy."""
    out = []
    for r in sorted(rows, key=lambda r: (r["energy_mj"], -r["map"])):
        if not out or r["map"] > out[-1]["map"]:
            out.append(r)
    return out


def hypervolume(points: list[dict[str, Any]], ref_energy: float) -> float:
    """Area dominated by a (max mAP, min energy) front above mAP 0 and below ``ref_energy`` (mJ).

    On a front sorted by energy the mAP rises, so each member holds its mAP from its energy up to
    the next member's: the area is a sum of rectangles.
    """
    area = 0.0
    ordered = sorted(points, key=lambda r: r["energy_mj"])
    for i, p in enumerate(ordered):
        right = ordered[i + 1]["energy_mj"] if i + 1 < len(ordered) else ref_energy
        area += max(0.0, right - p["energy_mj"]) * p["map"]
    return area


def cheapest_at(rows: list[dict[str, Any]], level: float) -> dict[str, Any] | None:
    reach = [r for r in rows if r["map"] >= level - 1e-12]
    return min(reach, key=lambda r: r["energy_mj"]) if reach else None


def best_of(run: Path) -> dict[str, Any]:
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    best = report["best"]
    energy = report.get("energy") or {}
    return {
        "description": best["description"],
        "val_map": best.get("accuracy"),
        "test_map_fp32": best.get("test_accuracy"),
        "test_map_litert_int8": best.get("litert_int8_test_map_50"),
        "test_map_tflm_int8": best.get("tflm_int8_test_map_50"),
        "latency_ms": best.get("latency_ms"),
        "energy_mj": best.get("energy_mj"),
        "average_power_mw": (energy.get("best") or {}).get("average_power_mw"),
        "sram_est": best.get("peak_sram_bytes"),
        "flash_est": best.get("flash_bytes"),
        "arena": (best.get("measured") or {}).get("arena_bytes"),
        "file": (best.get("measured") or {}).get("file_bytes"),
        "trained": report["search"]["trials"].get("complete"),
        "hypervolume_report": energy.get("hypervolume"),
        "wall_s": (report.get("timing") or {}).get("wall_s"),
    }


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the two run folders")
    parser.add_argument("--reuse", action="store_true", help="read runs already in --out instead of searching again")
    parser.add_argument("--time-limit", type=float, default=1800.0, help="seconds of search per run")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--population", type=int, default=8, help="nsga2's population (its default 20 is one generation here)")
    parser.add_argument("--scenes", type=int, default=None, help="synthetic scenes (default: the generator's 2,000)")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs = {"energy": args.out / "energy", "latency": args.out / "latency"}
    objectives = {"energy": "accuracy,energy", "latency": "accuracy,latency"}
    walls = run_searches(runs, objectives, args)
    rows = {name: trials(path) for name, path in runs.items()}
    fronts = {name: front(r) for name, r in rows.items()}
    ref = max(r["energy_mj"] for rs in rows.values() for r in rs) * 1.1
    lines = [
        "# Detection on npu-int8 at 30 FPS: energy-aware search against latency-only",
        "",
        "`PYTHONPATH=$PWD python benchmarks/detection_energy_search.py --out OUT "
        f"--time-limit {args.time_limit:g} --epochs {args.epochs} --population {args.population} "
        f"--image-size {args.image_size}" + (f" --scenes {args.scenes}" if args.scenes else "") + "`",
        "",
        "Energy and latency: **estimated** (npu-int8 energy model, docs/targets.md). mAP@0.5, arena, file: **measured**.",
        "",
    ]
    for name in runs:
        lines += [
            f"## Front of the {objectives[name]} search ({len(rows[name])} feasible trained candidates"
            + (f", {walls[name]:.0f} s" if walls[name] else "")
            + f"): hypervolume {hypervolume(fronts[name], ref):.4g} (mAP x mJ, reference 0, {ref:.4g} mJ)",
            "",
            "| trial | val mAP@0.5 | energy mJ (est.) | latency ms (est.) | network |",
            "|---:|---:|---:|---:|---|",
        ]
        lines += [
            f"| {r['number']} | {pct(r['map'])} | {r['energy_mj']:.4f} | {r['latency_ms']:.3f} | `{r['description']}` |"
            for r in fronts[name]
        ]
        lines.append("")
    levels = sorted({round(r["map"], 6) for f in fronts.values() for r in f})
    lines += [
        "## Energy at equal mAP (the cheapest candidate of each run reaching the level)",
        "",
        "| val mAP@0.5 at least | energy-aware mJ | latency-only mJ | saved |",
        "|---:|---:|---:|---:|",
    ]
    for level in levels:
        e, lat = cheapest_at(rows["energy"], level), cheapest_at(rows["latency"], level)
        saved = f"{100 * (1 - e['energy_mj'] / lat['energy_mj']):.1f} %" if e and lat else "n/a"
        cell = lambda r: f"{r['energy_mj']:.4f}" if r else "not reached"  # noqa: E731
        lines.append(f"| {100 * level:.2f} % | {cell(e)} | {cell(lat)} | {saved} |")
    lines += ["", "## Best model of each run, finalised", ""]
    lines += [
        "| run | val mAP | test mAP fp32 | int8 LiteRT | int8 TFLM | latency ms (est.) | energy mJ (est.) | "
        f"power mW at {args.fps:g} FPS (est.) | arena B (TFLM) / est. | file B / est. flash |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, path in runs.items():
        b = best_of(path)
        power = f"{b['average_power_mw']:.2f}" if b["average_power_mw"] is not None else "n/a"
        lines.append(
            f"| {objectives[name]} | {pct(b['val_map'])} | {pct(b['test_map_fp32'])} | {pct(b['test_map_litert_int8'])} | "
            f"{pct(b['test_map_tflm_int8'])} | {b['latency_ms']:.3f} | {b['energy_mj']:.4f} | {power} | "
            f"{b['arena'] or 'n/a'} / {b['sram_est']} | {b['file'] or 'n/a'} / {b['flash_est']} |"
        )
    for name, path in runs.items():
        lines.append(f"\n{objectives[name]} best: `{best_of(path)['description']}`")
    text = "\n".join(lines) + "\n"
    print(text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
