"""``edgenas bench``: compare strategies on a tabular benchmark, where the constrained optimum is known.

Two problems: ``nb201`` (accuracy and measured latency tables, optimum read off the table) and
``fbnet``, which has no accuracy table: there the score is a capacity proxy (MACs as a fraction
of the largest network, :mod:`edgenas.evaluators.fbnet_proxy`), the cost is HW-NAS-Bench's
per-block LUT on ``device``, and the optimum is solved exactly (a Pareto-front knapsack DP).

Each (strategy, seed) runs the real :class:`~edgenas.experiment.Experiment` loop (same doors as a
search: cost, limits, evaluator, store) with a table evaluator and a table latency, so one query
is one *evaluated* candidate: infeasible candidates are costed, recorded and not counted, as in a
real search where they are never trained. The exact constrained optimum is read off the table, so
each run's regret (optimum minus best accuracy found so far) is exact. So the tables are checked
before anything runs: a negative, zero or non-finite latency, an accuracy outside 0-100 %, or
too few architectures would make the "exact" optimum nonsense (a blank cell is a row not
measured, and left out). Every count a flag sets is bounded before memory is taken for it.

>>> from edgenas.workflows.bench import BenchConfig, run_bench          # doctest: +SKIP
>>> summary = run_bench(BenchConfig(latency_ms=10, strategies=("random", "local"), seeds=5))
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, SupportsFloat

import numpy as np

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.evaluators.base import Evaluator
from edgenas.evaluators.fbnet_proxy import FbnetCapacityEvaluator, block_macs, exact_optimum
from edgenas.evaluators.table import DATASET_COLUMNS, TableEvaluator
from edgenas.experiment import CostFunction, Experiment
from edgenas.files import atomic_path, check_writable, write_text
from edgenas.hardware.fbnet_lut import METRICS, FbnetLutCost, read_fbnet_lut
from edgenas.hardware.table import TableLatency
from edgenas.objectives import Limits, hypervolume_2d
from edgenas.settings import shared_data_dir
from edgenas.spaces import SPACES, SearchSpace
from edgenas.store import SqliteStore
from edgenas.strategies import STRATEGIES
from edgenas.tables import BLANK, MeasuredTable, read_table
from edgenas.trial import Trial, TrialState

#: Query counts at which regret is reported (those above ``--queries`` are dropped, ``--queries`` added).
REPORT_BUDGETS = (25, 50, 100, 300)
#: Spaces with both an accuracy and a latency table in the shared data.
#: fbnet has a cost LUT only: its score is the capacity proxy (no accuracy table), hence None.
BENCH_SPACES: dict[str, tuple[str | None, str]] = {
    "nb201": ("nb201_accuracy.csv", "nb201_latency_ms.csv"),
    "fbnet": (None, "fbnet_lut.json"),
}
#: Default dataset per space (fbnet's LUT is HW-NAS-Bench's CIFAR-100 network; it also prices a 10-class head).
DEFAULT_DATASET = {"nb201": "cifar10", "fbnet": "cifar100"}
FBNET_CLASSES = {"cifar100": 100, "cifar10": 10}
#: Accuracies closer than this are equal (the table holds means printed to ~1e-14).
TIE = 1e-9
#: What ``--objectives`` accepts: the single objective (regret), or accuracy and latency (hypervolume too).
OBJECTIVES = (("accuracy",), ("accuracy", "latency"))
#: Upper bounds of the counts the flags set, checked before anything is allocated (a regret
#: curve is seeds x queries floats; seeds x jobs chunks are listed up front). Far above any
#: useful benchmark: NB201 has 15,625 architectures, and 20 seeds already give tight means.
MAX_QUERIES = 100_000
MAX_SEEDS = 1_000
MAX_JOBS = 256
#: Fewest architectures the two tables must share: with fewer, enumeration finds the optimum
#: and a comparison of strategies says nothing.
MIN_TABLE_ARCHS = 10


@dataclass(frozen=True)
class BenchConfig:
    """Everything that defines a benchmark run (see ``docs/bench.md``)."""

    space: str = "nb201"
    dataset: str | None = None  # None: the space's default (DEFAULT_DATASET)
    device: str = "pixel3"
    latency_ms: float | None = None
    energy_mj: float | None = None  # fbnet only: energy limit on --device (HW-NAS-Bench's energy LUT)
    objectives: tuple[str, ...] = ("accuracy",)
    strategies: tuple[str, ...] = ("random", "evolution", "local")
    queries: int = 300
    seeds: int = 20
    accuracy_table: Path | None = None
    latency_table: Path | None = None
    out: Path = Path("runs/bench")
    shared_data: Path | None = None
    jobs: int = 1  # processes running (strategy, seeds) chunks; results are identical to jobs=1
    batch: int = 1  # candidates asked per round before any is told (what a parallel search does)

    def budgets(self) -> list[int]:
        return sorted({b for b in REPORT_BUDGETS if b <= self.queries} | {self.queries})

    def resolved_dataset(self) -> str:
        return self.dataset or DEFAULT_DATASET.get(self.space, "cifar10")

    def tables(self) -> tuple[Path | None, Path]:
        """The accuracy table (None for fbnet) and the latency table (fbnet: the LUT JSON): explicit, else the shared data's."""
        accuracy, latency = BENCH_SPACES[self.space]
        folder = shared_data_dir(self.shared_data) / "benchmarks"
        return (self.accuracy_table or folder / accuracy) if accuracy else None, self.latency_table or folder / latency

    def validate(self) -> None:
        if self.space not in BENCH_SPACES:
            SPACES.get(self.space)  # an unknown name gets "did you mean"
            raise InvalidInputError(
                f"--space {self.space}: no accuracy table for this space yet. Accepted: {', '.join(BENCH_SPACES)}."
            )
        if not self.strategies:
            raise InvalidInputError("--strategies: name at least one strategy")
        for name in self.strategies:
            STRATEGIES.get(name)
        if len(set(self.strategies)) != len(self.strategies):
            raise InvalidInputError(f"--strategies names a strategy twice: {','.join(self.strategies)}")
        if self.queries < 1:
            raise InvalidInputError(f"--queries must be a positive number of evaluated candidates, got {self.queries}")
        if self.seeds < 1:
            raise InvalidInputError(f"--seeds must be at least 1, got {self.seeds}")
        if self.batch < 1:
            raise InvalidInputError(f"--batch must be at least 1, got {self.batch}")
        if self.jobs < 1:
            raise InvalidInputError(f"--jobs must be at least 1, got {self.jobs}")
        for flag, value, most, what in (
            ("--queries", self.queries, MAX_QUERIES, "evaluated candidates per run"),
            ("--seeds", self.seeds, MAX_SEEDS, "runs per strategy"),
            ("--jobs", self.jobs, MAX_JOBS, "worker processes"),
            ("--batch", self.batch, MAX_QUERIES, "candidates per round"),
        ):
            if value > most:
                raise InvalidInputError(f"{flag} {value}: at most {most:,} {what}")
        if self.latency_ms is not None and not self.latency_ms > 0:
            raise InvalidInputError(f"--latency-ms must be positive, got {self.latency_ms}")
        if self.energy_mj is not None and not self.energy_mj > 0:
            raise InvalidInputError(f"--energy-mj must be positive, got {self.energy_mj}")
        if self.objectives not in OBJECTIVES:
            raise InvalidInputError(
                f"--objectives {','.join(self.objectives)}: accepted are {' or '.join(','.join(o) for o in OBJECTIVES)}"
            )
        if self.energy_mj is not None and self.space != "fbnet":
            raise InvalidInputError(f"--energy-mj: the {self.space} tables hold no energy; only fbnet's LUT does")
        if self.space == "fbnet":
            if self.accuracy_table is not None:
                raise InvalidInputError("--accuracy-table: fbnet has no accuracy table; its score is the capacity proxy")
            if self.resolved_dataset() not in FBNET_CLASSES:
                raise InvalidInputError(f"--dataset {self.dataset}: fbnet's LUT prices {', '.join(FBNET_CLASSES)} heads only")
            devices = sorted(m.removesuffix("_latency") for m in METRICS if m.endswith("_latency"))
            if self.device not in devices:
                SPACES.get(self.space)
                raise InvalidInputError(
                    f"--device {self.device}: fbnet's LUT has no such device. Accepted: {', '.join(devices)}."
                )
            if self.energy_mj is not None:
                with_energy = sorted(m.removesuffix("_energy") for m in METRICS if m.endswith("_energy"))
                if self.device not in with_energy:
                    raise InvalidInputError(
                        f"--energy-mj: fbnet's LUT has no energy for {self.device}. "
                        f"Devices with energy: {', '.join(with_energy)}."
                    )
                if self.latency_ms is not None:
                    raise InvalidInputError(
                        "fbnet: give --latency-ms or --energy-mj, not both (the exact optimum is a one-budget knapsack)"
                    )
                if len(self.objectives) > 1:
                    raise InvalidInputError("fbnet: --objectives accuracy,latency takes a latency limit, not --energy-mj")


