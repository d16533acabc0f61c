"""Architecture losses: cross-entropy plus a hardware term on the expected cost.

Three variants (``--latency-loss``):

* ``fbnet`` (Wu et al. 2019): ``CE * alpha * log(1 + E[LAT]/1 ms)^beta``. FBNet writes
  ``log(LAT)^beta``; on a microcontroller a network can take under 1 ms, where ``log`` is
  negative and a fractional power undefined, hence ``1 +``. It has no limit: ``alpha, beta``
  trade accuracy for speed and must be tuned per limit (the reason for the third form).
* ``proxyless`` (Cai et al. 2019): ``CE + lambda * (E[LAT] - T) / T``, a fixed penalty weight.
* ``lagrangian`` (default): ``CE + mu_lat * (E[LAT]/T - 1) + mu_sram * (E[SRAM]/S - 1)`` whose
  multipliers follow dual ascent: after each architecture step ``mu <- max(0, mu + lr *
  (c / (limit * (1 - margin)) - 1))``, where ``c`` is the *derived* (argmax) architecture's
  estimated cost from the normal cost model. The multiplier grows while the network that would
  be deployed breaks its limit and decays to 0 once it meets it, so no weight is hand-tuned.

* ``band``: the Lagrangian plus a *lower* latency constraint, ``argmax latency >= floor * T``,
  with its own multiplier by the same dual ascent (``mu_under <- max(0, mu_under + lr * (1 -
  c / (floor * T))``, loss term ``mu_under * (1 - E[LAT]/T)``). Why: with the one-sided form the
  multipliers end at 0 and the cross-entropy alone, biased by weight sharing towards paths that
  train fast, picks networks 2-10x under the limit. (MnasNet's soft reward ``ACC * (LAT/T)^w``,
  ``w = -0.07``, keeps rewarding lower latency below the target too; this is a hard band instead.)

Memory: where the target has an SRAM limit, ``fbnet`` and ``proxyless`` add a hinge
``sram_weight * relu(E[SRAM]/S - 1)`` (neither paper has a memory term), ``lagrangian`` a second
multiplier. ``E[SRAM]`` is the upper-bound surrogate of ``latency_table``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from edgenas.errors import InvalidInputError
from edgenas.supernets.differentiable.latency_table import ExpectedCost
from edgenas.trial import Cost

LOSSES = ("fbnet", "proxyless", "lagrangian", "band")


@dataclass
class ArchLoss:
    """The hardware-aware architecture loss of one variant (see the module docstring).

    Args:
        kind: ``fbnet``, ``proxyless`` or ``lagrangian``.
        latency_ms: Latency limit T (ms).
        sram_bytes: SRAM limit S (bytes), or None for no memory term.
        alpha, beta: FBNet's coefficients (paper values 0.2 and 0.6).
        lam: ProxylessNAS's penalty weight.
        sram_weight: Hinge weight of the memory term in ``fbnet``/``proxyless``.
        dual_lr: Dual ascent step of the Lagrangian multipliers.
        margin: The Lagrangian aims at ``(1 - margin) * limit``, so the argmax lands inside.
        floor: ``band`` only: the argmax's latency is held above ``floor * limit``.
    """

    kind: str = "lagrangian"
    latency_ms: float = 5.0
    sram_bytes: float | None = None
    alpha: float = 0.2
    beta: float = 0.6
    lam: float = 0.5
    sram_weight: float = 1.0
    dual_lr: float = 0.2
    margin: float = 0.05
    floor: float = 0.6
    multipliers: dict[str, float] = field(default_factory=lambda: {"latency": 0.0, "sram": 0.0})

    def __post_init__(self) -> None:
        if self.kind not in LOSSES:
            raise InvalidInputError(f"unknown --latency-loss {self.kind!r}. Accepted: {', '.join(LOSSES)}.")
        if self.latency_ms <= 0 or (self.sram_bytes is not None and self.sram_bytes <= 0):
            raise InvalidInputError("latency and SRAM limits must be positive")
        if self.kind == "band":
            if not 0 < self.floor < 1 - self.margin:
                raise InvalidInputError(f"band loss: floor {self.floor} must lie in (0, 1 - margin)")
            self.multipliers.setdefault("under", 0.0)

    def __call__(self, ce: torch.Tensor, expected: ExpectedCost) -> torch.Tensor:
        lat = expected.latency_ms
        sram_ratio = expected.sram_bytes / self.sram_bytes if self.sram_bytes is not None else None
        if self.kind == "fbnet":
            loss = ce * self.alpha * torch.log1p(lat) ** self.beta
        elif self.kind == "proxyless":
            loss = ce + self.lam * (lat - self.latency_ms) / self.latency_ms
        else:
            loss = ce + self.multipliers["latency"] * (lat / self.latency_ms - 1)
            if self.kind == "band":
                loss = loss + self.multipliers["under"] * (1 - lat / self.latency_ms)
            if sram_ratio is not None:
                loss = loss + self.multipliers["sram"] * (sram_ratio - 1)
            return loss
        if sram_ratio is not None:
            loss = loss + self.sram_weight * torch.relu(sram_ratio - 1)
        return loss

    def update(self, derived: Cost) -> None:
        """Dual ascent on the derived architecture's estimated cost (``lagrangian`` and ``band``)."""
        if self.kind not in ("lagrangian", "band"):
            return
        aim = 1 - self.margin
        lat_gap = derived.latency_ms / (self.latency_ms * aim) - 1
        self.multipliers["latency"] = max(0.0, self.multipliers["latency"] + self.dual_lr * lat_gap)
        if self.kind == "band":
            under_gap = 1 - derived.latency_ms / (self.latency_ms * self.floor)
            self.multipliers["under"] = max(0.0, self.multipliers["under"] + self.dual_lr * under_gap)
        if self.sram_bytes is not None:
            sram_gap = derived.peak_sram_bytes / (self.sram_bytes * aim) - 1
            self.multipliers["sram"] = max(0.0, self.multipliers["sram"] + self.dual_lr * sram_gap)
