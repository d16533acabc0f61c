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
    batch: int = 1,
) -> None:
    """Same seed, same search; a fresh strategy that replays the trials resumes it exactly; no
    architecture is asked twice, not even one still in flight.

    With ``batch > 1`` the strategy is asked ``batch`` candidates before any is told (as a
    parallel search asks it), and resumes by asking each stored round again and being told it,
    as :class:`~edgenas.experiment.Experiment` replays a store.
    """
    score = score or (lambda arch: float(int(arch.key(), 16) % 1000 / 1000))

    def result(arch: Arch, number: int) -> Trial:
        state = TrialState.INFEASIBLE if number % 5 == 4 else TrialState.COMPLETE
        return Trial(number, arch, state, metrics=Metrics(score(arch)) if state is TrialState.COMPLETE else None)

    def run(strategy: Strategy, n: int, history: list[Trial]) -> list[Trial]:
        while len(history) < n:
            asked = [strategy.ask() for _ in range(min(batch, n - len(history)))]
            for arch in asked:
                trial = result(arch, len(history))
                history.append(trial)
            for trial in history[-len(asked) :]:
                strategy.tell(trial)
        return history

    first = run(make(7), trials, [])
    again = run(make(7), trials, [])
    assert [t.arch for t in first] == [t.arch for t in again], "same seed must give the same search"
    keys = [t.arch.key() for t in first]
    assert len(set(keys)) == len(keys), "a strategy must not ask the same architecture twice (or one in flight)"
    rounds = max(1, (trials // 2) // batch)
    resumed = make(7)
    if batch == 1:  # tell-only replay: what a fresh strategy told the stored trials asks next
        for trial in first[:rounds]:
            resumed.tell(trial)
    else:  # ask each stored round again, then tell it
        for r in range(rounds):
            stored = first[r * batch : (r + 1) * batch]
            assert [resumed.ask() for _ in stored] == [t.arch for t in stored], "a replayed round must ask the same"
            for trial in stored:
                resumed.tell(trial)
    continued = run(resumed, trials, list(first[: rounds * batch]))
    assert [t.arch for t in continued] == [t.arch for t in first], "replaying the trials must resume exactly"
