"""Weight-sharing supernets: train once, score many subnets with inherited weights (issue 6).

``supernet_evaluator(space, data, ...)`` gives the evaluator of a space's supernet:
:class:`KwsSupernetEvaluator` for ``kws`` (one supernet per family) and
:class:`~edgenas.evaluators.supernet.mbconv.MbconvSupernetEvaluator` for ``mbconv``; other
spaces get a clear error naming the ones that have a supernet. Both share
:class:`~edgenas.evaluators.supernet.base.SupernetEvaluatorBase` (settings, weight cache, scoring).
"""

from __future__ import annotations

from typing import Any

from edgenas.errors import InvalidInputError
from edgenas.evaluators.supernet.base import SupernetEvaluatorBase
from edgenas.evaluators.supernet.kws import SUPERNET_SPACES as _KWS_SPACES
from edgenas.evaluators.supernet.kws import KwsSupernetEvaluator
from edgenas.evaluators.supernet.mbconv import MbconvSupernetEvaluator

#: Spaces that have a supernet (``supernet_evaluator`` accepts them).
SUPERNET_SPACES = (*_KWS_SPACES, "mbconv")


def supernet_evaluator(space: Any, data: Any, **kwargs: Any) -> SupernetEvaluatorBase:
    """The supernet evaluator for ``space`` (keyword arguments as ``KwsSupernetEvaluator``'s)."""
    if space.name == "mbconv":
        return MbconvSupernetEvaluator(space, data, **kwargs)
    if space.name in _KWS_SPACES:
        return KwsSupernetEvaluator(space, data, **kwargs)
    raise InvalidInputError(
        f"--evaluator supernet: space {space.name!r} has no supernet yet. Spaces with one: {', '.join(SUPERNET_SPACES)}."
    )


__all__ = ["SUPERNET_SPACES", "MbconvSupernetEvaluator", "KwsSupernetEvaluator", "SupernetEvaluatorBase", "supernet_evaluator"]
