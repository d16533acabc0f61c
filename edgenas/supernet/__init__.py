"""Weight-sharing supernets: train once, score many subnets with inherited weights (issue 6).

``SupernetEvaluator`` is the evaluator ``edgenas search --evaluator supernet`` uses. Only the
``kws`` space has a supernet so far; other spaces get a clear error naming the ones that do.
"""

from edgenas.supernet.evaluator import SUPERNET_SPACES, SupernetEvaluator

__all__ = ["SUPERNET_SPACES", "SupernetEvaluator"]
