"""Which search strategy wins where? Every registered strategy on NB201 (4 devices x 2 limits) and the FBNet proxy.

    python benchmarks/strategies.py [--queries 300] [--seeds 20] [--strategies a,b] [--jobs 2] [--md PATH]

NB201 problems: CIFAR-10 accuracy under a latency limit T measured on pixel3, raspi4, fpga and
eyeriss (HW-NAS-Bench devices with different latency ranges and op costs), T = the 25th and 50th
percentile of the device's latency column, so the limit binds (25 % / 50 % of cells feasible).
FBNet problems: the capacity proxy (``edgenas.evaluators.fbnet_proxy``) under a pixel3 and an
fpga latency limit at the 25th / 50th percentile of HELP's 5,000 measured FBNet latencies; the
optimum is exact (knapsack DP). Each problem is one ``run_bench`` (the ``edgenas bench`` code);
its outputs go to ``--out/<problem>/``, and the combined table to ``--md``
(``benchmarks/strategies.md`` keeps the last full run, with its reading).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from edgenas.bench import BenchConfig, run_bench
from edgenas.search import shared_data_dir
from edgenas.strategies import STRATEGIES

NB201_DEVICES = ("pixel3", "raspi4", "fpga", "eyeriss")
FBNET_DEVICES = ("pixel3", "fpga")
PERCENTILES = (25, 50)


def percentile_ms(csv_path: Path, device: str, q: float) -> float:
    """The q-th percentile of a device's latency column (ms), rounded to 4 significant digits for the table."""
    with csv_path.open(newline="") as f:
        values = [float(row[device]) for row in csv.DictReader(f)]
    return float(f"{np.percentile(values, q):.4g}")


def problems(
    queries: int,
    seeds: int,
    strategies: tuple[str, ...],
    out: Path,
    spaces: tuple[str, ...] = ("nb201", "fbnet"),
    nb201_devices: tuple[str, ...] = NB201_DEVICES,
) -> list[tuple[str, BenchConfig]]:
    folder = shared_data_dir() / "benchmarks"
    found = []
    for space, devices, table in (
        ("nb201", nb201_devices, "nb201_latency_ms.csv"),
        ("fbnet", FBNET_DEVICES, "fbnet_cifar100_latency_ms.csv"),
    ):
        if space not in spaces:
            continue
        for device in devices:
            for q in PERCENTILES:
                limit = percentile_ms(folder / table, device, q)
                name = f"{space}-{device}-p{q}"
                config = BenchConfig(
                    space=space,
                    device=device,
                    latency_ms=limit,
                    strategies=strategies,
                    queries=queries,
                    seeds=seeds,
                    out=out / name,
                )
                found.append((f"{name} (T = {limit:g} ms)", config))
    return found


def _run(item: tuple[str, BenchConfig]) -> tuple[str, dict, float]:
    start = time.perf_counter()
    summary = run_bench(item[1])
    return item[0], summary, time.perf_counter() - start


def table(results: list[tuple[str, dict, float]]) -> str:
    lines = []
    for name, summary, wall_s in results:
        opt = summary["optimum"]
        unit = "capacity %" if summary.get("objective") == "capacity" else "accuracy %"
        budgets = list(next(iter(summary["strategies"].values()))["regret"])
        lines += [
            f"### {name}",
            "",
            f"{summary['space']} / {summary['dataset']} / {summary['device']}: optimum {unit} {100 * opt['accuracy']:.2f} "
            f"at {opt['latency_ms']:.3f} ms; problem wall time {wall_s:.0f} s.",
            "",
            "| strategy | " + " | ".join(f"regret @{b}" for b in budgets) + " | found opt | queries to opt | wall s |",
            "|---|" + "---:|" * (len(budgets) + 3),
        ]
        for strategy, r in summary["strategies"].items():
            cells = [
                "n/a"
                if r["regret"][b]["mean"] is None
                else f"{100 * r['regret'][b]['mean']:.2f} ± {100 * r['regret'][b]['std']:.2f}"
                for b in budgets
            ]
            q = r["mean_queries_to_optimum"]
            lines.append(
                f"| {strategy} | "
                + " | ".join(cells)
                + f" | {r['found_optimum_share']:.0%} | {'-' if q is None else f'{q:.0f}'} | {r['wall_s']:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def mean_table(results: list[tuple[str, dict, float]]) -> str:
    """Mean regret over the problems of each space, per strategy, and where a strategy is worse than random."""
    lines = []
    for space in dict.fromkeys(summary["space"] for _, summary, _ in results):
        rows = [(name, summary) for name, summary, _ in results if summary["space"] == space]
        budgets = list(next(iter(rows[0][1]["strategies"].values()))["regret"])
        lines += [
            f"### Mean over the {len(rows)} {space} problems",
            "",
            "| strategy | " + " | ".join(f"mean regret @{b}" for b in budgets) + " | problems worse than random @100 |",
            "|---|" + "---:|" * (len(budgets) + 1),
        ]
        for strategy in rows[0][1]["strategies"]:
            regret = [{b: r["mean"] for b, r in s["strategies"][strategy]["regret"].items()} for _, s in rows]
            means = [np.mean([100 * (r[b] if r[b] is not None else np.nan) for r in regret]) for b in budgets]
            worse = "-"
            if "random" in rows[0][1]["strategies"] and "100" in budgets:
                rand = [s["strategies"]["random"]["regret"]["100"]["mean"] for _, s in rows]
                pairs = zip(regret, rand, strict=True)
                worse = str(sum(r["100"] is not None and q is not None and r["100"] > q for r, q in pairs))
            lines.append(f"| {strategy} | " + " | ".join(f"{m:.2f}" for m in means) + f" | {worse} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--strategies", default=None, help="comma-separated; default: every registered strategy")
    parser.add_argument("--jobs", type=int, default=1, help="problems run in parallel processes")
    parser.add_argument("--spaces", default="nb201,fbnet", help="comma-separated: nb201, fbnet")
    parser.add_argument("--nb201-devices", default=",".join(NB201_DEVICES), help="comma-separated latency columns")
    parser.add_argument("--out", type=Path, default=Path("runs/strategies"))
    parser.add_argument("--md", type=Path, default=None, help="also write the tables to this Markdown file")
    parser.add_argument("--json", action="store_true", help="print one JSON object (all summaries) instead of the tables")
    args = parser.parse_args()

    names = tuple(s for s in (args.strategies or ",".join(STRATEGIES.names())).split(",") if s)
    todo = problems(
        args.queries, args.seeds, names, args.out, tuple(args.spaces.split(",")), tuple(args.nb201_devices.split(","))
    )
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(_run, todo))
    text = mean_table(results) + "\n" + table(results)
    header = (
        f"Strategies: {', '.join(names)}; {args.seeds} seeds x {args.queries} queries per problem; "
        f"total wall time {time.perf_counter() - start:.0f} s with {args.jobs} process(es), "
        f"{platform.machine()} {os.cpu_count()} CPUs.\n\n"
    )
    if args.md:
        args.md.write_text(header + text)
    if args.json:
        print(json.dumps({name: summary for name, summary, _ in results}))
    else:
        print(header + text)


if __name__ == "__main__":
    main()
