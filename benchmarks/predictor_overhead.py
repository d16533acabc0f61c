"""A strategy's own overhead per query: CPU time spent in ``ask``/``tell``, not in costing or evaluating.

    python benchmarks/predictor_overhead.py [--strategies random,predictor] [--seeds 3] [--queries 300]

Runs each strategy through the real Experiment loop on one constrained NB201 problem (pixel3,
T = the median latency) and times only the strategy's calls, by wrapping them: CPU seconds
(``time.process_time``, so other jobs on a shared machine do not inflate it) per evaluated
query (infeasible asks included in the total, as they are part of what a query costs the
strategy), and the slowest single ask in CPU and in wall-clock seconds (the wall figure grows
with whatever else the machine runs). Issue 8's target: under 1 s per
query on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from edgenas.experiment import Experiment
from edgenas.objectives import Limits
from edgenas.store import SqliteStore
from edgenas.strategies import STRATEGIES
from edgenas.workflows.bench import BenchConfig, nb201_problem

LIMIT_MS = 10.68  # pixel3's median NB201 latency (benchmarks/strategies.py, p50)


class Timed:
    """Wraps a strategy and accumulates the time its ask/tell take."""

    def __init__(self, strategy) -> None:  # type: ignore[no-untyped-def]
        self.strategy = strategy
        self.name = strategy.name
        self.cpu_s = 0.0
        self.slowest_ask_s = 0.0
        self.slowest_ask_cpu_s = 0.0

    def ask(self):  # type: ignore[no-untyped-def]
        cpu, wall = time.process_time(), time.perf_counter()
        arch = self.strategy.ask()
        self.cpu_s += time.process_time() - cpu
        self.slowest_ask_cpu_s = max(self.slowest_ask_cpu_s, time.process_time() - cpu)
        self.slowest_ask_s = max(self.slowest_ask_s, time.perf_counter() - wall)
        return arch

    def bind_feasibility(self, feasible) -> None:  # type: ignore[no-untyped-def]
        """Pass the loop's limit check through (screening inside ``ask`` is timed as the strategy's)."""
        bind = getattr(self.strategy, "bind_feasibility", None)
        if bind is not None:
            bind(feasible)

    def tell(self, trial) -> None:  # type: ignore[no-untyped-def]
        cpu = time.process_time()
        self.strategy.tell(trial)
        self.cpu_s += time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="random,predictor")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    problem = nb201_problem(BenchConfig(device="pixel3", latency_ms=LIMIT_MS))
    print(
        f"nb201 / cifar10 / pixel3 <= {LIMIT_MS} ms; {args.seeds} seeds x {args.queries} queries; "
        f"{platform.machine()}, {os.cpu_count()} CPUs (shared)\n"
    )
    print("| strategy | CPU ms per query (mean) | asks per query | slowest ask, CPU s | slowest ask, wall s |")
    print("|---|---:|---:|---:|---:|")
    for name in args.strategies.split(","):
        cpu, asks, slowest, slowest_cpu = 0.0, 0, 0.0, 0.0
        for seed in range(args.seeds):
            timed = Timed(STRATEGIES.create(name, space=problem.space, seed=seed))
            with SqliteStore(":memory:") as store:
                experiment = Experiment(
                    problem.space,
                    timed,
                    problem.evaluator,
                    problem.cost,
                    Limits(latency_ms=LIMIT_MS),
                    store,  # type: ignore[arg-type]
                    budget=args.queries,
                    record_running=False,
                )
                asks += len(experiment.run())
            cpu += timed.cpu_s
            slowest = max(slowest, timed.slowest_ask_s)
            slowest_cpu = max(slowest_cpu, timed.slowest_ask_cpu_s)
        queries = args.seeds * args.queries
        print(f"| {name} | {1000 * cpu / queries:.2f} | {asks / queries:.2f} | {slowest_cpu:.3f} | {slowest:.3f} |")


if __name__ == "__main__":
    main()
