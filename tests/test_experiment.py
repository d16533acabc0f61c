"""The loop: infeasible never evaluated, failures recorded, and a SIGKILLed search resumes exactly."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgenas.errors import InvalidInputError
from edgenas.experiment import Experiment
from edgenas.ir import total_macs, total_params
from edgenas.objectives import Limits
from edgenas.store import SqliteStore
from edgenas.strategies import STRATEGIES
from edgenas.testing import ToySpace
from edgenas.trial import Cost, Metrics, TrialState


def toy_cost(arch):
    layers = ToySpace(n=len(arch.genes), k=4).layers(arch)
    macs = total_macs(layers)
    return Cost(
        macs=macs,
        params=total_params(layers),
        peak_sram_bytes=macs,
        flash_bytes=macs,
        latency_ms=macs / 1000,
        sources={"latency_ms": "estimated"},
    )


class ToyEvaluator:
    """Scores by the toy space's known function; raises or returns NaN on chosen genes."""

    name = "toy"

    def __init__(self, space, fail_on=(), nan_on=(), delay_s=0.0):
        self.space, self.fail_on, self.nan_on, self.delay_s = space, set(fail_on), set(nan_on), delay_s
        self.calls = []

    def evaluate(self, arch, *, budget=1.0):
        self.calls.append(arch)
        time.sleep(self.delay_s)
        if arch.genes[0] in self.fail_on:
            raise MemoryError("simulated out of memory")
        if arch.genes[0] in self.nan_on:
            return Metrics(math.nan)
        return Metrics(self.space.score(arch))


def make(store, budget=20, limits=Limits(latency_ms=2.0), evaluator=None, strategy="evolution", seed=3):
    space = ToySpace(n=5, k=4)
    evaluator = evaluator or ToyEvaluator(space)
    strat = STRATEGIES.create(
        strategy, space=space, seed=seed, **({"population_size": 6, "sample_size": 3} if strategy == "evolution" else {})
    )
    return Experiment(space, strat, evaluator, toy_cost, limits, store, budget=budget), evaluator


def test_infeasible_candidates_are_recorded_but_never_evaluated():
    store = SqliteStore(":memory:")
    exp, evaluator = make(store)
    trials = exp.run()
    infeasible = [t for t in trials if t.state is TrialState.INFEASIBLE]
    assert infeasible, "the limit should reject some candidates"
    assert all(t.cost is not None and t.violations for t in infeasible)
    assert {a.key() for a in evaluator.calls}.isdisjoint({t.arch.key() for t in infeasible})
    assert exp.evaluated == 20
    assert all(t.cost.latency_ms <= 2.0 for t in trials if t.state is TrialState.COMPLETE)
    assert [t.number for t in store.trials()] == list(range(len(trials)))


def test_failures_are_recorded_and_the_search_goes_on():
    store = SqliteStore(":memory:")
    space = ToySpace(n=5, k=4)
    exp, _ = make(store, evaluator=ToyEvaluator(space, fail_on={1}, nan_on={2}), limits=Limits(), strategy="random")
    trials = exp.run()
    failed = [t for t in trials if t.state is TrialState.FAIL]
    assert any("MemoryError" in t.error for t in failed)
    assert any("not finite" in t.error for t in failed)
    assert any(t.state is TrialState.COMPLETE for t in trials)
    assert exp.evaluated == 20


def test_impossible_limits_stop_with_a_reason():
    store = SqliteStore(":memory:")
    exp, evaluator = make(store, budget=3, limits=Limits(latency_ms=1e-6))
    exp.run()
    assert not evaluator.calls
    assert "too tight" in exp.stop_reason
    fastest = min(t.cost.latency_ms for t in exp.trials)
    assert f"smallest estimate seen: latency {fastest:.2f} ms > 1e-06 ms" in exp.stop_reason  # which limit, by how much


def test_exhausted_space_stops():
    store = SqliteStore(":memory:")
    space = ToySpace(n=2, k=2)  # 4 architectures
    exp = Experiment(
        space, STRATEGIES.create("random", space=space, seed=0), ToyEvaluator(space), toy_cost, Limits(), store, budget=10
    )
    exp.run()
    assert exp.evaluated == 4
    assert "exhausted" in exp.stop_reason


def test_resume_in_process_replays_the_store(tmp_path):
    db = tmp_path / "trials.db"
    with SqliteStore(db) as store:
        full, _ = make(store, budget=12)
        reference = [(t.arch, t.state) for t in full.run()]
    db.unlink()
    with SqliteStore(db) as store:
        make(store, budget=5)[0].run()
    with SqliteStore(db) as store:
        resumed, evaluator = make(store, budget=12)
        assert resumed.evaluated == 5
        got = [(t.arch, t.state) for t in resumed.run()]
    assert got == reference
    assert len(evaluator.calls) == 7  # finished trials were not evaluated again


SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from tests.test_experiment import make, ToyEvaluator
from edgenas.store import SqliteStore
from edgenas.testing import ToySpace
store = SqliteStore({db!r})
exp, _ = make(store, budget=14, evaluator=ToyEvaluator(ToySpace(n=5, k=4), delay_s={delay}))
exp.run()
"""


def run_script(db: Path, delay: float) -> subprocess.Popen:
    code = SCRIPT.format(tests=str(Path(__file__).resolve().parents[1]), db=str(db), delay=delay)
    return subprocess.Popen([sys.executable, "-c", code])


def test_sigkill_mid_search_then_resume_gives_the_same_trials(tmp_path):
    reference_db = tmp_path / "reference.db"
    assert run_script(reference_db, 0.0).wait(60) == 0
    killed_db = tmp_path / "killed.db"
    proc = run_script(killed_db, 0.15)
    deadline = time.time() + 60
    while time.time() < deadline:
        if killed_db.exists():
            with SqliteStore(killed_db) as store:
                if sum(t.state is not TrialState.RUNNING for t in store.trials()) >= 6:
                    break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with SqliteStore(killed_db) as store:
        kept = [t for t in store.trials() if t.state is not TrialState.RUNNING]
        assert 6 <= len(kept) < 30, "the kill must land mid-search"
    assert run_script(killed_db, 0.0).wait(60) == 0  # the same command resumes from the store
    with SqliteStore(reference_db) as a, SqliteStore(killed_db) as b:
        ref = [(t.number, t.arch, t.state, t.metrics) for t in a.trials()]
        got = [(t.number, t.arch, t.state, t.metrics) for t in b.trials()]
    assert got == ref
    assert [t for t in got[: len(kept)]] == [(t.number, t.arch, t.state, t.metrics) for t in kept]


def test_store_rejects_a_foreign_file(tmp_path):
    bad = tmp_path / "x.db"
    bad.write_text("not sqlite at all" * 100)
    from edgenas.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="not an edgenas trial store"):
        SqliteStore(bad)


def test_a_deadline_stops_the_search_early_on_the_same_candidates():
    with SqliteStore(":memory:") as store:
        reference = [(t.arch, t.state) for t in make(store)[0].run()]
    with SqliteStore(":memory:") as store:
        space = ToySpace(n=5, k=4)
        exp, _ = make(store, evaluator=ToyEvaluator(space, delay_s=0.05))
        trials = exp.run(deadline=time.perf_counter() + 0.12)  # room for about three evaluations of 20
    assert 1 <= exp.evaluated < 20  # the first candidate starts before the deadline; later ones do not
    assert [(t.arch, t.state) for t in trials] == reference[: len(trials)]  # the seed's order, cut short
    assert exp.stop_reason == f"time limit reached after {exp.evaluated} evaluated candidates"


# -- batches: the stored trials depend on the seed and the batch, never on the executor ----------
class ReversedExecutor:
    """Evaluates a round last-first (as a pool whose workers finish in any order would)."""

    def __init__(self, evaluator):
        self.evaluator = evaluator

    def evaluate(self, archs, on_outcome=None):
        from edgenas.executors.base import Activity, evaluate_one

        outcomes = {}
        for i in reversed(range(len(archs))):
            outcomes[i] = evaluate_one(self.evaluator, archs[i], worker="reversed")
            if on_outcome is not None:
                on_outcome(i, outcomes[i], Activity(2, min(i, 2), max(0, i - 2)))
        return [outcomes[i] for i in range(len(archs))]

    def close(self):
        pass


class Killed(BaseException):
    """Stands for the process being killed mid-round (not an Exception: nothing catches it)."""


class KillAfter(ToyEvaluator):
    def __init__(self, space, after):
        super().__init__(space)
        self.after = after

    def evaluate(self, arch, *, budget=1.0):
        if len(self.calls) == self.after:
            raise Killed
        return super().evaluate(arch)


def batched(store, batch, evaluator=None, executor=None, strategy="evolution", budget=14, seed=3):
    space = ToySpace(n=5, k=4)
    evaluator = evaluator or ToyEvaluator(space)
    params = {"population_size": 6, "sample_size": 3} if strategy == "evolution" else {}
    strat = STRATEGIES.create(strategy, space=space, seed=seed, **params)
    experiment = Experiment(
        space, strat, evaluator, toy_cost, Limits(latency_ms=2.0), store, budget=budget, batch=batch,
        executor=executor(evaluator) if executor else None,
    )  # fmt: skip
    return experiment, evaluator


def signature(trials):
    return [(t.number, t.arch, t.state, t.metrics) for t in trials]


@pytest.mark.parametrize("strategy", ["evolution", "random", "local", "tpe"])
def test_a_batch_gives_the_same_trials_whatever_order_the_executor_finishes_in(strategy):
    with SqliteStore(":memory:") as a, SqliteStore(":memory:") as b:
        serial = signature(batched(a, 4, strategy=strategy)[0].run())
        shuffled = signature(batched(b, 4, strategy=strategy, executor=ReversedExecutor)[0].run())
        assert serial == shuffled
        assert a.round_sizes() == b.round_sizes() and sum(a.round_sizes()) == len(serial)
    with SqliteStore(":memory:") as c:
        one = signature(batched(c, 1, strategy=strategy)[0].run())
    assert one != serial or strategy == "random"  # a batch changes what is asked when (random: asks the same)


def test_each_outcome_is_stored_as_it_comes_and_told_once_all_before_it_are():
    """A round's last candidate finishing first is in the store at once (a kill then keeps it), but
    is told (and shown) only after every candidate asked before it, with the executor's activity."""
    seen_in_store: list[set[int]] = []

    class Watching(ReversedExecutor):
        def evaluate(self, archs, on_outcome=None):
            def watch(i, outcome, activity):
                on_outcome(i, outcome, activity)
                seen_in_store.append({t.number for t in store.trials() if t.state is not TrialState.RUNNING})

            return super().evaluate(archs, watch)

    told = []
    with SqliteStore(":memory:") as store:
        experiment, _ = batched(store, 4, executor=Watching, budget=8)
        experiment.run(told.append)
    assert [p.trial.number for p in told] == list(range(len(told)))
    last_first = [p for p in told if p.activity is not None]
    assert last_first, "evaluated trials carry the executor's activity"
    assert len(seen_in_store[0]) < len(seen_in_store[-1])  # stored one by one, not at the end of the round
    first_round = sorted(seen_in_store[0])
    assert first_round and max(first_round) > min(p.trial.number for p in last_first)  # the last asked came back first
    assert {p.activity.workers for p in last_first} == {2}


