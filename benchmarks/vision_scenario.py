"""Issue 6's vision scenario: a supernet search against a train-every-candidate search given 4x the time.

    python benchmarks/vision_scenario.py run --out runs/vision [--train-subset 5000] [--epochs 2]
        [--supernet-budget 40] [--factor 4] [--md benchmarks/results/vision_scenario.md]
    python benchmarks/vision_scenario.py table --out runs/vision [--md PATH]   # re-read finished runs
    python benchmarks/vision_scenario.py retrain --out runs/vision [--retrain-seeds 101,102,103,104,105]

Both searches are ``edgenas search --task fashion-mnist --target npu-int8 --strategy evolution``
with the same recipe (``--train-subset``, ``--epochs``, seed), run **concurrently** so they see
the same machine load, or with ``--sequential`` one after the other, each with every core:
``--evaluator supernet`` (one weight-sharing supernet trained, candidates
scored with inherited weights, the best retrained stand-alone), and ``--evaluator train`` (every
candidate trained stand-alone), which is stopped (SIGTERM; finished trials are kept) once it has
run ``--factor`` times the supernet search's time *after its own baseline training* (the
train-every side trains the MobileNetV2 baseline stand-alone before searching; the supernet side
only scores it with inherited weights, and trains it stand-alone after the search). The supernet
search's time is its wall-clock from start to the finalist's retraining (supernet training
included); the retraining that *measures* the finalist is reported separately.

``--shortlist K`` makes the supernet side ``--evaluator prefilter:supernet:<supernet-budget>
--budget K``: the supernet scores ``--supernet-budget`` candidates and its ``K`` favourites are
trained stand-alone, the best of them by validation accuracy being the finalist. Its time then
counts everything but its own baseline's stand-alone training (excluded on both sides).

``--train-from DIR`` continues the train-every side of an earlier scenario (DIR/train is copied,
then resumed): the search seconds it already spent (DIR/scenario.json) count toward its
``--factor`` budget, so one train-every run serves several supernet variants at the same seed.

``retrain`` measures the finalists without the winner's curse: the supernet side's finalist, the
train-every side's best at ``--factor`` x and its best within the supernet side's time (1x, by trial
durations) are each trained again with ``--retrain-seeds`` fresh training seeds (same recipe, same
training images) and scored on the 10,000-image test set, which no search looked at. A search's
best is the maximum of many noisy validation scores (about 130 on the train-every side, 10 on the
shortlist), so its in-search score overstates what the architecture trains to; the mean over
fresh seeds on the test set is the architecture's stand-alone accuracy. Results are cached per
(architecture, seed) in ``<out>/retrain.jsonl``.

Stand-alone accuracy on both sides is validation accuracy after training with the same recipe
(the supernet finalist's ``retrain_val_accuracy``; the train-every search's best trial), and the
test accuracy of each (the train-every best is retrained, deterministically the same weights, for
its test figure). Goal (issue 6): the supernet search within 1 point of the other, in under 15
minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIDES = ("supernet", "train")


def _config(side: str, args: argparse.Namespace):
    from edgenas.workflows.search import SearchConfig

    if side == "supernet" and args.shortlist:
        evaluator, budget = f"prefilter:supernet:{args.supernet_budget}", args.shortlist
    else:
        evaluator, budget = side, args.supernet_budget if side == "supernet" else args.train_budget
    return SearchConfig(
        task="fashion-mnist",
        target="npu-int8",
        strategy="evolution",
        evaluator=evaluator,
        budget=budget,
        resume=side == "train" and (args.out / side / "trials.db").exists(),  # --train-from: continue the copy
        epochs=args.epochs,
        seed=args.seed,
        train_subset=args.train_subset,
        space=args.space,
        out=args.out / side,
        export=False,
        max_trial_seconds=3600.0,
    )


def search(args: argparse.Namespace) -> int:
    """One side, in this process; its timings go to ``<out>/<side>.timing.json`` as they happen."""
    from edgenas.workflows.search import run_search

    record = {"side": args.side, "start_unix": time.time(), "events": []}
    path = args.out / f"{args.side}.timing.json"
    start = time.perf_counter()

    def status(message: str) -> None:
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        record["events"].append(
            {"t_s": round(time.perf_counter() - start, 2), "cpu_s": round(cpu.ru_utime + cpu.ru_stime, 2), "message": message}
        )
        path.write_text(json.dumps(record, indent=1))
        print(f"[{args.side} {time.perf_counter() - start:7.1f} s] {message}", file=sys.stderr, flush=True)

    outcome = run_search(_config(args.side, args), status=status)
    status("done")
    record["best"] = outcome.summary["best"]
    path.write_text(json.dumps(record, indent=1))
    return 0


def run(args: argparse.Namespace) -> int:
    """Both sides concurrently; the train-every side stopped at ``factor`` x the supernet side's search time."""
    args.out.mkdir(parents=True, exist_ok=True)
    common = [
        "--out", str(args.out), "--train-subset", str(args.train_subset), "--epochs", str(args.epochs),
        "--seed", str(args.seed), "--supernet-budget", str(args.supernet_budget), "--train-budget", str(args.train_budget),
        "--space", args.space, "--shortlist", str(args.shortlist),
    ]  # fmt: skip
    spent = 0.0  # --train-from: search seconds the train-every side already had
    if args.train_from is not None:
        if (args.out / "train").exists():
            raise SystemExit(f"{args.out / 'train'} exists: --train-from copies the earlier train-every search there")
        previous = json.loads((args.train_from / "scenario.json").read_text())
        if (previous["seed"], previous["space"], previous["epochs"], previous["train_subset"]) != (
            args.seed, args.space, args.epochs, args.train_subset
        ):  # fmt: skip
            raise SystemExit(f"--train-from {args.train_from}: another seed, space or recipe")
        spent = previous["train_stopped_after_s"] - previous["train_baseline_s"] + previous.get("train_spent_before_s", 0.0)
        shutil.copytree(args.train_from / "train", args.out / "train")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = {}

    def start(side: str) -> None:
        log = (args.out / f"{side}.log").open("w")
        cmd = [sys.executable, __file__, "search", "--side", side, *common]
        procs[side] = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)

    start("supernet")
    if not args.sequential:
        start("train")
    started = time.perf_counter()
    procs["supernet"].wait()
    supernet_s = _search_seconds(args.out / "supernet.timing.json")
    if args.sequential:  # the train-every side gets the machine to itself too
        start("train")
        started = time.perf_counter()
    while not (args.out / "train.timing.json").exists() or not _searching(args.out / "train.timing.json"):
        if procs["train"].poll() is not None:
            break
        time.sleep(2)
    baseline_s = _searching(args.out / "train.timing.json") or 0.0  # resumed: its baseline is stored, ~0 s
    deadline = started + baseline_s + args.factor * supernet_s - spent
    while procs["train"].poll() is None and time.perf_counter() < deadline:
        time.sleep(5)
    if procs["train"].poll() is None:
        procs["train"].send_signal(signal.SIGTERM)
        procs["train"].wait()
    (args.out / "scenario.json").write_text(
        json.dumps(
            {
                "supernet_search_s": supernet_s,
                "train_stopped_after_s": time.perf_counter() - started,
                "train_baseline_s": baseline_s,
                "train_spent_before_s": spent,
                **vars_json(args),
            }
        )
    )
    return table(args)