@dataclass(frozen=True)
class RunResult:
    """One (strategy, seed) run: the best accuracy after each query, and how the run went."""

    strategy: str
    seed: int
    best_so_far: tuple[float, ...]  # best accuracy (fraction) after query 1, 2, ...; nan before the first success
    points: tuple[tuple[float, float], ...]  # (accuracy, latency ms) of each evaluated query; accuracy nan if it failed
    asked: int
    infeasible: int
    wall_s: float
    stop_reason: str


def run_one(
    space: SearchSpace,
    strategy_name: str,
    seed: int,
    evaluator: Evaluator,
    cost: CostFunction,
    limits: Limits,
    queries: int,
    batch: int = 1,
) -> RunResult:
    """One search through the real Experiment loop, with an in-memory store (``batch`` candidates per round)."""
    start = time.perf_counter()
    with SqliteStore(":memory:") as store:
        strategy = STRATEGIES.create(strategy_name, space=space, seed=seed)
        experiment = Experiment(
            space, strategy, evaluator, cost, limits, store, budget=queries, record_running=False, batch=batch
        )
        trials = experiment.run()
        stop = experiment.stop_reason
    evaluated = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.FAIL)]
    points = tuple(
        (t.accuracy if t.accuracy is not None else math.nan, t.cost.latency_ms if t.cost else math.nan) for t in evaluated
    )
    return RunResult(
        strategy_name,
        seed,
        best_curve(trials),
        points,
        len(trials),
        sum(t.state is TrialState.INFEASIBLE for t in trials),
        time.perf_counter() - start,
        stop,
    )


