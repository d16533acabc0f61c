"""Transfer from every known device: a new device's latency from the *measured* latencies of the others.

Where a table already holds many devices' measurements of the same architectures (NB201's
HW-NAS-Bench and BRP-NAS columns), a new device needs no model of the architecture at all:
its log latency is a weighted sum of the known devices' measured log latencies of the same
network, learnt from a handful of the new device's measurements. This is
:class:`~edgenas.hardware.latency.fewshot.FewShotPredictor` with its fitted source predictors
replaced by the source devices' measurements (looked up by the architecture's genes), so the
ridge, its leave-one-out penalty and the saved weights are the few-shot ones.

A device is rarely a linear mix of the known ones in every corner of the space (an accelerator
simulator, say, saturates where the CPUs do not), so by default a kernel ridge (RBF kernel on the
standardised source log latencies, its width and penalty chosen by 5-fold cross-validation on
the same few measurements) corrects the ridge's residuals; where the mix is linear the
cross-validation picks a heavy penalty and the correction stays near zero.

The price of using measurements instead of models: the predictor knows only architectures the
source devices measured. Predicting another one is an :class:`InvalidInputError` naming how many
are missing, never a guess. The file carries the source columns (five significant digits: below
any device's measurement noise), so loading it opens no other file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np

from edgenas.errors import InvalidInputError
from edgenas.hardware.latency.base import Net
from edgenas.hardware.latency.fewshot import FewShotPredictor

#: Significant digits kept of each source measurement (the file's size; noise is far larger).
DIGITS = 5
#: Penalties and RBF widths (on standardised features) the residual kernel ridge is chosen among.
RESIDUAL_ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
RESIDUAL_GAMMAS = (1e-4, 1e-3, 1e-2, 1e-1)
#: Fewer measurements than this: no residual correction (5-fold cross-validation needs a few per fold).
MIN_RESIDUAL_ROWS = 20


def _rounded(values: np.ndarray) -> np.ndarray:
    """``values`` to :data:`DIGITS` significant digits, so a saved predictor predicts exactly as the fitted one."""
    return np.array([float(f"{v:.{DIGITS}g}") for v in values], dtype=float)


class TransferPredictor(FewShotPredictor):
    """Latency on a new device from the measured latencies of other devices plus a few measurements.

    ``pretrain(nets, sources)`` remembers the source devices' measurements of ``nets`` (rows with
    a missing or non-positive value on any source are left out); ``fit`` learns the few-shot
    ridge on the new device's measurements of architectures among them.

    Args:
        kernel_residual: Correct the ridge's residuals with a cross-validated RBF kernel ridge
            (needs :data:`MIN_RESIDUAL_ROWS` measurements; fewer: the ridge alone).
    """

    kind = "transfer"

    def __init__(self, kernel_residual: bool = True) -> None:
        if not isinstance(kernel_residual, bool):
            raise InvalidInputError(f"kernel_residual must be true or false, got {kernel_residual!r}")
        super().__init__(source_kind="measured")
        self.kernel_residual = kernel_residual
        self.residual_: dict[str, Any] | None = None
        self.cardinalities_: tuple[int, ...] | None = None
        self.rows_: dict[tuple[int, ...], int] = {}
        self.source_names_: list[str] = []
        self.columns_: np.ndarray = np.zeros((0, 0))

    def pretrain(self, nets: Sequence[Net], sources: Mapping[str, np.ndarray]) -> Self:
        if not sources:
            raise InvalidInputError("transfer needs at least one source device")
        if not nets:
            raise InvalidInputError("transfer needs architectures measured on the source devices")
        columns = np.column_stack([np.asarray(v, dtype=float) for v in sources.values()])
        if len(columns) != len(nets):
            raise InvalidInputError(f"{len(nets)} networks but {len(columns)} rows of source latencies")
        keep = np.flatnonzero(np.all(np.isfinite(columns) & (columns > 0), axis=1))
        if not len(keep):
            raise InvalidInputError("no architecture is measured on every source device")
        self.cardinalities_ = tuple(nets[0].cardinalities)
        self.source_names_ = list(sources)
        self.columns_ = np.column_stack([_rounded(columns[keep, j]) for j in range(columns.shape[1])])
        self.rows_ = {}
        for row, i in enumerate(keep):
            self.rows_.setdefault(tuple(nets[int(i)].genes), row)
        self.sources_ = {}  # the few-shot source predictors: none, the measurements stand in for them
        return self

    def covers(self, nets: Sequence[Net]) -> np.ndarray:
        """Which of ``nets`` the source devices measured (the ones this predictor can predict), as a mask."""
        return np.array([tuple(n.genes) in self.rows_ for n in nets], dtype=bool)

    def source_features(self, nets: Sequence[Net]) -> np.ndarray:
        """log of each source device's measured latency of each net (one column per source)."""
        if self.cardinalities_ is None:
            raise InvalidInputError("the transfer predictor has no source measurements: call pretrain() first")
        for net in nets:
            if tuple(net.cardinalities) != self.cardinalities_:
                raise InvalidInputError(
                    f"network with decision sizes {net.cardinalities} given to a transfer predictor of "
                    f"{self.cardinalities_} (another space?)"
                )
        rows = [self.rows_.get(tuple(n.genes), -1) for n in nets]
        missing = sum(r < 0 for r in rows)
        if missing:
            raise InvalidInputError(
                f"{missing} of {len(nets)} architectures were not measured on the transfer predictor's source devices: "
                "it predicts only architectures of the table it was fitted on"
            )
        return np.log(self.columns_[np.asarray(rows, dtype=int)].reshape(len(rows), len(self.source_names_)))

    def weights(self) -> dict[str, float]:
        self._check_fitted(self.coef_)
        return dict(zip(self.source_names_, self.coef_ or [], strict=True))

    def fit(self, nets: Sequence[Net], latency_ms: np.ndarray) -> Self:
        super().fit(nets, latency_ms)
        self.residual_ = None
        if not self.kernel_residual or len(nets) < MIN_RESIDUAL_ROWS:
            return self
        from sklearn.kernel_ridge import KernelRidge
        from sklearn.model_selection import GridSearchCV

        z = (self.source_features(nets) - self.mean_) / self.scale_
        residual = np.log(np.asarray(latency_ms, dtype=float)) - self._linear(z)
        grid = {"alpha": list(RESIDUAL_ALPHAS), "gamma": list(RESIDUAL_GAMMAS)}
        search = GridSearchCV(KernelRidge(kernel="rbf"), grid, cv=5).fit(z, residual)  # unshuffled folds: deterministic
        best = search.best_estimator_
        self.residual_ = {
            "alpha": float(best.alpha),
            "gamma": float(best.gamma),
            "points": z.tolist(),
            "dual": [float(c) for c in np.ravel(best.dual_coef_)],
        }
        return self

    def _linear(self, z: np.ndarray) -> np.ndarray:
        return z @ np.asarray(self.coef_) + self.intercept_

    def predict(self, nets: Sequence[Net]) -> np.ndarray:
        self._check_fitted(self.coef_)
        z = (self.source_features(nets) - self.mean_) / self.scale_
        log_ms = self._linear(z)
        if self.residual_ is not None and len(z):
            from sklearn.metrics.pairwise import rbf_kernel

            points = np.asarray(self.residual_["points"], dtype=float)
            log_ms = log_ms + rbf_kernel(z, points, gamma=self.residual_["gamma"]) @ np.asarray(self.residual_["dual"])
        return np.asarray(np.exp(log_ms))

    def state(self) -> dict[str, Any]:
        self._check_fitted(self.coef_)
        genes = sorted(self.rows_, key=self.rows_.__getitem__)
        return {
            "cardinalities": list(self.cardinalities_ or ()),
            "genes": [list(g) for g in genes],
            "sources": {d: self.columns_[[self.rows_[g] for g in genes], j].tolist() for j, d in enumerate(self.source_names_)},
            "coef": self.coef_,
            "intercept": self.intercept_,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "alpha": self.alpha_,
            "residual": self.residual_,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        cardinalities = tuple(int(c) for c in state["cardinalities"])
        genes = [tuple(int(g) for g in row) for row in state["genes"]]
        if any(len(g) != len(cardinalities) or not all(0 <= x < c for x, c in zip(g, cardinalities, strict=True)) for g in genes):
            raise ValueError("genes do not fit the cardinalities")
        if len(set(genes)) != len(genes):
            raise ValueError("an architecture is listed twice")
        sources = state["sources"]
        if not isinstance(sources, dict) or not sources:
            raise ValueError("no source columns")
        columns = np.column_stack([np.asarray(v, dtype=float) for v in sources.values()])
        if columns.shape != (len(genes), len(sources)) or not np.all(np.isfinite(columns) & (columns > 0)):
            raise ValueError("source columns are not one positive latency per architecture")
        coef = [float(c) for c in state["coef"]]
        mean, scale = np.asarray(state["mean"], dtype=float), np.asarray(state["scale"], dtype=float)
        if not len(coef) == len(mean) == len(scale) == len(sources):
            raise ValueError("the ridge does not have one weight per source")
        self.cardinalities_ = cardinalities
        self.rows_ = {g: i for i, g in enumerate(genes)}
        self.source_names_ = [str(d) for d in sources]
        self.columns_ = columns
        self.sources_ = {}
        self.coef_ = coef
        self.intercept_ = float(state["intercept"])
        self.mean_, self.scale_ = mean, scale
        self.alpha_ = float(state["alpha"])
        self.residual_ = _residual(state.get("residual"), len(sources))


def _residual(record: Any, n_sources: int) -> dict[str, Any] | None:
    """The saved residual kernel ridge, checked: one dual weight per point, one feature per source."""
    if record is None:
        return None
    if not isinstance(record, dict):
        raise ValueError("residual is not a mapping")
    points = np.asarray(record["points"], dtype=float)
    dual = np.asarray(record["dual"], dtype=float)
    gamma, alpha = float(record["gamma"]), float(record["alpha"])
    if points.ndim != 2 or points.shape[1] != n_sources or dual.shape != (len(points),):
        raise ValueError("residual: the kernel ridge does not have one weight per point and one feature per source")
    if not (np.all(np.isfinite(points)) and np.all(np.isfinite(dual)) and gamma > 0 and alpha > 0):
        raise ValueError("residual: a figure is not finite and positive")
    return {"alpha": alpha, "gamma": gamma, "points": points.tolist(), "dual": dual.tolist()}
