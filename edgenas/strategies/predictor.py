"""Predictor-guided search: BANANAS (White et al. 2021, "BANANAS: Bayesian Optimization with Neural
Architectures for Neural Architecture Search", AAAI) and NPENAS (Wei et al. 2022, "NPENAS:
Neural Predictor Guided Evolution for Neural Architecture Search", IEEE TNNLS), made
constraint-aware and generic over spaces.

The initial design is not uniform: of ``warm_pool`` uniform samples (the whole space where it is
no larger), the feasible ones are asked in order of a training-free **prior**, their number of
parameters read off the layer IR (the largest networks the limits allow first), until ``initial``
have been trained. On NAS-Bench-201 under a latency limit, #params has a Spearman correlation of
0.69-0.88 with accuracy over the feasible cells, and the 20 largest feasible cells hold the
constrained optimum on 3 of the 12 problems of ``benchmarks/strategies.py``. With the prior (also
an input of the ensemble) the mean regret over those 12 problems fell from 0.51 to 0.12 points
at 100 queries and from 0.19 to 0.07 at 300, and on 8 problems of four devices never used for
tuning from 0.81 to 0.10 and from 0.33 to 0.07 (``benchmarks/results/predictor.md``). On a space
where size does not predict accuracy the prior is a worse start; ``prior=None`` restores the
uniform one.

After that, every ask:

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

Constraints: the strategy never sees the limits. The experiment loop offers its own check
(``bind_feasibility``: the estimated cost against the limits, which is what the loop decides
before any training anyway), and the strategy screens its warm design, pools and fallback with
it, so the acquisition is maximised over feasible candidates and the loop rarely has to reject
an ask. Unbound (outside the loop) it still works: an INFEASIBLE verdict costs no training, and
the next ask takes the next candidate of the same ranking. The ranking of a pool is kept until a
new COMPLETE trial arrives, so infeasible verdicts cost a look-up each, not a refit.

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

import itertools
import math
from collections.abc import Callable, Iterator

import numpy as np

from edgenas._rng import rng_for, seed_for
from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.ir import total_macs, total_params
from edgenas.spaces.base import SearchSpace
from edgenas.strategies._encoding import OneHotEncoder
from edgenas.strategies._ensemble import MlpEnsemble
from edgenas.strategies.random import sample_unasked
from edgenas.trial import Trial, TrialState

ACQUISITIONS = ("its", "ucb")
#: Cheap scores of an architecture read off its layer IR (no training): what ``prior`` may name.
PRIORS = ("params", "macs")
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
        prior: A training-free score read off the layer IR, ``"params"`` (log #parameters) or
            ``"macs"`` (log MACs), or None. It orders the initial design (the highest-scoring
            candidates of ``warm_pool`` uniform samples first, so the first trainings are the largest
            networks the limits allow) and, with ``prior_feature``, is an input of the ensemble.
        warm_pool: Uniform samples the prior-ordered initial design is drawn from; a space with
            no more architectures than this is enumerated whole instead. Each is costed once (the
            loop's check): ~0.3 ms for a ``kws`` network, ~3 ms for ``mbconv``, so up to a minute
            at the first ask on ``mbconv``, against minutes of training per candidate.
        prior_feature: Append the standardised prior score to the ensemble's input features.
    """

    name = "predictor"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        initial: int = 20,
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
        prior: str | None = "params",
        warm_pool: int = 20000,
        prior_feature: bool = True,
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
        self.prior = prior
        self.warm_pool = warm_pool
        self.prior_feature = prior_feature
        self._feasible: Callable[[Arch], bool] | None = None
        self._feasible_cache: dict[Arch, bool] = {}
        self._prior_cache: dict[Arch, float] = {}
        self._warm: list[Arch] | None = None
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
        if self.prior is not None and self.prior not in PRIORS:
            raise InvalidInputError(f"predictor: prior must be one of {', '.join(PRIORS)} or None, got {self.prior!r}")
        if self.warm_pool < 1:
            raise InvalidInputError(f"predictor: warm_pool must be at least 1, got {self.warm_pool}")

    def bind_feasibility(self, feasible: Callable[[Arch], bool]) -> None:
        """Let the strategy screen its own candidates with the loop's limit check (see the module docstring).

        The experiment loop calls this once, before any ask; the loop still checks every asked
        architecture itself, so screening only saves asks, it never admits anything.
        """
        self._feasible = feasible

    def _is_feasible(self, arch: Arch) -> bool:
        if self._feasible is None:
            return True
        if arch not in self._feasible_cache:
            self._feasible_cache[arch] = bool(self._feasible(arch))
        return self._feasible_cache[arch]

    def prior_score(self, arch: Arch) -> float:
        """``log(1 + #params)`` or ``log(1 + MACs)`` of the architecture's layers (0 without a prior)."""
        if self.prior is None:
            return 0.0
        if arch not in self._prior_cache:
            layers = self.space.layers(arch)
            self._prior_cache[arch] = math.log1p(total_params(layers) if self.prior == "params" else total_macs(layers))
        return self._prior_cache[arch]

    def version(self, trained: int) -> int:
        """How many of the first ``trained`` results the ensemble is fit on (the refit schedule).

        >>> s = PredictorSearch(None, initial=10, refit_growth=0.1)
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
        elif self.prior is not None:
            arch = next((a for a in self._warm_design() if a not in self._asked), None)
        if arch is None:  # the initial design, or every pool exhausted: uniform, unasked
            rng = rng_for(self.seed, "predictor-random", self._told)
            arch = sample_unasked(self.space, rng, lambda a: a not in self._asked and self._is_feasible(a))
        self._asked.add(arch)
        return arch

    def tell(self, trial: Trial) -> None:
        self._told += 1
        self._asked.add(trial.arch)
        if trial.state is TrialState.COMPLETE and trial.accuracy is not None:
            self._done.append((trial.arch, float(trial.accuracy)))

    def _warm_design(self) -> list[Arch]:
        """``warm_pool`` uniform samples (feasible ones, where the loop's check is bound), highest prior first."""
        if self._warm is None:
            pool = [a for a in dict.fromkeys(self._warm_candidates()) if self._is_feasible(a)]
            self._warm = sorted(pool, key=lambda a: -self.prior_score(a))  # stable: ties keep the draw order
        return self._warm

    def _warm_candidates(self) -> Iterator[Arch]:
        """Every architecture when the space has at most ``warm_pool`` of them, else ``warm_pool`` uniform samples.

        Coverage matters under a tight limit: on NB201 (15,625 cells) the raspi4 p25 optimum is a
        needle 0.83 points above every other feasible cell, and it was in a 3,000-sample warm pool
        too rarely to be found (mean regret 0.94 @300 over 10 seeds; the whole space: see
        ``benchmarks/results/predictor.md``).
        """
        sizes = [len(d.choices) for d in self.space.decisions()]
        make = getattr(self.space, "arch", None)
        if math.prod(sizes) <= self.warm_pool and callable(make):
            for genes in itertools.product(*(range(n) for n in sizes)):
                try:
                    yield make(list(genes))
                except InvalidInputError:  # a gene combination the space rules out
                    continue
            return
        rng = rng_for(self.seed, "predictor-warm")
        for _ in range(self.warm_pool):
            yield self.space.sample(rng)

    def _encode(self, archs: list[Arch]) -> np.ndarray:
        assert self._encoder is not None
        x = self._encoder.encode(archs)
        if self.prior is not None and self.prior_feature and len(archs):
            # log #params spans about 10 (a few hundred to a few million): /10 keeps it on the one-hot scale.
            x = np.hstack([x, np.array([[self.prior_score(a) / 10.0] for a in archs])])
        return x

    # -- the predictor ------------------------------------------------------------------------
    def _fit(self, trained: int) -> MlpEnsemble:
        version = self.version(trained)
        if self._model is None or self._model[0] != version:
            assert self._encoder is not None
            archs, accuracy = zip(*self._done[:version], strict=True)
            model = MlpEnsemble(
                members=self.members, hidden=self.hidden, steps=self.steps, seed=seed_for(self.seed, "predictor-fit", version)
            )
            self._model = (version, model.fit(self._encode(list(archs)), target(np.array(accuracy))))
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
            candidates = [a for a in out if self._is_feasible(a)]
            self._pool = (key, candidates, self._encode(candidates))
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
