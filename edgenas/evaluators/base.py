"""The evaluator protocol: how good is an architecture at the task? (Never its hardware cost.)"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from edgenas.arch import Arch
from edgenas.errors import EdgenasError
from edgenas.trial import Metrics

if TYPE_CHECKING:
    from edgenas.spaces import SearchSpace
    from edgenas.store import RunFolder
    from edgenas.tasks import TaskData

log = logging.getLogger(__name__)


class TrialFailed(EdgenasError):
    """A candidate could not be evaluated (NaN loss, time limit, ...); recorded as FAIL."""


@runtime_checkable
class Evaluator(Protocol):
    name: str

    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        """Validation accuracy (the search signal) in ``Metrics.accuracy``.

        ``budget`` scales the effort (fraction of the default epochs) for multi-fidelity use.
        Raise on failure; the experiment records the trial as failed and goes on.

        An evaluator may also define ``prepare()``: work done once, in the driver, before the
        evaluator is copied to worker processes (a supernet is trained there, not once per worker).
        """
        ...


@dataclass(frozen=True)
class EvaluatorContext:
    """What an evaluator factory (``EVALUATORS``) may build its evaluator from.

    Args:
        space: The space being searched (target-filtered).
        data: The task's splits.
        seed: The search's seed.
        epochs: Stand-alone training epochs (``--epochs``).
        max_trial_seconds: Wall-clock limit of one candidate's training.
        run: The run folder, where an evaluator may keep what it trains once (a supernet).
        say: Progress lines for the user.
        device: The torch device that trains (``auto``, ``cpu``, ``cuda[:N]``, ``mps``).
        amp: Mixed precision on CUDA.
    """

    space: SearchSpace
    data: TaskData
    seed: int = 0
    epochs: int = 8
    max_trial_seconds: float | None = None
    run: RunFolder | None = None
    say: Callable[[str], None] = field(default=log.info)
    device: str = "cpu"
    amp: bool = False
