"""Do cheap evaluators rank architectures the way training does? One command, one table.

On a fixed-seed sample of ``--n`` architectures of the ``kws`` space (synthetic keyword data),
each architecture is trained stand-alone with the project's :class:`TrainEvaluator`
(``--epochs`` epochs, the search recipe) and scored by every zero-cost proxy and by the
#params / MACs baselines (:mod:`edgenas.evaluators.zerocost`, at initialisation, on one
training minibatch). The table gives the Spearman and Kendall rank correlation of each method
with the trained validation accuracy, and the CPU seconds one evaluation costs (process time,
one torch thread, mean over the sample).

Training results are cached per architecture in ``--cache`` (a JSON-lines file), so a killed
run continues where it stopped; ``--stage train`` only trains (run it in the background first).

    .venv/bin/python benchmarks/evaluators.py [--n 30 --epochs 3 --seed 0] [--json]

``--space mbconv`` runs the same study on the ``mbconv`` space for Fashion-MNIST (28 x 28 grey
images, 10 classes) with only the choices the ``npu-int8`` target runs natively (see
:func:`fashion_mnist_npu_space`), on class-stratified subsets (``--train-size``, ``--val-size``)
so that 30 trainings fit on two CPU cores; ``--supernet-epochs`` then trains the ``mbconv``
supernet (:class:`~edgenas.evaluators.supernet.mbconv.MbconvSupernetEvaluator`).

    .venv/bin/python benchmarks/evaluators.py --space mbconv --n 30 --epochs 2 --train-size 2500 \
        --val-size 2000 --supernet-epochs 6
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def sample_archs(space, n: int, seed: int) -> list:  # type: ignore[no-untyped-def]
    """``n`` distinct architectures drawn with a fixed seed."""
    from edgenas._rng import rng_for

    rng = rng_for(seed, "bench-evaluators")
    archs, seen = [], set()
    while len(archs) < n:
        arch = space.sample(rng)
        if arch.key() not in seen:
            seen.add(arch.key())
            archs.append(arch)
    return archs


def fashion_mnist_npu_space(vocabulary: str = "imagenet"):  # type: ignore[no-untyped-def]
    """The ``mbconv`` space (``vocabulary``) for Fashion-MNIST with the choices ``npu-int8`` runs natively.

    Why not ``filter_by_ops(MbconvSpace(num_classes=10, in_channels=1, resolutions=(28,)), ...)``
    directly: with ~30 per-block activation, SE and precision decisions, *every* sampled network
    has some swish, SE or float32 layer, so the filter's "needed by every network" check refuses
    the whole space instead of removing those choices. The space is therefore built with the
    choices the filter would keep (relu/relu6, no squeeze-and-excitation, int8) and then passed
    through ``filter_by_ops``, which confirms that nothing further is removed.
    """
    from edgenas.hardware import load_target
    from edgenas.spaces import MbconvSpace, filter_by_ops

    base = MbconvSpace(
        num_classes=10,
        in_channels=1,
        resolutions=(28,),
        activations=("relu", "relu6"),
        squeeze_excite=False,
        precisions=("int8",),
        vocabulary=vocabulary,
    )
    space, removed = filter_by_ops(base, load_target("npu-int8").native_ops, "npu-int8")
    if removed:  # the choices above are all native: a removal means the target file changed
        raise RuntimeError(f"npu-int8 now removes more from the mbconv space: {removed}")
    return space


def train_all(space, data, archs, epochs: int, seed: int, cache: Path, match: dict | None = None) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """Validation accuracy and CPU seconds of each architecture, trained stand-alone (cached).

    ``match``: further fields (space, subset sizes) a cached record must carry to be reused.
    """
    from edgenas.evaluators.train import TrainEvaluator

    match = match or {}
    done: dict[str, dict] = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            rec = json.loads(line)
            if rec["epochs"] == epochs and rec["seed"] == seed and all(rec.get(k) == v for k, v in match.items()):
                done[rec["key"]] = rec
    trainer = TrainEvaluator(space, data, epochs=epochs, seed=seed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    for i, arch in enumerate(archs):
        if arch.key() in done:
            continue
        cpu = time.process_time()
        metrics = trainer.evaluate(arch)
        rec = {
            "key": arch.key(),
            "genes": list(arch.genes),
            "epochs": epochs,
            "seed": seed,
            "val_accuracy": metrics.accuracy,
            "cpu_s": time.process_time() - cpu,
            **match,
        }
        done[arch.key()] = rec
        with cache.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(f"trained {i + 1}/{len(archs)}: {100 * metrics.accuracy:.1f}% in {rec['cpu_s']:.1f} CPU s", file=sys.stderr)
    return done


def score_all(space, data, archs, seed: int) -> tuple[dict[str, list[float]], dict[str, float]]:  # type: ignore[no-untyped-def]
    """Every proxy's score of every architecture (NaN where it fails), and mean CPU seconds each."""
    from edgenas.evaluators.base import TrialFailed
    from edgenas.evaluators.zerocost import PROXIES, ZeroCostEvaluator

    scores: dict[str, list[float]] = {}
    cpu_s: dict[str, float] = {}
    for name in PROXIES:
        evaluator = ZeroCostEvaluator(space, data, proxy=name, seed=seed)
        values = []
        start = time.process_time()
        for arch in archs:
            try:
                values.append(evaluator.evaluate(arch).accuracy)
            except TrialFailed:
                values.append(float("nan"))
        cpu_s[name] = (time.process_time() - start) / len(archs)
        scores[name] = values
    return scores, cpu_s


