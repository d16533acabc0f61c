"""A multi-layer perceptron over the architecture encoding and layer figures.

Trained with scikit-learn's ``MLPRegressor`` (L-BFGS, which suits a few hundred samples better
than Adam), on standardised features and standardised log-latency; like the trees it learns the
residual of a fitted layer look-up table by default (``base="lut"``). An ensemble of
``n_models`` nets with different seeds is averaged (in log space), which steadies a model
fitted on 20 networks. The weights are saved as plain lists and the forward pass is numpy, so
loading needs no pickle and no scikit-learn object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from edgenas.hardware.latency.base import LatencyPredictor, Net
from edgenas.hardware.latency.features import feature_matrix
from edgenas.hardware.latency.gbdt import fit_base, log_base
from edgenas.hardware.latency.lut import LayerLutPredictor


class MlpPredictor(LatencyPredictor):
    """An averaged ensemble of ReLU MLPs regressing log-latency (see the module docstring).

    Args:
        hidden: Hidden layer widths.
        alpha: L2 penalty.
        n_models: Ensemble members (seeds ``seed``, ``seed + 1``, ...).
        max_iter: L-BFGS iterations.
        base: ``"lut"`` (residual of a fitted layer table) or ``"none"``.
        seed: Seed of the first member.
    """

    kind = "mlp"

    def __init__(
        self,
        hidden: tuple[int, ...] | list[int] = (32, 32),
        alpha: float = 1e-2,
        n_models: int = 2,
        max_iter: int = 300,
        base: str = "lut",
        seed: int = 0,
    ) -> None:
        self.hidden = tuple(hidden)
        self.alpha = alpha
        self.n_models = n_models
        self.max_iter = max_iter
        self.base = base
        self.seed = seed
        self.models_: list[dict[str, list]] | None = None
        self.x_mean_: np.ndarray = np.zeros(0)
        self.x_scale_: np.ndarray = np.ones(0)
        self.y_mean_ = 0.0
        self.y_scale_ = 1.0
        self.base_: LayerLutPredictor | None = None
        self.cardinalities_: tuple[int, ...] = ()

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        params["hidden"] = list(self.hidden)
        return params

    def fit(self, nets: Sequence[Net], latency_ms: np.ndarray) -> Self:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor
        from threadpoolctl import threadpool_limits

        y = self._check_xy(nets, latency_ms)
        self.cardinalities_ = tuple(nets[0].cardinalities)
        self.base_ = fit_base(self.base, nets, y)
        x = feature_matrix(nets, self.cardinalities_)
        self.x_mean_ = x.mean(axis=0)
        scale = x.std(axis=0)
        self.x_scale_ = np.where(scale > 0, scale, 1.0)
        target = np.log(y) - log_base(self.base_, nets)
        self.y_mean_ = float(target.mean())
        self.y_scale_ = float(target.std()) or 1.0
        xs, ts = (x - self.x_mean_) / self.x_scale_, (target - self.y_mean_) / self.y_scale_
        self.models_ = []
        for k in range(self.n_models):
            mlp = MLPRegressor(
                hidden_layer_sizes=self.hidden,
                alpha=self.alpha,
                solver="lbfgs",
                max_iter=self.max_iter,
                random_state=self.seed + k,
            )
            # one BLAS thread: these matrices are tiny, and a thread pool per core only adds contention
            with warnings.catch_warnings(), threadpool_limits(1):
                warnings.simplefilter("ignore", ConvergenceWarning)
                mlp.fit(xs, ts)
            self.models_.append({"weights": [w.tolist() for w in mlp.coefs_], "biases": [b.tolist() for b in mlp.intercepts_]})
        return self

    def _forward(self, x: np.ndarray) -> np.ndarray:
        assert self.models_ is not None
        outs = []
        for model in self.models_:
            h = x
            weights, biases = model["weights"], model["biases"]
            for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
                h = h @ np.asarray(w) + np.asarray(b)
                if i < len(weights) - 1:
                    h = np.maximum(h, 0.0)
            outs.append(h[:, 0])
        return np.mean(outs, axis=0)

    def predict(self, nets: Sequence[Net]) -> np.ndarray:
        self._check_fitted(self.models_)
        x = (feature_matrix(nets, self.cardinalities_) - self.x_mean_) / self.x_scale_
        return np.exp(self._forward(x) * self.y_scale_ + self.y_mean_ + log_base(self.base_, nets))

    def state(self) -> dict[str, Any]:
        self._check_fitted(self.models_)
        return {
            "cardinalities": list(self.cardinalities_),
            "x_mean": self.x_mean_.tolist(),
            "x_scale": self.x_scale_.tolist(),
            "y_mean": self.y_mean_,
            "y_scale": self.y_scale_,
            "base": None if self.base_ is None else self.base_.state(),
            "models": self.models_,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.cardinalities_ = tuple(int(c) for c in state["cardinalities"])
        self.x_mean_ = np.asarray(state["x_mean"], dtype=float)
        self.x_scale_ = np.asarray(state["x_scale"], dtype=float)
        self.y_mean_ = float(state["y_mean"])
        self.y_scale_ = float(state["y_scale"])
        self.base_ = None
        if state["base"] is not None:
            self.base_ = LayerLutPredictor()
            self.base_.set_state(state["base"])
        self.models_ = state["models"]
