"""``edgenas search --evaluator``: which signal scores candidates, and the proxy pre-filter.

Four kinds, named on the command line:

* ``train`` (default): every candidate is trained for ``--epochs`` (:class:`TrainEvaluator`).
* ``supernet`` (``kws`` and ``mbconv``, experimental): one weight-sharing supernet is trained with
  the space's own schedule (:mod:`edgenas.evaluators.supernet`; ``--epochs`` is only the finalists'
  training), cached as ``supernet.pt`` in the run folder; candidates are scored with inherited
  weights after batch-norm recalibration (kws: and a short fine-tuning), and the finalists are
  retrained. Neither supernet ranks well enough to replace training yet: docs/evaluators.md.
* ``zerocost:<proxy>``: every candidate is scored by a zero-cost proxy at initialisation
  (:mod:`edgenas.evaluators.zerocost`) and nothing is trained during the search; the best and
  the baseline are then trained once, so the report still gives their measured accuracy.
* ``prefilter:<proxy>[:<pool>]``: the strategy first searches ``pool`` feasible candidates
  (default ``10 x --budget``) scored by the proxy, stored in ``prefilter.db`` in the run
  folder; the ``--budget`` best of them by proxy score are then trained and stored as the
  search's trials. Training time goes to the candidates the proxy likes best.
  ``<proxy>`` may also be ``supernet``: the pool is scored with the supernet's inherited
  weights (as ``--evaluator supernet`` scores every candidate), and the search's best is
  then chosen by stand-alone training, not by the supernet's ranking (Once-for-All's own
  recipe: the supernet shortlists, the shortlist is trained).

Resume needs nothing extra: the pool search replays from ``prefilter.db`` like any search,
and the queue of candidates to train is recomputed from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError, UnknownNameError
from edgenas.trial import Trial, TrialState

log = logging.getLogger(__name__)

KINDS = ("train", "supernet", "zerocost", "prefilter")
SUPERNET = "supernet"  # prefilter:supernet: the supernet's inherited-weight score, not a zero-cost proxy
POOL_FACTOR = 10  # prefilter: candidates scored per candidate trained, unless the spec says


@dataclass(frozen=True)
class EvaluatorSpec:
    """A parsed ``--evaluator`` value."""

    kind: str
    proxy: str | None = None
    pool: int | None = None  # prefilter only; None: POOL_FACTOR x budget

    def pool_size(self, budget: int) -> int:
        return self.pool if self.pool is not None else POOL_FACTOR * budget


def parse_evaluator(text: str) -> EvaluatorSpec:
    """``train``, ``supernet``, ``zerocost:<proxy>`` or ``prefilter:<proxy|supernet>[:<pool>]``; bad text -> one clear error.

    Example::

        >>> parse_evaluator("prefilter:naswot:300")
        EvaluatorSpec(kind='prefilter', proxy='naswot', pool=300)
    """
    from edgenas.evaluators.zerocost import PROXIES

    kind, _, rest = text.partition(":")
    if kind not in KINDS:
        raise InvalidInputError(
            f"unknown evaluator {text!r}. Accepted: train, supernet, zerocost:<proxy>, prefilter:<proxy>[:<pool>] "
            f"with <proxy> one of {', '.join(PROXIES.names())} (prefilter: or {SUPERNET})."
        )
    if kind in ("train", "supernet"):
        if rest:
            raise InvalidInputError(f"--evaluator {kind} takes no ':' argument, got {text!r}")
        return EvaluatorSpec(kind)
    proxy, _, pool_text = rest.partition(":")
    if not proxy:
        raise InvalidInputError(f"--evaluator {kind} needs a proxy: {kind}:<proxy>, one of {', '.join(PROXIES.names())}")
    if proxy == SUPERNET and kind == "zerocost":
        raise InvalidInputError(
            "the supernet is trained, not a zero-cost proxy: use --evaluator supernet, or prefilter:supernet[:<pool>] "
            "to train the supernet's favourites"
        )
    if proxy != SUPERNET:
        try:
            PROXIES.get(proxy)  # unknown name -> "unknown zero-cost proxy ... Accepted: ..."
        except UnknownNameError as exc:
            if kind == "prefilter":  # the pool may also be scored by the supernet
                raise UnknownNameError(f"{exc} prefilter: also accepts {SUPERNET}.") from None
            raise
    if kind == "zerocost":
        if pool_text:
            raise InvalidInputError(f"--evaluator zerocost:<proxy> takes no pool size, got {text!r} (see prefilter:)")
        return EvaluatorSpec("zerocost", proxy)
    pool = None
    if pool_text:
        try:
            pool = int(pool_text)
        except ValueError:
            raise InvalidInputError(f"--evaluator {text!r}: the pool size {pool_text!r} is not a whole number") from None
        if pool < 1:
            raise InvalidInputError(f"--evaluator {text!r}: the pool size must be positive")
    return EvaluatorSpec("prefilter", proxy, pool)


class QueueStrategy:
    """Asks a fixed list of architectures in order (the prefilter's survivors).

    Its state is the number of trials it was told, so a resumed search asks the same next one.
    """

    name = "queue"

    def __init__(self, archs: Sequence[Arch]) -> None:
        if not archs:
            raise InvalidInputError("the prefilter kept no candidate: no architecture in the pool met the limits")
        self.archs = list(archs)
        self._told = 0

    def ask(self) -> Arch:
        return self.archs[min(self._told, len(self.archs) - 1)]  # past the end: a repeat, which stops the loop

    def tell(self, trial: Trial) -> None:
        self._told += 1


def prefilter(
    spec: EvaluatorSpec,
    space,  # type: ignore[no-untyped-def]
    strategy,
    proxy_evaluator,
    cost,
    limits,
    db_path: Path,
    budget: int,
    say: Callable[[str], None],
) -> QueueStrategy:
    """Search a pool scored by the proxy (stored in ``db_path``); a queue of the ``budget`` best."""
    from edgenas.experiment import Experiment
    from edgenas.store import SqliteStore

    pool = spec.pool_size(budget)
    with SqliteStore(db_path) as store:
        phase = Experiment(space, strategy, proxy_evaluator, cost, limits, store, budget=pool, record_running=False)
        if phase.evaluated < pool:
            say(f"prefilter: scoring {pool} feasible candidates by {spec.proxy} ({phase.evaluated} done)")
            phase.run()
        done = [t for t in phase.trials if t.state is TrialState.COMPLETE]
    ranked = sorted(done, key=lambda t: (-t.metrics.accuracy, t.number))[:budget]  # type: ignore[union-attr]
    say(f"prefilter: training the {len(ranked)} best of {len(done)} by {spec.proxy}")
    return QueueStrategy([t.arch for t in ranked])
