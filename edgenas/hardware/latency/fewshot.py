"""Few-shot adaptation to a new device, in the spirit of HELP (Lee et al., NeurIPS 2021).

Devices that differ in speed still agree on much of *what is slow*: a 3x3 conv at 32x32 costs
more than a 1x1 conv on a phone, an FPGA and a GPU alike. So a new device's latency is
modelled from predictors already trained on other devices (``pretrain``: one predictor per
*source* device, trained on many of that device's measurements), and only a small map is
learned from the handful of new-device measurements (``fit``): a ridge regression of the
new device's log-latency on the sources' log-predictions, the penalty chosen by
leave-one-out cross-validation (exact and cheap for ridge). With 10-20 measurements this
fits a handful of effective weights instead of a whole model.

HELP meta-learns a network and adapts it by gradient steps; this is the simple, closed-form
relative of that idea, with no claim to its figures. Sources must be other devices: the
caller chooses them (``edgenas predictor fit --kind fewshot`` uses every other device column of
the table, minus the target's own family, e.g. ``titanx_32`` for ``titanx_1``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np

from edgenas.errors import InvalidInputError
from edgenas.hardware.latency.base import LatencyPredictor, Net

#: Ridge penalties tried by leave-one-out (on standardised source log-predictions).
ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 25))


class FewShotPredictor(LatencyPredictor):
    """Latency on a new device from other devices' predictors plus a few measurements.

    Args:
        source_kind: Predictor kind trained per source device (``lut``, ``lgbm``, ``mlp``).
        source_params: Parameters of the source predictors.
    """

    kind = "fewshot"

    def __init__(self, source_kind: str = "lut", source_params: dict[str, Any] | None = None) -> None:
        self.source_kind = source_kind
        self.source_params = source_params
        self.sources_: dict[str, LatencyPredictor] = {}
        self.coef_: list[float] | None = None
        self.intercept_ = 0.0
        self.mean_: np.ndarray = np.zeros(0)
        self.scale_: np.ndarray = np.ones(0)
        self.alpha_ = 0.0

    def pretrain(self, nets: Sequence[Net], sources: Mapping[str, np.ndarray]) -> Self:
        """Train one predictor per source device on ``nets`` (rows with a missing value are skipped)."""
        from edgenas.hardware.latency import PREDICTORS

        if not sources:
            raise InvalidInputError("few-shot adaptation needs at least one source device")
        if self.source_kind == self.kind:
            raise InvalidInputError("source_kind cannot be fewshot")
        self.sources_ = {}
        for device, latency_ms in sources.items():
            y = np.asarray(latency_ms, dtype=float)
            keep = np.flatnonzero(np.isfinite(y) & (y > 0))
            predictor = PREDICTORS.create(self.source_kind, **(self.source_params or {}))
            self.sources_[device] = predictor.fit([nets[int(i)] for i in keep], y[keep])
        return self

    @classmethod
    def with_sources(cls, sources: Mapping[str, LatencyPredictor]) -> FewShotPredictor:
        """A predictor whose sources are already fitted (shared between targets, e.g. in a benchmark)."""
        kinds = {p.kind for p in sources.values()}
        self = cls(source_kind=kinds.pop() if len(kinds) == 1 else "lut")
        self.sources_ = dict(sources)
        return self

    def source_features(self, nets: Sequence[Net]) -> np.ndarray:
        """log of each source device's predicted latency (one column per source)."""
        if not self.sources_:
            raise InvalidInputError("the fewshot predictor has no source devices: call pretrain() first")
        return np.column_stack([np.log(np.maximum(p.predict(nets), 1e-9)) for p in self.sources_.values()])

    def fit(self, nets: Sequence[Net], latency_ms: np.ndarray) -> Self:
        from sklearn.linear_model import RidgeCV

        y = self._check_xy(nets, latency_ms)
        f = self.source_features(nets)
        self.mean_ = f.mean(axis=0)
        scale = f.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        ridge = RidgeCV(alphas=ALPHAS).fit((f - self.mean_) / self.scale_, np.log(y))
        self.coef_ = [float(c) for c in ridge.coef_]
        self.intercept_ = float(ridge.intercept_)
        self.alpha_ = float(ridge.alpha_)
        return self

    def predict(self, nets: Sequence[Net]) -> np.ndarray:
        self._check_fitted(self.coef_)
        f = (self.source_features(nets) - self.mean_) / self.scale_
        return np.exp(f @ np.asarray(self.coef_) + self.intercept_)

    def weights(self) -> dict[str, float]:
        """Weight of each source device in the adapted model (on standardised log-predictions)."""
        self._check_fitted(self.coef_)
        return dict(zip(self.sources_, self.coef_ or [], strict=True))

    def state(self) -> dict[str, Any]:
        self._check_fitted(self.coef_)
        return {
            "sources": {d: {"kind": p.kind, "params": p.get_params(), "state": p.state()} for d, p in self.sources_.items()},
            "coef": self.coef_,
            "intercept": self.intercept_,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "alpha": self.alpha_,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        from edgenas.hardware.latency import PREDICTORS

        self.sources_ = {}
        for device, record in state["sources"].items():
            predictor = PREDICTORS.create(record["kind"], **record["params"])
            predictor.set_state(record["state"])
            self.sources_[device] = predictor
        self.coef_ = [float(c) for c in state["coef"]]
        self.intercept_ = float(state["intercept"])
        self.mean_ = np.asarray(state["mean"], dtype=float)
        self.scale_ = np.asarray(state["scale"], dtype=float)
        self.alpha_ = float(state["alpha"])
