"""The one loop: ask -> cost -> constraints -> evaluate -> tell -> store.

Every candidate passes the same doors. The cost is estimated from the layer IR before any
training; a candidate that breaks a limit is stored as INFEASIBLE with its cost and the broken
limits, and never trained. A candidate whose evaluation raises (including out of memory), or
yields a non-finite accuracy, is stored as FAIL with the reason, and the search goes on.

``budget`` counts *evaluated* candidates (COMPLETE or FAIL): infeasible ones cost no training,
so they do not use it up, but ``max_asks`` bounds them in case the limits admit nothing.

Resume: the store holds every finished trial; a fresh strategy is told them in order (the
strategy contract makes it ask the same next architecture), a trial left RUNNING by a killed
process is dropped and asked again, and the loop goes on where it stopped.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.evaluators.base import Evaluator
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
    """What a progress display needs after each trial."""

    trial: Trial
    evaluated: int
    budget: int
    best: Trial | None
    elapsed_s: float


class Experiment:
    """A search over ``space`` with ``strategy``, scored by ``evaluator``, priced by ``cost``.

    Args:
        space: The search space.
        strategy: Proposes architectures (fresh: resume replays the store into it).
        evaluator: Scores feasible architectures.
        cost: Prices an architecture on the target (see :func:`layers_cost`).
        limits: Hard limits; infeasible candidates are never evaluated.
        store: Where trials live.
        budget: Candidates to evaluate.
        max_asks: Bound on asks in all (feasible or not); default ``50 * budget``.
        record_running: Store a RUNNING row before each evaluation (so a crash mid-training is
            visible in the store). Table look-ups take microseconds: benchmarks turn it off.
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
    ) -> None:
        if budget < 1:
            raise InvalidInputError(f"budget must be a positive number of candidates, got {budget}")
        self.space = space
        self.strategy = strategy
        self.evaluator = evaluator
        self.cost = cost
        self.limits = limits
        self.store = store
        self.budget = budget
        self.max_asks = max_asks if max_asks is not None else 50 * budget
        self.record_running = record_running
        self.stop_reason = ""
        self._evaluated = 0
        self._trials: list[Trial] = []
        self._seen: set[str] = set()
        bind = getattr(strategy, "bind_feasibility", None)
        if callable(bind):
            bind(self.feasible)
        self._replay()

    # -- state ----------------------------------------------------------------------------
    def _replay(self) -> None:
        """Tell the strategy every finished trial in the store; drop one left RUNNING."""
        for trial in self.store.trials(role="search"):
            if trial.state is TrialState.RUNNING:
                self.store.delete(trial.number)
                log.info("trial %d was running when the search stopped; it runs again", trial.number)
                continue
            if trial.number != len(self._trials):
                raise InvalidInputError(
                    f"{self.store.path} has a gap before trial {trial.number}; it was not written by one search"
                )
            self.strategy.tell(trial)
            self._append(trial)

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
        return max(done, key=lambda t: (t.accuracy, -t.number)) if done else None

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
    def assess(self, number: int, arch: Arch, role: str = "search", enforce_limits: bool = True) -> Trial:
        """Cost, check and (if feasible) evaluate one architecture; store the outcome."""
        start = time.perf_counter()
        try:
            cost = self.cost(arch)
        except Exception as exc:  # a space or cost model bug must not end the search
            return self._finish(Trial(number, arch, TrialState.FAIL, error=_describe(exc), role=role), start)
        violations = tuple(str(v) for v in check(cost, self.limits))
        if violations and enforce_limits:
            return self._finish(Trial(number, arch, TrialState.INFEASIBLE, cost=cost, violations=violations, role=role), start)
        if self.record_running:
            self.store.put(Trial(number, arch, TrialState.RUNNING, cost=cost, violations=violations, role=role))
        try:
            metrics = self.evaluator.evaluate(arch)
        except (Exception, MemoryError) as exc:
            log.warning("trial %d failed: %s", number, _describe(exc))
            log.debug("%s", traceback.format_exc())
            return self._finish(
                Trial(number, arch, TrialState.FAIL, cost=cost, error=_describe(exc), violations=violations, role=role),
                start,
            )
        return self._finish(
            Trial(number, arch, TrialState.COMPLETE, cost=cost, metrics=metrics, violations=violations, role=role),
            start,
        )

    def _finish(self, trial: Trial, start: float) -> Trial:
        trial = replace(trial, duration_s=time.perf_counter() - start)
        self.store.put(trial)
        return trial

    # -- the loop -------------------------------------------------------------------------
    def step(self) -> Trial | None:
        """Ask, assess and tell one candidate; None when the strategy has nothing new."""
        arch = self.strategy.ask()
        if arch.key() in self._seen:
            self.stop_reason = "the strategy found no architecture it had not tried (space exhausted?)"
            return None
        trial = self.assess(len(self._trials), arch)
        self.strategy.tell(trial)
        self._append(trial)
        return trial

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
        """Step until ``budget`` candidates are evaluated (or ``max_asks`` is reached, or ``deadline``).

        ``deadline`` is a :func:`time.perf_counter` value after which no new candidate is started
        (``edgenas search --time-limit``); the one being evaluated then finishes and is kept.
        """
        start = time.perf_counter()
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
            trial = self.step()
            if trial is None:
                break
            if callback is not None:
                callback(Progress(trial, self.evaluated, self.budget, self.best(), time.perf_counter() - start))
        else:
            self.stop_reason = f"budget of {self.budget} evaluated candidates reached"
        return self.trials


def _smallest(trials: Sequence[Trial], field: str) -> float | None:
    values = [getattr(t.cost, field) for t in trials if t.cost is not None]
    return min(values) if values else None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