def _searching(path: Path) -> float | None:
    """Seconds from a side's start to its search (after its baseline's training), once logged."""
    try:
        events = json.loads(path.read_text())["events"]
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or caught mid-write
        return None
    return next((e["t_s"] for e in events if e["message"].startswith("searching")), None)


def vars_json(args: argparse.Namespace) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}


def _search_seconds(path: Path) -> float:
    """Wall-clock from start to the finalist's retraining (the search, supernet training included),
    less the stand-alone training of the baseline where it came before (``--shortlist``)."""
    events = json.loads(path.read_text())["events"]
    finalist = next((e for e in events if e["message"].startswith("finalist")), events[-1])
    return float(finalist["t_s"]) - _baseline_seconds(events)


def _baseline_seconds(events: list[dict]) -> float:
    """The stand-alone baseline training logged before the search, or 0 (plain ``--evaluator supernet``
    only scores the baseline there: its first scoring trains the supernet, which is search time)."""
    if not any(e["message"].startswith("prefilter:") for e in events):
        return 0.0
    begin = next((e for e in events if e["message"].startswith("training the")), None)
    end = next((e for e in events if e["message"].startswith("searching")), None)
    return float(end["t_s"] - begin["t_s"]) if begin and end else 0.0


def _task_and_space(args: argparse.Namespace):
    """The scenario's data (its training subset) and the ``npu-int8``-filtered space, as both searches built them."""
    from edgenas.hardware import load_target
    from edgenas.spaces import filter_by_ops, space_for
    from edgenas.tasks import TASKS
    from edgenas.tasks.base import subset_train

    data = subset_train(TASKS.create("fashion-mnist", data_dir=None, seed=args.seed), args.train_subset, args.seed)
    target = load_target("npu-int8")
    space, _ = filter_by_ops(space_for(data, args.space), target.native_ops, target.name)
    return data, space


