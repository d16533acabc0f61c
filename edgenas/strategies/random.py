"""Uniform random search, the baseline every other strategy must beat."""

from __future__ import annotations

from edgenas._rng import rng_for
from edgenas.arch import Arch
from edgenas.spaces._base import SearchSpace
from edgenas.trial import Trial

#: Draws before a strategy gives up looking for an architecture it has not asked yet.
MAX_REDRAWS = 1000


class RandomSearch:
    """Sample uniformly; never ask the same architecture twice in one search."""

    name = "random"

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self._asked: set[str] = set()
        self._told = 0

    def ask(self) -> Arch:
        rng = rng_for(self.seed, "random", self._told)
        arch = self.space.sample(rng)
        for _ in range(MAX_REDRAWS):
            if arch.key() not in self._asked:
                break
            arch = self.space.sample(rng)
        self._asked.add(arch.key())
        return arch

    def tell(self, trial: Trial) -> None:
        self._told += 1
        self._asked.add(trial.arch.key())