def best_curve(trials: list[Trial]) -> tuple[float, ...]:
    """Best accuracy after each evaluated candidate (COMPLETE or FAIL), in order."""
    best, out = -math.inf, []
    for t in trials:
        if t.state is TrialState.COMPLETE and t.accuracy is not None:
            best = max(best, t.accuracy)
        if t.state in (TrialState.COMPLETE, TrialState.FAIL):
            out.append(best if best > -math.inf else math.nan)
    return tuple(out)


def constrained_optimum(
    accuracy: dict[str, float], latency_ms: dict[str, float], limit_ms: float | None
) -> tuple[str, float, int]:
    """The most accurate architecture of the table within the latency limit: (arch text, accuracy, feasible count)."""
    feasible = [a for a in accuracy if a in latency_ms and (limit_ms is None or latency_ms[a] <= limit_ms)]
    if not feasible:
        fastest = min(latency_ms.values())
        raise InvalidInputError(f"--latency-ms {limit_ms}: no architecture of the table is that fast (fastest {fastest:g} ms)")
    best = max(feasible, key=lambda a: accuracy[a])
    return best, accuracy[best], len(feasible)


def summarise(
    runs: list[RunResult], optimum: float, budgets: list[int], queries: int, front: TrueFront | None = None
) -> dict[str, object]:
    """Regret mean/std at each budget, share of seeds finding the optimum, mean queries to reach it.

    With ``front`` (``--objectives accuracy,latency``), also the hypervolume of each run's found
    front after each budget as a fraction of the true front's (1.0 = the whole true front found).
    """
    curves = np.full((len(runs), queries), np.nan)
    for k, r in enumerate(runs):
        c = np.array(r.best_so_far, dtype=float)
        curves[k, : len(c)] = c
        if 0 < len(c) < queries:  # stopped early (limits too tight): the best stays
            curves[k, len(c) :] = c[-1]
    regret = optimum - curves  # nan until a first success
    found = [next((i + 1 for i, b in enumerate(r.best_so_far) if b >= optimum - TIE), None) for r in runs]
    hits = [q for q in found if q is not None]
    wall = sum(r.wall_s for r in runs)
    evaluated = sum(len(r.best_so_far) for r in runs)
    hypervolume = {}
    if front is not None:
        for b in budgets:
            ratios = [hypervolume_2d(r.points[:b], front.reference) / front.hypervolume for r in runs]
            hypervolume[str(b)] = {"mean": float(np.mean(ratios)), "std": float(np.std(ratios))}
    return {
        "regret": {
            str(b): {"mean": _num(np.nanmean(regret[:, b - 1])), "std": _num(np.nanstd(regret[:, b - 1]))} for b in budgets
        },
        **({"hypervolume_ratio": hypervolume} if front is not None else {}),
        "found_optimum_share": len(hits) / len(runs),
        "mean_queries_to_optimum": float(np.mean(hits)) if hits else None,
        "mean_infeasible_asked": float(np.mean([r.infeasible for r in runs])),
        "wall_s": wall,
        "evaluations_per_s": evaluated / wall if wall > 0 else None,
        "stopped_early": sorted({r.stop_reason for r in runs if not r.stop_reason.startswith("budget")}),
        "_curve": np.nanmean(regret, axis=0) if np.isfinite(regret).any() else regret[0],
    }