def test_a_round_told_in_ask_order_and_counted_against_the_budget():
    with SqliteStore(":memory:") as store:
        experiment, evaluator = batched(store, 4, budget=10)
        trials = experiment.run()
    assert [t.number for t in trials] == list(range(len(trials)))
    assert experiment.evaluated == 10 and len(evaluator.calls) == 10  # the last round asks only what the budget allows
    assert all(t.state is not TrialState.RUNNING for t in trials)


def test_a_round_killed_mid_evaluation_resumes_to_the_uninterrupted_trials(tmp_path):
    with SqliteStore(":memory:") as store:
        reference = signature(batched(store, 4)[0].run())
    path = tmp_path / "killed.db"
    with SqliteStore(path) as store:
        experiment, _ = batched(store, 4, evaluator=KillAfter(ToySpace(n=5, k=4), after=6))
        with pytest.raises(Killed):
            experiment.run()
        kept = [t for t in store.trials() if t.state is not TrialState.RUNNING]
        assert any(t.state is TrialState.RUNNING for t in store.trials())  # the round in flight
    with SqliteStore(path) as store:
        resumed, evaluator = batched(store, 4)
        got = signature(resumed.run())
    assert got == reference
    finished = {t.arch for t in kept if t.state is TrialState.COMPLETE}
    assert not finished & set(evaluator.calls)  # no finished trial was evaluated again


def test_a_store_of_another_search_is_refused_on_resume(tmp_path):
    path = tmp_path / "other.db"
    with SqliteStore(path) as store:
        batched(store, 2, seed=3, budget=6)[0].run()
    with SqliteStore(path) as store, pytest.raises(InvalidInputError, match="written by another search"):
        batched(store, 2, seed=4, budget=8)


def test_a_device_that_stops_answering_stops_the_search_and_a_resume_finishes_it(tmp_path):
    """The measuring device gone mid-search is not one candidate's fault: the search stops with
    every finished trial kept, and a resume (the device back) gives the uninterrupted trials."""
    from edgenas.errors import DeviceUnavailableError

    with SqliteStore(":memory:") as store:
        reference = signature(make(store)[0].run())
    calls = 0

    def flaky(arch):
        nonlocal calls
        calls += 1
        if calls == 9:
            raise DeviceUnavailableError("the agent at http://127.0.0.1:1 did not answer")
        return toy_cost(arch)

    path = tmp_path / "device.db"
    with SqliteStore(path) as store:
        experiment, _ = make(store)
        experiment.cost = flaky
        with pytest.raises(DeviceUnavailableError):
            experiment.run()
        kept = [t for t in store.trials() if t.state is not TrialState.RUNNING]
    assert kept and len(kept) < len(reference)
    with SqliteStore(path) as store:
        resumed, _ = make(store)
        assert signature(resumed.run()) == reference
