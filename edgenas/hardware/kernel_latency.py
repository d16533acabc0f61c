"""Latency of TensorFlow Lite Micro + CMSIS-NN, priced kernel by kernel over the converted graph.

Why a second latency model: the per-MAC-kind model of :mod:`edgenas.hardware.analytical` was fitted
to optimised engines (Plumerai, Bosch HALE, X-CUBE-AI), which fuse layout copies away and run every
operator on a tuned kernel. The runtime edgenas exports to is TFLite Micro with CMSIS-NN, where the
cost of an operator is decided by the *kernel* its shape selects (:mod:`edgenas.hardware.kernel_paths`):
a MEAN on the reference kernel costs two orders of magnitude more per element than the pooling
CMSIS-NN accelerates, a one-channel convolution the converter makes depthwise runs the generic
depthwise path, and the converter's TRANSPOSE/RESHAPE copies run too. So this model walks the
graph the converter writes (:func:`edgenas.hardware.tflite_graph.lower`), layout copies included.

Each kernel is priced in *instructions* of the Armv7E-M / Armv8-M Mainline DSP instruction set
(the same kernel code on Cortex-M4, M7 and M33), per unit of work (MAC, input or output element)
plus per call, and every operator pays TFLite Micro's per-invoke dispatch. A core turns
instructions into cycles with one ``cycles_per_instruction`` figure, which carries its pipeline
(the Cortex-M7 issues two instructions a cycle where the M4 and M33 issue one) and its memory
system (flash wait states). The instruction table comes from measurements of the kernels; the
cycles per instruction of a core from its measured MLPerf Tiny rows or, where it has none, from
a measured core and the cores' documented pipeline difference. The target file records both
sources (``docs/targets.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edgenas.hardware.kernel_paths import KERNEL_UNITS, op_kernel
from edgenas.hardware.tflite_graph import TfliteOp
from edgenas.ir import DTYPE_BYTES


@dataclass(frozen=True, slots=True)
class KernelInstructions:
    """Instructions one kernel executes: per unit of work (``KERNEL_UNITS``), per output element and
    per weight (the convolutions requantise every output; the 1x1 kernel re-sums its weights on
    every call), and per call."""

    per_unit: float
    per_call: float = 0.0
    per_output: float = 0.0
    per_weight: float = 0.0


@dataclass(frozen=True, slots=True)
class KernelLatency:
    """A runtime priced kernel by kernel: instructions per kernel, cycles per instruction on the core."""

    cycles_per_instruction: float
    invoke_overhead_instructions: float  # TFLite Micro's per-operator dispatch (MicroInterpreter::Invoke)
    instructions: tuple[tuple[str, KernelInstructions], ...]  # (KERNEL_UNITS key, cost), sorted by key

    def table(self) -> dict[str, KernelInstructions]:
        return dict(self.instructions)


def make_kernel_latency(
    cycles_per_instruction: float, invoke_overhead_instructions: float, instructions: Mapping[str, KernelInstructions]
) -> KernelLatency:
    """A :class:`KernelLatency` whose table prices exactly the kernels of :data:`KERNEL_UNITS`."""
    missing = sorted(set(KERNEL_UNITS) - set(instructions))
    extra = sorted(set(instructions) - set(KERNEL_UNITS))
    if missing or extra:
        raise ValueError(
            f"instructions: missing {missing or 'none'}, unexpected {extra or 'none'}; expected exactly {sorted(KERNEL_UNITS)}"
        )
    return KernelLatency(cycles_per_instruction, invoke_overhead_instructions, tuple(sorted(instructions.items())))


def work_of(op: TfliteOp, key: str) -> tuple[float, float, float]:
    """(units of KERNEL_UNITS[key], output elements, weights) of one operator."""
    layer = op.layer
    if layer is None:  # a layout copy or an activation pass: its output in the graph's element type (int8)
        return float(op.out_bytes), float(op.out_bytes), 0.0
    outputs = float(op.out_bytes // DTYPE_BYTES.get(layer.dtype, 1))
    unit = KERNEL_UNITS[key]
    units = float(layer.macs) if unit == "mac" else float(layer.in_elements) if unit == "input" else outputs
    return units, outputs, float(layer.weight_count)


def op_instructions(
    op: TfliteOp, model: KernelLatency, target_kernels: str, table: Mapping[str, KernelInstructions] | None = None
) -> float:
    """Instructions one operator of the converted graph executes, dispatch included."""
    key = op_kernel(op, target_kernels).key
    if not key:
        return 0.0
    cost = (table or model.table())[key]
    units, outputs, weights = work_of(op, key)
    per_work = cost.per_unit * units + cost.per_output * outputs + cost.per_weight * weights
    return model.invoke_overhead_instructions + cost.per_call + per_work


def graph_instructions(ops: Sequence[TfliteOp], model: KernelLatency, target_kernels: str) -> list[float]:
    """Instructions of each operator of the converted graph, in graph order."""
    table = model.table()
    return [op_instructions(op, model, target_kernels, table) for op in ops]


def graph_cycles(ops: Sequence[TfliteOp], model: KernelLatency, target_kernels: str) -> list[float]:
    """Estimated cycles of each operator of the converted graph, in graph order."""
    return [n * model.cycles_per_instruction for n in graph_instructions(ops, model, target_kernels)]