def _num(x: SupportsFloat) -> float | None:
    return float(x) if math.isfinite(x) else None


def run_bench(config: BenchConfig, progress: Callable[[str], None] | None = None) -> dict[str, object]:
    """Run every strategy for every seed; write ``bench.json``, ``bench.md`` and ``regret.png`` to ``config.out``."""
    config.validate()
    check_writable(config.out, "--out", folder=True)  # before any table is read
    say = progress or (lambda message: None)
    problem = fbnet_problem(config) if config.space == "fbnet" else nb201_problem(config)
    optimum = problem.optimum
    limits = Limits(latency_ms=config.latency_ms, energy_mj=config.energy_mj)
    budgets = config.budgets()
    feasible = "" if problem.feasible_archs is None else f" ({problem.feasible_archs:,} of {problem.table_archs:,} feasible)"
    within = f"{config.energy_mj} mJ" if config.energy_mj is not None else f"{config.latency_ms} ms"
    say(f"optimum within {within} on {config.device}: {optimum:.2%}{feasible}")
    front = problem.front if len(config.objectives) > 1 else None
    if front is not None:
        say(f"true accuracy-latency front: {front.size} architectures, hypervolume {front.hypervolume:.4g}")

    results: dict[str, dict[str, object]] = {}
    by_strategy = _run_all(config, problem, limits)
    for name in config.strategies:
        runs = by_strategy[name]
        results[name] = summarise(runs, optimum, budgets, config.queries, front)
        say(f"{name}: {config.seeds} seeds in {results[name]['wall_s']:.1f} s")

    summary: dict[str, object] = {
        "space": config.space,
        "dataset": config.resolved_dataset(),
        "objective": problem.objective,
        "device": config.device,
        "latency_ms": config.latency_ms,
        "energy_mj": config.energy_mj,
        "objectives": list(config.objectives),
        "queries": config.queries,
        "batch": config.batch,
        "seeds": config.seeds,
        "tables": problem.tables,
        "optimum": {
            "arch": problem.optimum_arch,
            "accuracy": optimum,
            "latency_ms": problem.optimum_latency_ms,
            "energy_mj": problem.optimum_energy_mj,
        },
        "feasible_archs": problem.feasible_archs,
        "table_archs": problem.table_archs,
        **({"true_front": {"size": front.size, "hypervolume": front.hypervolume, "reference": front.reference}} if front else {}),
        "strategies": {n: {k: v for k, v in r.items() if not k.startswith("_")} for n, r in results.items()},
        "out": str(config.out),
    }
    config.out.mkdir(parents=True, exist_ok=True)
    write_text(config.out / "bench.json", json.dumps(summary, indent=2) + "\n")
    write_text(config.out / "bench.md", markdown(summary))
    plot(results, config, optimum, config.out / "regret.png")
    return summary


