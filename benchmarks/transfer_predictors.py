"""Leave one device out: predict a device's latencies from the latencies of every other device.

    .venv/bin/python benchmarks/transfer_predictors.py [--train 100] [--repeats 3] [--md PATH]

For each device column of ``nb201_latency_ms.csv`` in turn, the predictor learns from the other
devices only (the same hardware at another batch size, ``titanx_1`` for ``titanx_32``, is left
out too: it is not a *new* device) and from ``--train`` measurements of the left-out device: a
ridge regression of the log latency on the other devices' log latencies of the same
architecture, its penalty chosen by cross-validation on those ``--train`` rows. It is scored on
every other architecture measured on the left-out device: share within +/-10 %, MAPE, Spearman.
This is "transfer from every known device" (the latencies of the known devices are the
features): a new device is described by how it ranks what the known ones already measured.
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import RidgeCV

from edgenas.settings import shared_data_dir
from edgenas.tables import read_table
from edgenas.workflows.latency_predictors import device_family


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=100, help="measurements of the left-out device")
    parser.add_argument("--repeats", type=int, default=3, help="seeded draws of the training rows")
    parser.add_argument("--md", default=None, help="also write the table to this Markdown file")
    args = parser.parse_args()

    path = shared_data_dir() / "benchmarks" / "nb201_latency_ms.csv"
    table = read_table(path, what="latency table")
    devices = list(table.columns)
    latency = np.column_stack([table.column(d, "latency column") for d in devices])
    lines = [
        f"Leave one device out on {path.name} ({len(table.keys):,} architectures, {len(devices)} device columns): "
        f"{args.train} measurements of the left-out device, {args.repeats} seeded draws; "
        f"{platform.machine()} {os.cpu_count()} CPUs.",
        "",
        "| left-out device | sources | within ±10 % | MAPE | Spearman |",
        "|---|---:|---:|---:|---:|",
    ]
    summary = []
    for t, device in enumerate(devices):
        sources = [j for j, d in enumerate(devices) if device_family(d) != device_family(device)]
        y_all = latency[:, t]
        usable = np.isfinite(y_all) & (y_all > 0) & np.all(np.isfinite(latency[:, sources]) & (latency[:, sources] > 0), axis=1)
        rows = np.flatnonzero(usable)
        features = np.log(latency[:, sources])
        scores = []
        for seed in range(args.repeats):
            train = np.random.default_rng(seed).choice(rows, args.train, replace=False)
            test = np.setdiff1d(rows, train)
            model = RidgeCV(alphas=np.logspace(-4, 3, 30)).fit(features[train], np.log(y_all[train]))
            predicted, measured = np.exp(model.predict(features[test])), y_all[test]
            rel = np.abs(predicted - measured) / measured
            scores.append((np.mean(rel <= 0.10), np.mean(rel), spearmanr(measured, predicted).statistic))
        within, mape, rho = np.mean(scores, axis=0)
        summary.append(within)
        lines.append(f"| {device} | {len(sources)} | {100 * within:.1f} % | {100 * mape:.1f} % | {rho:.3f} |")
    met = sum(w >= 0.95 for w in summary)
    lines += ["", f"{met} of {len(devices)} devices reach 95 % within ±10 %."]
    text = "\n".join(lines)
    print(text)
    if args.md:
        with open(args.md, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
