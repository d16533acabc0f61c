"""Does the ``kws`` supernet rank architectures like stand-alone training? One schedule, one line.

Trains one :class:`~edgenas.evaluators.supernet.KwsSupernetEvaluator` with the given schedule and scores the
same ``--n`` architectures as ``benchmarks/evaluators.py`` (same sample, same seed) against their
stand-alone validation accuracies, read from that script's training cache (run
``benchmarks/evaluators.py --stage train`` first; nothing is retrained here). Prints the Spearman
and Kendall correlations (overall and per family), a 95 % bootstrap interval, the supernet's CPU
seconds (process time, one torch thread) and its mean training loss per family and sandwich role,
and appends the same as one JSON line to ``--log``, so screening runs leave a record.

    .venv/bin/python benchmarks/supernet_kws.py [--epochs 3] [--largest strided] [--distill] ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=30, help="architectures in the sample (as benchmarks/evaluators.py)")
    parser.add_argument("--truth-epochs", type=int, default=3, help="stand-alone training epochs of the cached truth")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--truth-seeds", default=None, help="average the truth over these training seeds, e.g. 0,1 (default: --seed)"
    )
    parser.add_argument("--cache", type=Path, default=Path("runs/bench-evaluators/train.jsonl"))
    parser.add_argument("--log", type=Path, default=Path("runs/supernet-kws/results.jsonl"))
    parser.add_argument("--label", default="", help="a name for this run in the log")
    parser.add_argument("--epochs", type=int, default=None, help="supernet epochs (default: the evaluator's)")
    parser.add_argument("--warmup-epochs", type=int, default=None)
    parser.add_argument("--largest", default=None)
    parser.add_argument("--random-per-step", type=int, default=None)
    parser.add_argument("--distill", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--calibration-batches", type=int, default=None)
    parser.add_argument("--finetune-steps", type=int, default=None)
    parser.add_argument(
        "--untrained", action="store_true", help="control: score from the supernet's initial weights (no supernet training)"
    )
    parser.add_argument("--share-families", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--families", default=None, help="comma-separated, e.g. 2d")
    parser.add_argument(
        "--supernet-cache", type=Path, default=None, help="trained weights: loaded if made with these settings, else written"
    )
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="train nothing: score every run logged in --log (its stored scores) against the --truth-epochs truth",
    )
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from evaluators import rank_correlations, sample_archs  # benchmarks/evaluators.py: same sample, same statistics
    from scipy.stats import spearmanr

    from edgenas.evaluators.supernet import KwsSupernetEvaluator
    from edgenas.spaces import KwsSpace
    from edgenas.tasks.kws import load_kws

    data = load_kws(seed=args.seed)
    space = KwsSpace(num_classes=len(data.classes), input_shape=tuple(data.input_shape))  # type: ignore[arg-type]
    archs = sample_archs(space, args.n, args.seed)
    cached = [json.loads(line) for line in args.cache.read_text().splitlines()]
    truth_seeds = [int(v) for v in args.truth_seeds.split(",")] if args.truth_seeds else [args.seed]
    runs: dict[str, dict[int, float]] = {}  # architecture -> training seed -> validation accuracy
    for r in cached:
        if r["epochs"] == args.truth_epochs and r["seed"] in truth_seeds:
            runs.setdefault(r["key"], {})[r["seed"]] = r["val_accuracy"]
    truth_by_key = {k: float(np.mean(list(v.values()))) for k, v in runs.items() if len(v) == len(truth_seeds)}
    missing = [a.key() for a in archs if a.key() not in truth_by_key]
    if missing:
        print(
            f"{len(missing)} architectures have no cached truth in {args.cache}: run benchmarks/evaluators.py --stage train",
            file=sys.stderr,
        )
        return 2
    if args.rescore:
        truth_name = f"{args.truth_epochs}-epoch truth" + (f" (mean of seeds {args.truth_seeds})" if args.truth_seeds else "")
        return _rescore(args.log, [truth_by_key[a.key()] for a in archs], truth_name, args.seed)
    settings = {
        "epochs": args.epochs,
        "warmup_epochs": args.warmup_epochs,
        "largest": args.largest,
        "random_per_step": args.random_per_step,
        "distill": args.distill,
        "lr": args.lr,
        "calibration_batches": args.calibration_batches,
        "families": tuple(args.families.split(",")) if args.families else None,
        "share_families": args.share_families,
        "finetune_steps": args.finetune_steps,
    }
    settings = {k: v for k, v in settings.items() if v is not None}
    evaluator = KwsSupernetEvaluator(
        space, data, seed=args.seed, cache=args.supernet_cache, log=lambda m: print(m, file=sys.stderr), **settings
    )
    start = time.process_time()
    if args.untrained:  # the control: what fine-tuning alone does, from the weights training would start from
        fresh = evaluator._fresh("both") if evaluator.shared else None
        evaluator._nets = {f: fresh if fresh is not None else evaluator._fresh(f) for f in evaluator.families}
    evaluator.supernets()
    train_cpu_s = time.process_time() - start
    fams = [("2d" if space.plan(a)["two_d"] else "1d") for a in archs]
    scored = [(a, f) for a, f in zip(archs, fams, strict=True) if f in evaluator.families]
    start = time.process_time()
    scores = np.array([evaluator.evaluate(a).accuracy for a, _ in scored])
    score_cpu_s = (time.process_time() - start) / len(scored)
    truth = np.array([truth_by_key[a.key()] for a, _ in scored])
    stats = rank_correlations(truth, scores, args.seed)
    per_family = {}
    for family in evaluator.families:
        mask = np.array([f == family for _, f in scored])
        if mask.sum() > 2:
            per_family[family] = float(spearmanr(truth[mask], scores[mask]).statistic)
    record = {
        "label": args.label,
        "untrained": args.untrained,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()},
        **stats,
        "spearman_per_family": per_family,
        "supernet_train_cpu_s": train_cpu_s,
        "cpu_s_per_subnet": score_cpu_s,
        "inherited_accuracy": {"min": float(scores.min()), "max": float(scores.max()), "mean": float(scores.mean())},
        "history": evaluator.history,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "scores": [float(v) for v in scores],
    }
    args.log.parent.mkdir(parents=True, exist_ok=True)
    with args.log.open("a") as f:
        f.write(json.dumps(record) + "\n")
    fam = ", ".join(f"{k} {v:+.3f}" for k, v in per_family.items())
    low, high = stats["spearman_ci95"]
    print(
        f"{args.label or 'run'}: spearman {stats['spearman']:+.3f} [{low:+.2f}, {high:+.2f}] kendall {stats['kendall']:+.3f} "
        f"(per family {fam}); supernet {train_cpu_s:.0f} CPU s, {score_cpu_s:.2f} CPU s per subnet"
    )
    return 0


def _rescore(log: Path, truth: list[float], truth_name: str, seed: int) -> int:
    """Each logged run's 30 scores against another truth (e.g. a longer-trained one): same scores, new statistics."""
    from evaluators import rank_correlations

    print(f"| run | Spearman vs the {truth_name} [95 % CI] | Kendall | as logged (its own truth) |")
    print("|---|---|---|---|")
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if len(record["scores"]) != len(truth):  # a one-family run scored fewer architectures
            continue
        stats = rank_correlations(np.array(truth), np.array(record["scores"]), seed)
        low, high = stats["spearman_ci95"]
        print(
            f"| {record['label']} | {stats['spearman']:+.3f} [{low:+.2f}, {high:+.2f}] | {stats['kendall']:+.3f} "
            f"| {record['spearman']:+.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