def _run_all(config: BenchConfig, problem: Problem, limits: Limits) -> dict[str, list[RunResult]]:
    """Every (strategy, seed) run, in seed order; with ``jobs > 1`` seed chunks run in worker processes.

    Each run is independent and seeded, so the results do not depend on ``jobs`` (only wall time does).
    """
    chunks = [(name, tuple(range(config.seeds))[j :: config.jobs]) for name in config.strategies for j in range(config.jobs)]
    chunks = [(name, seeds) for name, seeds in chunks if seeds]
    if config.jobs == 1:
        done = [_run_chunk(config, name, seeds, problem, limits) for name, seeds in chunks]
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=config.jobs) as pool:
            done = list(pool.map(_run_chunk, *zip(*[(config, name, seeds, None, limits) for name, seeds in chunks], strict=True)))
    out: dict[str, list[RunResult]] = {name: [] for name in config.strategies}
    for runs in done:
        for run in runs:
            out[run.strategy].append(run)
    return {name: sorted(runs, key=lambda r: r.seed) for name, runs in out.items()}


def _run_chunk(
    config: BenchConfig, name: str, seeds: tuple[int, ...], problem: Problem | None, limits: Limits
) -> list[RunResult]:
    """Runs of one strategy for some seeds; a worker process builds the problem itself (tables read once per chunk)."""
    if problem is None:
        problem = fbnet_problem(config) if config.space == "fbnet" else nb201_problem(config)
    return [run_one(problem.space, name, s, problem.evaluator, problem.cost, limits, config.queries, config.batch) for s in seeds]


@dataclass(frozen=True)
class TrueFront:
    """The exact accuracy-latency Pareto front within the limits, summarised for hypervolume ratios.

    ``reference`` = (worst accuracy, worst latency ms): the least accurate feasible architecture
    (0 for the fbnet proxy) and the latency limit (or the slowest architecture without one).
    """

    size: int
    hypervolume: float
    reference: tuple[float, float]


@dataclass(frozen=True)
class Problem:
    """A benchmark problem: the doors of the search, and its exact constrained optimum."""

    space: SearchSpace
    evaluator: Evaluator
    cost: CostFunction
    objective: str  # what "accuracy" is: "accuracy" (a table) or "capacity" (the fbnet proxy)
    optimum: float
    optimum_arch: str
    optimum_latency_ms: float
    feasible_archs: int | None  # None where the space is too large to count (fbnet: 9**22)
    table_archs: int
    tables: dict[str, str | None]
    front: TrueFront | None = None
    optimum_energy_mj: float | None = None


