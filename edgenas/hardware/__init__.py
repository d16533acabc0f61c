"""Hardware targets and the analytical cost model (pure functions of the layer IR, no torch)."""

from __future__ import annotations

from edgenas.hardware.analytical import (
    activation_peak_bytes,
    code_bytes,
    flash_bytes,
    latency_breakdown_ms,
    latency_ms,
    peak_sram_bytes,
    persistent_bytes,
    scratch_bytes,
)
from edgenas.hardware.cost import AnalyticalCostModel
from edgenas.hardware.target import (
    TARGETS,
    FlashCoefficients,
    LatencyAnchor,
    LatencyCoefficients,
    MemoryCoefficients,
    Target,
    builtin_targets,
    load_target,
    target_names,
)

__all__ = [
    "AnalyticalCostModel",
    "FlashCoefficients",
    "LatencyAnchor",
    "LatencyCoefficients",
    "MemoryCoefficients",
    "Target",
    "activation_peak_bytes",
    "TARGETS",
    "builtin_targets",
    "code_bytes",
    "flash_bytes",
    "latency_breakdown_ms",
    "latency_ms",
    "load_target",
    "peak_sram_bytes",
    "persistent_bytes",
    "scratch_bytes",
    "target_names",
]
