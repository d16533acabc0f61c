"""Local worker processes: the same trials as one process, data sent once, faults recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgenas.errors import InvalidInputError
from edgenas.executors.base import SerialExecutor
from edgenas.executors.local import LocalExecutor
from edgenas.experiment import Experiment
from edgenas.objectives import Limits
from edgenas.store import SqliteStore
from edgenas.strategies import STRATEGIES
from edgenas.testing import ToySpace
from tests.executors.helpers import AlwaysDies, DiesOnce, Hangs, Raises, ToyScore
from tests.test_experiment import toy_cost


def archs(n: int, seed: int = 0) -> list:
    space, rng = ToySpace(n=5, k=4), np.random.default_rng(seed)
    out: list = []
    while len(out) < n:
        arch = space.sample(rng)
        if arch not in out:
            out.append(arch)
    return out


def search(executor, batch: int = 4) -> list:
    space = ToySpace(n=5, k=4)
    with SqliteStore(":memory:") as store:
        strategy = STRATEGIES.create("evolution", space=space, seed=1, population_size=6, sample_size=3)
        experiment = Experiment(space, strategy, ToyScore(), toy_cost, Limits(latency_ms=2.0), store, budget=12, batch=batch,
                                executor=executor)  # fmt: skip
        try:
            return [(t.number, t.arch, t.state, t.accuracy) for t in experiment.run()]
        finally:
            experiment.executor.close()


def test_two_workers_store_the_trials_one_process_stores() -> None:
    assert search(LocalExecutor(ToyScore(), workers=2, threads=1)) == search(SerialExecutor(ToyScore()))


def test_outcomes_come_back_in_the_order_asked_from_several_processes() -> None:
    executor = LocalExecutor(ToyScore(), workers=2, threads=1)
    try:
        asked = archs(6)
        outcomes = executor.evaluate(asked)
        again = executor.evaluate(asked[:2])  # the same workers: the evaluator was sent once
    finally:
        executor.close()
    space = ToySpace(n=5, k=4)
    assert [o.metrics.accuracy for o in outcomes] == [space.score(a) for a in asked]
    pids = {int(o.metrics.extra["pid"]) for o in outcomes}
    # the same two workers (one of them may have had no candidate in the first round): no process was started anew
    assert 1 <= len(pids | {int(o.metrics.extra["pid"]) for o in again}) <= 2
    assert all(o.worker.startswith("local-") for o in outcomes)


def test_a_worker_that_dies_is_replaced_and_its_candidate_runs_again(tmp_path: Path) -> None:
    executor = LocalExecutor(DiesOnce(tmp_path / "died"), workers=2, threads=1)
    try:
        asked = [a for a in archs(40) if a.genes[0] != 3][:3] + [a for a in archs(40) if a.genes[0] == 3][:1]
        outcomes = executor.evaluate(asked)
    finally:
        executor.close()
    assert (tmp_path / "died").exists() and all(o.metrics is not None for o in outcomes)


def test_a_candidate_whose_worker_keeps_dying_fails_and_the_round_completes() -> None:
    executor = LocalExecutor(AlwaysDies(), workers=2, threads=1)
    try:
        asked = [a for a in archs(40) if a.genes[0] != 3][:3] + [a for a in archs(40) if a.genes[0] == 3][:1]
        outcomes = executor.evaluate(asked)
    finally:
        executor.close()
    assert [o.metrics is None for o in outcomes] == [False, False, False, True]
    assert "WorkerLost" in outcomes[-1].error and "2 attempts" in outcomes[-1].error


def test_a_candidate_over_its_time_limit_is_stopped_and_the_others_finish() -> None:
    executor = LocalExecutor(Hangs(), workers=2, threads=1, timeout_s=1.0, grace_s=1.0)
    try:
        asked = [a for a in archs(40) if a.genes[0] == 3][:1] + [a for a in archs(40) if a.genes[0] != 3][:3]
        outcomes = executor.evaluate(asked)
    finally:
        executor.close()
    assert outcomes[0].metrics is None and "stopped after" in outcomes[0].error
    assert all(o.metrics is not None for o in outcomes[1:])


def test_an_exception_in_a_worker_is_an_outcome() -> None:
    executor = LocalExecutor(Raises(), workers=2, threads=1)
    try:
        outcomes = executor.evaluate([a for a in archs(40) if a.genes[0] == 3][:1])
    finally:
        executor.close()
    assert outcomes[0].metrics is None and outcomes[0].error.startswith("MemoryError: simulated out of memory")


def test_bad_counts_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="--workers must be at least 1"):
        LocalExecutor(ToyScore(), workers=0)
    with pytest.raises(InvalidInputError, match="--threads-per-trial must be at least 1"):
        LocalExecutor(ToyScore(), workers=2, threads=0)