def nb201_problem(config: BenchConfig) -> Problem:
    """NB201: accuracy and measured latency tables; the optimum is read off them."""
    accuracy_csv, latency_csv = config.tables()
    assert accuracy_csv is not None
    space = SPACES.create(config.space)
    evaluator = TableEvaluator(space, accuracy_csv, config.resolved_dataset())
    cost = TableLatency(latency_csv, config.device, key=space.describe)
    check_values(
        read_table(accuracy_csv, flag="--accuracy-table", what="accuracy table"),
        config.resolved_dataset(),
        "dataset",
        "an accuracy is a percentage from 0 to 100",
        aliases=DATASET_COLUMNS,
        lowest_allowed=True,
        highest=100.0,
    )
    check_values(cost.table(), config.device, "device", "a latency is a positive number of ms")
    accuracy, latency = evaluator.load(), cost.load()
    shared = len(accuracy.keys() & latency.keys())
    if shared < MIN_TABLE_ARCHS or config.queries > shared:
        measured = f"{accuracy_csv} and {latency_csv} have {shared:,} measured architectures in common"
        if shared < MIN_TABLE_ARCHS:
            raise InvalidInputError(f"{measured}; a benchmark needs at least {MIN_TABLE_ARCHS} (with fewer, enumeration wins)")
        raise InvalidInputError(
            f"--queries {config.queries}: {measured}, so no run can evaluate more distinct candidates; "
            f"pass --queries {shared} or fewer"
        )
    best_arch, optimum, feasible = constrained_optimum(accuracy, latency, config.latency_ms)
    tables: dict[str, str | None] = {"accuracy": str(accuracy_csv), "latency": str(latency_csv)}
    points = [(acc, latency[a]) for a, acc in accuracy.items() if a in latency]
    if config.latency_ms is not None:
        points = [(acc, ms) for acc, ms in points if ms <= config.latency_ms]
    # A hair outside the worst point, so that it too dominates a (thin) area.
    reference = (min(acc for acc, _ in points) - TIE, config.latency_ms or max(ms for _, ms in points) * (1 + 1e-9))
    front = TrueFront(_front_size(points), hypervolume_2d(points, reference), reference)
    return Problem(space, evaluator, cost, "accuracy", optimum, best_arch, latency[best_arch], feasible, shared, tables, front)


def check_values(
    table: MeasuredTable, name: str, what: str, rule: str, *, aliases: dict[str, str] | None = None, **bounds: Any
) -> None:
    """Refuse a table whose ``name`` column holds a value no measurement can have (``bounds``: as
    ``MeasuredTable.invalid_rows`` takes them); the error names the first such row and its column.
    Blank cells are rows not measured, and pass."""
    bad = {why: rows for why, rows in table.invalid_rows(name, what, aliases=aliases, **bounds).items() if why != BLANK}
    if not bad:
        return
    why, rows = min(bad.items(), key=lambda item: int(item[1][0]))
    more = sum(len(r) for r in bad.values()) - 1
    others = f" ({more:,} more rows like it)" if more else ""
    column = table.column_name(name, what, aliases)
    raise InvalidInputError(
        f"{table.path}: row {int(rows[0]) + 2}, column {column!r}: {why}{others}; {rule}. "
        f"Correct the cell, or leave it blank where nothing was measured"
    )


def _front_size(points: list[tuple[float, float]]) -> int:
    """How many points no other point beats on both accuracy and latency."""
    size, best = 0, -math.inf
    for acc, _ in sorted(points, key=lambda p: (p[1], -p[0])):
        if acc > best:
            size, best = size + 1, acc
    return size


