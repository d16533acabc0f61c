"""The behaviour the rest of edgenas relies on, as executable checks (sklearn's check_estimator)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgenas.arch import Arch
from edgenas.spaces.base import SearchSpace
from edgenas.strategies.base import Strategy
from edgenas.trial import Metrics, Trial, TrialState


def check_space(space: SearchSpace, samples: int = 50, seed: int = 0) -> None:
    """Sampling and mutation give valid, normalised genotypes; ``layers`` is pure."""
    rng = np.random.default_rng(seed)
    decisions = space.decisions()
    for _ in range(samples):
        arch = space.sample(rng)
        assert arch.space == space.name
        assert len(arch.genes) == len(decisions)
        assert all(0 <= g < len(d.choices) for g, d in zip(arch.genes, decisions, strict=True))
        child = space.mutate(arch, rng)
        assert child != arch, "a mutation must change the architecture"
        assert space.layers(arch) == space.layers(arch), "layers() must be pure"
        assert space.layers(arch), "a network has at least one layer"
    draws = [space.sample(np.random.default_rng(seed)) for _ in range(2)]
    assert draws[0] == draws[1], "sample() must depend on the generator only"


def check_strategy(
    make: Callable[[int], Strategy],
    space: SearchSpace,
    score: Callable[[Arch], float] | None = None,
    trials: int = 30,
) -> None:
    """Same seed, same search; replaying told trials into a fresh strategy resumes it exactly;
    no architecture is asked twice."""
    score = score or (lambda arch: float(int(arch.key(), 16) % 1000 / 1000))

    def run(strategy: Strategy, n: int, history: list[Trial]) -> list[Trial]:
        for _ in range(n):
            arch = strategy.ask()
            number = len(history)
            state = TrialState.INFEASIBLE if number % 5 == 4 else TrialState.COMPLETE
            metrics = Metrics(score(arch)) if state is TrialState.COMPLETE else None
            trial = Trial(number, arch, state, metrics=metrics)
            strategy.tell(trial)
            history.append(trial)
        return history

    first = run(make(7), trials, [])
    again = run(make(7), trials, [])
    assert [t.arch for t in first] == [t.arch for t in again], "same seed must give the same search"
    keys = [t.arch.key() for t in first]
    assert len(set(keys)) == len(keys), "a strategy must not ask the same architecture twice"
    half = trials // 2
    resumed = make(7)
    for trial in first[:half]:
        resumed.tell(trial)
    continued = run(resumed, trials - half, list(first[:half]))
    assert [t.arch for t in continued] == [t.arch for t in first], "replaying told trials must resume exactly"