def _search_trials(run: Path) -> list:
    """A search's trials (role ``search``) in the order they were asked."""
    from edgenas.store import SqliteStore

    store = SqliteStore(run / "trials.db")
    try:
        return sorted(store.trials(role="search"), key=lambda t: t.number)
    finally:
        store.close()


def _best_trained(trials: list):
    """The trial a search keeps as its best: highest validation accuracy among the trained, feasible ones."""
    from edgenas.trial import TrialState

    ok = [t for t in trials if t.state is TrialState.COMPLETE and not t.violations]
    return max(ok, key=lambda t: (t.accuracy, -t.number))


def table(args: argparse.Namespace) -> int:
    from edgenas.evaluators.train import TrainEvaluator
    from edgenas.report.markdown import md_cell
    from edgenas.trial import TrialState

    timing = json.loads((args.out / "supernet.timing.json").read_text())
    events = timing["events"]
    supernet_s = _search_seconds(args.out / "supernet.timing.json")
    done = next(e for e in events if e["message"] == "done")
    finalist = next(e for e in events if e["message"].startswith("finalist"))
    trained_by = max((e["t_s"] for e in events if e["message"].startswith("supernet ")), default=float("nan"))
    best_s = timing["best"]
    scenario = json.loads((args.out / "scenario.json").read_text()) if (args.out / "scenario.json").exists() else {}

    trials = [t for t in _search_trials(args.out / "train") if t.state is TrialState.COMPLETE and not t.violations]
    best_t = _best_trained(trials)
    data, space = _task_and_space(args)
    test_t = float("nan")
    if not args.val_only:  # the same weights again (deterministic), for the test figure
        trainer = TrainEvaluator(space, data, epochs=args.epochs, seed=args.seed)
        test_t = trainer.test_accuracy(trainer.train(best_t.arch).module)

    val_s, test_s = best_s["retrain_val_accuracy"], best_s["test_accuracy"]
    stopped = float(scenario.get("train_stopped_after_s", float("nan")))
    train_baseline = float(scenario.get("train_baseline_s", 0.0))
    spent = float(scenario.get("train_spent_before_s", 0.0))
    gap_val, gap_test = 100 * (val_s - best_t.accuracy), 100 * (test_s - test_t)
    if args.shortlist:
        side = f"supernet shortlist (`--evaluator prefilter:supernet:{args.supernet_budget} --budget {args.shortlist}`)"
        scored = f"{args.supernet_budget} scored, {args.shortlist} trained"
        how = (
            f"supernet trained by {trained_by:.0f} s; the {args.shortlist} it scored best then trained stand-alone "
            f"({_baseline_seconds(events):.0f} s of the baseline's stand-alone training excluded)"
        )
    else:
        side, scored = "supernet (`--evaluator supernet`)", f"{args.supernet_budget} scored"
        how = (
            f"supernet trained by {trained_by:.0f} s (it trains on its first evaluation, the baseline's inherited "
            "score; the stand-alone baseline is trained only after the search)"
        )
    if spent:  # --train-from: a resumed search, its baseline trained in the earlier run
        stop = f"{spent:.0f} s in an earlier run, then resumed for {stopped:.0f} s wall"
    else:
        stop = f"stopped at {stopped:.0f} s wall, {train_baseline:.0f} s of it the baseline's training"
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared); recipe: Fashion-MNIST, {args.train_subset} training "
        f"images (class-stratified), {args.epochs} epochs, seed {args.seed}; space {args.space}; target npu-int8; "
        "limits: the search defaults.",
        "",
        "| search | time | candidates | best model | lat ms (est.) | SRAM B (est.) | flash B (est.) | val | test |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {side} | {supernet_s:.0f} s wall to the finalist ({finalist['cpu_s']:.0f} CPU s); {how}; "
        f"+{done['t_s'] - finalist['t_s']:.0f} s to retrain and score it | {scored} | "
        f"`{md_cell(best_s['description'])}` | {best_s['latency_ms']:.2f} | {best_s['peak_sram_bytes']:,} "
        f"| {best_s['flash_bytes']:,} "
        f"| {100 * val_s:.1f} % | {100 * test_s:.1f} % |",
        f"| train every candidate | {stop} ({(stopped - train_baseline + spent) / supernet_s:.2f}x the supernet search) "
        f"| {len(trials)} trained "
        f"| `{md_cell(space.describe(best_t.arch))}` "
        f"| {best_t.cost.latency_ms:.2f} "
        f"| {best_t.cost.peak_sram_bytes:,} | {best_t.cost.flash_bytes:,} "
        f"| {100 * best_t.accuracy:.1f} % | {'not measured' if test_t != test_t else f'{100 * test_t:.1f} %'} |",
        "",
        f"Gap (supernet - train every): {gap_val:+.1f} points val"
        + ("" if gap_test != gap_test else f", {gap_test:+.1f} points test")
        + "; goal: >= -1 point, "
        f"supernet search under 900 s: {'met' if supernet_s < 900 else 'missed'} ({supernet_s:.0f} s wall).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.md:
        args.md.write_text(text + "\n")
    return 0


