"""Which search strategy wins where? Every registered strategy on NB201 (4 devices x 2 limits) and the FBNet proxy.

    python benchmarks/strategies.py [--queries 300] [--seeds 20] [--strategies a,b] [--jobs 2] [--md PATH]
    python benchmarks/strategies.py --spaces nb201 --batches 1,4,8 --queries 100 --seeds 10 --jobs 2 --md PATH

NB201 problems: CIFAR-10 accuracy under a latency limit T measured on pixel3, raspi4, fpga and
eyeriss (HW-NAS-Bench devices with different latency ranges and op costs), T = the 25th and 50th
percentile of the device's latency column, so the limit binds (25 % / 50 % of cells feasible).
FBNet problems: the capacity proxy (``edgenas.evaluators.fbnet_proxy``) under a pixel3 and an
fpga latency limit at the 25th / 50th percentile of HELP's 5,000 measured FBNet latencies, and
under an fpga *energy* limit at the 25th / 50th percentile of the LUT energy of 2,000 uniformly
sampled networks (no measured energy table exists); the optimum is exact (knapsack DP).
``--objectives accuracy,latency`` runs the latency-limited problems as two-objective ones and
adds the hypervolume ratio of the found front. Each problem is one ``run_bench`` (the ``edgenas bench`` code);
its outputs go to ``--out/<problem>/``, and the combined table to ``--md``
(``benchmarks/strategies.md`` keeps the last full run, with its reading).

``--batches 1,4,8`` runs every problem once per batch size (``edgenas bench --batch B``: B candidates
asked before any is told, as a search with B workers asks them) and adds a table of what batching
costs: each strategy's regret at each budget, averaged over the problems, per batch size, and in how
many problems a batch did worse than batch 1 by more than the seed-to-seed spread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from edgenas.settings import shared_data_dir
from edgenas.strategies import STRATEGIES
from edgenas.tables import read_table
from edgenas.workflows.bench import BenchConfig, run_bench

NB201_DEVICES = ("pixel3", "raspi4", "fpga", "eyeriss")
FBNET_DEVICES = ("pixel3", "fpga")
FBNET_ENERGY_DEVICES = ("fpga",)
PERCENTILES = (25, 50)


def percentile_ms(csv_path: Path, device: str, q: float) -> float:
    """The q-th percentile of a device's latency column (ms), rounded to 4 significant digits for the table."""
    values = list(read_table(csv_path, what="latency table").lookup(device, "device").values())
    return float(f"{np.percentile(values, q):.4g}")


def energy_percentile_mj(device: str, q: float, samples: int = 2000) -> float:
    """The q-th percentile of LUT energy (mJ) over uniformly sampled FBNet networks (seed 0), 4 significant digits."""
    from edgenas.hardware.fbnet_lut import FbnetLutCost
    from edgenas.spaces import SPACES

    space = SPACES.create("fbnet", num_classes=100)
    cost = FbnetLutCost(
        shared_data_dir() / "benchmarks" / "fbnet_lut.json", f"{device}_latency", f"{device}_energy", space.lut_keys
    )
    rng = np.random.default_rng(0)
    values = [cost(space.sample(rng)).energy_mj for _ in range(samples)]
    return float(f"{np.percentile(values, q):.4g}")


