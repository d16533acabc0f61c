"""Regularized (aging) evolution, Real et al. 2019 ("Regularized Evolution for Image Classifier
Architecture Search", AAAI), made constraint-aware.

The population is the ``population_size`` most recent *trained* (COMPLETE) trials; each new
candidate mutates the best of ``sample_size`` members drawn at random, and the oldest member
dies as a new one arrives. Infeasible candidates are costed and recorded but never trained,
so they never enter the population; duplicates are re-mutated, so no architecture is trained
twice. Until the population is full, candidates are drawn at random.
"""

from __future__ import annotations

from collections import deque

from edgenas._rng import rng_for
from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.spaces.base import SearchSpace
from edgenas.strategies.random import MAX_REDRAWS
from edgenas.trial import Trial, TrialState


class RegularizedEvolution:
    """Aging evolution with tournament selection (see the module docstring).

    Args:
        space: The search space.
        population_size: Trained trials kept alive (P in the paper).
        sample_size: Tournament size (S in the paper).
        seed: Seed of every random draw.
    """

    name = "evolution"

    def __init__(self, space: SearchSpace, population_size: int = 16, sample_size: int = 4, seed: int = 0) -> None:
        self.space = space
        self.population_size = population_size
        self.sample_size = sample_size
        self.seed = seed
        self._population: deque[Trial] = deque()
        self._asked: set[str] = set()
        self._told = 0

    def ask(self) -> Arch:
        if not 1 <= self.sample_size <= self.population_size:
            raise InvalidInputError(
                f"evolution needs 1 <= sample_size <= population_size, got {self.sample_size} and {self.population_size}"
            )
        rng = rng_for(self.seed, "evolution", self._told)
        for _ in range(MAX_REDRAWS):
            if len(self._population) < self.population_size:
                arch = self.space.sample(rng)
            else:
                picks = rng.choice(len(self._population), size=self.sample_size, replace=False)
                parent = max((self._population[int(i)] for i in picks), key=lambda t: (t.accuracy, -t.number))
                arch = self.space.mutate(parent.arch, rng)
            if arch.key() not in self._asked:
                break
        self._asked.add(arch.key())
        return arch

    def tell(self, trial: Trial) -> None:
        self._told += 1
        self._asked.add(trial.arch.key())
        if trial.state is TrialState.COMPLETE and trial.metrics is not None:
            self._population.append(trial)
            if len(self._population) > self.population_size:
                self._population.popleft()
