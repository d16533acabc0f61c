"""The predictor-guided strategy: contract, learning, constraints, and the pieces it is built of."""

from __future__ import annotations

import numpy as np
import pytest

from edgenas.errors import InvalidInputError
from edgenas.experiment import Experiment
from edgenas.objectives import Limits
from edgenas.spaces import SPACES
from edgenas.store import SqliteStore
from edgenas.strategies import STRATEGIES
from edgenas.strategies._encoding import OneHotEncoder
from edgenas.strategies._ensemble import MlpEnsemble
from edgenas.strategies.predictor import PredictorSearch
from edgenas.testing import ToySpace, best_found, check_strategy
from edgenas.trial import Cost, Metrics, TrialState


def _best_after(name: str, space: ToySpace, seed: int, queries: int, **params: object) -> float:
    return best_found(STRATEGIES.create(name, space=space, seed=seed, **params), space, queries)


def _sum_cost(arch) -> Cost:  # type: ignore[no-untyped-def]
    return Cost(macs=0, params=0, peak_sram_bytes=0, flash_bytes=0, latency_ms=float(sum(arch.genes)))


class _ToyScore:
    def __init__(self, space: ToySpace) -> None:
        self.space = space

    def evaluate(self, arch, *, budget: float = 1.0) -> Metrics:  # type: ignore[no-untyped-def]
        return Metrics(self.space.score(arch))


def test_contract_on_the_toy_space_past_the_initial_design() -> None:
    space = ToySpace(n=6, k=4)
    check_strategy(lambda seed: PredictorSearch(space, seed=seed, initial=5, steps=30), space, space.score, trials=40)


def test_contract_with_thompson_sampling_uniform_candidates_and_refits_after_every_result() -> None:
    space = ToySpace(n=5, k=3)
    make = lambda seed: PredictorSearch(  # noqa: E731
        space, seed=seed, initial=4, steps=20, acquisition="its", random_candidates=10, rank_weight=0, refit_growth=0
    )
    check_strategy(make, space, space.score, trials=30)


def test_beats_random_on_a_larger_toy_space() -> None:
    space = ToySpace(n=10, k=5)  # ~9.8 million architectures
    seeds = range(3)
    predictor = [_best_after("predictor", space, seed, 40, steps=40) for seed in seeds]
    rand = [_best_after("random", space, seed, 40) for seed in seeds]
    assert min(predictor) > max(rand)


def test_finds_the_constrained_toy_optimum_and_never_trains_an_infeasible_candidate(tmp_path) -> None:
    # Cost = the sum of the genes; the limit keeps the all-max corner out; the constrained optimum has sum 7.
    space = ToySpace(n=4, k=4)

    with SqliteStore(tmp_path / "t.db") as store:
        strategy = PredictorSearch(space, seed=0, initial=5, steps=60)
        experiment = Experiment(
            space, strategy, _ToyScore(space), _sum_cost, Limits(latency_ms=7.0), store, budget=40, record_running=False
        )
        trials = experiment.run()
    done = [t for t in trials if t.state is TrialState.COMPLETE]
    assert all(t.cost is not None and t.cost.latency_ms <= 7.0 for t in done)
    assert max(t.accuracy for t in done) == pytest.approx(7 / 12)
    assert len({t.arch for t in trials}) == len(trials)


def test_one_hot_encoding_and_space_features() -> None:
    space = ToySpace(n=3, k=2)
    x = OneHotEncoder(space).encode([space.arch([1, 0, 1]), space.arch([0, 0, 0])])
    assert x.tolist() == [[0, 1, 1, 0, 0, 1], [1, 0, 1, 0, 1, 0]]
    nb201 = SPACES.create("nb201")
    cell = nb201.from_string("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|")
    assert OneHotEncoder(nb201).encode([cell]).shape == (1, 30 + 84)
    assert OneHotEncoder(nb201, space_features=False).encode([cell]).shape == (1, 30)
    assert sum(nb201.features(cell)) == 1.0  # one live path: conv3x3 then skip


