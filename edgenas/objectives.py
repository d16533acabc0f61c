"""Limits, the feasibility check, and the Pareto front.

Limits are checked on the *cost* before any training, so an infeasible candidate never costs a
training run. A limit left as ``None`` is not enforced.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edgenas.errors import InvalidInputError
from edgenas.trial import Cost, Trial, TrialState


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard limits a deployable model must meet (units in the names)."""

    latency_ms: float | None = None
    sram_bytes: int | None = None
    flash_bytes: int | None = None
    energy_mj: float | None = None  # per inference; only cost models with an energy figure can check it

    def __post_init__(self) -> None:
        for name in ("latency_ms", "sram_bytes", "flash_bytes", "energy_mj"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise InvalidInputError(f"limit {name} must be positive, got {value}")

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "latency_ms": self.latency_ms,
            "sram_bytes": self.sram_bytes,
            "flash_bytes": self.flash_bytes,
            "energy_mj": self.energy_mj,
        }


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken limit, with both figures (for reports and messages)."""

    name: str
    value: float
    limit: float

    def __str__(self) -> str:
        if math.isnan(self.value):
            return f"{self.name} unknown: the cost model gives no such figure (limit {self.limit:g})"
        return f"{self.name} {self.value:g} > {self.limit:g}"


def check(cost: Cost, limits: Limits) -> list[Violation]:
    """The limits ``cost`` breaks (empty when feasible).

    A limit on a figure the cost model does not give (energy from a model without an energy
    table) is broken, never silently passed: a deployable model must be shown to meet it.
    """
    pairs = (
        ("latency_ms", cost.latency_ms, limits.latency_ms),
        ("sram_bytes", cost.peak_sram_bytes, limits.sram_bytes),
        ("flash_bytes", cost.flash_needed_bytes, limits.flash_bytes),  # the model and its kernels' code
        ("energy_mj", cost.energy_mj, limits.energy_mj),
    )
    return [
        Violation(n, math.nan if v is None else float(v), float(lim))
        for n, v, lim in pairs
        if lim is not None and (v is None or v > lim)
    ]


def pareto_front(
    trials: Sequence[Trial],
    objectives: Sequence[Callable[[Trial], float]] | None = None,
) -> list[Trial]:
    """Non-dominated COMPLETE trials, every objective *minimised*.

    The default objectives are (-accuracy, latency_ms, peak_sram_bytes). The front is returned
    sorted by the first objective (best accuracy first by default).
    """
    if objectives is None:
        objectives = (_minus_accuracy, _latency_ms, _peak_sram_bytes)
    done = [t for t in trials if t.state is TrialState.COMPLETE and t.metrics and t.cost]
    points = [tuple(f(t) for f in objectives) for t in done]

    def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    front = [t for t, p in zip(done, points, strict=True) if not any(dominates(q, p) for q in points)]
    # Equal points are duplicates of one another; keep the first asked.
    seen: set[tuple[float, ...]] = set()
    unique = []
    for t in sorted(front, key=lambda t: (tuple(f(t) for f in objectives), t.number)):
        p = tuple(f(t) for f in objectives)
        if p not in seen:
            seen.add(p)
            unique.append(t)
    return unique


# The default objectives of ``pareto_front``, applied to COMPLETE trials only (metrics and cost set).
def _minus_accuracy(t: Trial) -> float:
    assert t.metrics is not None
    return -t.metrics.accuracy


def _latency_ms(t: Trial) -> float:
    assert t.cost is not None
    return t.cost.latency_ms


def _peak_sram_bytes(t: Trial) -> float:
    assert t.cost is not None
    return float(t.cost.peak_sram_bytes)


def hypervolume_2d(points: Sequence[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by ``points`` = (score to maximise, cost to minimise), bounded by ``reference``.

    ``reference`` = (worst score, worst cost): points not strictly better than it in both count
    for nothing. Exact for two objectives (a sweep over the staircase, O(n log n)); the figure
    multi-objective benchmarks compare fronts by (Zitzler & Thiele 1998).
    """
    score_ref, cost_ref = reference
    kept = sorted((c, s) for s, c in points if s > score_ref and c < cost_ref and math.isfinite(s) and math.isfinite(c))
    area, best = 0.0, score_ref
    for i, (c, s) in enumerate(kept):
        best = max(best, s)
        right = kept[i + 1][0] if i + 1 < len(kept) else cost_ref
        area += (right - c) * (best - score_ref)
    return area


#: MnasNet's (alpha, beta) exponents (Tan et al. 2019, section 3): soft and hard constraints.
REWARDS: dict[str, tuple[float, float]] = {"soft": (-0.07, -0.07), "hard": (0.0, -1.0)}


def mnasnet_reward(
    accuracy: float, latency_ms: float, target_latency_ms: float | None, alpha: float = -0.07, beta: float = -0.07
) -> float:
    """MnasNet's reward ``accuracy * (latency_ms / target_latency_ms) ** w``, ``w = alpha`` within the target, else ``beta``.

    >>> round(mnasnet_reward(0.75, 10.0, 5.0), 6)  # soft: twice the target costs 4.7 % of the reward
    0.714478
    >>> mnasnet_reward(0.75, 10.0, 5.0, alpha=0.0, beta=-1.0)  # hard: halved beyond the target
    0.375
    >>> mnasnet_reward(0.75, 10.0, None)  # no target: the accuracy
    0.75
    """
    if target_latency_ms is None:
        return accuracy
    if not target_latency_ms > 0:
        raise InvalidInputError(f"target_latency_ms must be positive, got {target_latency_ms}")
    if not latency_ms > 0:
        raise InvalidInputError(f"latency_ms must be positive for the MnasNet reward, got {latency_ms}")
    w = alpha if latency_ms <= target_latency_ms else beta
    factor: float = (latency_ms / target_latency_ms) ** w  # a positive base: a float, never complex
    return accuracy * factor
