"""The one loop: ask -> cost -> constraints -> evaluate -> tell -> store.

Every candidate passes the same doors. The cost is estimated from the layer IR before any
training; a candidate that breaks a limit is stored as INFEASIBLE with its cost and the broken
limits, and never trained. A candidate whose evaluation raises (including out of memory), or
yields a non-finite accuracy, is stored as FAIL with the reason, and the search goes on.

``budget`` counts *evaluated* candidates (COMPLETE or FAIL): infeasible ones cost no training,
so they do not use it up, but ``max_asks`` bounds them in case the limits admit nothing.

Candidates are asked in rounds of ``batch`` and told in the order asked, so the stored trials do
not depend on how many workers evaluate them (:mod:`edgenas.executors`).

Resume: the store holds every finished trial (and, for a batched search, each round's size); a
fresh strategy asks the stored rounds again and is told their trials (the strategy contract makes
it ask the same architectures, and the loop checks that it does), a round left unfinished by a
killed process has its RUNNING candidates evaluated again, and the loop goes on where it stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from edgenas.arch import Arch
from edgenas.errors import DeviceUnavailableError, InvalidInputError
from edgenas.evaluators.base import Evaluator
from edgenas.executors.base import Activity, Executor, Outcome, SerialExecutor, describe
from edgenas.ir import Layer
from edgenas.objectives import Limits, check
from edgenas.spaces.base import SearchSpace
from edgenas.store import SqliteStore
from edgenas.strategies.base import Strategy
from edgenas.trial import Cost, Trial, TrialState

if TYPE_CHECKING:
    from edgenas.hardware.target import Target

log = logging.getLogger(__name__)

TIME_LIMIT_REACHED = "time limit reached"  # how a stop reason begins when a deadline ended the search


class CostFunction(Protocol):
    """Prices one candidate on the target. Usually ``layers_cost(space, model, target)``; a
    benchmark table prices by architecture instead, which is why the arch is what it receives."""

    def __call__(self, arch: Arch) -> Cost: ...


class LayerCostModel(Protocol):
    """Prices a layer list on a target (``AnalyticalCostModel``)."""

    def estimate(self, layers: Sequence[Layer], target: Target) -> Cost: ...


def layers_cost(space: SearchSpace, model: LayerCostModel, target: Target) -> CostFunction:
    """The usual cost function: ``model.estimate(space.layers(arch), target)``."""

    def cost(arch: Arch) -> Cost:
        return model.estimate(space.layers(arch), target)

    return cost


@dataclass(frozen=True)
class Progress:
    """What a progress display needs after each trial (``activity``: what the executor was doing
    when the trial was told; None for a trial settled without it)."""

    trial: Trial
    evaluated: int
    budget: int
    best: Trial | None
    elapsed_s: float
    activity: Activity | None = None


@dataclass
class _Asked:
    """One asked candidate: priced, then either settled at once (broke a limit, could not be priced)
    or evaluated by the executor; ``trial`` is its outcome once known (or read back from the store)."""

    number: int
    arch: Arch
    evaluate: bool  # goes to the executor (a settled candidate does not)
    cost_s: float = 0.0
    trial: Trial | None = None
    cost: Cost | None = None
    violations: tuple[str, ...] = ()
    stored: bool = False  # its row (final or RUNNING) is in the store already


class Experiment:
    """A search over ``space`` with ``strategy``, scored by ``evaluator``, priced by ``cost``.

    The loop runs in **rounds**: candidates are asked until ``batch`` of them need evaluating (each
    is priced and checked as it is asked; one that breaks a limit is stored and never evaluated),
    those are evaluated by the ``executor`` (in parallel where it can), and every candidate is
    told to the strategy in the order it was asked, as soon as all asked before it have been. The
    trials stored therefore depend on the seed and ``batch`` only, never on how many workers
    evaluate them or which finishes first. ``batch=1`` is the classic ask-evaluate-tell loop.

    Args:
        space: The search space.
        strategy: Proposes architectures (fresh: resume replays the store into it).
        evaluator: Scores feasible architectures (in this process unless ``executor`` is given).
        cost: Prices an architecture on the target (see :func:`layers_cost`).
        limits: Hard limits; infeasible candidates are never evaluated.
        store: Where trials live.
        budget: Candidates to evaluate.
        max_asks: Bound on asks in all (feasible or not); default ``50 * budget``.
        record_running: Store a RUNNING row before each evaluation (so a crash mid-training is
            visible in the store). Table look-ups take microseconds: benchmarks turn it off.
        batch: Candidates asked per round, before any of them is told.
        executor: Evaluates a round's candidates (default: one after the other, in this process).
    """

    def __init__(
        self,
        space: SearchSpace,
        strategy: Strategy,
        evaluator: Evaluator,
        cost: CostFunction,
        limits: Limits,
        store: SqliteStore,
        budget: int,
        max_asks: int | None = None,
        record_running: bool = True,
        batch: int = 1,
        executor: Executor | None = None,
    ) -> None:
        if budget < 1:
            raise InvalidInputError(f"budget must be a positive number of candidates, got {budget}")
        if batch < 1:
            raise InvalidInputError(f"batch must be a positive number of candidates, got {batch}")
        self.space = space
        self.strategy = strategy
        self.evaluator = evaluator
        self.cost = cost
        self.limits = limits
        self.store = store
        self.budget = budget
        self.max_asks = max_asks if max_asks is not None else 50 * budget
        self.record_running = record_running
        self.batch = batch
        self.executor: Executor = executor if executor is not None else SerialExecutor(evaluator)
        self.stop_reason = ""
        self._evaluated = 0
        self._trials: list[Trial] = []
        self._seen: set[str] = set()
        self._rounds = 0  # rounds told
        self._pending: list[_Asked] = []  # a round read back from the store that still needs work
        self._pending_asked: int | None = None  # ... and its size, when the store does not have it yet
        bind = getattr(strategy, "bind_feasibility", None)
        if callable(bind):
            bind(self.feasible)
        self._replay()

    # -- state ----------------------------------------------------------------------------
    def _replay(self) -> None:
        """Re-ask the stored rounds and tell their trials, so the strategy reaches its state again.

        Each stored trial must be what the strategy asks at its number (else the store belongs to
        another search). A round with a trial left RUNNING by a killed process, or cut short while
        it was being asked, stays pending: :meth:`run` evaluates what it lacks, keeps every trial
        that finished, and tells the round in order, as an uninterrupted run would have.
        """
        stored = {t.number: t for t in self.store.trials(role="search")}
        sizes = self.store.round_sizes()
        while stored and len(self._trials) < max(stored) + 1:
            size = sizes[self._rounds] if self._rounds < len(sizes) else None
            before = len(self._trials)
            waiting, asked = self._ask_round(stored, size)
            if not asked:
                raise InvalidInputError(
                    f"{self.store.path}: the strategy has nothing to ask at trial {before}, where the store "
                    "holds one: it was not written by this search"
                )
            unrecorded = size is None and self.batch > 1  # cut short while it was asked: its size is not stored
            if unrecorded or any(a.trial is None for a in waiting):
                self._pending = waiting
                self._pending_asked = asked if unrecorded else None
                return
            self._tell(waiting)
            self._rounds += 1

    @property
    def trials(self) -> list[Trial]:
        return list(self._trials)

    @property
    def evaluated(self) -> int:
        """Candidates evaluated so far (COMPLETE or FAIL): what the budget counts."""
        return self._evaluated

    def _append(self, trial: Trial) -> None:
        self._trials.append(trial)
        self._seen.add(trial.arch.key())
        self._evaluated += trial.state in (TrialState.COMPLETE, TrialState.FAIL)

    def best(self) -> Trial | None:
        """The most accurate COMPLETE (hence feasible) trial; ties go to the earlier one."""
        done = [t for t in self._trials if t.state is TrialState.COMPLETE]
        return max(done, key=lambda t: (_accuracy(t), -t.number)) if done else None

    def feasible(self, arch: Arch) -> bool:
        """Whether ``arch`` passes the limits by its estimated cost: what ``assess`` would decide before training.

        Strategies that generate many candidates may screen them with this (it is offered through
        an optional ``bind_feasibility(check)`` method) instead of asking each and being told
        INFEASIBLE. A cost model that raises leaves the decision to ``assess`` (True here).
        """
        try:
            return not check(self.cost(arch), self.limits)
        except Exception:  # assess records the failure with its reason
            return True

    # -- one candidate --------------------------------------------------------------------
    def _price(self, number: int, arch: Arch, role: str = "search", enforce_limits: bool = True) -> _Asked:
        """Cost and check one architecture: settled when it breaks a limit or cannot be priced."""
        start = time.perf_counter()
        try:
            cost = self.cost(arch)
        except DeviceUnavailableError:  # the measuring device is gone: stop, keep what is finished
            raise
        except Exception as exc:  # a space or cost model bug must not end the search
            failed = Trial(number, arch, TrialState.FAIL, error=describe(exc), role=role)
            return _Asked(number, arch, False, trial=replace(failed, duration_s=time.perf_counter() - start))
        violations = tuple(str(v) for v in check(cost, self.limits))
        if violations and enforce_limits:
            infeasible = Trial(number, arch, TrialState.INFEASIBLE, cost=cost, violations=violations, role=role)
            return _Asked(number, arch, False, trial=replace(infeasible, duration_s=time.perf_counter() - start))
        return _Asked(number, arch, True, time.perf_counter() - start, cost=cost, violations=violations)

    @staticmethod
    def _read_back(number: int, arch: Arch, previous: Trial) -> _Asked:
        """A candidate the store already holds: its outcome, or (RUNNING) the evaluation to run again."""
        evaluated = previous.state in (TrialState.COMPLETE, TrialState.RUNNING) or (
            previous.state is TrialState.FAIL and previous.cost is not None
        )
        if previous.state is TrialState.RUNNING:
            log.info("trial %d was running when the search stopped; it runs again", number)
            return _Asked(number, arch, True, cost=previous.cost, violations=previous.violations, stored=True)
        return _Asked(number, arch, evaluated, trial=previous, cost=previous.cost, violations=previous.violations, stored=True)

    def _evaluate(
        self, asked: Sequence[_Asked], role: str = "search", on_trial: Callable[[Activity], None] | None = None
    ) -> None:
        """Store the round's rows, evaluate its candidates with the executor, and store each outcome
        as soon as it comes back (then ``on_trial`` is called with the executor's activity)."""
        rows = [a.trial for a in asked if a.trial is not None and not a.stored]
        todo = [a for a in asked if a.trial is None]
        if self.record_running:
            rows += [Trial(a.number, a.arch, TrialState.RUNNING, cost=a.cost, violations=a.violations, role=role)
                     for a in todo if not a.stored]  # fmt: skip
        self.store.put_many(rows)
        for a in asked:
            a.stored = a.stored or a.trial is not None or self.record_running
        if not todo:
            return

        def done(index: int, outcome: Outcome, activity: Activity) -> None:
            a = todo[index]
            duration = a.cost_s + outcome.duration_s
            if outcome.metrics is None:
                log.warning("trial %d failed: %s", a.number, outcome.error)
                trial = Trial(a.number, a.arch, TrialState.FAIL, cost=a.cost, error=outcome.error, violations=a.violations,
                              duration_s=duration, role=role, worker=outcome.worker, device=outcome.device)  # fmt: skip
            else:
                trial = Trial(a.number, a.arch, TrialState.COMPLETE, cost=a.cost, metrics=outcome.metrics,
                              violations=a.violations, duration_s=duration, role=role, worker=outcome.worker,
                              device=outcome.device)  # fmt: skip
            self.store.put(trial)
            a.trial, a.stored = trial, True
            if on_trial is not None:
                on_trial(activity)

        outcomes = self.executor.evaluate([a.arch for a in todo], done)
        for index, outcome in enumerate(outcomes):  # an executor that reported none of them as they came
            if todo[index].trial is None:
                done(index, outcome, Activity(1, 0, 0))

    def assess(self, number: int, arch: Arch, role: str = "search", enforce_limits: bool = True) -> Trial:
        """Cost, check and (if feasible) evaluate one architecture outside the strategy's rounds; store it.

        The search's baseline goes through here: ``role="baseline"``, limits not enforced.
        """
        asked = self._price(number, arch, role, enforce_limits)
        self._evaluate([asked], role)
        assert asked.trial is not None
        return asked.trial

    # -- the loop -------------------------------------------------------------------------
    def _ask_round(
        self,
        stored: Mapping[int, Trial],
        size: int | None,
        callback: Callable[[Progress], None] | None = None,
        start: float = 0.0,
    ) -> tuple[list[_Asked], int]:
        """Ask one round: ``size`` candidates when replaying a recorded round, else until ``batch``
        need evaluating (fewer when the budget or ``max_asks`` is reached, or the strategy repeats
        itself). A settled candidate with nothing waiting before it is told at once; the rest wait
        for the round's evaluations. Stored trials stand for the candidates they match (and must
        match). Returns the candidates waiting to be told, and how many were asked."""
        waiting: list[_Asked] = []
        keys: set[str] = set()
        asked = todo = 0
        while True:
            number = len(self._trials) + len(waiting)
            if size is not None:
                if asked >= size:
                    break
            elif todo >= self.batch:
                break
            elif number not in stored and (self._evaluated + todo >= self.budget or number >= self.max_asks):
                break  # (what the store holds is replayed whatever the budget now)
            arch = self.strategy.ask()
            previous = stored.get(number)
            if arch.key() in self._seen or arch.key() in keys:  # nothing new: the space (or the queue) is exhausted
                if previous is not None:
                    raise InvalidInputError(
                        f"{self.store.path}: trial {number} is stored, but the strategy repeats an architecture there: "
                        "the store was written by another search (another seed, strategy or batch)"
                    )
                break
            keys.add(arch.key())
            if previous is None:
                item = self._price(number, arch)
            elif previous.arch != arch:
                raise InvalidInputError(
                    f"{self.store.path}: trial {number} is {list(previous.arch.genes)}, the strategy asks "
                    f"{list(arch.genes)}: the store was written by another search (another seed, strategy or batch)"
                )
            else:
                item = self._read_back(number, arch, previous)
            asked += 1
            if not item.evaluate and not waiting:  # settled, and every candidate before it told
                self._evaluate([item])  # stores it
                self._tell([item], callback, start)
            else:
                waiting.append(item)
                todo += item.evaluate
        return waiting, asked

    def _tell(
        self,
        asked: Sequence[_Asked],
        callback: Callable[[Progress], None] | None = None,
        start: float = 0.0,
        activity: Activity | None = None,
    ) -> None:
        for a in asked:
            assert a.trial is not None
            self.strategy.tell(a.trial)
            self._append(a.trial)
            if callback is not None:
                elapsed = time.perf_counter() - start
                callback(Progress(a.trial, self.evaluated, self.budget, self.best(), elapsed, activity))

    def _closest_seen(self) -> str:
        """The smallest estimate of each limited figure among the candidates asked: says which limit
        the space cannot meet, and by how much (e.g. mbconv on a Cortex-M at 5 ms)."""
        parts = []
        for field, limit, name in (
            ("latency_ms", self.limits.latency_ms, "latency"),
            ("peak_sram_bytes", self.limits.sram_bytes, "SRAM"),
            ("flash_bytes", self.limits.flash_bytes, "flash"),
        ):
            low = _smallest(self._trials, field)
            if limit is None or low is None or low <= limit:
                continue
            parts.append(f"{name} {low:.2f} ms > {limit:g} ms" if name == "latency" else f"{name} {int(low):,} B > {limit:,} B")
        return f" (smallest estimate seen: {'; '.join(parts)})" if parts else ""

    def run(self, callback: Callable[[Progress], None] | None = None, *, deadline: float | None = None) -> list[Trial]:
        """Run rounds until ``budget`` candidates are evaluated (or ``max_asks`` is reached, or ``deadline``).

        ``deadline`` is a :func:`time.perf_counter` value after which no new round is started
        (``edgenas search --time-limit``); the candidates being evaluated then finish and are kept.
        """
        start = time.perf_counter()
        if self._pending:  # the round a killed process left unfinished
            waiting, self._pending = self._pending, []
            if self._pending_asked is not None:
                self.store.add_round(self._pending_asked)
            self._finish_round(waiting, callback, start)
        while self.evaluated < self.budget:
            if deadline is not None and time.perf_counter() >= deadline:
                self.stop_reason = f"{TIME_LIMIT_REACHED} after {self.evaluated} evaluated candidates"
                break
            if len(self._trials) >= self.max_asks:
                self.stop_reason = (
                    f"{self.max_asks} candidates asked, only {self.evaluated} met the limits: "
                    "the limits may be too tight for this space" + self._closest_seen()
                )
                break
            waiting, asked = self._ask_round({}, None, callback, start)
            if not asked:
                self.stop_reason = "the strategy found no architecture it had not tried (space exhausted?)"
                break
            if self.batch > 1:
                self.store.add_round(asked)  # before evaluation: a resumed run replays the same rounds
            self._finish_round(waiting, callback, start)
        else:
            self.stop_reason = f"budget of {self.budget} evaluated candidates reached"
        return self.trials

    def _finish_round(self, waiting: list[_Asked], callback: Callable[[Progress], None] | None, start: float) -> None:
        """Evaluate the round's candidates and tell every waiting one in ask order, each as soon as it
        and every one before it are known (nothing is asked until the whole round is told, so telling
        early changes nothing but what the user sees, and when)."""
        told = 0

        def tell_ready(activity: Activity | None = None) -> None:
            nonlocal told
            ready = told
            while ready < len(waiting) and waiting[ready].trial is not None:
                ready += 1
            self._tell(waiting[told:ready], callback, start, activity)
            told = ready

        tell_ready()  # what was settled (or read back) before anything else in the round
        self._evaluate(waiting, on_trial=tell_ready)
        tell_ready()
        self._rounds += 1


def _accuracy(trial: Trial) -> float:
    assert trial.metrics is not None
    return trial.metrics.accuracy


def _smallest(trials: Sequence[Trial], field: str) -> float | None:
    values = [getattr(t.cost, field) for t in trials if t.cost is not None]
    return min(values) if values else None
