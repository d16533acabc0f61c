"""A latency model that learns from a handful of tuned measurements: a log-log calibration of an estimate.

The feedback loop (:mod:`edgenas.compile.feedback`) has a few tuned latencies per round, never
hundreds, so a model with many free weights (a GBDT or an MLP on the layer features) would
memorise them. What a handful of points can pin down is how the analytical estimate is *off*:
a compiler is faster or slower than the estimate by a factor, and the factor drifts with the
network's size (small networks pay fixed overheads). So the model is

    log(tuned) = log(estimate) + offset + (slope - 1) * (log(estimate) - centre)

fitted by least squares with the slope's departure from 1 penalised (a ridge pulling it to 1).
One point fits the factor alone (slope 1: the ratio of tuned to estimated); the slope is trusted
only as the points spread over sizes, and with four points or more its penalty is chosen by
leave-one-out (closed form). With no point it is the estimate itself.

``kind="ratio"`` fixes the slope at 1 (the factor only): the other candidate, compared on the
collected points by :func:`loo_errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from edgenas.errors import InvalidInputError

#: Model kinds: ``loglinear`` (factor and penalised slope) and ``ratio`` (factor only).
KINDS = ("loglinear", "ratio")
#: The slope's penalty with fewer than :data:`MIN_LOO_POINTS` points (log units squared: points
#: must spread over about a factor of e in estimated latency before the slope is half trusted).
DEFAULT_PENALTY = 1.0
#: Penalties leave-one-out chooses among, from four points on.
PENALTIES = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
MIN_LOO_POINTS = 4


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration: predicts a tuned latency from the analytical estimate (both ms)."""

    kind: str = "loglinear"
    offset: float = 0.0  # mean log(tuned / estimate) of the points
    slope: float = 1.0  # d log(tuned) / d log(estimate)
    centre: float = 0.0  # mean log(estimate) of the points
    points: int = 0
    penalty: float = DEFAULT_PENALTY

    def predict(self, estimate_ms: float | np.ndarray) -> np.ndarray:
        x = np.log(np.asarray(estimate_ms, dtype=float))
        return np.exp(x + self.offset + (self.slope - 1.0) * (x - self.centre))

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)

    def describe(self, estimate_of: str) -> str:
        """What prices the candidates: the model, what it calibrates, and how many tuned points it learnt from."""
        if self.points == 0:
            return f"the analytical estimate for {estimate_of} (no tuned finalist yet)"
        name = "log-log calibration" if self.kind == "loglinear" else "ratio calibration"
        finalists = "1 tuned finalist" if self.points == 1 else f"{self.points} tuned finalists"
        return f"{name} of the {estimate_of} estimate, fitted on {finalists}"


def fit_calibration(
    estimate_ms: Sequence[float], tuned_ms: Sequence[float], kind: str = "loglinear", penalty: float | None = None
) -> Calibration:
    """The calibration of ``estimate_ms`` to ``tuned_ms`` (no points: the estimate itself).

    ``penalty`` fixes the slope's penalty; by default :data:`DEFAULT_PENALTY`, chosen by
    leave-one-out from :data:`MIN_LOO_POINTS` points on.
    """
    if kind not in KINDS:
        raise InvalidInputError(f"unknown calibration {kind!r}: {', '.join(KINDS)}")
    x, y = _logs(estimate_ms, tuned_ms)
    if len(x) == 0:
        return Calibration(kind)
    if penalty is None:
        penalty = DEFAULT_PENALTY
        if kind == "loglinear" and len(x) >= MIN_LOO_POINTS:
            penalty = min(PENALTIES, key=lambda p: float(np.mean(_loo_log_residuals(x, y, p) ** 2)))
    offset, slope, centre = _solve(x, y, kind, penalty)
    return Calibration(kind, offset, slope, centre, len(x), penalty)


def loo_errors(estimate_ms: Sequence[float], tuned_ms: Sequence[float], kind: str = "loglinear") -> np.ndarray:
    """Leave-one-out relative errors ``|predicted - tuned| / tuned`` of the calibration on its own points.

    Each point is predicted by the model fitted on the others (penalty chosen as
    :func:`fit_calibration` would, on those others): how well the model predicts a finalist it
    has not seen, which is what the next round asks of it.
    """
    est, tuned = np.asarray(estimate_ms, dtype=float), np.asarray(tuned_ms, dtype=float)
    out = np.empty(len(est))
    for i in range(len(est)):
        keep = np.arange(len(est)) != i
        model = fit_calibration(est[keep], tuned[keep], kind)
        out[i] = abs(float(model.predict(est[i])) - tuned[i]) / tuned[i]
    return out


def relative_error(predicted_ms: Sequence[float], tuned_ms: Sequence[float]) -> float | None:
    """Mean ``|predicted - tuned| / tuned`` (None without points)."""
    p, t = np.asarray(predicted_ms, dtype=float), np.asarray(tuned_ms, dtype=float)
    return None if len(t) == 0 else float(np.mean(np.abs(p - t) / t))


def _logs(estimate_ms: Sequence[float], tuned_ms: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(estimate_ms, dtype=float), np.asarray(tuned_ms, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise InvalidInputError(f"{x.size} estimates but {y.size} tuned latencies")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise InvalidInputError("a calibration needs positive, finite latencies (ms)")
    return np.log(x), np.log(y)


def _solve(x: np.ndarray, y: np.ndarray, kind: str, penalty: float) -> tuple[float, float, float]:
    """Offset, slope and centre minimising the squared log residuals plus ``penalty * (slope - 1)**2``."""
    centre = float(np.mean(x))
    r = y - x  # log(tuned / estimate)
    offset = float(np.mean(r))
    if kind == "ratio" or len(x) < 2:
        return offset, 1.0, centre
    dx = x - centre
    tilt = float(np.dot(dx, r - offset) / (np.dot(dx, dx) + penalty))
    return offset, 1.0 + tilt, centre


def _loo_log_residuals(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    out = np.empty(len(x))
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        offset, slope, centre = _solve(x[keep], y[keep], "loglinear", penalty)
        out[i] = y[i] - (x[i] + offset + (slope - 1.0) * (x[i] - centre))
    return out
