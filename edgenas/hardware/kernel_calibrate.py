"""Cycles per instruction of TensorFlow Lite Micro + CMSIS-NN on a Cortex-M core, from MLPerf Tiny rows.

Why only one number per core: MLPerf Tiny has TFLite Micro + CMSIS-NN rows on three Cortex-M
cores (M4, M33, M85), four reference models each, and no row on the Cortex-M7. The kernels'
instruction counts are measured, not fitted (``latency.kernels.instructions`` of a target file), so
the rows only have to decide how many cycles a core spends per instruction: its pipeline and
memory system. One figure per core, fitted in log space, leaves three degrees of freedom of four
to judge it by (in-sample error per model) and a leave-one-model-out error that says how well it
predicts a network it has not seen.

A core without rows gets the figure of a measured core scaled by the cores' documented relative
speed on the same instruction set (:data:`COREMARK_PER_MHZ`, Arm's published CoreMark/MHz): the
Cortex-M7 dual-issues where the M33 and M4 issue one instruction a cycle.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edgenas.errors import InvalidInputError
from edgenas.hardware.kernel_latency import KernelLatency, graph_instructions
from edgenas.hardware.mlperf import MeasuredRow
from edgenas.hardware.tflite_graph import BUILTIN, as_converted
from edgenas.ir import Layer

#: The runtime family of TFLite Micro with CMSIS-NN kernels in the MLPerf Tiny rows.
TFLM_FAMILY = "tflm-cmsis-nn"

#: Cores that run CMSIS-NN's DSP-extension code, the code whose instructions the table counts (the
#: Cortex-M55/M85 run its Helium (MVE) kernels instead: other instructions, so a fit there says little).
DSP_EXTENSION_CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p")

#: CoreMark per MHz, as Arm publishes it for each core (developer.arm.com processor pages): the
#: documented single-core pipeline speed used to carry cycles per instruction between cores that
#: run the same kernels (Armv7E-M / Armv8-M Mainline with the DSP extension).
COREMARK_PER_MHZ = {"cortex-m4": 3.42, "cortex-m33": 4.02, "cortex-m7": 5.01, "cortex-m85": 6.28}


@dataclass(frozen=True)
class CoreFit:
    """One core's cycles per instruction under TFLite Micro + CMSIS-NN, and how well it predicts."""

    core: str
    row_ids: tuple[str, ...]
    rounds: tuple[str, ...]
    measured_cycles: Mapping[str, float]  # median per reference model, at each row's clock
    instructions: Mapping[str, float]  # the kernel model's, per reference model
    cycles_per_instruction: float
    in_sample_error: Mapping[str, float]  # estimate / measured - 1
    lomo_error: Mapping[str, float]  # left out of the fit, estimate / measured - 1

    @property
    def max_in_sample_error(self) -> float:
        return max((abs(v) for v in self.in_sample_error.values()), default=math.nan)

    @property
    def max_lomo_error(self) -> float:
        return max((abs(v) for v in self.lomo_error.values()), default=math.nan)


def reference_instructions(models: Mapping[str, Sequence[Layer]], model: KernelLatency) -> dict[str, float]:
    """Instructions of each MLPerf Tiny reference model as its own file holds it (no layout copies)."""
    out = {}
    for name, layers in models.items():
        ops = as_converted(layers, [BUILTIN[layer.op] for layer in layers])[1]
        out[name] = math.fsum(graph_instructions(ops, model, "cmsis-nn"))
    return out


def tflm_rows(rows: Sequence[MeasuredRow], core: str) -> list[MeasuredRow]:
    """The calibration-grade TFLite Micro + CMSIS-NN rows of one core."""
    return [r for r in rows if r.core == core and r.runtime_family == TFLM_FAMILY and r.calibration_grade]


def _cpi(instructions: Mapping[str, float], cycles: Mapping[str, float], benchmarks: Sequence[str]) -> float:
    """Least squares in log space: the geometric mean of measured cycles over instructions."""
    return math.exp(statistics.fmean(math.log(cycles[b] / instructions[b]) for b in benchmarks))


def fit_core(models: Mapping[str, Sequence[Layer]], rows: Sequence[MeasuredRow], core: str, model: KernelLatency) -> CoreFit:
    """Fit ``core``'s cycles per instruction to its TFLite Micro + CMSIS-NN rows, with LOMO errors."""
    chosen = tflm_rows(rows, core)
    if not chosen:
        raise InvalidInputError(f"no calibration-grade {TFLM_FAMILY} rows for core {core!r} in the MLPerf Tiny data")
    instructions = reference_instructions(models, model)
    benchmarks = sorted({r.benchmark for r in chosen} & set(instructions))
    cycles = {b: statistics.median(r.cycles for r in chosen if r.benchmark == b) for b in benchmarks}
    cpi = _cpi(instructions, cycles, benchmarks)
    in_sample = {b: cpi * instructions[b] / cycles[b] - 1.0 for b in benchmarks}
    lomo = {}
    if len(benchmarks) >= 2:
        for b in benchmarks:
            others = [o for o in benchmarks if o != b]
            lomo[b] = _cpi(instructions, cycles, others) * instructions[b] / cycles[b] - 1.0
    return CoreFit(
        core=core,
        row_ids=tuple(r.row_id for r in chosen),
        rounds=tuple(sorted({r.round for r in chosen})),
        measured_cycles=cycles,
        instructions={b: instructions[b] for b in benchmarks},
        cycles_per_instruction=cpi,
        in_sample_error=in_sample,
        lomo_error=lomo,
    )


def carried_cpi(fit: CoreFit, to_core: str) -> float:
    """``fit``'s cycles per instruction carried to ``to_core`` by the cores' CoreMark/MHz ratio."""
    for core in (fit.core, to_core):
        if core not in COREMARK_PER_MHZ:
            raise InvalidInputError(f"no published CoreMark/MHz for {core!r}: known {sorted(COREMARK_PER_MHZ)}")
    return fit.cycles_per_instruction * COREMARK_PER_MHZ[fit.core] / COREMARK_PER_MHZ[to_core]


def tflm_cores(rows: Sequence[MeasuredRow]) -> list[str]:
    """Every Cortex-M core with calibration-grade TFLite Micro + CMSIS-NN rows (the kernels are Arm's)."""
    return sorted(
        {r.core for r in rows if r.core.startswith("cortex-m") and r.runtime_family == TFLM_FAMILY and r.calibration_grade}
    )
