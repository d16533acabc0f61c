"""Price an int8 ``.tflite`` file operator by operator, as the target's runtime would run it.

Why read the file and not the architecture: the analytical model prices the graph edgenas's
export path is known to write (:func:`edgenas.hardware.tflite_graph.lower`). A file converted
another way (an older export with MEAN and PAD + QUANTIZE copies, a model from another tool, a
run whose checkpoint is gone) holds other operators, and the bottleneck a user must see before
flashing is the one in *that* file. Each operator is rebuilt as an IR layer from its tensors'
shapes, its kernel chosen by TFLite Micro's CMSIS-NN rules (:mod:`edgenas.hardware.kernel_paths`)
and priced by the target's kernel table (:mod:`edgenas.hardware.kernel_latency`). Targets priced
per layer (optimised engines) have no per-kernel table: for them only kernels are named.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from edgenas.export.tflite import litert_interpreter, quiet_native_output
from edgenas.hardware.analytical import builtins_code_bytes
from edgenas.hardware.kernel_latency import op_instructions, work_of
from edgenas.hardware.kernel_paths import op_kernel
from edgenas.hardware.target import Target
from edgenas.hardware.tflite_graph import TfliteOp
from edgenas.ir import Layer, Op


@dataclass(frozen=True)
class PricedOperator:
    """One operator of a ``.tflite`` with its kernel on the target and its estimated cost."""

    index: int
    builtin: str
    kernel: str
    path: str
    key: str  # the entry of the target's kernel table that prices it ("" where none does)
    macs: int
    units: float  # the work its kernel is priced by (KERNEL_UNITS: MACs, input or output elements)
    output_elements: int
    instructions: float | None  # estimated (the target's kernel table); None where it has none or cannot price it
    latency_ms: float | None  # estimated
    share: float | None  # of the file's estimated latency, 0-1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FilePricing:
    """The operators of one file on one target, and the total the target's table gives."""

    target: str
    operators: tuple[PricedOperator, ...]
    latency_ms: float | None  # estimated; None on a target without a kernel table
    unpriced: tuple[str, ...]  # builtins the table has no kernel for (counted as zero)
    code_bytes: int = 0  # estimated: the runtime code the file's builtins link (0 where the target gives no sizes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "latency_ms": self.latency_ms,
            "latency_source": "estimated",
            "unpriced": list(self.unpriced),
            "code_bytes": self.code_bytes,
            "operators": [op.to_dict() for op in self.operators],
        }


def _shape(tensor: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(v) for v in tensor["shape"])


def _stride(size: int, out: int) -> int:
    return max(1, math.ceil(size / max(out, 1)))


def _layer(builtin: str, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Layer | None:
    """The IR layer an operator computes, where its kernel depends on its shape (None for copies)."""
    o = out[1:]  # without the batch
    if builtin in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(ins) >= 2 and len(ins[0]) == 4 and len(ins[1]) == 4:
        (_, h, w, c), (_, kh, kw, _) = ins[0], ins[1]
        stride = (_stride(h, o[0]), _stride(w, o[1]))
        if builtin == "CONV_2D":
            return Layer(Op.CONV2D, (h, w, c), o, kernel=(kh, kw), stride=stride)
        return Layer(Op.DWCONV2D, (h, w, c), o, kernel=(kh, kw), stride=stride, groups=c)
    if builtin == "FULLY_CONNECTED" and len(ins) >= 2 and len(ins[1]) == 2:
        units, n = ins[1]
        return Layer(Op.FC, (n,), (units,))
    if builtin == "AVERAGE_POOL_2D" and len(ins[0]) == 4:
        _, h, w, c = ins[0]
        window = (_stride(h, o[0]), _stride(w, o[1]))
        return Layer(Op.AVGPOOL2D, ins[0][1:], o, kernel=window, stride=window)
    if builtin in ("MEAN", "SUM") and ins:
        return Layer(Op.GLOBAL_AVGPOOL, ins[0][1:] or (1,), o or (1,))
    return None


def price_tflite(model_bytes: bytes, target: Target) -> FilePricing:
    """Every operator of ``model_bytes`` with its kernel on ``target`` and, where the target prices
    kernel by kernel, its estimated instructions and milliseconds."""
    with quiet_native_output():
        interpreter = litert_interpreter(model_bytes)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    model = target.kernel_latency
    table = model.table() if model is not None else None
    rows: list[PricedOperator] = []
    unpriced: list[str] = []
    for i, op in enumerate(interpreter._get_ops_details()):  # the only API listing operators with their tensors
        builtin = str(op["op_name"])
        ins = [_shape(tensors[t]) for t in op["inputs"] if t >= 0 and t in tensors]
        outs = [_shape(tensors[t]) for t in op["outputs"] if t >= 0 and t in tensors]
        out = outs[0] if outs else (1,)
        elements = math.prod(out)
        layer = _layer(builtin, ins, out)
        lowered = TfliteOp(builtin, elements, (i - 1,), layer, i)
        choice = op_kernel(lowered, target.kernels)
        instructions = None
        if model is not None and table is not None:
            if choice.key:
                instructions = op_instructions(lowered, model, target.kernels, table)
            else:
                unpriced.append(builtin)
        ms = None
        if instructions is not None and model is not None:
            ms = instructions * model.cycles_per_instruction * 1e3 / target.clock_hz
        macs = int(layer.macs) if layer else 0
        units = work_of(lowered, choice.key)[0] if choice.key else 0.0
        row = PricedOperator(i, builtin, choice.function, choice.path, choice.key, macs, units, elements, instructions, ms, None)
        rows.append(row)
    total = math.fsum(r.latency_ms for r in rows if r.latency_ms is not None) if model is not None else None
    if total:
        rows = [PricedOperator(**{**r.to_dict(), "share": None if r.latency_ms is None else r.latency_ms / total}) for r in rows]
    code = builtins_code_bytes((r.builtin for r in rows), target)
    return FilePricing(target.name, tuple(rows), total, tuple(sorted(set(unpriced))), code)
