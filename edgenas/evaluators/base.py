"""The evaluator protocol: how good is an architecture at the task? (Never its hardware cost.)"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from edgenas.arch import Arch
from edgenas.errors import EdgenasError
from edgenas.trial import Metrics


class TrialFailed(EdgenasError):
    """A candidate could not be evaluated (NaN loss, time limit, ...); recorded as FAIL."""


@runtime_checkable
class Evaluator(Protocol):
    name: str

    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        """Validation accuracy (the search signal) in ``Metrics.accuracy``.

        ``budget`` scales the effort (fraction of the default epochs) for multi-fidelity use.
        Raise on failure; the experiment records the trial as failed and goes on.
        """
        ...
