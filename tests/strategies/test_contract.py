import pytest

from edgenas.strategies import STRATEGIES
from edgenas.testing import ToySpace, check_space, check_strategy
from edgenas.trial import Metrics, Trial, TrialState


def test_toy_space_contract():
    check_space(ToySpace())


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_strategy_contract(name):
    space = ToySpace(n=6, k=4)
    check_strategy(lambda seed: STRATEGIES.create(name, space=space, seed=seed), space, space.score)


@pytest.mark.parametrize("batch", [4, 8])
@pytest.mark.parametrize("name", STRATEGIES.names())
def test_strategy_contract_in_batch_mode(name, batch):
    """Asked several candidates before any is told (a parallel search), every strategy proposes no
    duplicate of one in flight, is deterministic, and resumes by replaying its rounds."""
    space = ToySpace(n=6, k=4)
    check_strategy(lambda seed: STRATEGIES.create(name, space=space, seed=seed), space, space.score, trials=32, batch=batch)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_strategy_finds_the_optimum_of_a_small_space(name):
    # 4 genes x 3 choices = 81 architectures; 60 queries must reach the optimum (score 1.0).
    space = ToySpace(n=4, k=3)
    strategy = STRATEGIES.create(name, space=space, seed=1)
    best = 0.0
    for number in range(60):
        arch = strategy.ask()
        best = max(best, space.score(arch))
        strategy.tell(Trial(number, arch, TrialState.COMPLETE, metrics=Metrics(space.score(arch))))
    assert best == 1.0


def test_evolution_beats_random_on_a_larger_space():
    space = ToySpace(n=10, k=5)
    results = {}
    for name in ("random", "evolution"):
        finals = []
        for seed in range(5):
            strategy = STRATEGIES.create(name, space=space, seed=seed)
            best = 0.0
            for number in range(80):
                arch = strategy.ask()
                best = max(best, space.score(arch))
                strategy.tell(Trial(number, arch, TrialState.COMPLETE, metrics=Metrics(space.score(arch))))
            finals.append(best)
        results[name] = sum(finals) / len(finals)
    assert results["evolution"] > results["random"]


def test_evolution_ignores_infeasible_trials_as_parents():
    space = ToySpace(n=4, k=4)
    strategy = STRATEGIES.create("evolution", space=space, seed=0, population_size=4, sample_size=2)
    for number in range(10):
        arch = strategy.ask()
        strategy.tell(Trial(number, arch, TrialState.INFEASIBLE))
    assert len(strategy._population) == 0
