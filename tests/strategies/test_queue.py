"""The queue strategy: what another phase chose (a shortlist, a derived network) enters the loop in order."""

from __future__ import annotations

import numpy as np
import pytest

from edgenas.errors import InvalidInputError
from edgenas.spaces import KwsSpace
from edgenas.strategies.queue import QueueStrategy


def test_queue_strategy_asks_in_order_and_replays() -> None:
    space = KwsSpace()
    archs = [space.sample(np.random.default_rng(i)) for i in range(3)]
    queue = QueueStrategy(archs)
    asked = []
    for _ in range(3):
        asked.append(queue.ask())
        queue.tell(None)  # type: ignore[arg-type]
    assert asked == archs and queue.ask() == archs[-1]
    with pytest.raises(InvalidInputError, match="no candidate"):
        QueueStrategy([])
