"""Where recurrent candidates land against convolutional ones in a finished ``--space kws-rnn`` search.

    edgenas search --space kws-rnn --budget 40 --epochs 4 --latency-ms 20 --out runs/rnn-pareto --seed 0
    python benchmarks/kws_rnn_pareto.py runs/rnn-pareto [--md benchmarks/results/kws_rnn_pareto.md]

Reads the run's trials (the store, read only), labels each complete candidate by the layer it ends
in (conv, gru, lstm), and lists the Pareto front of validation accuracy against estimated latency
(and against latency and peak SRAM), with the best candidate of each kind. Accuracies are measured
(validation, after the search's training); latency and SRAM are the target's estimates.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from edgenas.spaces import SPACES

Point = tuple[float, float, int, str, str, int]  # accuracy, latency ms, peak SRAM B, kind, description, trial


def _points(run: Path) -> list[Point]:
    space = SPACES.create("kws-rnn")
    with sqlite3.connect(f"file:{run / 'trials.db'}?mode=ro", uri=True) as con:
        rows = con.execute("select number, role, genes, state, cost, metrics from trials").fetchall()
    out = []
    for number, role, genes, state, cost, metrics in rows:
        if state != "complete" or role == "baseline":
            continue
        arch = space.arch(json.loads(genes))
        c, m = json.loads(cost), json.loads(metrics)
        kind = space.plan(arch).get("cell") or "conv"
        out.append((m["accuracy"], c["latency_ms"], c["peak_sram_bytes"], kind, space.describe(arch), number))
    return out


def _front(points: list[Point], with_sram: bool) -> list[Point]:
    def key(p: Point) -> tuple[float, ...]:
        return (-p[0], p[1], p[2]) if with_sram else (-p[0], p[1])

    def dominates(q: Point, p: Point) -> bool:
        return all(a <= b for a, b in zip(key(q), key(p), strict=True)) and key(q) != key(p)

    return sorted((p for p in points if not any(dominates(q, p) for q in points)), key=lambda p: p[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--md", type=Path, default=None)
    args = parser.parse_args()
    if not (args.run / "trials.db").is_file():
        print(f"error: {args.run} holds no trials.db: give the folder of a --space kws-rnn search", file=sys.stderr)
        return 2
    points = _points(args.run)
    front, front_sram = _front(points, False), _front(points, True)
    lines = [
        f"# Recurrent and convolutional candidates of `{args.run}`",
        "",
        f"`python benchmarks/kws_rnn_pareto.py {args.run}`, after `edgenas search --space kws-rnn --budget 40 "
        "--epochs 4 --latency-ms 20 --out runs/rnn-pareto --seed 0` (cortex-m7, 22 min on two shared cores). Validation "
        "accuracy measured (4 epochs); latency (ms) and peak SRAM (B) estimated on the run's target.",
        "",
        f"Complete candidates by kind: {dict(Counter(p[3] for p in points))}. On the front of accuracy and "
        f"latency: {dict(Counter(p[3] for p in front))}; "
        f"of accuracy, latency and SRAM: {dict(Counter(p[3] for p in front_sram))}.",
        "",
        "| front (accuracy, latency) | kind | val acc | latency ms | peak SRAM B | architecture |",
        "|---|---|---:|---:|---:|---|",
        *(f"| trial {p[5]} | {p[3]} | {100 * p[0]:.1f} % | {p[1]:.2f} | {p[2]:,} | `{p[4]}` |" for p in front),
        "",
        "| best of each kind | kind | val acc | latency ms | peak SRAM B | architecture |",
        "|---|---|---:|---:|---:|---|",
    ]
    for kind in ("conv", "gru", "lstm"):
        mine = [p for p in points if p[3] == kind]
        if mine:
            p = max(mine, key=lambda p: p[0])
            lines.append(f"| trial {p[5]} | {kind} | {100 * p[0]:.1f} % | {p[1]:.2f} | {p[2]:,} | `{p[4]}` |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        args.md.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
