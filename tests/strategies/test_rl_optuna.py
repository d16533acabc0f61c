"""RL (REINFORCE + MnasNet reward) and the Optuna strategies: formulas, learning, constraints, resume."""

from __future__ import annotations

import logging

import pytest

from edgenas.errors import InvalidInputError
from edgenas.strategies import STRATEGIES
from edgenas.strategies.rl import ReinforceController, mnasnet_reward
from edgenas.testing import ToySpace, best_found
from edgenas.trial import Cost, Metrics, Trial, TrialState


def _cost(latency_ms: float) -> Cost:
    return Cost(macs=1, params=1, peak_sram_bytes=1, flash_bytes=1, latency_ms=latency_ms)


# -- the MnasNet reward, by hand -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("accuracy", "latency_ms", "target", "alpha", "beta", "expected"),
    [
        (0.8, 5.0, 5.0, -0.07, -0.07, 0.8),  # at the target: the accuracy
        (0.75, 10.0, 5.0, -0.07, -0.07, 0.75 * 2**-0.07),  # soft, twice as slow: 0.714478...
        (0.75, 2.5, 5.0, -0.07, -0.07, 0.75 * 0.5**-0.07),  # soft, twice as fast: a bonus, 0.787288...
        (0.75, 10.0, 5.0, 0.0, -1.0, 0.375),  # hard, twice as slow: halved
        (0.75, 2.5, 5.0, 0.0, -1.0, 0.75),  # hard, within the target: the accuracy
        (0.6, 6.0, 4.0, 0.0, -1.0, 0.4),  # hard: 0.6 * (6/4)^-1
        (0.75, 10.0, None, -0.07, -0.07, 0.75),  # no target: the accuracy
    ],
)
def test_mnasnet_reward_by_hand(accuracy, latency_ms, target, alpha, beta, expected) -> None:
    assert mnasnet_reward(accuracy, latency_ms, target, alpha, beta) == pytest.approx(expected, rel=1e-12)


def test_mnasnet_reward_values() -> None:
    assert mnasnet_reward(0.75, 10.0, 5.0) == pytest.approx(0.714478, abs=1e-6)
    assert mnasnet_reward(0.75, 2.5, 5.0) == pytest.approx(0.787288, abs=1e-6)
    with pytest.raises(InvalidInputError, match="target_latency_ms"):
        mnasnet_reward(0.75, 1.0, 0.0)


def test_rl_trial_reward_per_state() -> None:
    space = ToySpace()
    arch = space.sample(__import__("numpy").random.default_rng(0))
    hard = ReinforceController(space, target_latency_ms=5.0, reward="hard")
    soft = ReinforceController(space, target_latency_ms=5.0, reward="soft")
    done = Trial(0, arch, TrialState.COMPLETE, cost=_cost(10.0), metrics=Metrics(0.75))
    assert hard.trial_reward(done) == pytest.approx(0.375)
    assert soft.trial_reward(done) == pytest.approx(0.75 * 2**-0.07)
    assert hard.trial_reward(Trial(1, arch, TrialState.INFEASIBLE, cost=_cost(50.0), violations=("latency_ms",))) == 0.0
    assert hard.trial_reward(Trial(2, arch, TrialState.FAIL, error="boom")) == 0.0
    assert ReinforceController(space).trial_reward(done) == 0.75  # no target: the accuracy
    assert ReinforceController(space, infeasible_reward=-0.5).trial_reward(Trial(3, arch, TrialState.INFEASIBLE)) == -0.5


@pytest.mark.parametrize("params", [{"reward": "medium"}, {"optimizer": "rmsprop"}, {"baseline_decay": 1.0}])
def test_rl_bad_parameters_name_themselves(params) -> None:
    with pytest.raises(InvalidInputError, match=next(iter(params))):
        ReinforceController(ToySpace(), **params).ask()


# -- RL learns -----------------------------------------------------------------------------------
def _best_after(name: str, space: ToySpace, seed: int, queries: int, **params: object) -> float:
    return best_found(STRATEGIES.create(name, space=space, seed=seed, **params), space, queries)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_rl_beats_random_on_a_larger_space(optimizer) -> None:
    space = ToySpace(n=10, k=5)  # ~9.8 million architectures
    lr = 0.05 if optimizer == "adam" else 2.0
    rl = [_best_after("rl", space, seed, 150, learning_rate=lr, optimizer=optimizer) for seed in range(5)]
    rand = [_best_after("random", space, seed, 150) for seed in range(5)]
    assert sum(rl) / 5 > sum(rand) / 5 + 0.05


