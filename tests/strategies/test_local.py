from __future__ import annotations

from edgenas.spaces.nb201 import Nb201Space
from edgenas.strategies import STRATEGIES
from edgenas.strategies.local import LocalSearch
from edgenas.testing import check_strategy
from edgenas.trial import Metrics, Trial, TrialState


def test_contract() -> None:
    space = Nb201Space()
    check_strategy(lambda seed: STRATEGIES.create("local", space=space, seed=seed), space, trials=60)


def test_climbs_to_the_optimum_of_a_separable_score() -> None:
    """On a score with one optimum and no plateaus, hill climbing reaches it without a restart."""
    space = Nb201Space()
    target = (3, 1, 2, 4, 0, 3)

    def score(genes: tuple[int, ...]) -> float:
        return -sum(g != t for g, t in zip(genes, target, strict=True))

    strategy = LocalSearch(space, seed=3)
    for number in range(200):
        arch = strategy.ask()
        strategy.tell(Trial(number, arch, TrialState.COMPLETE, metrics=Metrics(score(arch.genes))))
        if arch.genes == target:
            break
    assert arch.genes == target and number < 6 * 24
