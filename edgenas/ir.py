"""The hardware IR: what a network *is* to a cost model, an exporter and a report.

Spaces produce a list of :class:`Layer` from a genotype without importing torch, so a cost
model can price thousands of candidates a second. A layer describes the *deployed* operator:
batch norm already folded into the convolution before it (as the int8 TFLite path does), the
activation fused, shapes without the batch dimension, channels last (NHWC, as TFLite Micro).

Counting conventions (shared by every cost model, and checked against
``torch.utils.flop_counter`` in ``benchmarks/cost_throughput.py``):

* MACs are multiply-accumulates of convolutions and fully connected layers only. Pooling,
  additions, activations and bias adds are not MACs (they are priced per element by latency
  models instead).
* Parameters are those of the deployed network: weights plus one bias per output channel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Op(StrEnum):
    """Operators a space may emit; each maps to one TFLite builtin (or a short fixed sequence)."""

    CONV2D = "conv2d"  # CONV_2D
    DWCONV2D = "dwconv2d"  # DEPTHWISE_CONV_2D
    CONV1D = "conv1d"  # CONV_2D on a (T, 1, C) tensor: TFLite has no 1-D conv
    DWCONV1D = "dwconv1d"  # DEPTHWISE_CONV_2D on a (T, 1, C) tensor
    FC = "fc"  # FULLY_CONNECTED
    AVGPOOL2D = "avgpool2d"  # AVERAGE_POOL_2D
    GLOBAL_AVGPOOL = "global_avgpool"  # average over the spatial axes (exported as AVERAGE_POOL_2D)
    ADD = "add"  # ADD (residual)
    RESHAPE = "reshape"  # RESHAPE (free at run time, but a node and a tensor)
    PAD = "pad"  # PAD: the converter's explicit zero border where SAME padding would be asymmetric
    SOFTMAX = "softmax"  # SOFTMAX
    MUL = "mul"  # MUL (element-wise, broadcast of a (C,) gate over (H, W, C): squeeze-and-excitation)
    SIGMOID = "sigmoid"  # LOGISTIC (the squeeze-and-excitation gate of EfficientNet / MnasNet)
    HARD_SIGMOID = "hard_sigmoid"  # relu6(x + 3) / 6: ADD, RELU6, MUL in TFLite (MobileNetV3's gate)
    HARD_SWISH = "hard_swish"  # HARD_SWISH: x * relu6(x + 3) / 6 (MobileNetV3)
    SWISH = "swish"  # x * sigmoid(x) (SiLU, EfficientNet): LOGISTIC + MUL in TFLite
    # A recurrent layer over a (T, C) sequence: no TFLite Micro kernel runs it (no GRU builtin;
    # the int8 LSTM one is not what the export reaches), so the converter's file holds it
    # unrolled, step by step, as FULLY_CONNECTED, ADD, MUL and LOGISTIC operators plus a SLICE
    # per frame (edgenas.hardware.tflite_graph). Output (H,): the last state; (T, H): every state.
    GRU = "unrolled_gru"
    LSTM = "unrolled_lstm"


#: Recurrent layers, and how many gates (weight matrices on each side) each step computes.
RECURRENT_GATES = {Op.GRU: 3, Op.LSTM: 4}

#: Operators that carry weights, hence MACs and flash.
WEIGHTED_OPS = frozenset({Op.CONV2D, Op.DWCONV2D, Op.CONV1D, Op.DWCONV1D, Op.FC, *RECURRENT_GATES})

#: Element-wise activations that run as their own operator (TFLite fuses only ReLU and ReLU6 into
#: the op before them, which ``Layer.activation`` records).
ACTIVATION_OPS = frozenset({Op.SIGMOID, Op.HARD_SIGMOID, Op.HARD_SWISH, Op.SWISH})

#: Bytes per element of each supported tensor type.
DTYPE_BYTES = {"int8": 1, "int16": 2, "float32": 4}


@dataclass(frozen=True, slots=True)
class Layer:
    """One deployed operator.

    Attributes:
        op: The operator.
        in_shape: Input tensor shape without batch, channels last: ``(H, W, C)`` for 2-D ops,
            ``(T, C)`` for 1-D ops, ``(C,)`` for a fully connected layer.
        out_shape: Output tensor shape, same convention.
        kernel: Kernel size per spatial axis, ``()`` for ops without a kernel.
        stride: Stride per spatial axis, ``()`` where not applicable.
        groups: Convolution groups (``C`` for depthwise).
        bias: Whether the deployed op has a bias (always, once batch norm is folded).
        activation: Fused activation (``"relu"``, ``"relu6"`` or ``None``). Other activations
            (hard-swish, swish, sigmoid) are separate layers (:data:`ACTIVATION_OPS`), as in TFLite.
        dtype: Tensor element type on the target (weights and output): ``"int8"`` or, for a
            layer left in float, ``"float32"``, so a cost model sees the weight bytes of each layer.
        inputs: Indices of the producing layers in the network list; ``-1`` is the network
            input. ``None`` means "the previous layer" (a plain chain).
        name: A human label for reports (``"block2.pw"``).
    """

    op: Op
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    groups: int = 1
    bias: bool = True
    activation: str | None = None
    dtype: str = "int8"
    inputs: tuple[int, ...] | None = None
    name: str = ""

    @property
    def in_channels(self) -> int:
        return self.in_shape[-1]

    @property
    def out_channels(self) -> int:
        return self.out_shape[-1]

    @property
    def in_elements(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_elements(self) -> int:
        return math.prod(self.out_shape)

    @property
    def weight_count(self) -> int:
        """Number of weights (not biases) of the deployed op."""
        if self.op not in WEIGHTED_OPS:
            return 0
        if self.op is Op.FC:
            return self.in_elements * self.out_channels
        if self.op in RECURRENT_GATES:  # input-side and state-side matrices of every gate
            return RECURRENT_GATES[self.op] * self.out_channels * (self.in_channels + self.out_channels)
        return math.prod(self.kernel) * (self.in_channels // self.groups) * self.out_channels

    @property
    def steps(self) -> int:
        """Time steps of a recurrent layer (its input's length), 1 for any other op."""
        return self.in_shape[0] if self.op in RECURRENT_GATES else 1

    @property
    def weight_bytes(self) -> int:
        """Bytes of the weights at the layer's precision (int8: 1 per weight, float32: 4)."""
        return self.weight_count * DTYPE_BYTES[self.dtype]

    @property
    def param_count(self) -> int:
        """Weights plus biases of the deployed op."""
        if self.op not in WEIGHTED_OPS:
            return 0
        if self.op is Op.GRU:  # input-side biases of the 3 gates + the candidate's state-side one
            return self.weight_count + 4 * self.out_channels
        if self.op is Op.LSTM:  # input-side biases of the 4 gates
            return self.weight_count + 4 * self.out_channels
        return self.weight_count + (self.out_channels if self.bias else 0)

    @property
    def macs(self) -> int:
        """Multiply-accumulates for one inference (see the module docstring)."""
        if self.op not in WEIGHTED_OPS:
            return 0
        if self.op is Op.FC:
            return self.in_elements * self.out_channels
        if self.op in RECURRENT_GATES:  # the state-side products vanish at the first step (zero state)
            gates, hidden = RECURRENT_GATES[self.op], self.out_channels
            macs = gates * hidden * (self.steps * self.in_channels + (self.steps - 1) * hidden)
            # an LSTM's forget gate has nothing to forget at the first step: it is not computed
            return macs - (self.in_channels * hidden if self.op is Op.LSTM else 0)
        per_output = math.prod(self.kernel) * (self.in_channels // self.groups)
        return self.out_elements * per_output

    def signature(self) -> str:
        """A canonical key for look-up tables: same signature, same cost on a device."""
        parts = [
            self.op.value,
            "x".join(map(str, self.in_shape)),
            "x".join(map(str, self.out_shape)),
        ]
        if self.kernel:
            parts.append("k" + "x".join(map(str, self.kernel)))
        if self.stride:
            parts.append("s" + "x".join(map(str, self.stride)))
        if self.groups != 1:
            parts.append(f"g{self.groups}")
        if self.activation:
            parts.append(self.activation)
        parts.append(self.dtype)
        return "|".join(parts)


def producers(layers: Sequence[Layer], index: int) -> tuple[int, ...]:
    """Indices of the tensors ``layers[index]`` reads (``-1`` = network input)."""
    layer = layers[index]
    return layer.inputs if layer.inputs is not None else (index - 1,)


def total_macs(layers: Sequence[Layer]) -> int:
    return sum(layer.macs for layer in layers)


def total_params(layers: Sequence[Layer]) -> int:
    return sum(layer.param_count for layer in layers)
