"""Latency predictors: look-up table, LightGBM, MLP, few-shot adaptation, transfer, and the MACs baseline.

All share :class:`LatencyPredictor` (``fit`` / ``predict`` on :class:`Net` s, milliseconds) and
save as JSON (:func:`save` / :func:`load`). No torch here: spaces turn archs into nets
(:func:`nets_of`). ``PREDICTORS.create("lgbm", seed=0)``.
"""

from __future__ import annotations

from edgenas.hardware.latency.base import LatencyPredictor, Net, load, nets_of, save
from edgenas.hardware.latency.fewshot import FewShotPredictor
from edgenas.hardware.latency.gbdt import LgbmPredictor
from edgenas.hardware.latency.lut import LayerLutPredictor, MacsPredictor
from edgenas.hardware.latency.metrics import LatencyMetrics, latency_metrics
from edgenas.hardware.latency.mlp import MlpPredictor
from edgenas.hardware.latency.transfer import TransferPredictor
from edgenas.registry import Registry

PREDICTORS: Registry[LatencyPredictor] = Registry("predictor kind")
PREDICTORS.add("lut", LayerLutPredictor)
PREDICTORS.add("lgbm", LgbmPredictor)
PREDICTORS.add("mlp", MlpPredictor)
PREDICTORS.add("fewshot", FewShotPredictor)
PREDICTORS.add("transfer", TransferPredictor)
PREDICTORS.add("macs", MacsPredictor)

__all__ = [
    "PREDICTORS",
    "FewShotPredictor",
    "LatencyMetrics",
    "LatencyPredictor",
    "LayerLutPredictor",
    "LgbmPredictor",
    "MacsPredictor",
    "MlpPredictor",
    "TransferPredictor",
    "Net",
    "latency_metrics",
    "load",
    "nets_of",
    "save",
]
