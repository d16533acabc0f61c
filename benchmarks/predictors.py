"""Latency predictors on every device of a measured table, with 100 and 20 training architectures.

    .venv/bin/python benchmarks/predictors.py [--sizes 100,20] [--repeats 3] [--held-out 2000] [--devices all]

For each device column of ``nb201_latency_ms.csv`` (HW-NAS-Bench and BRP-NAS measurements, via
HELP), each training size and each repeat (seed r draws the training rows), every predictor kind
is fitted on the training rows and scored on ``--held-out`` other rows (a seeded sample of the
rows it never saw): share within +/-10% and +/-5%, MAPE, Spearman, Kendall. ``macs`` is the
baseline (latency linear in MACs). ``fewshot`` adapts, with the same training rows, predictors
pretrained on 1,000 rows of every *other* device outside the target's family (``titanx_32`` is
not a source for ``titanx_1``). Writes ``benchmarks/results/predictors.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgenas.hardware.latency import PREDICTORS, FewShotPredictor, latency_metrics  # noqa: E402
from edgenas.hardware.latency.table import select_rows, split_rows  # noqa: E402
from edgenas.workflows.latency_predictors import SOURCE_SIZE, TableData, default_table, device_family  # noqa: E402

KINDS = ("macs", "lut", "lgbm", "mlp", "fewshot")
GOAL_WITHIN_10, GOAL_SPEARMAN = 0.95, 0.95


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--table", type=Path, default=None)
    ap.add_argument("--sizes", default="100,20")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--held-out", type=int, default=2000)
    ap.add_argument("--devices", default="all")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "predictors.md")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure as JSON here")
    ap.add_argument("--merge", default=None, help="comma-separated --json files of runs over other devices: write their table")
    args = ap.parse_args()
    if args.merge:  # e.g. the devices split over two processes
        parts = [json.loads(Path(p).read_text()) for p in args.merge.split(",")]
        summary = {d: v for part in parts for d, v in part["summary"].items()}
        text = markdown(summary, args, parts[0]["archs"], max(p["wall_s"] for p in parts))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(text)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.kinds.split(",")
    start = time.perf_counter()
    data = TableData.load(args.space, args.table or default_table(args.space))
    devices = data.table.names() if args.devices == "all" else args.devices.split(",")
    print(f"{len(data.nets):,} archs, {len(devices)} devices, nets in {time.perf_counter() - start:.0f} s", file=sys.stderr)

    results: dict[str, dict] = {}
    for r in range(args.repeats):
        sources = {}
        if "fewshot" in kinds:  # one source predictor per device and repeat, shared by every target
            pool = np.flatnonzero(np.all([np.isfinite(data.column(d)) for d in data.table.names()], axis=0))
            rows = np.sort(np.random.default_rng([r, 1]).choice(pool, size=min(SOURCE_SIZE, len(pool)), replace=False))
            for d in data.table.names():
                sources[d] = PREDICTORS.create("lut").fit(data.pick(rows), data.column(d)[rows])
        for device in devices:
            y = data.column(device)
            for n in sizes:
                train, rest = split_rows(select_rows(data.table, device), n, r)
                held = np.sort(np.random.default_rng([r, 2]).choice(rest, size=min(args.held_out, len(rest)), replace=False))
                for kind in kinds:
                    t = time.perf_counter()
                    if kind == "fewshot":
                        own = {d: p for d, p in sources.items() if device_family(d) != device_family(device)}
                        predictor = FewShotPredictor.with_sources(own)
                    else:
                        predictor = PREDICTORS.create(kind, **({"seed": r} if kind in ("lgbm", "mlp") else {}))
                    predictor.fit(data.pick(train), y[train])
                    m = latency_metrics(y[held], predictor.predict(data.pick(held))).to_dict()
                    m["fit_predict_s"] = time.perf_counter() - t
                    results.setdefault(device, {}).setdefault(str(n), {}).setdefault(kind, []).append(m)
            print(f"repeat {r} {device} done ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
            if args.json:  # after every device, so a run cut short still leaves its figures
                record = {"archs": len(data.nets), "wall_s": time.perf_counter() - start, "summary": summarise(results)}
                args.json.write_text(json.dumps(record, indent=1) + "\n")
    summary = summarise(results)
    wall_s = time.perf_counter() - start
    if args.json:
        args.json.write_text(json.dumps({"archs": len(data.nets), "wall_s": wall_s, "summary": summary}, indent=1) + "\n")
    text = markdown(summary, args, len(data.nets), wall_s)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


def summarise(results: dict) -> dict:
    """Mean (and std of within_10 / spearman) over repeats, per device, size and kind."""
    out: dict = {}
    for device, by_size in results.items():
        for n, by_kind in by_size.items():
            for kind, runs in by_kind.items():
                cell = {k: float(np.mean([m[k] for m in runs])) for k in runs[0]}
                cell["within_10pct_std"] = float(np.std([m["within_10pct"] for m in runs]))
                cell["spearman_std"] = float(np.std([m["spearman"] for m in runs]))
                cell["repeats"] = len(runs)
                out.setdefault(device, {}).setdefault(n, {})[kind] = cell
    return out


def markdown(summary: dict, args: argparse.Namespace, archs: int, wall_s: float) -> str:
    sizes = sorted({n for d in summary.values() for n in d}, key=int, reverse=True)
    kinds = list(next(iter(next(iter(summary.values())).values())))
    counts = sorted({c["repeats"] for d in summary.values() for by_kind in d.values() for c in by_kind.values()})
    repeats = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    lines = [
        f"# Latency predictors on `{args.space}`: every device, {' and '.join(sizes)} training architectures",
        "",
        f"Command: `.venv/bin/python benchmarks/predictors.py --sizes {args.sizes} --repeats {args.repeats} "
        f"--held-out {args.held_out}` ({archs:,} architectures; {wall_s / 60:.0f} min on a shared, loaded 2-core x86-64). "
        f"Measured latencies from the table; predictions scored on {args.held_out:,} held-out architectures per run "
        f"(a seeded sample of those not trained on), mean over {repeats} repeats per cell (seed r draws the training rows).",
        "",
        "Cells: share of held-out architectures within ±10% / Spearman. "
        f"**Bold**: meets the goal (>{GOAL_WITHIN_10:.0%} within ±10% and Spearman >{GOAL_SPEARMAN}).",
        "",
    ]
    for n in sizes:
        lines += [f"## {n} training architectures", "", "| device | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
        met = dict.fromkeys(kinds, 0)
        for device, by_size in summary.items():
            cells = []
            for kind in kinds:
                c = by_size[n][kind]
                text = f"{100 * c['within_10pct']:.1f}% / {c['spearman']:.3f}"
                if c["within_10pct"] > GOAL_WITHIN_10 and c["spearman"] > GOAL_SPEARMAN:
                    text, met[kind] = f"**{text}**", met[kind] + 1
                cells.append(text)
            lines.append(f"| {device} | " + " | ".join(cells) + " |")
        lines.append("| devices meeting the goal | " + " | ".join(f"{met[k]} of {len(summary)}" for k in kinds) + " |")
        lines += ["", f"Mean over devices ({n} training architectures):", ""]
        header = "| kind | within ±5% | within ±10% | MAPE | RMSE ms | Spearman | Kendall | fit+predict s |"
        lines += [header, "|---|" + "---:|" * 7]
        for kind in kinds:
            cs = [summary[d][n][kind] for d in summary]

            def mean(key: str, cs: list = cs) -> float:
                return float(np.mean([c[key] for c in cs]))

            lines.append(
                f"| {kind} | {100 * mean('within_5pct'):.1f}% | {100 * mean('within_10pct'):.1f}% | {100 * mean('mape'):.2f}% | "
                f"{mean('rmse_ms'):.3f} | {mean('spearman'):.3f} | {mean('kendall'):.3f} | {mean('fit_predict_s'):.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
