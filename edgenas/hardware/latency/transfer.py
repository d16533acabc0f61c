"""Transfer from every known device: a new device's latency from the *measured* latencies of the others.

Where a table already holds many devices' measurements of the same architectures (NB201's
HW-NAS-Bench and BRP-NAS columns), a new device needs no model of the architecture at all:
its log latency is a weighted sum of the known devices' measured log latencies of the same
network, learnt from a handful of the new device's measurements. This is
:class:`~edgenas.hardware.latency.fewshot.FewShotPredictor` with its fitted source predictors
replaced by the source devices' measurements (looked up by the architecture's genes), so the
ridge, its leave-one-out penalty and the saved weights are the few-shot ones.

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


def _rounded(values: np.ndarray) -> np.ndarray:
    """``values`` to :data:`DIGITS` significant digits, so a saved predictor predicts exactly as the fitted one."""
    return np.array([float(f"{v:.{DIGITS}g}") for v in values], dtype=float)


class TransferPredictor(FewShotPredictor):
    """Latency on a new device from the measured latencies of other devices plus a few measurements.

    ``pretrain(nets, sources)`` remembers the source devices' measurements of ``nets`` (rows with
    a missing or non-positive value on any source are left out); ``fit`` learns the few-shot
    ridge on the new device's measurements of architectures among them.
    """

    kind = "transfer"

    def __init__(self) -> None:
        super().__init__(source_kind="measured")
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
