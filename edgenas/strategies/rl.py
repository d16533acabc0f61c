"""REINFORCE with the MnasNet reward: Tan et al. 2019 ("MnasNet: Platform-Aware Neural Architecture
Search for Mobile", CVPR), after Zoph & Le 2017 ("Neural Architecture Search with Reinforcement
Learning", ICLR) and Williams 1992 (REINFORCE).

The policy is one independent categorical distribution (a vector of logits) per decision of the
space, in NumPy: MnasNet's controller is an RNN, but on the flat, small spaces edgenas searches a
factorised policy learns as fast and has no hidden state to rebuild on resume. After each told
trial the logits take one gradient step on ``advantage * grad log p(genes)`` (plus an optional
entropy bonus), where the advantage is the reward minus an exponential moving average of past
rewards (the baseline, which cuts the variance of the estimate without biasing it).

The reward is MnasNet's ``accuracy * (latency / T) ** w``, with ``w = alpha`` when the latency is
within the target ``T`` and ``w = beta`` beyond it: *soft* (``alpha = beta = -0.07``, a smooth
trade-off, so one target gives a Pareto-optimal point near it) or *hard* (``alpha = 0``,
``beta = -1``, a sharp penalty beyond the target only). Without a target the reward is the accuracy.

INFEASIBLE trials (costed, never trained) are rewarded as if their accuracy were 0, so the MnasNet
product is 0 whatever their latency (``infeasible_reward`` changes that constant). Why 0 and not
a latency-graded penalty: the strategy never sees the limits themselves, only the verdict, and a
limit may be SRAM or flash rather than latency; with the baseline near the mean accuracy, a zero
reward already gives an advantage of about ``-baseline``, the strongest push away that a trained
candidate could ever give, and it keeps rewards in [0, 1] without an arbitrary negative scale.
FAIL trials reward 0 as well (nothing was learned about accuracy, but the genotype is broken).

Resume contract: the logits, the optimiser moments and the baseline are updated only in
``tell``, deterministically, from the told trial alone, so replaying the stored trials rebuilds
them exactly; each ask draws from ``rng_for(seed, "rl", told)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgenas._rng import rng_for
from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.objectives import REWARDS, mnasnet_reward
from edgenas.spaces.base import SearchSpace
from edgenas.strategies.random import MAX_REDRAWS
from edgenas.trial import Trial, TrialState

#: Policy draws before the strategy falls back to uniform draws to find an unasked architecture.
POLICY_REDRAWS = 100


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


class ReinforceController:
    """REINFORCE over independent categorical logits, one per decision (see the module docstring).

    Args:
        space: The search space.
        seed: Seed of every random draw.
        target_latency_ms: ``T`` of the MnasNet reward; ``None`` rewards accuracy alone.
        reward: ``"soft"`` (alpha = beta = -0.07) or ``"hard"`` (alpha = 0, beta = -1).
        learning_rate: Step size on the logits.
        optimizer: ``"adam"`` (Kingma & Ba 2015; the step is scale-free, so one learning rate suits
            rewards of any scale) or ``"sgd"`` (plain gradient ascent).
        baseline_decay: Weight of the past in the moving-average baseline (0 = last reward only).
        entropy_weight: Weight of the entropy bonus, which keeps the policy from collapsing early.
        infeasible_reward: Reward of an INFEASIBLE trial (0: accuracy taken as 0).

    >>> from edgenas.testing import ToySpace
    >>> rl = ReinforceController(ToySpace(), seed=0, target_latency_ms=5.0, reward="hard")
    >>> rl.ask().space
    'toy'
    """

    name = "rl"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        target_latency_ms: float | None = None,
        reward: str = "soft",
        learning_rate: float = 0.03,
        optimizer: str = "adam",
        baseline_decay: float = 0.9,
        entropy_weight: float = 0.0,
        infeasible_reward: float = 0.0,
    ) -> None:
        self.space = space
        self.seed = seed
        self.target_latency_ms = target_latency_ms
        self.reward = reward
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.baseline_decay = baseline_decay
        self.entropy_weight = entropy_weight
        self.infeasible_reward = infeasible_reward
        self._asked: set[Arch] = set()
        self._told = 0
        self._logits: list[np.ndarray] | None = None  # built lazily: constructors only store parameters
        self._m: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._steps = 0
        self._baseline: float | None = None

    # -- the policy ---------------------------------------------------------------------------
    def _validate(self) -> None:
        if self.reward not in REWARDS:
            raise InvalidInputError(f"rl: reward must be one of {', '.join(REWARDS)}, got {self.reward!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise InvalidInputError(f"rl: optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if not 0 <= self.baseline_decay < 1:
            raise InvalidInputError(f"rl: baseline_decay must be in [0, 1), got {self.baseline_decay}")
        if not self.learning_rate > 0:
            raise InvalidInputError(f"rl: learning_rate must be positive, got {self.learning_rate}")
        if self.target_latency_ms is not None and not self.target_latency_ms > 0:
            raise InvalidInputError(f"rl: target_latency_ms must be positive, got {self.target_latency_ms}")

    def _policy(self) -> list[np.ndarray]:
        if self._logits is None:
            self._validate()
            sizes = [len(d.choices) for d in self.space.decisions()]
            self._logits = [np.zeros(k) for k in sizes]
            self._m = [np.zeros(k) for k in sizes]
            self._v = [np.zeros(k) for k in sizes]
        return self._logits

    def probabilities(self) -> list[np.ndarray]:
        """The policy: the probability of each choice, per decision."""
        return [_softmax(z) for z in self._policy()]

    def _make(self, genes: Sequence[int]) -> Arch:
        make = getattr(self.space, "arch", None)  # DecisionSpace normalises; a bare protocol space may not
        return make(genes) if make is not None else Arch(self.space.name, tuple(int(g) for g in genes))

    def trial_reward(self, trial: Trial) -> float:
        """The reward of a told trial (see the module docstring for INFEASIBLE and FAIL)."""
        if trial.state is TrialState.INFEASIBLE:
            return self.infeasible_reward
        if trial.state is not TrialState.COMPLETE or trial.accuracy is None:
            return 0.0
        if self.target_latency_ms is None or trial.cost is None:
            return trial.accuracy
        alpha, beta = REWARDS[self.reward]
        return mnasnet_reward(trial.accuracy, trial.cost.latency_ms, self.target_latency_ms, alpha, beta)

    # -- ask / tell ---------------------------------------------------------------------------
    def ask(self) -> Arch:
        probs = self.probabilities()
        cumulative = [np.cumsum(p) for p in probs]
        rng = rng_for(self.seed, "rl", self._told)
        arch: Arch | None = None
        for _ in range(POLICY_REDRAWS):
            draws = rng.random(len(cumulative))
            genes = [min(int(np.searchsorted(c, u, side="right")), len(c) - 1) for c, u in zip(cumulative, draws, strict=True)]
            arch = self._make(genes)
            if arch not in self._asked:
                break
        else:  # the policy has (nearly) collapsed onto asked architectures: explore uniformly
            for _ in range(MAX_REDRAWS):
                arch = self.space.sample(rng)
                if arch not in self._asked:
                    break
        assert arch is not None
        self._asked.add(arch)
        return arch

    def tell(self, trial: Trial) -> None:
        self._told += 1
        self._asked.add(trial.arch)
        if trial.state is TrialState.RUNNING:
            return
        reward = self.trial_reward(trial)
        if self._baseline is None:
            self._baseline = reward  # the first reward sets the baseline: no advantage, no step
        advantage = reward - self._baseline
        self._baseline = self.baseline_decay * self._baseline + (1 - self.baseline_decay) * reward
        self._step(trial.arch, advantage)

    def _active(self, arch: Arch) -> list[bool]:
        """Which genes matter: a gene the space normalises away (an unused kernel) teaches nothing."""
        out = []
        for i, decision in enumerate(self.space.decisions()):
            k = len(decision.choices)
            if k < 2:
                out.append(False)
                continue
            genes = list(arch.genes)
            genes[i] = (genes[i] + 1) % k
            out.append(self._make(genes) != arch)
        return out

    def _step(self, arch: Arch, advantage: float) -> None:
        logits = self._policy()
        self._steps += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        for i, (gene, active) in enumerate(zip(arch.genes, self._active(arch), strict=True)):
            if not active:
                continue
            p = _softmax(logits[i])
            grad = -advantage * p  # d log p(gene) / d logits = onehot(gene) - p
            grad[gene] += advantage
            if self.entropy_weight:
                log_p = np.log(np.maximum(p, 1e-300))
                entropy = -float(np.sum(p * log_p))
                grad += self.entropy_weight * (-p * (log_p + entropy))
            if self.optimizer == "sgd":
                logits[i] = logits[i] + self.learning_rate * grad
                continue
            self._m[i] = b1 * self._m[i] + (1 - b1) * grad
            self._v[i] = b2 * self._v[i] + (1 - b2) * grad**2
            m_hat = self._m[i] / (1 - b1**self._steps)
            v_hat = self._v[i] / (1 - b2**self._steps)
            logits[i] = logits[i] + self.learning_rate * m_hat / (np.sqrt(v_hat) + eps)
        if not all(np.isfinite(z).all() for z in logits):  # pragma: no cover - a guard, not a path
            raise InvalidInputError(f"rl: the logits diverged (learning_rate {self.learning_rate} too large?)")


__all__ = ["REWARDS", "ReinforceController", "mnasnet_reward"]
