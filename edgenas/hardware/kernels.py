"""Which kernel runs each operator on the target, and where the estimated latency goes.

A user about to flash a network wants to see its bottleneck before the board is on the desk:
which operator takes the time, and whether it runs on one of CMSIS-NN's optimised kernels, on a
CMSIS-NN generic path (a depthwise convolution with a channel multiplier, which the converter
makes of a one-channel first convolution), or on a TensorFlow Lite Micro reference kernel (PAD,
the element-wise activations). The choice follows what TFLite Micro's CMSIS-NN kernels call for
each operator's shape (the same rules that decide their scratch buffers in
:func:`edgenas.hardware.analytical.scratch_bytes`); on a target whose runtime is not TFLite Micro
with CMSIS-NN, the kernel is the runtime's own and only the builtin is named. Shares are of the
analytical *estimate*, labelled so wherever they are shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from edgenas.hardware.analytical import graph_of, latency_breakdown_ms
from edgenas.hardware.kernel_latency import graph_cycles
from edgenas.hardware.kernel_paths import (
    FAST,
    FOLDED,
    FOLDED_FUNCTION,
    GENERIC,
    NONE,
    REFERENCE,
    RUNTIME,
    KernelChoice,
    builtin_of,
    choose_kernel,
    op_kernel,
)
from edgenas.hardware.target import Target
from edgenas.hardware.tflite_graph import MULTI_OP_ACTIVATIONS
from edgenas.ir import Layer

__all__ = [
    "FAST", "FOLDED", "FOLDED_FUNCTION", "GENERIC", "NONE", "REFERENCE", "RUNTIME",
    "KernelChoice", "OperatorShare", "kernel_of", "operator_profile", "share_by_path",
]  # fmt: skip


@dataclass(frozen=True)
class OperatorShare:
    """One operator of the converted network with its kernel and its share of the estimated latency."""

    index: int  # the IR layer it belongs to (a layout copy belongs to the layer whose lowering wrote it)
    name: str
    op: str
    builtin: str
    kernel: str
    path: str
    macs: int
    latency_ms: float  # estimated (the target's analytical model)
    share: float  # of the network's estimated latency, 0-1

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def kernel_of(layer: Layer, target: Target) -> KernelChoice:
    """The kernel ``layer`` runs on ``target`` (CMSIS-NN's rules on a ``kernels: cmsis-nn`` target)."""
    return choose_kernel(layer, target.kernels)


def operator_profile(layers: Sequence[Layer], target: Target) -> list[OperatorShare]:
    """Every operator of the converted graph with its kernel and estimated milliseconds and share.

    In graph order; a layer the converter folds away is listed where it was, with no kernel. On a
    target priced kernel by kernel every operator carries its own estimate, layout copies
    included; on one priced per layer (an optimised engine) a layer's estimate sits on the
    operator that computes it and the copies show none.
    """
    ops = graph_of(layers)
    per_layer = latency_breakdown_ms(layers, target)
    total = math.fsum(per_layer) or 1.0
    model = target.kernel_latency
    if model is not None:
        per_op = [c * 1000.0 / target.clock_hz for c in graph_cycles(ops, model, target.kernels)]
    else:
        per_op = [per_layer[op.owner] if op.layer is not None else 0.0 for op in ops]
    realised = {op.owner for op in ops if op.layer is not None}
    folded = [i for i in range(len(layers)) if i not in realised]  # no operator computes it: priced as the model says
    rows: list[OperatorShare] = []

    def add_folded(up_to: int) -> None:
        while folded and folded[0] <= up_to:
            i = folded.pop(0)
            layer, choice = layers[i], kernel_of(layers[i], target)
            choice = choice if choice.path == NONE else FOLDED
            ms = per_layer[i] if model is None else 0.0  # priced kernel by kernel: what it owns has rows of its own
            rows.append(OperatorShare(i, layer.name or f"layer{i}", layer.op.value, builtin_of(layer), choice.function,
                                      choice.path, int(layer.macs), ms, ms / total))  # fmt: skip

    for op, ms in zip(ops, per_op, strict=True):
        add_folded(op.owner)
        layer = layers[op.owner]
        name = layer.name or f"layer{op.owner}"
        if op.layer is None:
            multi_op = layer.op in MULTI_OP_ACTIVATIONS and op.builtin in MULTI_OP_ACTIVATIONS[layer.op]
            part = "pass" if multi_op else "layout copy"
            name = f"{name} ({op.builtin.lower()} {part})"
        choice = op_kernel(op, target.kernels)
        rows.append(
            OperatorShare(
                index=op.owner, name=name, op=layer.op.value, builtin=op.builtin, kernel=choice.function,
                path=choice.path, macs=int(op.layer.macs) if op.layer is not None else 0, latency_ms=ms, share=ms / total,
            )
        )  # fmt: skip
    add_folded(len(layers))
    return rows


def share_by_path(profile: Sequence[OperatorShare]) -> dict[str, float]:
    """The estimated latency share of each kind of kernel path (fast, generic, reference, ...)."""
    shares: dict[str, float] = {}
    for row in profile:
        shares[row.path] = shares.get(row.path, 0.0) + row.share
    return shares
