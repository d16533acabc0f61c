"""Contract checks every registered space and strategy must pass, shipped for third parties.

Use them in your own tests::

    from edgenas.testing import check_space, check_strategy
    check_space(MySpace())
    check_strategy(lambda seed: MyStrategy(MySpace(), seed=seed), MySpace())
"""

from __future__ import annotations

from edgenas.testing.contracts import check_space, check_strategy
from edgenas.testing.toy import ToySpace, best_found

__all__ = ["ToySpace", "best_found", "check_space", "check_strategy"]
