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

from edgenas.hardware.analytical import latency_breakdown_ms
from edgenas.hardware.target import Target
from edgenas.hardware.tflite_graph import BUILTIN, MULTI_OP_ACTIVATIONS, lower
from edgenas.ir import Layer, Op

#: The kinds of kernel path, fastest first.
FAST, GENERIC, REFERENCE, RUNTIME, NONE = "cmsis-nn fast", "cmsis-nn generic", "tflm reference", "runtime", "none"

_CONV = frozenset({Op.CONV2D, Op.CONV1D})
_DEPTHWISE = frozenset({Op.DWCONV2D, Op.DWCONV1D})
#: A layer the converter emits no operator for (a 2-D PAD folded into its convolution's SAME padding).
FOLDED_FUNCTION = "none (folded by the converter)"
_CMSIS_ELEMENTWISE = {Op.ADD: "arm_elementwise_add_s8", Op.MUL: "arm_elementwise_mul_s8", Op.SOFTMAX: "arm_softmax_s8"}


@dataclass(frozen=True)
class KernelChoice:
    """The kernel an operator runs on: its function (or builtin) and which kind of path it is."""

    function: str
    path: str


@dataclass(frozen=True)
class OperatorShare:
    """One operator of a network with its kernel and its share of the estimated latency."""

    index: int
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


FOLDED = KernelChoice(FOLDED_FUNCTION, NONE)


def _builtin(layer: Layer) -> str:
    if layer.op in MULTI_OP_ACTIVATIONS:
        return " + ".join(MULTI_OP_ACTIVATIONS[layer.op])
    if layer.op is Op.CONV2D and layer.in_channels == 1 and layer.groups == 1:
        return "DEPTHWISE_CONV_2D"  # the converter's form of a one-channel convolution
    return BUILTIN.get(layer.op, layer.op.value.upper())


def kernel_of(layer: Layer, target: Target) -> KernelChoice:
    """The kernel ``layer`` runs on ``target`` (CMSIS-NN's rules on a ``kernels: cmsis-nn`` target)."""
    op = layer.op
    if op is Op.GLOBAL_AVGPOOL and layer.in_elements == layer.in_channels:
        return KernelChoice("none (a flatten the next layer reads)", NONE)
    if target.kernels != "cmsis-nn":
        return KernelChoice(_builtin(layer), RUNTIME)
    depthwise = op in _DEPTHWISE or (op in _CONV and layer.groups > 1 and layer.groups == layer.in_channels)
    if op in _CONV and not depthwise:
        if op is Op.CONV2D and layer.in_channels == 1:
            return KernelChoice("arm_depthwise_conv_s8 (channel multiplier > 1)", GENERIC)
        if all(k == 1 for k in layer.kernel):
            fast = all(s == 1 for s in layer.stride)
            return KernelChoice("arm_convolve_1x1_s8_fast" if fast else "arm_convolve_1x1_s8", FAST)
        if op is Op.CONV1D:
            return KernelChoice("arm_convolve_s8 (arm_convolve_1_x_n_s8 where the wrapper takes it)", FAST)
        return KernelChoice("arm_convolve_s8", FAST)
    if depthwise:
        if layer.in_channels != layer.out_channels:
            return KernelChoice("arm_depthwise_conv_s8 (channel multiplier > 1)", GENERIC)
        if op is Op.DWCONV2D and tuple(layer.kernel) == (3, 3):
            return KernelChoice("arm_depthwise_conv_3x3_s8", FAST)
        return KernelChoice("arm_depthwise_conv_s8_opt", FAST)
    if op is Op.FC:
        return KernelChoice("arm_fully_connected_s8", FAST)
    if op in (Op.AVGPOOL2D, Op.GLOBAL_AVGPOOL):
        return KernelChoice("arm_avgpool_s8", FAST)
    if op in _CMSIS_ELEMENTWISE:
        return KernelChoice(_CMSIS_ELEMENTWISE[op], FAST)
    return KernelChoice(f"TFLM reference {_builtin(layer)}", REFERENCE)  # PAD, RESHAPE, the activations


def operator_profile(layers: Sequence[Layer], target: Target) -> list[OperatorShare]:
    """Every layer with its kernel and its estimated milliseconds and share, in layer order."""
    per_layer = latency_breakdown_ms(layers, target)
    total = math.fsum(per_layer) or 1.0
    _, lowered = lower(layers)
    emitted = {id(op.layer) for op in lowered if op.layer is not None}
    out = []
    for i, (layer, ms) in enumerate(zip(layers, per_layer, strict=True)):
        kernel = kernel_of(layer, target) if id(layer) in emitted else FOLDED
        out.append(
            OperatorShare(
                index=i, name=layer.name or f"layer{i}", op=layer.op.value, builtin=_builtin(layer),
                kernel=kernel.function, path=kernel.path, macs=int(layer.macs), latency_ms=ms, share=ms / total,
            )
        )  # fmt: skip
    return out


def share_by_path(profile: Sequence[OperatorShare]) -> dict[str, float]:
    """The estimated latency share of each kind of kernel path (fast, generic, reference, ...)."""
    shares: dict[str, float] = {}
    for row in profile:
        shares[row.path] = shares.get(row.path, 0.0) + row.share
    return shares