def fbnet_problem(config: BenchConfig) -> Problem:
    """FBNet: capacity proxy under a LUT latency (or energy) limit on ``config.device``; the optimum by an exact knapsack DP.

    The DP sums block costs in another order than the LUT cost does, so its answer is re-priced
    with the cost function; should rounding put it a hair over the limit, the DP reruns just under it.
    """
    from edgenas.spaces.fbnet import BLOCKS, OPS, FbnetSpace, block_lut_key

    _, lut_json = config.tables()
    space = SPACES.create("fbnet", num_classes=FBNET_CLASSES[config.resolved_dataset()])
    assert isinstance(space, FbnetSpace)
    energy = f"{config.device}_energy" if f"{config.device}_energy" in METRICS else None
    cost = FbnetLutCost(lut_json, f"{config.device}_latency", energy, key=space.lut_keys)
    evaluator = FbnetCapacityEvaluator(space)
    # The knapsack's budget: energy when an energy limit is given, else latency.
    on_energy = config.energy_mj is not None
    metric = f"{config.device}_energy" if on_energy else f"{config.device}_latency"
    keys = space.lut_keys(space.arch([0] * len(BLOCKS)))
    needed = {block_lut_key(*shape, g) for shape in BLOCKS for g in range(len(OPS))} | {keys[0], *keys[len(BLOCKS) + 1 :]}
    lut = checked_fbnet_lut(lut_json, [m for m in (f"{config.device}_latency", energy) if m is not None], needed)[metric]
    block_cost = np.array([[lut[block_lut_key(*shape, g)] for g in range(len(OPS))] for shape in BLOCKS])
    fixed = sum(lut[k] for k in (keys[0], *keys[len(BLOCKS) + 1 :]))
    macs, fixed_macs = block_macs(space)
    ceiling = config.energy_mj if on_energy else config.latency_ms
    limit = ceiling

    def priced(arch: Arch) -> float:
        c = cost(arch)
        value = c.energy_mj if on_energy else c.latency_ms
        assert value is not None  # BenchConfig admits an energy limit only on a device with an energy LUT
        return value

    for _ in range(3):
        solved = exact_optimum(macs.astype(float), block_cost, limit, fixed)
        best = space.arch(solved.genes)
        if limit is None:
            break
        assert ceiling is not None  # limit started as ceiling
        if priced(best) <= ceiling:
            break
        limit = limit - 1e-9 * limit
    front = None
    if not on_energy and solved.front_cost is not None and solved.front_score is not None:
        capacity = (solved.front_score + fixed_macs) / evaluator.max_macs()
        points = list(zip(capacity.tolist(), solved.front_cost.tolist(), strict=True))
        reference = (0.0, config.latency_ms or float(solved.front_cost[-1]) * (1 + 1e-9))
        front = TrueFront(len(points), hypervolume_2d(points, reference), reference)
    tables: dict[str, str | None] = {"accuracy": None, "latency": str(lut_json)}
    return Problem(
        space,
        evaluator,
        cost,
        "capacity",
        evaluator.evaluate(best).accuracy,
        space.describe(best),
        cost(best).latency_ms,
        None,
        len(OPS) ** len(BLOCKS),
        tables,
        front,
        cost(best).energy_mj,
    )


def checked_fbnet_lut(path: Path, metrics: list[str], needed: set[str]) -> dict[str, dict[str, float]]:
    """HW-NAS-Bench's FBNet LUT, refused in one line where it is not a readable LUT whose ``metrics``
    price every block in ``needed`` with a finite, non-negative figure (the knapsack's optimum
    would be nonsense otherwise). Nothing of the file is quoted: it may be any file."""
    what = f"FBNet look-up table {path}"
    if path.is_dir():
        raise InvalidInputError(f"{what} is a directory, not a JSON file: pass --latency-table fbnet_lut.json")
    lut = read_fbnet_lut(path)  # an unreadable or foreign file is one error there
    for metric in metrics:
        entries = lut.get(metric, {})
        missing = len(needed - entries.keys())
        if missing:
            raise InvalidInputError(f"{what}: {metric} lacks {missing} of the {len(needed)} blocks of the FBNet space")
        bad = sum(not (math.isfinite(entries[k]) and entries[k] >= 0) for k in needed)
        if bad:
            raise InvalidInputError(f"{what}: {bad} {metric} figures are negative or not finite")
    return lut


