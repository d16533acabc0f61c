"""A host latency data set of our own: random ``kws`` architectures measured with ONNX Runtime.

Samples ``--n`` distinct architectures of the ``kws`` space (deterministic by ``--seed``),
exports each to ONNX in memory and measures it on this CPU with ONNX Runtime, one thread.
The host is shared (2 cores, other processes busy), so measurements are **interleaved**: every
round visits all architectures in a fresh random order, each visit times ``--repeats`` runs
after ``--warmup``, and an architecture's latency is the *minimum over rounds of the per-round
median* (a load burst inflates one round, rarely all). The load average is recorded per round.

Repeatability: the DS-CNN-S model is measured in a fresh ONNX Runtime session ``--probes`` times
per round, spread through the rounds; the spread of those session medians is reported.

Then fits the baseline every learned predictor must beat: latency ~ a + b x MACs (least squares
on a train split), and scores it on the held-out architectures (RMSE, MAPE, share within
+/-5% and +/-10%, Spearman and Kendall rank correlation).

    python benchmarks/host_latency.py [--n 1000] [--rounds 6] [--repeats 40] [--warmup 5] [--seed 0]

Writes results/kws_host_latency.csv (one row per architecture: ``arch`` = ``Arch.key()``,
``genotype`` = the genes as JSON, ``macs``, ``params``, ``host_ort_1t_ms``, ``iqr_ms``) and
results/host_latency.md; prints the tables.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from edgenas.ir import total_macs, total_params
from edgenas.measure import host_info
from edgenas.measure.ort import example_inputs, session, time_runs
from edgenas.measure.pytorch import onnx_bytes
from edgenas.spaces import KwsSpace

RESULTS = Path(__file__).parent / "results"


def sample_archs(space: KwsSpace, n: int, seed: int) -> list:
    """``n`` distinct architectures, the same for the same seed."""
    rng = np.random.default_rng(seed)
    seen: dict[str, object] = {}
    while len(seen) < n:
        arch = space.sample(rng)
        seen.setdefault(arch.key(), arch)
    return list(seen.values())


def fit_report(macs: np.ndarray, ms: np.ndarray, seed: int, groups: np.ndarray, train_share: float = 0.7) -> dict[str, dict]:
    """Linear fit ms ~ a + b MACs on a random train split; errors on the held-out rest, in all
    and per group (the kws family: 2-D and 1-D networks run different ONNX Runtime kernels)."""
    order = np.random.default_rng(seed).permutation(len(ms))
    cut = int(train_share * len(ms))
    train, test = order[:cut], order[cut:]
    b, a = np.polyfit(macs[train], ms[train], 1)
    out = {"line": {"train": len(train), "test": len(test), "intercept_ms": float(a), "ms_per_mmac": float(b * 1e6)}}
    for name, rows in [("all", test)] + [(str(g), test[groups[test] == g]) for g in np.unique(groups)]:
        pred, true = a + b * macs[rows], ms[rows]
        rel = np.abs(pred - true) / true
        out[name] = {
            "n": len(rows),
            "rmse_ms": float(np.sqrt(np.mean((pred - true) ** 2))),
            "mape": float(np.mean(rel)),
            "within_5": float(np.mean(rel <= 0.05)),
            "within_10": float(np.mean(rel <= 0.10)),
            "spearman": float(stats.spearmanr(macs[rows], true).statistic),
            "kendall": float(stats.kendalltau(macs[rows], true).statistic),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--probes", type=int, default=4, help="fresh-session DS-CNN-S measurements per round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.time()

    space = KwsSpace()
    archs = sample_archs(space, args.n, args.seed)
    example = torch.zeros(1, *space.input_shape)
    print(f"exporting {len(archs)} architectures to ONNX (in memory) ...", flush=True)
    sessions, feeds, macs, params = [], [], [], []
    for arch in archs:
        sess = session(onnx_bytes(space.build(arch).eval(), example), threads=1)
        sessions.append(sess)
        feeds.append(example_inputs(sess))
        layers = space.layers(arch)
        macs.append(total_macs(layers))
        params.append(total_params(layers))
    probe_onnx = onnx_bytes(space.build(space.named("ds-cnn-s")).eval(), example)

    medians = np.full((args.rounds, len(archs)), np.nan)
    iqrs = np.full((args.rounds, len(archs)), np.nan)
    loads: list[tuple[float, float, float]] = []
    probes: list[dict[str, float]] = []
    probe_at = set(np.linspace(0, len(archs) - 1, args.probes, dtype=int).tolist())
    for r in range(args.rounds):
        order = np.random.default_rng([args.seed, r]).permutation(len(archs))
        for step, i in enumerate(order):
            if step in probe_at:
                sess = session(probe_onnx, threads=1)  # a fresh session each time
                x = example_inputs(sess)
                t = np.asarray(time_runs(lambda s=sess, x=x: s.run(None, x), args.warmup, args.repeats))
                probes.append({"round": r, "median_ms": float(np.median(t)), "load_1min": os.getloadavg()[0]})
            t = np.asarray(time_runs(lambda s=sessions[i], x=feeds[i]: s.run(None, x), args.warmup, args.repeats))
            medians[r, i] = np.median(t)
            q1, q3 = np.percentile(t, [25, 75])
            iqrs[r, i] = q3 - q1
        loads.append(os.getloadavg())
        print(f"round {r + 1}/{args.rounds} done, load average {loads[-1][0]:.2f}", flush=True)

    best_round = np.argmin(medians, axis=0)
    ms = medians[best_round, np.arange(len(archs))]
    iqr = iqrs[best_round, np.arange(len(archs))]
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "kws_host_latency.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch", "genotype", "macs", "params", "host_ort_1t_ms", "iqr_ms"])
        for arch, m, p, lat, q in zip(archs, macs, params, ms, iqr, strict=True):
            writer.writerow([arch.key(), json.dumps(list(arch.genes), separators=(",", ":")), m, p, f"{lat:.6f}", f"{q:.6f}"])

    macs_a = np.asarray(macs, dtype=np.float64)
    families = np.array([str(space.values(arch)["family"]) for arch in archs])
    fit = fit_report(macs_a, ms, args.seed, families)
    line = fit["line"]
    round_spread = (medians.max(axis=0) - medians.min(axis=0)) / medians.min(axis=0)
    probe_ms = np.asarray([p["median_ms"] for p in probes])
    pq1, pq3 = np.percentile(probe_ms, [25, 75])
    host = host_info(loads[-1])
    lines = [
        "# Host latency data set: kws space, ONNX Runtime, 1 thread",
        "",
        f"Command: `PYTHONPATH=$PWD .venv/bin/python benchmarks/host_latency.py --n {args.n} --rounds {args.rounds} "
        f"--repeats {args.repeats} --warmup {args.warmup} --probes {args.probes} --seed {args.seed}` "
        f"({(time.time() - started) / 60:.1f} min).",
        "",
        f"**Measured** on this host: {host['processor']}, {host['cpu_count']} CPUs (KVM guest), ONNX Runtime "
        f"{_ort_version()}, CPU execution provider, `intra_op_num_threads=1`, batch 1, fp32, timed around "
        "`session.run` from Python (so each figure includes ~10-20 us of call overhead, as a Python user sees it).",
        "",
        "**The machine was shared**: other processes were busy on its 2 cores throughout. Load average "
        "(1 min) after each round: " + ", ".join(f"{load[0]:.2f}" for load in loads) + ". "
        "Mitigation: rounds interleave all architectures in a fresh order, and each architecture keeps the "
        "minimum over rounds of its per-round median. Treat absolute figures as a shared-machine "
        "measurement; an idle machine would give somewhat lower and tighter figures.",
        "",
        f"Data: `kws_host_latency.csv`, {len(archs)} distinct architectures sampled with seed {args.seed}; "
        f"latency {ms.min():.4f} - {ms.max():.4f} ms (median {np.median(ms):.4f} ms); MACs {int(macs_a.min()):,} - "
        f"{int(macs_a.max()):,}. `arch` is `Arch.key()` (a SHA-1, not invertible), `genotype` the genes as JSON "
        "(`KwsSpace().arch(genes)` rebuilds it).",
        "",
        "## Spread",
        "",
        "| what | value |",
        "|---|---|",
        f"| within a visit: IQR / median, median over architectures | {np.median(iqr / ms):.1%} |",
        f"| between rounds: (max - min) / min of the round medians, median over architectures | {np.median(round_spread):.1%} |",
        f"| same, 90th percentile | {np.quantile(round_spread, 0.9):.1%} |",
        "",
        f"## Repeatability: DS-CNN-S in {len(probes)} fresh sessions",
        "",
        f"One model (DS-CNN-S, {_dscnn_macs(space):,} MACs) measured in {len(probes)} separate "
        f"ONNX Runtime sessions spread over the {args.rounds} rounds ({args.repeats} timed runs each):",
        "",
        "| median of medians ms | min ms | max ms | IQR ms | CV | (max - min) / median |",
        "|---|---|---|---|---|---|",
        f"| {np.median(probe_ms):.4f} | {probe_ms.min():.4f} | {probe_ms.max():.4f} | {pq3 - pq1:.4f} | "
        f"{probe_ms.std(ddof=1) / probe_ms.mean():.1%} | {(probe_ms.max() - probe_ms.min()) / np.median(probe_ms):.1%} |",
        "",
        "## Baseline: how well do analytical MACs predict measured latency?",
        "",
        f"Least-squares line `ms = a + b x MACs` fitted on {line['train']} architectures (random 70% split, seed "
        f"{args.seed}), scored on the {line['test']} held out: a = {line['intercept_ms']:.4f} ms, "
        f"b = {line['ms_per_mmac']:.4f} ms per million MACs. The same line, scored per family of the held-out "
        "architectures (Spearman and Kendall rank MACs against measured latency):",
        "",
        "| held out | n | RMSE ms | MAPE | within +/-5% | within +/-10% | Spearman | Kendall |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {name if name == 'all' else name + ' family'} | {f['n']} | {f['rmse_ms']:.4f} | {f['mape']:.1%} | "
            f"{f['within_5']:.1%} | {f['within_10']:.1%} | {f['spearman']:.3f} | {f['kendall']:.3f} |"
            for name, f in fit.items()
            if name != "line"
        ),
        "",
        "This is the figure a learned predictor (`edgenas predictor fit --latency-table "
        "benchmarks/results/kws_host_latency.csv --device host_ort_1t_ms`) has to beat.",
        "",
    ]
    report = "\n".join(lines)
    (args.out / "host_latency.md").write_text(report, encoding="utf-8")
    print(report)


def _dscnn_macs(space: KwsSpace) -> int:
    return total_macs(space.layers(space.named("ds-cnn-s")))


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


if __name__ == "__main__":
    main()
