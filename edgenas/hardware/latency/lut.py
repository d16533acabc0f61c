"""Per-layer look-up table: a network's latency is the sum of its layers' latencies.

This is the FBNet / HW-NAS-Bench model (and nn-Meter's, per kernel). Where per-layer
measurements exist, the table is simply given (:meth:`LayerLutPredictor.from_table`; the FBNet
block table of HW-NAS-Bench is priced this way by :mod:`edgenas.hardware.fbnet_lut`). From
whole-network measurements only, the table is *fitted*: each distinct layer shape
(``Layer.signature()``) gets one non-negative cost, plus one non-negative constant per network
(runtime overhead), by non-negative least squares on relative error (each row divided by its
measured latency, so a 2 ms network counts as much as a 20 ms one). Non-negativity keeps the
entries physical and acts as the regulariser.

A layer shape the fit never saw is priced by its operator's median cost per unit of work (MACs
for weighted ops, output elements for the rest) over the shapes it did see, so the table
degrades gracefully on networks outside the training set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
from scipy.optimize import nnls

from edgenas.errors import InvalidInputError
from edgenas.hardware.latency.base import LatencyPredictor, Net
from edgenas.hardware.latency.features import signature_counts
from edgenas.ir import Layer

KEYS = ("layers", "genes", "both")


def _gene_keys(net: Net) -> list[str]:
    """Position-specific entries (choice g of decision i) and shared ones (the choice's value)."""
    return [f"gene{i}={g}" for i, g in enumerate(net.genes)] + [f"choice:{c}" for c in net.choices]


def _work(layer: Layer) -> float:
    return float(layer.macs or layer.out_elements or 1)


class LayerLutPredictor(LatencyPredictor):
    """Sum of per-layer latencies (ms), fitted by NNLS or given as a measured table.

    Args:
        overhead: Fit a constant per-network overhead (ms) beside the layer entries.
        keys: What the table is keyed by: ``"layers"`` (each deployed layer shape of the IR),
            ``"genes"`` (each choice of each decision, the HW-NAS-Bench table's keys for NB201
            and FBNet; it also prices operators the deployed graph prunes, which the benchmark
            devices ran), or ``"both"``. Gene entries come in two tiers: one per choice *value*
            shared by every position (``nor_conv_3x3`` on any NB201 edge), and one per position.
        shrink: Ridge pull of the position-specific and layer entries towards 0 (in "virtual
            networks"), so with few measurements the shared per-choice entries carry the fit and
            the specific ones only correct it.
    """

    kind = "lut"

    def __init__(self, overhead: bool = True, keys: str = "both", shrink: float = 1.0) -> None:
        self.overhead = overhead
        self.keys = keys
        self.shrink = shrink
        self.table_: dict[str, float] | None = None
        self.overhead_ms_: float = 0.0
        self.rate_by_op_: dict[str, float] = {}

    @classmethod
    def from_table(cls, table_ms: Mapping[str, float], overhead_ms: float = 0.0) -> LayerLutPredictor:
        """A table of *measured* layer latencies, keyed by ``Layer.signature()``."""
        self = cls(overhead=overhead_ms > 0, keys="layers")
        self.table_ = {k: float(v) for k, v in table_ms.items()}
        self.overhead_ms_ = float(overhead_ms)
        return self

    def _counts(self, nets: Sequence[Net]) -> list[Counter[str]]:
        counts = signature_counts(nets) if self.keys != "genes" else [Counter() for _ in nets]
        if self.keys != "layers":
            for c, net in zip(counts, nets, strict=True):
                c.update(_gene_keys(net))
        return counts

    def fit(self, nets: Sequence[Net], latency_ms: np.ndarray) -> Self:
        y = self._check_xy(nets, latency_ms)
        if self.keys not in KEYS:
            raise InvalidInputError(f"keys={self.keys!r}: accepted {', '.join(KEYS)}")
        counts = self._counts(nets)
        keys = sorted({k for c in counts for k in c})
        column = {k: j for j, k in enumerate(keys)}
        a = np.zeros((len(nets), len(keys) + int(self.overhead)))
        for i, c in enumerate(counts):
            for k, n in c.items():
                a[i, column[k]] = n
        if self.overhead:
            a[:, -1] = 1.0
        rows, target = a / y[:, None], np.ones_like(y)
        if self.shrink > 0:  # ridge rows: sqrt(shrink) * entry / mean latency ~ 0, for all but the shared entries
            penalised = [column[k] for k in keys if not k.startswith("choice:")]
            ridge = np.zeros((len(penalised), a.shape[1]))
            ridge[np.arange(len(penalised)), penalised] = np.sqrt(self.shrink) / y.mean()
            rows, target = np.vstack([rows, ridge]), np.concatenate([target, np.zeros(len(penalised))])
        coef, _ = nnls(rows, target, maxiter=50 * a.shape[1])
        self.table_ = {k: float(coef[column[k]]) for k in keys}
        self.overhead_ms_ = float(coef[-1]) if self.overhead else 0.0
        self._fit_rates(nets)
        return self

    def _fit_rates(self, nets: Sequence[Net]) -> None:
        assert self.table_ is not None
        rates: dict[str, list[float]] = {}
        seen: set[str] = set()
        for net in nets:
            for layer in net.layers if self.keys != "genes" else ():
                sig = layer.signature()
                if sig not in seen:
                    seen.add(sig)
                    rates.setdefault(layer.op.value, []).append(self.table_[sig] / _work(layer))
        self.rate_by_op_ = {op: float(np.median(r)) for op, r in rates.items()}

    def layer_ms(self, layer: Layer) -> float:
        """The table entry of ``layer`` (ms), or its operator's median rate x its work if unseen."""
        self._check_fitted(self.table_)
        assert self.table_ is not None
        cost = self.table_.get(layer.signature())
        if cost is None:
            cost = self.rate_by_op_.get(layer.op.value, 0.0) * _work(layer)
        return cost

    def predict(self, nets: Sequence[Net]) -> np.ndarray:
        self._check_fitted(self.table_)
        assert self.table_ is not None
        cache: dict[Layer, float] = {}  # layers are frozen: equal layers, equal entry
        out = np.empty(len(nets))
        for i, net in enumerate(nets):
            total = self.overhead_ms_
            if self.keys != "layers":
                total += sum(self.table_.get(k, 0.0) for k in _gene_keys(net))
            for layer in net.layers if self.keys != "genes" else ():
                cost = cache.get(layer)
                if cost is None:
                    cost = cache[layer] = self.layer_ms(layer)
                total += cost
            out[i] = total
        return out

    def state(self) -> dict[str, Any]:
        self._check_fitted(self.table_)
        return {"table_ms": self.table_, "overhead_ms": self.overhead_ms_, "rate_by_op": self.rate_by_op_}

    def set_state(self, state: dict[str, Any]) -> None:
        self.table_ = {k: float(v) for k, v in state["table_ms"].items()}
        self.overhead_ms_ = float(state["overhead_ms"])
        self.rate_by_op_ = {k: float(v) for k, v in state["rate_by_op"].items()}


class MacsPredictor(LatencyPredictor):
    """The proxy baseline: latency = a + b x MACs (or parameters), least squares on relative error.

    Args:
        proxy: ``"macs"`` or ``"params"``.
    """

    kind = "macs"

    def __init__(self, proxy: str = "macs") -> None:
        self.proxy = proxy
        self.coef_: list[float] | None = None

    def _x(self, nets: Sequence[Net]) -> np.ndarray:
        if self.proxy not in ("macs", "params"):
            raise InvalidInputError(f"proxy={self.proxy!r}: accepted macs, params")
        if self.proxy == "macs":
            return np.array([float(sum(layer.macs for layer in n.layers)) for n in nets])
        return np.array([float(sum(layer.param_count for layer in n.layers)) for n in nets])

    def fit(self, nets: Sequence[Net], latency_ms: np.ndarray) -> Self:
        y = self._check_xy(nets, latency_ms)
        x = self._x(nets)
        a = np.column_stack([np.ones_like(x), x]) / y[:, None]
        coef, *_ = np.linalg.lstsq(a, np.ones_like(y), rcond=None)
        self.coef_ = [float(c) for c in coef]
        return self

    def predict(self, nets: Sequence[Net]) -> np.ndarray:
        self._check_fitted(self.coef_)
        assert self.coef_ is not None
        return self.coef_[0] + self.coef_[1] * self._x(nets)

    def state(self) -> dict[str, Any]:
        self._check_fitted(self.coef_)
        assert self.coef_ is not None
        return {"intercept_ms": self.coef_[0], "ms_per_unit": self.coef_[1]}

    def set_state(self, state: dict[str, Any]) -> None:
        self.coef_ = [float(state["intercept_ms"]), float(state["ms_per_unit"])]