def test_rl_policy_concentrates_on_the_optimum() -> None:
    space = ToySpace(n=4, k=3)
    rl = ReinforceController(space, seed=0, learning_rate=0.1)
    for number in range(60):
        arch = rl.ask()
        rl.tell(Trial(number, arch, TrialState.COMPLETE, metrics=Metrics(space.score(arch))))
    assert all(int(p.argmax()) == 2 for p in rl.probabilities())  # the best choice of every decision


def test_rl_learns_to_avoid_infeasible_architectures() -> None:
    # Architectures scoring above 0.5 are infeasible: the policy must stop asking for them.
    space = ToySpace(n=6, k=4)
    rl = ReinforceController(space, seed=0, learning_rate=0.1)
    infeasible = []
    for number in range(120):
        arch = rl.ask()
        bad = space.score(arch) > 0.5
        infeasible.append(bad)
        state = TrialState.INFEASIBLE if bad else TrialState.COMPLETE
        rl.tell(Trial(number, arch, state, metrics=None if bad else Metrics(space.score(arch))))
    assert sum(infeasible[-40:]) < sum(infeasible[:40])


def test_rl_target_latency_steers_the_policy() -> None:
    # Accuracy grows with the genes, latency too (ms = 1 + sum of genes); a hard target of 4 ms
    # makes the fast corner best, so the policy must not climb to the most accurate corner.
    space = ToySpace(n=4, k=4)
    rl = ReinforceController(space, seed=0, target_latency_ms=4.0, reward="hard", learning_rate=0.1)
    for number in range(80):
        arch = rl.ask()
        latency = 1.0 + sum(arch.genes)
        rl.tell(Trial(number, arch, TrialState.COMPLETE, cost=_cost(latency), metrics=Metrics(0.5 + space.score(arch) / 10)))
    expected_latency = 1.0 + sum(float((p * range(len(p))).sum()) for p in rl.probabilities())
    assert expected_latency < 6.0  # an unconstrained policy would head for 13 ms


# -- the Optuna strategies -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tpe", "nsga2"])
def test_optuna_strategies_learn(name) -> None:
    space = ToySpace(n=8, k=4)
    ours = [_best_after(name, space, seed, 80) for seed in range(3)]
    rand = [_best_after("random", space, seed, 80) for seed in range(3)]
    assert sum(ours) / 3 >= sum(rand) / 3


def test_optuna_is_imported_lazily_and_stays_quiet(caplog) -> None:
    import subprocess
    import sys

    code = "import sys, edgenas.strategies, edgenas.workflows.bench; print('optuna' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
    space = ToySpace()
    with caplog.at_level(logging.INFO):
        _best_after("tpe", space, 0, 5)
    assert not [r for r in caplog.records if r.name.startswith("optuna")]
    assert logging.getLogger("optuna").level in (logging.NOTSET, logging.INFO, logging.WARNING)  # restored, not forced


def test_optuna_resumes_from_trials_it_did_not_ask() -> None:
    # Told trials from elsewhere (a baseline, another strategy) replay like asked ones.
    space = ToySpace(n=5, k=4)
    import numpy as np

    rng = np.random.default_rng(3)
    history = [space.sample(rng) for _ in range(25)]
    for name in ("tpe", "nsga2"):
        asks = []
        for _ in range(2):
            strategy = STRATEGIES.create(name, space=space, seed=4)
            for number, arch in enumerate(history):
                state = TrialState.INFEASIBLE if number % 3 == 0 else TrialState.COMPLETE
                metrics = Metrics(space.score(arch)) if state is TrialState.COMPLETE else None
                strategy.tell(Trial(number, arch, state, cost=_cost(1.0 + sum(arch.genes)), metrics=metrics, violations=("x",)))
            asks.append([strategy.ask() for _ in range(3)])
        assert asks[0] == asks[1], name
        assert not set(asks[0]) & set(history), name


def test_nsga2_ranks_infeasible_trials_below_feasible_ones() -> None:
    space = ToySpace(n=4, k=4)
    strategy = STRATEGIES.create("nsga2", space=space, seed=0, population_size=4)
    for number in range(12):
        arch = strategy.ask()
        bad = space.score(arch) > 0.6
        strategy.tell(
            Trial(
                number,
                arch,
                TrialState.INFEASIBLE if bad else TrialState.COMPLETE,
                cost=_cost(1.0 + sum(arch.genes)),
                metrics=None if bad else Metrics(space.score(arch)),
                violations=("latency_ms",) if bad else (),
            )
        )
    frozen = strategy._study.get_trials(deepcopy=False)
    told = [t for t in frozen if t.state.name == "COMPLETE"]
    assert len(told) == 12
    assert {t.constraints["limits"] for t in told} <= {0.0, 1.0}
    generations = [t.system_attrs["NSGAIISampler:generation"] for t in told]
    assert generations == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