def problems(
    queries: int,
    seeds: int,
    strategies: tuple[str, ...],
    out: Path,
    objectives: tuple[str, ...] = ("accuracy",),
    spaces: tuple[str, ...] = ("nb201", "fbnet"),
    nb201_devices: tuple[str, ...] = NB201_DEVICES,
    batch: int = 1,
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
                name = f"{space}-{device}-p{q}" + (f"-b{batch}" if batch > 1 else "")
                config = BenchConfig(
                    space=space,
                    device=device,
                    latency_ms=limit,
                    objectives=objectives,
                    strategies=strategies,
                    queries=queries,
                    seeds=seeds,
                    out=out / name,
                    batch=batch,
                )
                found.append((f"{name} (T = {limit:g} ms)", config))
    if len(objectives) > 1 or "fbnet" not in spaces:  # energy-limited problems have no exact accuracy-latency front
        return found
    for device in FBNET_ENERGY_DEVICES:
        for q in PERCENTILES:
            limit = energy_percentile_mj(device, q)
            name = f"fbnet-{device}-energy-p{q}" + (f"-b{batch}" if batch > 1 else "")
            config = BenchConfig(
                space="fbnet", device=device, energy_mj=limit, strategies=strategies, queries=queries, seeds=seeds,
                out=out / name, batch=batch,
            )  # fmt: skip
            found.append((f"{name} (E = {limit:g} mJ)", config))
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
        hv = "true_front" in summary
        at = f"{opt['latency_ms']:.3f} ms" + ("" if opt.get("energy_mj") is None else f", {opt['energy_mj']:.2f} mJ")
        lines += [
            f"### {name}",
            "",
            f"{summary['space']} / {summary['dataset']} / {summary['device']}: optimum {unit} {100 * opt['accuracy']:.2f} "
            f"at {at}; problem wall time {wall_s:.0f} s."
            + (f" True front: {summary['true_front']['size']} architectures." if hv else ""),
            "",
            "| strategy | "
            + " | ".join(f"regret @{b}" for b in budgets)
            + "".join(f" | HV ratio @{b}" for b in budgets if hv)
            + " | found opt | queries to opt | wall s |",
            "|---|" + "---:|" * (len(budgets) * (2 if hv else 1) + 3),
        ]
        for strategy, r in summary["strategies"].items():
            cells = [
                "n/a"
                if r["regret"][b]["mean"] is None
                else f"{100 * r['regret'][b]['mean']:.2f} ± {100 * r['regret'][b]['std']:.2f}"
                for b in budgets
            ]
            if hv:
                cells += [f"{r['hypervolume_ratio'][b]['mean']:.3f} ± {r['hypervolume_ratio'][b]['std']:.3f}" for b in budgets]
            q = r["mean_queries_to_optimum"]
            lines.append(
                f"| {strategy} | "
                + " | ".join(cells)
                + f" | {r['found_optimum_share']:.0%} | {'-' if q is None else f'{q:.0f}'} | {r['wall_s']:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def batch_table(by_batch: dict[int, list[tuple[str, dict, float]]]) -> str:
    """What asking in batches costs: per strategy and budget, the regret (accuracy points) averaged
    over the problems for each batch size, and in how many problems batch B was worse than batch 1
    by more than the larger of the two seed standard deviations."""
    batches = sorted(by_batch)
    first = by_batch[batches[0]]
    budgets = list(next(iter(first[0][1]["strategies"].values()))["regret"])
    strategies = list(first[0][1]["strategies"])
    n = len(first)
    head = [f"@{b}, batch {k}" for b in budgets for k in batches]
    worse_head = [f"@{b}: worse at batch {k}" for b in budgets for k in batches[1:]]
    lines = [
        f"### The regret cost of batching ({n} problems, mean regret in accuracy points)",
        "",
        "| strategy | " + " | ".join(head + worse_head) + " |",
        "|---|" + "---:|" * (len(head) + len(worse_head)),
    ]

    def regret(k: int, problem: int, strategy: str, b: str) -> tuple[float, float]:
        r = by_batch[k][problem][1]["strategies"][strategy]["regret"][b]
        return (float("nan"), 0.0) if r["mean"] is None else (100 * r["mean"], 100 * r["std"])

    for strategy in strategies:
        cells = []
        for b in budgets:
            for k in batches:
                cells.append(f"{np.nanmean([regret(k, i, strategy, b)[0] for i in range(n)]):.2f}")
        for b in budgets:
            for k in batches[1:]:
                worse = 0
                for i in range(n):
                    (m1, s1), (mk, sk) = regret(batches[0], i, strategy, b), regret(k, i, strategy, b)
                    worse += mk - m1 > max(s1, sk)
                cells.append(f"{worse}/{n}")
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    walls = ", ".join(f"batch {k}: {sum(w for _, _, w in by_batch[k]):.0f} s" for k in batches)
    lines += ["", f"Problem wall time summed: {walls}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--strategies", default=None, help="comma-separated; default: every registered strategy")
    parser.add_argument("--jobs", type=int, default=1, help="problems run in parallel processes")
    parser.add_argument("--objectives", default="accuracy", help="accuracy, or accuracy,latency (adds hypervolume ratios)")
    parser.add_argument("--spaces", default="nb201,fbnet", help="comma-separated: nb201, fbnet")
    parser.add_argument("--nb201-devices", default=",".join(NB201_DEVICES), help="comma-separated latency columns")
    parser.add_argument("--out", type=Path, default=Path("runs/strategies"))
    parser.add_argument("--md", type=Path, default=None, help="also write the tables to this Markdown file")
    parser.add_argument("--json", action="store_true", help="print one JSON object (all summaries) instead of the tables")
    parser.add_argument("--batches", default="1", help="comma-separated batch sizes (e.g. 1,4,8): the regret cost of batching")
    args = parser.parse_args()
    batches = sorted({int(b) for b in args.batches.split(",") if b})

    names = tuple(s for s in (args.strategies or ",".join(STRATEGIES.names())).split(",") if s)
    todo = {
        batch: problems(
            args.queries,
            args.seeds,
            names,
            args.out,
            tuple(args.objectives.split(",")),
            tuple(args.spaces.split(",")),
            tuple(args.nb201_devices.split(",")),
            batch,
        )
        for batch in batches
    }
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        by_batch = {batch: list(pool.map(_run, items)) for batch, items in todo.items()}
    results = [result for batch in batches for result in by_batch[batch]]
    text = table(results) + ("\n" + batch_table(by_batch) if len(batches) > 1 else "")
    header = (
        f"Strategies: {', '.join(names)}; {args.seeds} seeds x {args.queries} queries per problem"
        + (f", batch sizes {', '.join(map(str, batches))}" if len(batches) > 1 else "")
        + "; "
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
