"""Records every door reads: the cost of a candidate, its metrics, and the trial that holds both.

They are frozen: a record read from the store is never changed by a later write. ``Cost`` sits
here rather than in ``hardware/`` so that a strategy can read ``trial.cost.latency_ms`` without
importing the hardware package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Literal, SupportsFloat

from edgenas.arch import Arch

Source = Literal["estimated", "predicted", "measured"]


class TrialState(StrEnum):
    """Where a trial ended. INFEASIBLE trials were costed and rejected, never trained."""

    RUNNING = "running"
    COMPLETE = "complete"
    INFEASIBLE = "infeasible"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Cost:
    """Hardware cost of one inference of a candidate on a target.

    Every figure has a unit in its name, and ``sources`` says for each whether it was
    ``estimated`` (an analytical model), ``predicted`` (a learned model) or ``measured``.
    """

    macs: int
    params: int
    peak_sram_bytes: int
    flash_bytes: int
    latency_ms: float
    energy_mj: float | None = None
    sources: Mapping[str, Source] = field(default_factory=dict)
    code_bytes: int | None = None  # the runtime kernels' code the model's operators link (flash beside flash_bytes)

    @property
    def flash_needed_bytes(self) -> int:
        """Flash the deployment needs: the model file and, where known, its kernels' code."""
        return self.flash_bytes + (self.code_bytes or 0)

    def to_dict(self) -> dict[str, object]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["sources"] = dict(self.sources)
        return out

    def with_latency(self, latency_ms: float, source: Source) -> Cost:
        """This cost with its latency replaced by one measured or predicted elsewhere (``source``).

        The energy estimate goes: derived from the *estimated* latency, it would contradict the new one.
        """
        sources = {k: v for k, v in self.sources.items() if k != "energy_mj"}
        sources["latency_ms"] = source
        return replace(self, latency_ms=latency_ms, energy_mj=None, sources=sources)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Cost:
        # JSON values, passed on as they are: the dataclass does not check them.
        kwargs: dict[str, Any] = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Metrics:
    """What an evaluator learned about a candidate.

    ``accuracy`` is the search signal (higher is better) that strategies maximise. It is a
    measured accuracy, a fraction in [0, 1], when ``signal`` is ``"accuracy"``; otherwise
    ``signal`` names what it is instead, e.g. ``"zerocost:naswot"`` for a zero-cost proxy score
    (any scale, not an accuracy), and reports label it so.
    """

    accuracy: float
    extra: Mapping[str, float] = field(default_factory=dict)
    signal: str = "accuracy"

    def __post_init__(self) -> None:
        if not math.isfinite(self.accuracy):
            raise ValueError(f"{self.signal} is not finite: {self.accuracy}")

    @property
    def is_accuracy(self) -> bool:
        """True when ``accuracy`` is a measured accuracy (not a proxy score)."""
        return self.signal == "accuracy"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"accuracy": self.accuracy, "extra": dict(self.extra)}
        if not self.is_accuracy:
            out["signal"] = self.signal
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Metrics:
        accuracy = data["accuracy"]
        assert isinstance(accuracy, SupportsFloat | str)
        extra = data.get("extra") or {}
        assert isinstance(extra, Mapping)
        return cls(
            accuracy=float(accuracy),
            extra={k: float(v) for k, v in extra.items()},
            signal=str(data.get("signal", "accuracy")),
        )


@dataclass(frozen=True, slots=True)
class Trial:
    """One candidate's journey: costed, then either rejected, trained, or failed.

    ``number`` is the order in which the strategy asked for it, from 0. ``violations`` names
    the limits an INFEASIBLE trial broke; ``error`` says why a FAIL trial failed.
    """

    number: int
    arch: Arch
    state: TrialState
    cost: Cost | None = None
    metrics: Metrics | None = None
    error: str | None = None
    violations: tuple[str, ...] = ()
    duration_s: float = 0.0
    role: str = "search"  # "search" or "baseline"
    worker: str | None = None  # where it was evaluated ("main", "local-<pid>", a Ray node); None: not evaluated
    device: str | None = None  # the torch device that trained it ("cpu", "cuda:0"); None: none (or not recorded)

    @property
    def accuracy(self) -> float | None:
        return self.metrics.accuracy if self.metrics is not None else None
