"""A fitted latency predictor in the loop: ``edgenas search --latency predicted --predictor P.json``.

The search ranks candidates by the predictor's latency (labelled *predicted*) instead of the
target's analytical estimate; every other figure (memory, MACs) stays the estimate. A predictor
learnt from a device's own measurements (``predictor collect`` on an agent, then ``predictor
fit``) is how a search reaches a device whose timing no analytical model captures. The predictor
must have been fitted on the space being searched: its features are that space's decisions and
layers, and a mismatch is one clear error before the search starts, not a nonsense ranking.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.hardware.latency.base import LatencyPredictor, load, nets_of
from edgenas.trial import Cost


class PredictedLatency:
    """A ``CostFunction``: ``base(arch)`` with ``latency_ms`` from a fitted latency predictor.

    Args:
        space: The space searched (its decisions and layers make the predictor's features).
        base: The cost function whose other figures are kept (usually the analytical one).
        predictor: The fitted predictor.
        info: What the predictor file records (space, device, held-out metrics).
        probe: Architectures to try once at construction (a predictor whose features do not fit
            the space fails here, with a clear message).
    """

    name = "predicted"

    def __init__(
        self,
        space: Any,
        base: Callable[[Arch], Cost],
        predictor: LatencyPredictor,
        info: dict[str, Any],
        probe: Sequence[Arch] = (),
    ) -> None:
        fitted_on = info.get("space")
        if fitted_on is not None and fitted_on != space.name:
            raise InvalidInputError(
                f"--predictor was fitted on space {fitted_on!r}; this search explores {space.name!r}: "
                f"fit one on a {space.name} table (edgenas predictor collect / fit --space {space.name})"
            )
        self.space = space
        self.base = base
        self.predictor = predictor
        self.info = info
        if probe:
            try:
                predictor.predict(nets_of(space, list(probe)))
            except Exception:  # the predictor's features and the space's do not line up
                raise InvalidInputError(
                    f"--predictor does not fit the {space.name} space being searched (its decisions or their "
                    "choices differ from the ones it was fitted on): fit it again on this space"
                ) from None

    @classmethod
    def from_file(cls, path: Path, space: Any, base: Callable[[Arch], Cost], probe: Sequence[Arch] = ()) -> PredictedLatency:
        predictor, info = load(path)
        return cls(space, base, predictor, info, probe)

    def latency_ms(self, arch: Arch) -> float:
        value = float(self.predictor.predict(nets_of(self.space, [arch]))[0])
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"the latency predictor gave {value} ms for this architecture")
        return value

    def __call__(self, arch: Arch) -> Cost:
        return self.base(arch).with_latency(self.latency_ms(arch), "predicted")
