"""A strategy that asks a fixed list of architectures in order.

What another phase chose enters the loop through it: the pre-filter's shortlist, the
architectures a differentiable search derived (its argmax, then the repair when the argmax
breaks a limit). Its state is the number of trials it was told, so a resumed search asks the
same next one, as the strategy contract requires.
"""

from __future__ import annotations

from collections.abc import Sequence

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.trial import Trial


class QueueStrategy:
    """Asks ``archs`` in order; past the end it repeats the last, which stops the loop (no new architecture)."""

    name = "queue"

    def __init__(self, archs: Sequence[Arch], empty_message: str = "no candidate to ask: the queue is empty") -> None:
        if not archs:
            raise InvalidInputError(empty_message)
        self.archs = list(archs)
        self._told = 0

    def ask(self) -> Arch:
        return self.archs[min(self._told, len(self.archs) - 1)]

    def tell(self, trial: Trial) -> None:
        self._told += 1
