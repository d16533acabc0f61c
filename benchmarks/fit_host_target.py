"""Fit the ``host`` target's latency coefficients to the measured host latency data set.

Reads results/kws_host_latency.csv (written by ``host_latency.py``), rebuilds each architecture
from its genotype, and fits the analytical model's own form (cycles = per-kind cycles/MAC x MACs
+ cycles per conv/FC output + a fixed cost per operator; clock from the target file) by
non-negative least squares on a train split. Prints the held-out accuracy of that fitted model
beside the MACs-only line, and the coefficients to paste into edgenas/hardware/targets/host.yaml.

    python benchmarks/fit_host_target.py [--csv benchmarks/results/kws_host_latency.csv] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from scipy import optimize, stats

from edgenas.hardware import load_target
from edgenas.hardware.analytical import latency_ms, mac_kind
from edgenas.spaces import KwsSpace

FEATURES = ("conv_pointwise", "conv_general", "conv_depthwise", "fc", "conv_outputs", "fc_outputs", "ops")


def features(layers) -> list[float]:  # type: ignore[no-untyped-def]
    row = dict.fromkeys(FEATURES, 0.0)
    for layer in layers:
        kind = mac_kind(layer)
        if kind is not None:
            row[kind] += layer.macs
            row["fc_outputs" if kind == "fc" else "conv_outputs"] += layer.out_elements
        row["ops"] += 1
    return [row[f] for f in FEATURES]


def scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    rel = np.abs(pred - true) / true
    return {
        "rmse_ms": float(np.sqrt(np.mean((pred - true) ** 2))),
        "mape": float(rel.mean()),
        "within_5": float(np.mean(rel <= 0.05)),
        "within_10": float(np.mean(rel <= 0.10)),
        "spearman": float(stats.spearmanr(pred, true).statistic),
        "kendall": float(stats.kendalltau(pred, true).statistic),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=Path(__file__).parent / "results" / "kws_host_latency.csv")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    space = KwsSpace()
    with args.csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    archs = [space.arch(json.loads(r["genotype"])) for r in rows]
    assert all(a.key() == r["arch"] for a, r in zip(archs, rows, strict=True)), "genotype and arch key disagree"
    ms = np.array([float(r["host_ort_1t_ms"]) for r in rows])
    x = np.array([features(space.layers(a)) for a in archs])
    macs = np.array([float(r["macs"]) for r in rows])
    order = np.random.default_rng(args.seed).permutation(len(ms))  # the same split as host_latency.py
    cut = int(0.7 * len(ms))
    train, test = order[:cut], order[cut:]
    scale = x[train].max(axis=0)
    scale[scale == 0] = 1.0
    coef, _ = optimize.nnls(x[train] / scale, ms[train])
    coef = coef / scale  # ms per unit of each feature
    b, a = np.polyfit(macs[train], ms[train], 1)

    target = load_target("host")
    cycles = coef * target.clock_hz / 1000.0
    print(f"fitted on {len(train)} architectures, scored on {len(test)} held out ({args.csv})")
    print(f"{'model':<34}{'RMSE ms':>9}{'MAPE':>8}{'+/-5%':>8}{'+/-10%':>8}{'Spearman':>10}{'Kendall':>9}")
    for name, pred in (
        ("MACs-only line", a + b * macs[test]),
        ("analytical form, NNLS fit", x[test] @ coef),
        ("host.yaml as shipped", np.array([latency_ms(space.layers(archs[i]), target) for i in test])),
    ):
        s = scores(pred, ms[test])
        print(
            f"{name:<34}{s['rmse_ms']:>9.4f}{s['mape']:>8.1%}{s['within_5']:>8.1%}{s['within_10']:>8.1%}"
            f"{s['spearman']:>10.3f}{s['kendall']:>9.3f}"
        )
    print(f"\ncoefficients at clock {target.clock_hz / 1e6:g} MHz (cycles):")
    for name, value in zip(FEATURES, cycles, strict=True):
        print(f"  {name}: {value:.4g}")


if __name__ == "__main__":
    main()
