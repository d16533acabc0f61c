"""How noisy a device's measurements are, from pairs of measurements of the same network.

No predictor can be closer to a measurement than the measurement is to itself: where a table
holds two measurements of one network (timed twice, or two rows that are the same network),
their disagreement is the noise (and resolution) of the device column, and it bounds the share
of networks *any* predictor gets within a tolerance. :func:`pair_noise` turns such pairs into
that bound, so a predictor's figure can be read against what the data allow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm

from edgenas.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class PairNoise:
    """The noise of one device column, from ``pairs`` pairs of measurements of the same network.

    Attributes:
        pairs: Pairs with both measurements usable (finite, positive).
        within: Share of the pairs' measurements within the tolerance of the other one (each
            measurement taken in turn as the reference): what an oracle that knew one other
            measurement of the same network reaches, a pessimistic ceiling (two noises, not one).
        sigma: Noise of one measurement's log latency: std of the pair log-ratio over sqrt(2).
        gaussian_ceiling: P(|N(0, sigma)| <= log(1 + tolerance)): the share a perfect predictor of
            the noise-free latency reaches if the noise is Gaussian (outliers make it pessimistic).
        ceiling: Share of pairs with |log ratio| / sqrt(2) <= log(1 + tolerance): the same ceiling
            read from the pairs themselves instead of a Gaussian (exact for Gaussian noise, robust
            to outliers).
    """

    pairs: int
    within: float
    sigma: float
    gaussian_ceiling: float
    ceiling: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def pair_noise(first_ms: np.ndarray, second_ms: np.ndarray, tolerance: float = 0.10) -> PairNoise:
    """The noise of a column from two measurements per network (same order; unusable pairs skipped)."""
    a, b = np.asarray(first_ms, dtype=float), np.asarray(second_ms, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise InvalidInputError(f"pairs of measurements differ in shape: {a.shape} vs {b.shape}")
    if not tolerance > 0:
        raise InvalidInputError(f"the tolerance must be positive, got {tolerance}")
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    a, b = a[ok], b[ok]
    if len(a) < 2:
        raise InvalidInputError(f"the noise of a column needs at least 2 usable pairs of measurements, got {len(a)}")
    log_ratio = np.log(a / b)
    bound = math.log1p(tolerance)
    sigma = float(np.std(log_ratio) / math.sqrt(2))
    within = np.concatenate([np.abs(a - b) / b, np.abs(a - b) / a]) <= tolerance
    return PairNoise(
        pairs=len(a),
        within=float(np.mean(within)),
        sigma=sigma,
        gaussian_ceiling=1.0 if sigma == 0 else float(2 * norm.cdf(bound / sigma) - 1),
        ceiling=float(np.mean(np.abs(log_ratio) / math.sqrt(2) <= bound)),
    )
