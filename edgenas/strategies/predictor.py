"""Predictor-guided search: BANANAS (White et al. 2021, "BANANAS: Bayesian Optimization with Neural
Architectures for Neural Architecture Search", AAAI) and NPENAS (Wei et al. 2022, "NPENAS:
Neural Predictor Guided Evolution for Neural Architecture Search", IEEE TNNLS), made
constraint-aware and generic over spaces.

After ``initial`` random architectures have been trained, every ask:

1. fits (or reuses) an ensemble of small MLPs (:class:`~edgenas.strategies._ensemble.MlpEnsemble`)
   on the trained trials, over the one-hot encoding of their decisions
   (:class:`~edgenas.strategies._encoding.OneHotEncoder`: generic, it needs only ``decisions()``);
2. builds a bounded pool of candidates: ``space.mutate`` applied (once, sometimes more) to the
   ``parents`` most accurate trained architectures, the best of them mutated most
   (``rank_weight``), plus optional uniform samples (``random_candidates``);
3. scores the pool with an acquisition function over the ensemble, an upper confidence bound
   (``"ucb"``: mean + ``kappa`` std of the members) or independent Thompson sampling (``"its"``,
   as in BANANAS: one draw from each candidate's N(mean, std)), and asks the best one not asked yet.

Defaults, and why (measured on the constrained NB201 problems of ``benchmarks/strategies.py``,
see ``benchmarks/results/predictor.md``): ``kappa = 0`` (the ensemble mean, pure exploitation)
and ``rank_weight = 3`` (most mutations from the incumbent) did better at 100 queries than
Thompson sampling, ``kappa > 0``, an even spread over the parents or uniform candidates in the
pool. Under a binding limit the good moves are the incumbent's feasible *trades* (an op swapped
for one that costs no more), and spending queries where the members disagree mostly bought
broken or tiny networks.

The ensemble learns ``-log(1 - accuracy)`` (the log error rate) rather than the accuracy: that
stretches the top of the scale, where the search has to tell 94.1 % from 94.3 %, and squeezes
the broken networks at chance level, which would otherwise dominate a squared-error fit.

Constraints: the strategy never sees the limits, only the verdicts. An INFEASIBLE trial costs no
training (the experiment loop rejects it before any query), so when the best-scored candidate is
infeasible the next ask simply takes the next one of the same ranking: the acquisition is thus
maximised over the feasible candidates only, and infeasible ones are never trained. The ranking
of a pool is kept until a new COMPLETE trial arrives, so a run of infeasible verdicts costs a
look-up each, not a refit.

Overhead: a refit costs tens of milliseconds and grows with the data, so the ensemble is refit
when the trained set has grown by ``refit_growth`` (10 %) since the last fit, every trial during
the first few dozen; the pool is rebuilt when the best parents change and re-scored with the
latest fit after every result.

Resume contract: the fit at ``n`` trained trials uses the first ``version(n)`` of them, the pool
and the acquisition draws come from ``rng_for(seed, ...)`` keyed by those counts, and the pool is
scored before already-asked architectures are skipped: every ask is a function of the
constructor parameters and the told trials alone, so a fresh strategy replaying them asks the
same next architecture.
"""

from __future__ import annotations

import math

import numpy as np

from edgenas._rng import rng_for, seed_for
from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.spaces._base import SearchSpace
from edgenas.strategies._encoding import OneHotEncoder
from edgenas.strategies._ensemble import MlpEnsemble
from edgenas.strategies.random import sample_unasked
from edgenas.trial import Trial, TrialState

ACQUISITIONS = ("its", "ucb")
#: Fresh pools drawn when every candidate of the current one has been asked, before uniform fallback.
MAX_REFILLS = 5


