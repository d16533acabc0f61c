"""Accuracy of a latency predictor on held-out networks: the figures the literature reports.

RMSE (ms), MAPE, the share of networks predicted within +/-5% and +/-10% of the measurement
(nn-Meter's headline figure), and Spearman's and Kendall's rank correlations (what a search
needs: the right order of candidates).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from edgenas.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class LatencyMetrics:
    """Prediction quality on ``n`` networks; shares and MAPE are fractions (0.95 = 95%)."""

    n: int
    rmse_ms: float
    mape: float
    within_5pct: float
    within_10pct: float
    spearman: float
    kendall: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def latency_metrics(measured_ms: np.ndarray, predicted_ms: np.ndarray) -> LatencyMetrics:
    """Compare predictions with measurements (both in ms, same order)."""
    y = np.asarray(measured_ms, dtype=float)
    p = np.asarray(predicted_ms, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise InvalidInputError(f"measured and predicted latencies differ in shape: {y.shape} vs {p.shape}")
    if len(y) < 2:
        raise InvalidInputError(f"metrics need at least 2 held-out networks, got {len(y)}")
    if np.any(y <= 0):
        raise InvalidInputError("measured latencies must be positive")
    rel = np.abs(p - y) / y
    constant = np.ptp(p) == 0 or np.ptp(y) == 0
    return LatencyMetrics(
        n=len(y),
        rmse_ms=float(np.sqrt(np.mean((p - y) ** 2))),
        mape=float(np.mean(rel)),
        within_5pct=float(np.mean(rel <= 0.05)),
        within_10pct=float(np.mean(rel <= 0.10)),
        spearman=0.0 if constant else float(stats.spearmanr(y, p).statistic),
        kendall=0.0 if constant else float(stats.kendalltau(y, p).statistic),
    )