def test_ensemble_learns_and_disagrees_away_from_its_data() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(60, 8)).astype(float)
    y = x @ np.arange(8.0)
    model = MlpEnsemble(members=5, steps=300, seed=1).fit(x, y)
    predictions = model.predict(x)
    assert predictions.shape == (5, 60)
    assert np.corrcoef(predictions.mean(axis=0), y)[0, 1] > 0.95
    assert predictions.std(axis=0).mean() > 0  # the members differ


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"acquisition": "ei"}, "acquisition"),
        ({"initial": 0}, "initial"),
        ({"extra_mutation": 1.0}, "extra_mutation"),
        ({"prior": "flops"}, "prior"),
        ({"warm_pool": 0}, "warm_pool"),
    ],
)
def test_bad_parameters_name_themselves(params, word) -> None:
    with pytest.raises(InvalidInputError, match=word):
        PredictorSearch(ToySpace(), **params).ask()


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_exhausts_a_small_space_without_training_anything_twice(name) -> None:
    # 27 architectures, 4 of them infeasible: through the real loop, every strategy must reach all
    # 23 feasible ones with no repeat (the loop would stop at the first repeat rather than retrain it).
    space = ToySpace(n=3, k=3)

    params = {"initial": 5, "steps": 20} if name == "predictor" else {}
    with SqliteStore(":memory:") as store:
        strategy = STRATEGIES.create(name, space=space, seed=0, **params)
        experiment = Experiment(
            space, strategy, _ToyScore(space), _sum_cost, Limits(latency_ms=4.0), store, budget=23, record_running=False
        )
        trials = experiment.run()
    assert len({t.arch.key() for t in trials}) == len(trials)
    assert experiment.evaluated == 23, experiment.stop_reason


def test_screens_its_candidates_with_the_loops_check_so_no_ask_is_infeasible(tmp_path) -> None:
    # Half of the 4**6 toy architectures break the limit; bound to the loop's check, the strategy
    # screens its warm design, pools and fallback, so the loop never has to reject one.
    space = ToySpace(n=6, k=4)
    with SqliteStore(tmp_path / "t.db") as store:
        strategy = PredictorSearch(space, seed=0, initial=5, steps=30)
        experiment = Experiment(space, strategy, _ToyScore(space), _sum_cost, Limits(latency_ms=9.0), store, budget=30)
        trials = experiment.run()
    assert len(trials) == 30
    assert all(t.state is TrialState.COMPLETE for t in trials)
    # Unbound (no loop), the same strategy asks infeasible architectures too: the screen is what did it.
    unbound = PredictorSearch(space, seed=0, initial=5, steps=30)
    assert any(sum(unbound.ask().genes) > 9 for _ in range(5))


def test_the_initial_design_is_the_largest_feasible_networks_first() -> None:
    # ToySpace's #params grows with every gene: the prior-ordered warm design asks the feasible
    # samples with the most parameters first; without a prior it is uniform.
    space = ToySpace(n=6, k=4)
    strategy = PredictorSearch(space, seed=0, initial=5, warm_pool=200)
    strategy.bind_feasibility(lambda arch: sum(arch.genes) <= 9)
    first = [strategy.ask() for _ in range(5)]
    assert [sum(a.genes) for a in first] == [9] * 5
    sizes = [strategy.prior_score(a) for a in first]
    assert sizes == sorted(sizes, reverse=True)
    uniform = PredictorSearch(space, seed=0, initial=5, prior=None)
    assert min(sum(uniform.ask().genes) for _ in range(5)) < 9


def test_killed_and_resumed_with_screening_asks_what_an_unbroken_run_asks(tmp_path) -> None:
    space = ToySpace(n=6, k=4)

    def run(path, budget: int) -> list:  # type: ignore[no-untyped-def]
        with SqliteStore(path) as store:
            strategy = PredictorSearch(space, seed=3, initial=5, steps=30)
            experiment = Experiment(space, strategy, _ToyScore(space), _sum_cost, Limits(latency_ms=9.0), store, budget=budget)
            return [t.arch for t in experiment.run()]

    whole = run(tmp_path / "whole.db", 25)
    run(tmp_path / "killed.db", 12)
    assert run(tmp_path / "killed.db", 25) == whole