class PredictorSearch:
    """Ensemble-predictor-guided mutation search (see the module docstring).

    Args:
        space: The search space.
        seed: Seed of every random draw.
        initial: Trained (COMPLETE) random architectures before the predictor takes over.
        parents: The most accurate trained architectures whose mutations form the pool.
        mutations: Mutated candidates in each pool (spread over the parents, the best first).
        random_candidates: Uniform samples added to each pool (exploration beyond the parents).
        extra_mutation: Probability of mutating a candidate once more (repeatedly: a geometric
            number of extra steps), so the pool reaches beyond the parents' one-step neighbours.
        acquisition: ``"its"`` (independent Thompson sampling) or ``"ucb"`` (mean + kappa std).
        kappa: Weight of the ensemble's spread in ``"ucb"``.
        members: Networks in the ensemble.
        hidden: Units per hidden layer of each network.
        steps: Adam steps per fit.
        refit_growth: Refit once the trained set has grown by this fraction since the last fit
            (0: after every trained trial).
        space_features: Append the space's own ``features(arch)`` (nb201: the path encoding) to the
            one-hot genes, where the space has them.
        rank_weight: Parent ``r`` (0 = the best) gets a share ``1 / (r + 1) ** rank_weight`` of the
            mutations: 0 spreads them evenly, larger values search the incumbent's neighbourhood
            hardest (under a binding limit the better moves are the incumbent's feasible trades).
    """

    name = "predictor"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        initial: int = 10,
        parents: int = 10,
        mutations: int = 200,
        random_candidates: int = 0,
        extra_mutation: float = 0.1,
        acquisition: str = "ucb",
        kappa: float = 0.0,
        members: int = 5,
        hidden: int = 32,
        steps: int = 100,
        refit_growth: float = 0.1,
        space_features: bool = True,
        rank_weight: float = 3.0,
    ) -> None:
        self.space = space
        self.seed = seed
        self.initial = initial
        self.parents = parents
        self.mutations = mutations
        self.random_candidates = random_candidates
        self.extra_mutation = extra_mutation
        self.acquisition = acquisition
        self.kappa = kappa
        self.members = members
        self.hidden = hidden
        self.steps = steps
        self.refit_growth = refit_growth
        self.space_features = space_features
        self.rank_weight = rank_weight
        self._asked: set[Arch] = set()
        self._told = 0
        self._done: list[tuple[Arch, float]] = []  # COMPLETE trials, in told order
        self._encoder: OneHotEncoder | None = None  # built lazily: constructors only store parameters
        self._model: tuple[int, MlpEnsemble] | None = None  # (version, fit)
        self._ranking: tuple[tuple[int, int], list[Arch]] | None = None  # ((trained, refill), pool best first)
        self._pool: tuple[tuple[tuple[int, ...], int], list[Arch], np.ndarray] | None = None  # (parents, refill), pool, encoded

    # -- checks and schedule ------------------------------------------------------------------
    def _validate(self) -> None:
        if self.acquisition not in ACQUISITIONS:
            raise InvalidInputError(f"predictor: acquisition must be one of {', '.join(ACQUISITIONS)}, got {self.acquisition!r}")
        for name in ("initial", "parents", "members", "hidden", "steps"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"predictor: {name} must be at least 1, got {getattr(self, name)}")
        if self.mutations < 0 or self.random_candidates < 0 or self.mutations + self.random_candidates < 1:
            raise InvalidInputError("predictor: mutations and random_candidates must be >= 0, and not both 0")
        if not 0 <= self.extra_mutation < 1:
            raise InvalidInputError(f"predictor: extra_mutation must be in [0, 1), got {self.extra_mutation}")
        if self.refit_growth < 0:
            raise InvalidInputError(f"predictor: refit_growth must be >= 0, got {self.refit_growth}")

    def version(self, trained: int) -> int:
        """How many of the first ``trained`` results the ensemble is fit on (the refit schedule).

        >>> s = PredictorSearch(None, initial=10, refit_growth=0.1)  # type: ignore[arg-type]
        >>> [s.version(n) for n in (10, 11, 19, 20, 21, 22, 100, 105, 110)]
        [10, 11, 19, 20, 20, 22, 94, 103, 103]
        """
        v = self.initial
        while True:
            nxt = v + max(1, math.floor(v * self.refit_growth))
            if nxt > trained:
                return v
            v = nxt

    # -- ask / tell ---------------------------------------------------------------------------
    def ask(self) -> Arch:
        if self._encoder is None:
            self._validate()
            self._encoder = OneHotEncoder(self.space, self.space_features)
        trained = len(self._done)
        arch = None
        if trained >= self.initial:
            arch = self._best_unasked(trained)
        if arch is None:  # the initial design, or every pool exhausted: uniform, unasked
            rng = rng_for(self.seed, "predictor-random", self._told)
            arch = sample_unasked(self.space, rng, lambda a: a not in self._asked)
        self._asked.add(arch)
        return arch

    def tell(self, trial: Trial) -> None:
        self._told += 1
        self._asked.add(trial.arch)
        if trial.state is TrialState.COMPLETE and trial.accuracy is not None:
            self._done.append((trial.arch, float(trial.accuracy)))

    # -- the predictor ------------------------------------------------------------------------
    def _fit(self, trained: int) -> MlpEnsemble:
        version = self.version(trained)
        if self._model is None or self._model[0] != version:
            assert self._encoder is not None
            archs, accuracy = zip(*self._done[:version], strict=True)
            model = MlpEnsemble(
                members=self.members, hidden=self.hidden, steps=self.steps, seed=seed_for(self.seed, "predictor-fit", version)
            )
            self._model = (version, model.fit(self._encoder.encode(archs), target(np.array(accuracy))))
        return self._model[1]

    def _best_unasked(self, trained: int) -> Arch | None:
        for refill in range(MAX_REFILLS):
            key = (trained, refill)
            if self._ranking is None or self._ranking[0] != key:
                self._ranking = (key, self._rank(trained, refill))
            for arch in self._ranking[1]:
                if arch not in self._asked:
                    return arch
        return None

    def pool(self, trained: int, refill: int = 0) -> list[Arch]:
        """The candidates at ``trained`` results: mutations of the best parents and uniform samples (distinct).

        The pool depends on the parents, not on every result: while no new result enters the top
        ``parents``, the same pool is re-scored (with fresh acquisition draws) rather than rebuilt.
        """
        ranked = tuple(sorted(range(trained), key=lambda i: (-self._done[i][1], i))[: self.parents])
        key = (ranked, refill)
        if self._pool is None or self._pool[0] != key:
            rng = rng_for(self.seed, "predictor-pool", *ranked, refill)
            out: dict[Arch, None] = {}
            share = 1.0 / (np.arange(len(ranked)) + 1.0) ** self.rank_weight  # the best parents mutated most
            picks = rng.choice(len(ranked), size=self.mutations, p=share / share.sum())
            for k in picks:
                child = self.space.mutate(self._done[ranked[int(k)]][0], rng)
                while rng.random() < self.extra_mutation:
                    child = self.space.mutate(child, rng)
                out[child] = None
            for _ in range(self.random_candidates):
                out[self.space.sample(rng)] = None
            assert self._encoder is not None
            self._pool = (key, list(out), self._encoder.encode(list(out)))
        return self._pool[1]

    def _rank(self, trained: int, refill: int) -> list[Arch]:
        """The pool, best acquisition first. Scored whole (asked ones included) so replay ranks alike."""
        candidates = self.pool(trained, refill)
        assert self._pool is not None
        predictions = self._fit(trained).predict(self._pool[2])
        mean, std = predictions.mean(axis=0), predictions.std(axis=0)
        if self.acquisition == "its":
            score = rng_for(self.seed, "predictor-its", trained, refill).normal(mean, std)
        else:
            score = mean + self.kappa * std
        return [candidates[int(i)] for i in np.argsort(-score, kind="stable")]


def target(accuracy: np.ndarray) -> np.ndarray:
    """What the ensemble learns: the negative log error rate, ``-log(1 - accuracy)`` (module docstring).

    >>> target(np.array([0.1, 0.9, 0.99])).round(3).tolist()
    [0.105, 2.303, 4.605]
    """
    return -np.log(np.clip(1.0 - accuracy, 1e-6, None))


__all__ = ["ACQUISITIONS", "PredictorSearch", "target"]
