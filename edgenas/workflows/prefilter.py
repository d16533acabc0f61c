"""``--evaluator prefilter:<proxy>[:<pool>]``: search a proxy-scored pool first, then train its favourites.

The strategy searches ``pool`` feasible candidates (default ``10 x --budget``) scored by the
proxy, through the normal loop, stored in the run folder's ``prefilter.db``; the ``--budget``
best of them by proxy score are then handed to the main loop as a queue and trained. Training
time goes to the candidates the proxy likes best. The proxy may be the weight-sharing supernet
(``prefilter:supernet``): the supernet shortlists, stand-alone training picks (Once-for-All's
own recipe).

Resume needs nothing extra: the pool search replays from ``prefilter.db`` like any search, and
the queue of candidates to train is recomputed from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgenas.evaluators import Evaluator
from edgenas.experiment import CostFunction, Experiment
from edgenas.objectives import Limits
from edgenas.store import SqliteStore
from edgenas.strategies.queue import QueueStrategy
from edgenas.trial import Trial, TrialState
from edgenas.workflows.parts import EvaluatorSpec


def prefilter(
    spec: EvaluatorSpec,
    space: Any,
    strategy: Any,
    proxy_evaluator: Evaluator,
    cost: CostFunction,
    limits: Limits,
    store: SqliteStore,
    budget: int,
    say: Callable[[str], None],
) -> QueueStrategy:
    """Search a pool scored by the proxy (kept in ``store``); a queue of the ``budget`` best."""
    pool = spec.pool_size(budget)
    phase = Experiment(space, strategy, proxy_evaluator, cost, limits, store, budget=pool, record_running=False)
    if phase.evaluated < pool:
        say(f"prefilter: scoring {pool} feasible candidates by {spec.proxy} ({phase.evaluated} done)")
        phase.run()
    done = [t for t in phase.trials if t.state is TrialState.COMPLETE]
    ranked = sorted(done, key=_rank)[:budget]
    say(f"prefilter: training the {len(ranked)} best of {len(done)} by {spec.proxy}")
    return QueueStrategy([t.arch for t in ranked], "the prefilter kept no candidate: no architecture in the pool met the limits")


def _rank(trial: Trial) -> tuple[float, int]:
    """Best proxy score first, then the order asked (COMPLETE trials carry metrics)."""
    assert trial.metrics is not None
    return (-trial.metrics.accuracy, trial.number)
