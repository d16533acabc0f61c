"""Optuna's TPE and NSGA-II behind the edgenas ``Strategy`` protocol, through Optuna's ask-and-tell.

* ``tpe``: the Tree-structured Parzen Estimator (Bergstra et al. 2011, "Algorithms for
  Hyper-Parameter Optimization", NeurIPS; Watanabe 2023, "Tree-Structured Parzen Estimator:
  Understanding Its Algorithm Components"), one objective: accuracy, maximised.
* ``nsga2``: NSGA-II (Deb et al. 2002, "A Fast and Elitist Multiobjective Genetic Algorithm",
  IEEE TEC), accuracy maximised against latency minimised by default (the Pareto front is what an
  edge deployment chooses from); ``objectives`` swaps in the estimated energy per inference, or
  adds it as a third objective.

Every decision is a ``CategoricalDistribution`` over choice *indices*: the choices of a NAS space
(ops, kernel sizes) are unordered as far as the search knows, and TPE's categorical kernel does
not invent an order that ``suggest_int`` would.

How the edgenas outcomes reach Optuna (through ``Trial.set_constraint``'s storage, Optuna >= 5):

* COMPLETE: the objective values, constraint 0 (feasible).
* INFEASIBLE (costed, never trained): COMPLETE with accuracy 0, its latency, and a constraint equal
  to the number of limits it broke. Optuna's constrained TPE puts infeasible trials in the "bad"
  group whatever their value, and NSGA-II's constrained domination ranks every feasible trial
  above them, so both learn where the limits are without a fake accuracy steering them. The
  count is the honest violation measure: a strategy sees the verdict, not the limits (pruning
  them instead would say nothing about why, and FAIL would hide them from the sampler entirely).
* FAIL: Optuna FAIL, which its samplers ignore (a crash says nothing about accuracy).

Resume contract. The study holds exactly the told trials, in order, added with
``study.add_trial`` whether or not this strategy asked them; an ``ask`` opens an Optuna trial,
reads its parameters and closes it at once as FAIL, which no sampler reads. The sampler is
re-created for every ask, seeded by ``seed_for(seed, name, told)``, so what it proposes depends
only on the told trials: a fresh strategy replaying them asks the same next architecture.
NSGA-II's generation of each told trial is stored with it, computed as Optuna does, so its
populations survive the replay too.

De-duplication: a proposal already asked is closed as FAIL and Optuna is asked again, up to
``max_retries`` times (2: every retry costs a full TPE fit, and a converged TPE proposes its
mode again and again, since FAIL trials teach it nothing); then the strategy mutates the last
proposal one gene at a time (a seeded random walk, bounded) until it reaches an unasked
architecture, so a converged sampler never stalls the search and the fallback stays near the
region Optuna believes in, rather than jumping to a uniformly random point.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from edgenas._rng import rng_for, seed_for
from edgenas.arch import Arch
from edgenas.errors import InvalidInputError, MissingExtraError
from edgenas.spaces.base import SearchSpace
from edgenas.strategies.random import MAX_REDRAWS
from edgenas.trial import Trial, TrialState

if TYPE_CHECKING:
    import optuna

#: Proposals already asked that are sent back to Optuna before the mutation fallback.
MAX_RETRIES = 2
#: NSGA-II's cost objectives (minimised) -> the :class:`~edgenas.trial.Cost` figure each reads.
COST_OBJECTIVES = {"latency": "latency_ms", "energy": "energy_mj"}
#: Name of the single constraint told to Optuna: the number of broken limits (<= 0 is feasible).
CONSTRAINT = "limits"


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("the tpe and nsga2 strategies need Optuna: pip install 'optuna>=5'") from exc
    return optuna


@contextmanager
def _quiet() -> Iterator[None]:
    """Optuna logs every trial at INFO and warns about experimental features: mute it here only."""
    logger = logging.getLogger("optuna")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


class OptunaStrategy:
    """An Optuna sampler driven by ask-and-tell (see the module docstring).

    Subclasses set ``name``, ``directions`` and ``_sampler(seed)``.

    Args:
        space: The search space.
        seed: Seed of every random draw.
        max_retries: Already-asked proposals sent back before the mutation fallback.
    """

    name = "optuna"
    directions: tuple[str, ...] = ("maximize",)

    def __init__(self, space: SearchSpace, seed: int = 0, max_retries: int = MAX_RETRIES) -> None:
        self.space = space
        self.seed = seed
        self.max_retries = max_retries
        self._asked: set[Arch] = set()
        self._told = 0
        self._in_flight = 0  # asked and not yet told (a batch): each gets its own sampler seed
        self._study: optuna.Study | None = None  # built lazily: constructors only store parameters
        self._distributions: dict[str, Any] = {}
        self._names: list[str] = []

    # -- what subclasses choose -------------------------------------------------------------------
    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def _values(self, trial: Trial, accuracy: float) -> list[float]:
        return [accuracy]

    def _system_attrs(self) -> dict[str, Any]:
        return {}

    # -- the study ----------------------------------------------------------------------------
    def _get_study(self) -> optuna.Study:
        if self._study is None:
            optuna = _import_optuna()
            if self.max_retries < 0:
                raise InvalidInputError(f"{self.name}: max_retries must be >= 0, got {self.max_retries}")
            decisions = self.space.decisions()
            self._names = [f"{i}:{d.name}" for i, d in enumerate(decisions)]  # unique even if names repeat
            self._distributions = {
                n: optuna.distributions.CategoricalDistribution(tuple(range(len(d.choices))))
                for n, d in zip(self._names, decisions, strict=True)
            }
            with _quiet():
                self._study = optuna.create_study(
                    directions=list(self.directions), sampler=self._sampler(seed_for(self.seed, self.name) % 2**32)
                )
        return self._study

    def _make(self, genes: list[int]) -> Arch:
        make = getattr(self.space, "arch", None)  # DecisionSpace normalises; a bare protocol space may not
        return make(genes) if make is not None else Arch(self.space.name, tuple(genes))

    def ask(self) -> Arch:
        optuna = _import_optuna()
        study = self._get_study()
        arch: Arch | None = None
        with _quiet():
            # one seed per (told, in flight): a batch's asks do not redraw their predecessors' proposals
            keys = (self._told, self._in_flight) if self._in_flight else (self._told,)
            study.sampler = self._sampler(seed_for(self.seed, self.name, *keys) % 2**32)  # RandomState wants 32 bits
            for _ in range(self.max_retries + 1):
                proposal = study.ask()
                genes = [int(proposal.suggest_categorical(n, self._distributions[n].choices)) for n in self._names]
                study.tell(proposal, state=optuna.trial.TrialState.FAIL)  # the told trial is added in tell()
                arch = self._make(genes)
                if arch not in self._asked:
                    break
            else:  # Optuna has converged here: walk from its proposal to the nearest unasked architecture
                rng = rng_for(self.seed, f"{self.name}-fallback", *keys)
                assert arch is not None
                for _ in range(MAX_REDRAWS):
                    arch = self.space.mutate(arch, rng)
                    if arch not in self._asked:
                        break
        assert arch is not None
        self._asked.add(arch)
        self._in_flight += 1
        return arch

    def tell(self, trial: Trial) -> None:
        optuna = _import_optuna()
        study = self._get_study()
        self._told += 1
        self._in_flight = max(0, self._in_flight - 1)
        self._asked.add(trial.arch)
        if trial.state is TrialState.RUNNING:
            return
        params = {n: int(g) for n, g in zip(self._names, trial.arch.genes, strict=True)}
        if trial.state is TrialState.COMPLETE and trial.accuracy is not None:
            values, violation = self._values(trial, trial.accuracy), 0.0
        elif trial.state is TrialState.INFEASIBLE:
            values, violation = self._values(trial, 0.0), float(max(1, len(trial.violations)))
        else:
            values, violation = None, None
        if values is None:
            frozen = optuna.trial.create_trial(
                state=optuna.trial.TrialState.FAIL, params=params, distributions=self._distributions
            )
        else:
            frozen = optuna.trial.create_trial(
                values=values,
                params=params,
                distributions=self._distributions,
                constraints={CONSTRAINT: violation},
                system_attrs=self._system_attrs(),
            )
        with _quiet():
            study.add_trial(frozen)


class TpeStrategy(OptunaStrategy):
    """Optuna's TPE, maximising accuracy; infeasible trials as constraint violations (module docstring).

    Args:
        space: The search space.
        seed: Seed of every random draw.
        n_startup_trials: Random trials before TPE models the results (Optuna's default, 10).
        multivariate: Model the decisions jointly (Falkner et al. 2018's multivariate TPE) rather than
            one by one: NAS decisions interact (an op matters through the cell it sits in).
        max_retries: Already-asked proposals sent back before the mutation fallback.
    """

    name = "tpe"
    directions = ("maximize",)

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        n_startup_trials: int = 10,
        multivariate: bool = True,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        super().__init__(space, seed, max_retries)
        self.n_startup_trials = n_startup_trials
        self.multivariate = multivariate

    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        optuna = _import_optuna()
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials, multivariate=self.multivariate)


class Nsga2Strategy(OptunaStrategy):
    """Optuna's NSGA-II: accuracy up, latency down, infeasible trials constrained-dominated (module docstring).

    A trial without a cost (a space with no cost model) has latency 0, so the search then ranks by
    accuracy alone.

    Args:
        space: The search space.
        seed: Seed of every random draw.
        population_size: Trials per generation (Optuna's default is 50; 20 gives a NAS budget of a
            few hundred queries more than a handful of generations).
        max_retries: Already-asked proposals sent back before the mutation fallback.
    """

    name = "nsga2"
    directions: tuple[str, ...] = ("maximize", "minimize")

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        population_size: int = 20,
        max_retries: int = MAX_RETRIES,
        objectives: tuple[str, ...] = ("accuracy", "latency"),
    ) -> None:
        super().__init__(space, seed, max_retries)
        self.population_size = population_size
        self.objectives = tuple(objectives)
        costs = self.objectives[1:]
        if self.objectives[:1] != ("accuracy",) or not costs or not set(costs) <= set(COST_OBJECTIVES):
            accepted = ", ".join(COST_OBJECTIVES)
            raise InvalidInputError(f"nsga2: objectives must be accuracy then {accepted}, got {','.join(self.objectives)}")
        self.directions = ("maximize",) + ("minimize",) * (len(self.objectives) - 1)
        self._generation = 0
        self._generation_count = 0

    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        optuna = _import_optuna()
        if self.population_size < 2:
            raise InvalidInputError(f"nsga2: population_size must be at least 2, got {self.population_size}")
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=self.population_size)

    def _values(self, trial: Trial, accuracy: float) -> list[float]:
        # a cost figure the trial lacks (no cost model, no energy model) is 0: ranked by the others alone
        values = [accuracy]
        for name in self.objectives[1:]:
            figure = None if trial.cost is None else getattr(trial.cost, COST_OBJECTIVES[name])
            values.append(float(figure) if figure is not None else 0.0)
        return values

    def _system_attrs(self) -> dict[str, Any]:
        # Optuna's BaseGASampler.get_trial_generation: a trial joins the newest generation until it
        # holds population_size COMPLETE trials, then opens the next. Told trials are added, not
        # asked, so we store the generation Optuna would have given them.
        optuna = _import_optuna()
        if self._generation_count >= self.population_size:
            self._generation, self._generation_count = self._generation + 1, 0
        self._generation_count += 1
        return {optuna.samplers.NSGAIISampler._get_generation_key(): self._generation}


__all__ = ["Nsga2Strategy", "OptunaStrategy", "TpeStrategy"]