def markdown(summary: dict) -> str:
    """The regret table, in accuracy points (percent)."""
    budgets = list(next(iter(summary["strategies"].values()))["regret"])
    opt = summary["optimum"]
    limit = "no latency limit" if summary["latency_ms"] is None else f"latency <= {summary['latency_ms']:g} ms"
    if summary.get("energy_mj") is not None:
        limit = f"energy <= {summary['energy_mj']:g} mJ"
    hv = "hypervolume_ratio" in next(iter(summary["strategies"].values()))
    capacity = summary.get("objective") == "capacity"
    what = "capacity (MACs / MACs of the largest network)" if capacity else "accuracy"
    feasible = (
        f"exact optimum of {summary['table_archs']:.2e} architectures (knapsack DP)"
        if summary["feasible_archs"] is None
        else f"{summary['feasible_archs']:,} of {summary['table_archs']:,} architectures feasible"
    )
    lines = [
        f"# {summary['space']} / {summary['dataset']} / {summary['device']}, {limit}",
        "",
        f"Constrained optimum: {what} {opt['accuracy']:.2%} at {opt['latency_ms']:.3f} ms"
        + ("" if opt.get("energy_mj") is None else f", {opt['energy_mj']:.2f} mJ")
        + f" (`{opt['arch']}`), "
        f"{feasible}. {summary['seeds']} seeds; a query is one evaluated (feasible) candidate.",
        "",
        f"Regret = optimum minus best {what} found, in {'percentage' if capacity else 'accuracy'} points, mean ± std over seeds.",
        "",
        "| strategy | "
        + " | ".join(f"regret @{b}" for b in budgets)
        + "".join(f" | HV ratio @{b}" for b in budgets if hv)
        + " | found optimum | mean queries to it | infeasible asked | evals/s |",
        "|---|" + "---:|" * (len(budgets) * (2 if hv else 1) + 4),
    ]
    if hv:
        front = summary["true_front"]
        lines[4:4] = [
            f"HV ratio = hypervolume of the accuracy-latency front found / the true front's ({front['size']} architectures), "
            f"reference point ({front['reference'][0]:.4f}, {front['reference'][1]:g} ms); mean ± std over seeds.",
            "",
        ]
    for name, r in summary["strategies"].items():
        cells = []
        for b in budgets:
            m, s = r["regret"][b]["mean"], r["regret"][b]["std"]
            cells.append("n/a" if m is None else f"{100 * m:.2f} ± {100 * s:.2f}")
        if hv:
            cells += [f"{r['hypervolume_ratio'][b]['mean']:.3f} ± {r['hypervolume_ratio'][b]['std']:.3f}" for b in budgets]
        q = r["mean_queries_to_optimum"]
        eps = r["evaluations_per_s"]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {r['found_optimum_share']:.0%} | {'-' if q is None else f'{q:.0f}'} | "
            f"{r['mean_infeasible_asked']:.0f} | {'-' if eps is None else f'{eps:,.0f}'} |"
        )
    return "\n".join(lines) + "\n"


def plot(results: dict[str, dict[str, object]], config: BenchConfig, optimum: float, path: Path) -> None:
    """Mean regret (accuracy points) against queries, one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(1, config.queries + 1)
    for name, r in results.items():
        ax.plot(x, 100 * np.asarray(r["_curve"]), label=name)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("queries (evaluated candidates)")
    ax.set_ylabel("mean regret (points)")
    limit = "" if config.latency_ms is None else f", <= {config.latency_ms:g} ms"
    ax.set_title(f"{config.space} {config.dataset} {config.device}{limit}: optimum {optimum:.2%}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as staged:
        fig.savefig(staged, format="png", dpi=120)
    plt.close(fig)
