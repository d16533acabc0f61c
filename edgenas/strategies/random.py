"""Uniform random search, the baseline every other strategy must beat."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgenas._rng import rng_for
from edgenas.arch import Arch
from edgenas.spaces.base import SearchSpace
from edgenas.trial import Trial

#: Draws before a strategy gives up looking for an architecture it has not asked yet.
MAX_REDRAWS = 1000


def sample_unasked(space: SearchSpace, rng: np.random.Generator, is_new: Callable[[Arch], bool]) -> Arch:
    """A uniform draw that ``is_new`` accepts (the last draw after ``MAX_REDRAWS``: the loop then stops)."""
    arch = space.sample(rng)
    for _ in range(MAX_REDRAWS):
        if is_new(arch):
            break
        arch = space.sample(rng)
    return arch


class RandomSearch:
    """Sample uniformly; never ask the same architecture twice in one search."""

    name = "random"

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self._asked: set[str] = set()
        self._told = 0

    def ask(self) -> Arch:
        arch = sample_unasked(self.space, rng_for(self.seed, "random", self._told), lambda a: a.key() not in self._asked)
        self._asked.add(arch.key())
        return arch

    def tell(self, trial: Trial) -> None:
        self._told += 1
        self._asked.add(trial.arch.key())
