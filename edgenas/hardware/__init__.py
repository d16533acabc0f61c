"""Hardware targets and the analytical cost model (pure functions of the layer IR, no torch)."""

from __future__ import annotations

from edgenas.hardware.analytical import (
    activation_peak_bytes,
    flash_bytes,
    latency_breakdown_ms,
    latency_ms,
    peak_sram_bytes,
    persistent_bytes,
    scratch_bytes,
)
from edgenas.hardware.cost import AnalyticalCostModel
from edgenas.hardware.target import (
    FlashCoefficients,
    LatencyAnchor,
    LatencyCoefficients,
    MemoryCoefficients,
    Target,
    builtin_targets,
    load_target,
)

__all__ = [
    "AnalyticalCostModel",
    "FlashCoefficients",
    "LatencyAnchor",
    "LatencyCoefficients",
    "MemoryCoefficients",
    "Target",
    "activation_peak_bytes",
    "builtin_targets",
    "flash_bytes",
    "latency_breakdown_ms",
    "latency_ms",
    "load_target",
    "peak_sram_bytes",
    "persistent_bytes",
    "scratch_bytes",
]
