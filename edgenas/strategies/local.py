"""Local search: first-improvement hill climbing over one-gene neighbours, with random restarts.

White et al. (2021, "Local search is state of the art for NAS benchmarks") found this simple
method competitive on NAS-Bench-201, which makes it the baseline a clever strategy must beat.

From the current architecture, neighbours (every genotype that differs in one gene) are tried in
a seeded random order; the first one more accurate becomes current (first improvement). When
every neighbour has been tried without improvement (a local optimum), the search restarts from a
random architecture. Infeasible or failed neighbours are simply not improvements. All state is
derived in ``tell`` from the told trials, so replaying them resumes the search exactly.
"""

from __future__ import annotations

from edgenas._rng import rng_for
from edgenas.arch import Arch
from edgenas.spaces.base import SearchSpace
from edgenas.strategies.random import sample_unasked
from edgenas.trial import Trial, TrialState


class LocalSearch:
    """Hill climbing with random restarts (see the module docstring).

    Args:
        space: The search space.
        seed: Seed of every random draw.
    """

    name = "local"

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self._asked: set[Arch] = set()
        self._told = 0
        self._current: Trial | None = None
        self._neighbours: list[Arch] = []

    def neighbours(self, arch: Arch, number: int) -> list[Arch]:
        """Every architecture one gene away, in a seeded random order (``number`` picks the order)."""
        make = getattr(self.space, "arch", None)  # DecisionSpace normalises; a bare protocol space may not
        out: dict[Arch, None] = {}
        for i, decision in enumerate(self.space.decisions()):
            for value in range(len(decision.choices)):
                if value != arch.genes[i]:
                    genes = arch.genes[:i] + (value,) + arch.genes[i + 1 :]
                    child = make(genes) if make is not None else Arch(arch.space, genes)
                    if child != arch:
                        out[child] = None
        order = list(out)
        perm = rng_for(self.seed, "local-neighbours", number).permutation(len(order))
        return [order[int(k)] for k in perm]

    def ask(self) -> Arch:
        for arch in self._neighbours:
            if arch not in self._asked:
                self._asked.add(arch)
                return arch
        rng = rng_for(self.seed, "local", self._told)  # a (re)start: a random architecture
        arch = sample_unasked(self.space, rng, lambda a: a not in self._asked)
        self._asked.add(arch)
        return arch

    def tell(self, trial: Trial) -> None:
        self._told += 1
        self._asked.add(trial.arch)
        done = trial.state is TrialState.COMPLETE and trial.metrics is not None
        current = self._current
        if done and (current is None or _accuracy(trial) > _accuracy(current)):
            self._current = trial
            self._neighbours = self.neighbours(trial.arch, trial.number)
        if self._current is not None and all(a in self._asked for a in self._neighbours):
            self._current, self._neighbours = None, []  # a local optimum: restart at the next ask


def _accuracy(trial: Trial) -> float:
    """The accuracy of a COMPLETE trial (those carry metrics; ``_current`` is always one)."""
    assert trial.metrics is not None
    return trial.metrics.accuracy