def _finalists(args: argparse.Namespace) -> list[tuple[str, object]]:
    """(label, arch) of the supernet side's finalist and the train-every side's best at 1x and ``factor`` x."""
    from edgenas.arch import Arch

    report = json.loads((args.out / "supernet" / "report.json").read_text())
    supernet_s = _search_seconds(args.out / "supernet.timing.json")
    trials = _search_trials(args.train_dir or args.out / "train")

    def within(factor: float) -> list:
        """The trials finished within ``factor`` x the supernet side's search time, by trial durations."""
        spent, kept = 0.0, []
        for trial in trials:
            spent += trial.duration_s
            if spent > factor * supernet_s:
                break
            kept.append(trial)
        return kept

    side = f"prefilter:supernet:{args.supernet_budget}, {args.shortlist} trained" if args.shortlist else "supernet"
    one, four = within(1.0), within(args.factor)
    return [
        (f"{side} ({supernet_s:.0f} s)", Arch.from_dict(report["best"]["arch"])),
        (f"train every, 1x (best of its first {len(one)} trials)", _best_trained(one).arch),
        (f"train every, {args.factor:g}x (best of its first {len(four)} trials)", _best_trained(four).arch),
    ]


def _welch(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean of ``a`` minus mean of ``b`` and the half-width of its 95 % Welch interval (t quantile:
    with 5 seeds a side the normal quantile would make the interval a third too narrow)."""
    from scipy.stats import t

    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return statistics.fmean(a) - statistics.fmean(b), 0.0
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return statistics.fmean(a) - statistics.fmean(b), float(t.ppf(0.975, df)) * math.sqrt(va + vb)


def retrain(args: argparse.Namespace) -> int:
    """Each finalist trained again with fresh seeds and scored on the test set: its stand-alone accuracy."""
    from edgenas.evaluators.train import TrainEvaluator
    from edgenas.report.markdown import md_cell

    if (args.out / "scenario.json").exists():  # the run's own settings, so --out is all it needs
        scenario = json.loads((args.out / "scenario.json").read_text())
        for name in ("seed", "space", "epochs", "train_subset", "supernet_budget", "shortlist", "factor"):
            setattr(args, name, scenario.get(name, getattr(args, name)))  # runs before --shortlist lack it
        args.shortlist = args.shortlist or 0  # plain supernet runs stored None
    seeds = [int(s) for s in args.retrain_seeds.split(",")]
    if args.seed in seeds:
        raise SystemExit(f"--retrain-seeds must leave out the search's seed {args.seed}: its score is the one selected")
    data, space = _task_and_space(args)
    cache_path = args.out / "retrain.jsonl"
    cache = {}
    if cache_path.exists():
        for line in cache_path.read_text().splitlines():
            row = json.loads(line)
            cache[(row["arch"], row["seed"], row["epochs"], row["train_subset"], row["data_seed"])] = row
    rows = []
    for label, arch in _finalists(args):
        scores = []
        for seed in seeds:
            key = (arch.key(), seed, args.epochs, args.train_subset, args.seed)
            if key not in cache:
                trainer = TrainEvaluator(space, data, epochs=args.epochs, seed=seed)
                began = time.perf_counter()
                trained = trainer.train(arch)
                cache[key] = {
                    "arch": arch.key(), "seed": seed, "epochs": args.epochs, "train_subset": args.train_subset,
                    "data_seed": args.seed,
                    "val": trained.metrics.accuracy, "test": trainer.test_accuracy(trained.module),
                    "train_s": round(time.perf_counter() - began, 1),
                }  # fmt: skip
                with cache_path.open("a") as f:
                    f.write(json.dumps(cache[key]) + "\n")
                print(f"[retrain] {label} seed {seed}: test {cache[key]['test']:.4f}", file=sys.stderr, flush=True)
            scores.append(cache[key])
        rows.append((label, arch, scores))

    def mean_sd(values: list[float]) -> tuple[float, float]:
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else float("nan")

    lines = [
        f"Seed {args.seed}: each finalist trained {len(seeds)} more times (training seeds {args.retrain_seeds}; the same "
        f"{args.train_subset} images, {args.epochs} epochs), scored on the 10,000 test images. "
        "Mean and standard deviation over the seeds, in %.",
        "",
        "| finalist | architecture | test, mean ± sd | val, mean ± sd | supernet finalist minus this, test (95 % CI) |",
        "|---|---|---|---|---|",
    ]
    ref = [s["test"] for s in rows[0][2]]
    for label, arch, scores in rows:
        test, val = [100 * s["test"] for s in scores], [100 * s["val"] for s in scores]
        (mt, st), (mv, sv) = mean_sd(test), mean_sd(val)
        if scores is rows[0][2]:
            gap = ""
        else:
            diff, half = _welch(ref, [s["test"] for s in scores])
            gap = f"{100 * diff:+.2f} [{100 * (diff - half):+.2f}, {100 * (diff + half):+.2f}]"
        lines.append(f"| {label} | `{md_cell(space.describe(arch))}` | {mt:.2f} ± {st:.2f} | {mv:.2f} ± {sv:.2f} | {gap} |")
    text = "\n".join(lines)
    print(text)
    if args.md:
        args.md.write_text(text + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "search", "table", "retrain"):
        p = sub.add_parser(name)
        p.add_argument("--out", type=Path, default=Path("runs/vision"))
        p.add_argument("--train-subset", type=int, default=5000)
        p.add_argument("--epochs", type=int, default=2)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--space", default="auto", help="--space of both searches (auto, mbconv, mbconv-micro)")
        p.add_argument("--supernet-budget", type=int, default=40, help="candidates the supernet search scores")
        p.add_argument("--train-budget", type=int, default=500, help="train-every side: a cap it should not reach in time")
        p.add_argument("--factor", type=float, default=4.0, help="train-every side's time, in supernet search times")
        p.add_argument("--md", type=Path, default=None, help="write the table as Markdown here")
        p.add_argument(
            "--shortlist",
            type=int,
            default=0,
            help="supernet side: prefilter:supernet, training the K candidates the supernet scores best (0: plain supernet)",
        )
        p.add_argument(
            "--train-from",
            type=Path,
            default=None,
            help="run: continue this earlier scenario's train-every search (same seed and recipe) instead of starting one",
        )
        p.add_argument(
            "--sequential",
            action="store_true",
            help="run: the supernet side alone first, then the train-every side alone (each gets every core)",
        )
        p.add_argument("--val-only", action="store_true", help="table: skip retraining the train-every best for its test figure")
        p.add_argument(
            "--retrain-seeds",
            default="101,102,103,104,105",
            help="retrain: training seeds for each finalist (comma-separated; not the search's seed)",
        )
        p.add_argument(
            "--train-dir",
            type=Path,
            default=None,
            help="retrain: the train-every search to compare with (default: <out>/train), cut at --factor x by trial durations",
        )
        if name == "search":
            p.add_argument("--side", choices=SIDES, required=True)
    args = parser.parse_args()
    return {"run": run, "search": search, "table": table, "retrain": retrain}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