def score_supernet(space, data, archs, epochs: int, seed: int, cache: Path, **options) -> tuple[list[float], float, float]:  # type: ignore[no-untyped-def]
    """Inherited accuracy of every architecture from one supernet; (scores, CPU s to train it, CPU s per subnet).

    ``options``: further evaluator settings (``distill=True`` for the mbconv supernet).
    """
    from edgenas.evaluators.supernet import supernet_evaluator

    log = lambda message: print(message, file=sys.stderr)  # noqa: E731 (stdout stays one JSON object under --json)
    evaluator = supernet_evaluator(space, data, epochs=epochs, seed=seed, cache=cache, log=log, **options)
    start = time.process_time()
    evaluator.supernets()
    # the mbconv evaluator stores its training's CPU seconds with the cached weights
    train_s = getattr(evaluator, "train_cpu_seconds", 0.0) or time.process_time() - start
    start = time.process_time()
    values = [evaluator.evaluate(arch).accuracy for arch in archs]
    return values, train_s, (time.process_time() - start) / max(len(archs), 1)


def rank_correlations(truth: np.ndarray, score: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Spearman rho (with a 95 % bootstrap interval) and Kendall tau over the architectures scored."""
    from scipy.stats import kendalltau, spearmanr

    ok = np.isfinite(score)
    t, s = truth[ok], score[ok]
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(1000):
        idx = rng.integers(0, len(t), len(t))
        value = spearmanr(t[idx], s[idx]).statistic
        if np.isfinite(value):
            boot.append(value)
    low, high = np.percentile(boot, [2.5, 97.5]) if boot else (float("nan"), float("nan"))  # all ties: no interval
    return {
        "spearman": float(spearmanr(t, s).statistic),
        "spearman_ci95": [float(low), float(high)],
        "kendall": float(kendalltau(t, s).statistic),
        "scored": int(ok.sum()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=30, help="architectures in the sample")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per architecture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--space", choices=("kws", "mbconv"), default="kws", help="kws (synthetic speech) or mbconv (Fashion-MNIST)"
    )
    parser.add_argument("--vocabulary", choices=("imagenet", "micro"), default="imagenet", help="mbconv: the space's vocabulary")
    parser.add_argument("--train-size", type=int, default=2500, help="mbconv: Fashion-MNIST training images kept")
    parser.add_argument("--val-size", type=int, default=2000, help="mbconv: Fashion-MNIST validation images")
    parser.add_argument("--cache", type=Path, default=None, help="training cache (default runs/bench-evaluators/<space>)")
    parser.add_argument(
        "--stage", choices=("all", "train", "supernet"), default="all", help="train: stand-alone only; supernet: supernet only"
    )
    parser.add_argument("--supernet-epochs", type=int, default=0, help="also score by a weight-sharing supernet (0: skip)")
    parser.add_argument("--supernet-distill", action="store_true", help="mbconv: in-place distillation from the largest subnet")
    parser.add_argument("--supernet-zero-init", action="store_true", help="mbconv: residual block positions start as identity")
    parser.add_argument(
        "--train-seed", type=int, default=None, help="seed of the stand-alone trainings (default: --seed; the sample keeps it)"
    )
    parser.add_argument(
        "--ceiling-seed",
        type=int,
        default=None,
        help="also score by the same trainings with this seed (the truth's own noise: the ceiling no evaluator can beat)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)  # CPU seconds per evaluation, on one core
    match: dict = {}
    if args.space == "kws":
        from edgenas.spaces import KwsSpace
        from edgenas.tasks.kws import load_kws

        data = load_kws(seed=args.seed)
        space = KwsSpace(num_classes=len(data.classes), input_shape=tuple(data.input_shape))  # type: ignore[arg-type]
        cache = args.cache or Path("runs/bench-evaluators/train.jsonl")
        task = "kws (synthetic speech)"
    else:
        from edgenas.tasks.fashion_mnist import load_fashion_mnist

        data = load_fashion_mnist(seed=args.seed, train_size=args.train_size, val_size=args.val_size)
        space = fashion_mnist_npu_space(args.vocabulary)
        cache = args.cache or Path("runs/bench-evaluators/mbconv-train.jsonl")
        match = {"space": "mbconv", "train_size": args.train_size, "val_size": args.val_size}
        match |= {"vocabulary": args.vocabulary} if args.vocabulary != "imagenet" else {}
        task = f"Fashion-MNIST ({args.train_size} train / {args.val_size} val images), npu-int8-filtered"
        task += f", {args.vocabulary} vocabulary" if args.vocabulary != "imagenet" else ""
    prefix = "" if args.space == "kws" else f"mbconv-t{args.train_size}-"
    prefix += "micro-" if args.space == "mbconv" and args.vocabulary == "micro" else ""
    options = {"distill": True} if args.supernet_distill else {}
    options |= {"zero_init_residual": True} if args.supernet_zero_init else {}
    suffix = ("-kd" if args.supernet_distill else "") + ("-z" if args.supernet_zero_init else "")
    net_cache = cache.parent / f"{prefix}supernet-e{args.supernet_epochs}{suffix}.pt"
    if args.stage == "supernet":  # train the supernet into its cache only (alongside --stage train)
        _, train_s, _ = score_supernet(space, data, [], args.supernet_epochs, args.seed, net_cache, **options)
        print(f"supernet in {net_cache}: {train_s:.0f} CPU s of training", file=sys.stderr)
        return 0
    archs = sample_archs(space, args.n, args.seed)
    train_seed = args.seed if args.train_seed is None else args.train_seed
    trained = train_all(space, data, archs, args.epochs, train_seed, cache, match)
    if args.stage == "train":
        return 0
    truth = np.array([trained[a.key()]["val_accuracy"] for a in archs])
    train_cpu_s = float(np.mean([trained[a.key()]["cpu_s"] for a in archs]))
    scores, cpu_s = score_all(space, data, archs, args.seed)
    if args.ceiling_seed is not None:
        again = train_all(space, data, archs, args.epochs, args.ceiling_seed, cache, match)
        name = f"retrain-seed{args.ceiling_seed}"
        scores[name] = [again[a.key()]["val_accuracy"] for a in archs]
        cpu_s[name] = float(np.mean([again[a.key()]["cpu_s"] for a in archs]))
    supernet_train_s = None
    if args.supernet_epochs > 0:
        values, supernet_train_s, per_subnet = score_supernet(
            space, data, archs, args.supernet_epochs, args.seed, net_cache, **options
        )
        scores["supernet"], cpu_s["supernet"] = values, per_subnet

    rows = []
    for name, values in scores.items():
        from scipy.stats import spearmanr

        stats = rank_correlations(truth, np.array(values, dtype=float), args.seed)
        with_macs = float(spearmanr(values, scores["macs"], nan_policy="omit").statistic)  # is it only a size measure?
        rows.append({"method": name, **stats, "spearman_with_macs": with_macs, "cpu_s_per_eval": cpu_s[name]})
    result = {
        "space": args.space,
        "task": task,
        "architectures": args.n,
        "epochs": args.epochs,
        "seed": args.seed,
        "train_seed": train_seed,
        "val_accuracy": {"min": float(truth.min()), "max": float(truth.max()), "mean": float(truth.mean())},
        "train_cpu_s_per_eval": train_cpu_s,
        "supernet_epochs": args.supernet_epochs or None,
        "supernet_distill": args.supernet_distill,
        "supernet_zero_init": args.supernet_zero_init,
        "supernet_train_cpu_s": supernet_train_s,  # once, shared by every subnet (0 when loaded from the cache)
        "methods": rows,
        "per_architecture": {  # for diagnostics: the truth and every method's raw scores, in sample order
            "key": [a.key() for a in archs],
            "truth": truth.tolist(),
            **{name: [float(v) for v in values] for name, values in scores.items()},
        },
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{args.space} space ({task}), {args.n} architectures (seed {args.seed}); truth = validation accuracy after "
        f"{args.epochs} epochs of TrainEvaluator ({100 * truth.min():.1f}-{100 * truth.max():.1f} %, "
        f"{train_cpu_s:.1f} CPU s per architecture)"
    )
    header = f"{'method':<10} {'spearman':>9} {'95% CI (bootstrap)':>19} {'kendall':>8} {'scored':>7} {'CPU s/eval':>11}"
    print(header + f" {'rho(MACs)':>10}")
    for r in sorted(rows, key=lambda r: -r["spearman"]):
        ci = f"[{r['spearman_ci95'][0]:+.2f}, {r['spearman_ci95'][1]:+.2f}]"
        print(
            f"{r['method']:<10} {r['spearman']:>9.3f} {ci:>19} {r['kendall']:>8.3f} {r['scored']:>7d} "
            f"{r['cpu_s_per_eval']:>11.3f} {r['spearman_with_macs']:>10.2f}"
        )
    print(f"{'training':<10} {'(truth)':>9} {'':>19} {'':>8} {args.n:>7d} {train_cpu_s:>11.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
