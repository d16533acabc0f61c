"""The strategy protocol: ask for a genotype, be told how it went.

A strategy sees only genotypes and numbers: never torch, hardware, tasks or the store.

Contract (checked for every registered strategy by ``edgenas.testing``): a strategy's state is a
function of its constructor parameters and the trials it was told, in order. A fresh strategy
told the stored trials of a killed search therefore asks exactly what the original would have
asked next, so resuming needs no checkpoint (as Optuna's GA samplers derive their state from
the storage). Strategies get randomness per ask from ``rng_for(seed, "ask", n)`` rather than
from one long-lived stream for the same reason.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from edgenas.arch import Arch
from edgenas.trial import Trial


@runtime_checkable
class Strategy(Protocol):
    name: str

    def ask(self) -> Arch: ...

    def tell(self, trial: Trial) -> None: ...
