"""Gradient-boosted trees (LightGBM) over the architecture encoding and layer figures.

The target is log-latency, so the trees model *relative* error (what +/-10% means) and
multiplicative effects (a device twice as slow on every layer) stay additive. With ``base="lut"``
(the default) the trees learn the log-ratio of the measurement to a fitted layer look-up table
(:class:`~edgenas.hardware.latency.lut.LayerLutPredictor`) instead of the latency itself: the table
carries the additive bulk, which 20 networks pin down well, and the trees only the
non-additive rest (layer fusion, caches, kernel launch overheads). The model is saved as
LightGBM's own text dump inside the JSON file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from edgenas.errors import InvalidInputError
from edgenas.hardware.latency.base import LatencyPredictor, Net
from edgenas.hardware.latency.features import feature_matrix
from edgenas.hardware.latency.lut import LayerLutPredictor

BASES = ("none", "lut")


def fit_base(base: str, nets: Sequence[Net], y: np.ndarray) -> LayerLutPredictor | None:
    """The look-up table a residual model starts from (``base="lut"``), or None."""
    if base not in BASES:
        raise InvalidInputError(f"base={base!r}: accepted {', '.join(BASES)}")
    return LayerLutPredictor().fit(nets, y) if base == "lut" else None


def log_base(base: LayerLutPredictor | None, nets: Sequence[Net]) -> np.ndarray:
    """log of the base's prediction (0 without a base); floored so an empty table cannot give log(0)."""
    if base is None:
        return np.zeros(len(nets))
    return np.log(np.maximum(base.predict(nets), 1e-9))


class LgbmPredictor(LatencyPredictor):
    """LightGBM regression of log-latency (see the module docstring).

    Args:
        n_estimators: Boosting rounds.
        learning_rate: Shrinkage per round.
        num_leaves: Leaves per tree.
        min_child_samples: Fewest training networks in a leaf (capped at a tenth of the training set).
        base: ``"lut"``: learn the residual of a fitted layer table; ``"none"``: the latency itself.
        seed: LightGBM's seed (it runs single-threaded and deterministic).
    """

    kind = "lgbm"

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 5,
        base: str = "lut",
        seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.base = base
        self.seed = seed
        self.booster_: Any = None
        self.base_: LayerLutPredictor | None = None
        self.cardinalities_: tuple[int, ...] = ()

    def fit(self, nets: Sequence[Net], latency_ms: np.ndarray) -> Self:
        import lightgbm as lgb

        y = self._check_xy(nets, latency_ms)
        self.cardinalities_ = tuple(nets[0].cardinalities)
        self.base_ = fit_base(self.base, nets, y)
        x = feature_matrix(nets, self.cardinalities_)
        params = {
            "objective": "regression",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": max(1, min(self.min_child_samples, len(y) // 10)),
            "min_data_in_bin": 1,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,
            "verbose": -1,
        }
        data = lgb.Dataset(x, np.log(y) - log_base(self.base_, nets), params={"verbose": -1})
        self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)
        return self

    def predict(self, nets: Sequence[Net]) -> np.ndarray:
        self._check_fitted(self.booster_)
        x = feature_matrix(nets, self.cardinalities_)
        return np.exp(self.booster_.predict(x) + log_base(self.base_, nets))

    def state(self) -> dict[str, Any]:
        self._check_fitted(self.booster_)
        return {
            "cardinalities": list(self.cardinalities_),
            "base": None if self.base_ is None else self.base_.state(),
            "lightgbm_model": self.booster_.model_to_string(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        import lightgbm as lgb

        self.cardinalities_ = tuple(int(c) for c in state["cardinalities"])
        self.base_ = None
        if state["base"] is not None:
            self.base_ = LayerLutPredictor()
            self.base_.set_state(state["base"])
        self.booster_ = lgb.Booster(model_str=state["lightgbm_model"])
