"""Analytical hardware cost of a network: peak SRAM, flash and latency from its layer list.

Pure functions of ``list[Layer]`` and a :class:`Target`: no torch, no I/O, a few microseconds
per layer, so a search can price thousands of candidates a second before training any.

What is modelled (the TFLite Micro deployment of an int8 network):

* **Activations**: TFLite Micro plans every non-constant tensor in one arena. A tensor lives
  from the op that produces it to its last consumer (``Layer.inputs`` / :func:`producers`); the
  network input lives from the start to its last consumer; a tensor nobody reads is a network
  output and lives to the end. The peak is the largest sum of live tensors at any op (plus that
  op's kernel scratch), each rounded up to the arena alignment. This is the liveness lower bound
  the greedy planner reaches on chains and simple branches; it may place a little worse on
  complex graphs.
* **RESHAPE**: by default it does *not* alias its input (TFLite Micro plans the output as its
  own buffer and the kernel copies); ``memory.reshape_aliases_input: true`` makes it share the
  input's buffer, which then lives until the reshape's last consumer.
* **Persistent tail**: per-channel requantisation data, one record per tensor and per node,
  per-op kernel state and a fixed allocator overhead (host-measured figures, see docs).
* **Flash**: the ``.tflite`` flatbuffer: int8 weights, int32 biases, quantisation parameters and
  per-tensor/per-op/per-model flatbuffer overhead.
* **Latency**: per-op cycles from the target's coefficients, divided by the clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from edgenas.errors import InvalidInputError
from edgenas.hardware.target import (
    FlashCoefficients,
    LatencyCoefficients,
    MemoryCoefficients,
    Target,
)
from edgenas.ir import DTYPE_BYTES, WEIGHTED_OPS, Layer, Op

_CONV_OPS = frozenset({Op.CONV2D, Op.CONV1D})
_DEPTHWISE_OPS = frozenset({Op.DWCONV2D, Op.DWCONV1D})

#: Ops that carry one extra constant tensor in the flatbuffer (RESHAPE's shape, MEAN's axes).
_EXTRA_CONST_TENSOR_OPS = frozenset({Op.RESHAPE, Op.GLOBAL_AVGPOOL, Op.PAD})  # shape/axis/paddings constant


def _elem_bytes(layer: Layer) -> int:
    try:
        return DTYPE_BYTES[layer.dtype]
    except KeyError:
        raise InvalidInputError(
            f"layer {layer.name or layer.op.value!r}: dtype {layer.dtype!r} is not one of {sorted(DTYPE_BYTES)}"
        ) from None


def _align(n_bytes: int, alignment: int) -> int:
    return -(-n_bytes // alignment) * alignment


def _check(layers: Sequence[Layer]) -> None:
    if not layers:
        raise InvalidInputError("the network has no layers: pass at least one Layer")


def _producer_indices(layers: Sequence[Layer], index: int) -> tuple[int, ...]:
    """Like :func:`edgenas.ir.producers`, validated: producers must come earlier in the list."""
    layer = layers[index]
    inputs = layer.inputs if layer.inputs is not None else (index - 1,)
    for p in inputs:
        if not -1 <= p < index:
            raise InvalidInputError(
                f"layer {index} ({layer.name or layer.op.value}): input index {p} must be -1 "
                f"(network input) or an earlier layer (0..{index - 1})"
            )
    return inputs


# --------------------------------------------------------------------------- SRAM


def scratch_bytes(layer: Layer, target: Target) -> int:
    """Kernel scratch buffer an op requests from the arena while it runs.

    With ``kernels: cmsis-nn`` these are the CMSIS-NN ``*_get_buffer_size`` formulas for cores
    with the DSP extension (Cortex-M4/M7/M33, no MVE), as TFLite Micro's CMSIS-NN kernels call
    them in ``Prepare``; the reference kernels use no scratch for these ops. MEAN requests one
    int32 accumulator per output element in both (TFLite Micro ``reduce``).
    """
    op = layer.op
    if op is Op.GLOBAL_AVGPOOL:
        return layer.out_elements * 4
    if target.kernels != "cmsis-nn":
        return 0
    if op in _CONV_OPS:
        if all(k == 1 for k in layer.kernel):
            return 0  # arm_convolve_1x1_s8(_fast): no im2col buffer
        # arm_convolve_s8 / arm_convolve_1_x_n_s8: two im2col columns of int16
        return 2 * layer.in_channels * math.prod(layer.kernel) * 2
    if op in _DEPTHWISE_OPS:
        if layer.in_channels != layer.out_channels:
            return 0  # channel multiplier > 1: generic arm_depthwise_conv_s8, no buffer
        if op is Op.DWCONV2D and tuple(layer.kernel) == (3, 3):
            return 0  # arm_depthwise_conv_3x3_s8 (padding <= 1 always holds for 3x3)
        # arm_depthwise_conv_s8_opt: one int16 im2col column per channel
        return layer.in_channels * math.prod(layer.kernel) * 2
    if op is Op.AVGPOOL2D:
        return layer.out_channels * 4  # arm_avgpool_s8_get_buffer_size: int32 per channel
    return 0  # FC (arm_fully_connected_s8), ADD, RESHAPE, SOFTMAX: none


def _live_intervals(layers: Sequence[Layer], target: Target) -> tuple[list[int], list[int], list[int]]:
    """Per buffer: size (aligned bytes), first op it is live at, last op it is live at.

    Buffer 0 is the network input, buffer i+1 the output of layer i.
    """
    n = len(layers)
    align = target.memory.tensor_alignment_bytes
    alias = target.memory.reshape_aliases_input
    sizes = [_align(layers[0].in_elements * _elem_bytes(layers[0]), align)]
    sizes += [_align(layer.out_elements * _elem_bytes(layer), align) for layer in layers]
    start = [0] + list(range(n))
    last = [-1] * (n + 1)
    # owner[b] = the buffer that actually holds tensor b (an aliasing RESHAPE shares its input's)
    owner = list(range(n + 1))
    for i in range(n):
        for p in _producer_indices(layers, i):
            last[owner[p + 1]] = max(last[owner[p + 1]], i)
        if alias and layers[i].op is Op.RESHAPE:
            (p,) = _producer_indices(layers, i)[:1]
            owner[i + 1] = owner[p + 1]
            sizes[i + 1] = 0
    consumed = [False] * (n + 1)
    for i in range(n):
        for p in _producer_indices(layers, i):
            consumed[p + 1] = True
    for b in range(n + 1):
        if not consumed[b]:  # a network output (or an unread tensor): kept to the end
            last[owner[b]] = n - 1
        if last[b] < start[b]:
            last[b] = start[b]
    return sizes, start, last


def _activation_profile(layers: Sequence[Layer], target: Target, with_scratch: bool) -> int:
    _check(layers)
    sizes, start, last = _live_intervals(layers, target)
    n = len(layers)
    delta = [0] * (n + 1)
    for size, s, e in zip(sizes, start, last, strict=True):
        delta[s] += size
        delta[e + 1] -= size
    align = target.memory.tensor_alignment_bytes
    peak = live = 0
    for i in range(n):
        live += delta[i]
        extra = _align(scratch_bytes(layers[i], target), align) if with_scratch else 0
        peak = max(peak, live + extra)
    return peak


def activation_peak_bytes(layers: Sequence[Layer]) -> int:
    """Peak bytes of live activation tensors (no scratch, no alignment padding, no aliasing).

    Target-independent liveness: see the module docstring. For the target's arena figure
    (alignment, RESHAPE aliasing, scratch) use :func:`peak_sram_bytes`.
    """
    _check(layers)
    return _activation_profile(layers, _NEUTRAL_TARGET, with_scratch=False)


def persistent_bytes(layers: Sequence[Layer], target: Target) -> int:
    """The TFLite Micro persistent tail: what stays allocated for the life of the interpreter.

    Per-channel requantisation data (multiplier and shift, 8 B per output channel of each
    per-channel op), one evaluation record per tensor (activations, weights, biases and the
    small constant tensors of RESHAPE/MEAN), one record per node, kernel op-data per node and
    the allocator's own objects.
    """
    _check(layers)
    mem = target.memory
    per_channel = sum(layer.out_channels * mem.per_channel_quant_bytes for layer in layers if layer.op in mem.per_channel_ops)
    tensors = _tensor_count(layers)
    kernel_state = sum(
        mem.weighted_kernel_state_bytes if layer.op in WEIGHTED_OPS else mem.other_kernel_state_bytes for layer in layers
    )
    return (
        per_channel
        + tensors * mem.tensor_record_bytes
        + len(layers) * mem.node_record_bytes
        + kernel_state
        + mem.allocator_overhead_bytes
    )


def peak_sram_bytes(layers: Sequence[Layer], target: Target) -> int:
    """Estimated minimum tensor arena: activation peak (with the scratch of the op at which it
    occurs, unless ``memory.include_scratch`` is false) plus the persistent tail."""
    activations = _activation_profile(layers, target, with_scratch=target.memory.include_scratch)
    return activations + persistent_bytes(layers, target)


# --------------------------------------------------------------------------- flash


def _tensor_count(layers: Sequence[Layer]) -> int:
    """Tensors in the flatbuffer: the input, one output per op, weights and bias per weighted
    op, and the constant shape/axis tensor of RESHAPE and MEAN."""
    count = 1 + len(layers)
    for layer in layers:
        if layer.op in WEIGHTED_OPS:
            count += 2 if layer.bias else 1
        elif layer.op in _EXTRA_CONST_TENSOR_OPS:
            count += 1
    return count


def flash_bytes(layers: Sequence[Layer], target: Target) -> int:
    """Size of the int8 ``.tflite`` model: the bytes the model occupies in flash.

    Weights at their dtype width, biases at ``flash.bias_bytes`` (int32), quantisation
    parameters (one scale + zero point per channel for per-channel tensors, one per tensor
    otherwise), and flatbuffer overhead per tensor, per op and per model. The code of the
    runtime itself is not included.
    """
    _check(layers)
    fl = target.flash
    per_channel_ops = target.memory.per_channel_ops
    total = fl.model_overhead_bytes + len(layers) * fl.op_overhead_bytes
    total += _tensor_count(layers) * fl.tensor_overhead_bytes
    for layer in layers:
        total += fl.quant_param_bytes_per_channel  # the output activation's scale/zero point
        if layer.op not in WEIGHTED_OPS:
            continue
        channels = layer.out_channels if layer.op in per_channel_ops else 1
        total += layer.weight_count * _elem_bytes(layer)
        total += fl.quant_param_bytes_per_channel * channels  # weight scales
        if layer.bias:
            total += layer.out_channels * fl.bias_bytes
            total += fl.quant_param_bytes_per_channel * channels  # bias scales
    return total + fl.quant_param_bytes_per_channel  # the network input's


# --------------------------------------------------------------------------- latency


def mac_kind(layer: Layer) -> str | None:
    """Which cycles-per-MAC coefficient prices a layer (``None`` for ops without MACs)."""
    op = layer.op
    if op is Op.FC:
        return "fc"
    if op in _DEPTHWISE_OPS:
        return "conv_depthwise"
    if op in _CONV_OPS:
        if layer.groups > 1 and layer.groups == layer.in_channels:
            return "conv_depthwise"
        return "conv_pointwise" if all(k == 1 for k in layer.kernel) else "conv_general"
    return None


def _layer_cycles(layer: Layer, lat: LatencyCoefficients) -> float:
    kind = mac_kind(layer)
    cycles = lat.op_overhead_cycles
    if kind == "fc":
        return cycles + lat.fc_cycles_per_mac * layer.macs + lat.fc_cycles_per_output * layer.out_elements
    if kind is not None:
        per_mac = {
            "conv_pointwise": lat.conv_pointwise_cycles_per_mac,
            "conv_general": lat.conv_general_cycles_per_mac,
            "conv_depthwise": lat.conv_depthwise_cycles_per_mac,
        }[kind]
        return cycles + per_mac * layer.macs + lat.conv_cycles_per_output * layer.out_elements
    op = layer.op
    if op is Op.AVGPOOL2D:
        return cycles + lat.avgpool_cycles_per_element * layer.in_elements
    if op is Op.GLOBAL_AVGPOOL:
        return cycles + lat.global_avgpool_cycles_per_element * layer.in_elements
    if op is Op.ADD:
        return cycles + lat.add_cycles_per_element * layer.out_elements
    if op in (Op.RESHAPE, Op.PAD):  # PAD is a copy with a zero border: priced as RESHAPE's per-element copy
        return cycles + lat.reshape_cycles_per_element * layer.out_elements
    if op is Op.SOFTMAX:
        return cycles + lat.softmax_cycles_per_element * layer.out_elements
    per_element = {
        Op.MUL: lat.mul_cycles_per_element,
        Op.SIGMOID: lat.sigmoid_cycles_per_element,
        Op.HARD_SIGMOID: lat.hard_sigmoid_cycles_per_element,
        Op.HARD_SWISH: lat.hard_swish_cycles_per_element,
        Op.SWISH: lat.swish_cycles_per_element,
    }.get(op)
    if per_element is not None:  # element-wise ops of MBConv networks (assumed coefficients, see target.py)
        return cycles + per_element * layer.out_elements
    raise InvalidInputError(f"no latency coefficient for op {op.value!r}")  # pragma: no cover


def latency_breakdown_ms(layers: Sequence[Layer], target: Target) -> list[float]:
    """Estimated milliseconds per layer on the target's runtime, in layer order."""
    _check(layers)
    ms_per_cycle = 1000.0 / target.clock_hz
    return [_layer_cycles(layer, target.latency) * ms_per_cycle for layer in layers]


def latency_ms(layers: Sequence[Layer], target: Target) -> float:
    """Estimated end-to-end milliseconds for one inference (sum of the breakdown)."""
    return math.fsum(latency_breakdown_ms(layers, target))


# A target-free view for activation_peak_bytes: 1-byte alignment, no aliasing, no scratch.
def _neutral_target() -> Target:
    zero_lat = LatencyCoefficients(*([0.0] * 12))
    mem = MemoryCoefficients(
        tensor_alignment_bytes=1,
        include_scratch=False,
        reshape_aliases_input=False,
        per_channel_quant_bytes=0,
        per_channel_ops=frozenset(),
        tensor_record_bytes=0,
        node_record_bytes=0,
        weighted_kernel_state_bytes=0,
        other_kernel_state_bytes=0,
        allocator_overhead_bytes=0,
    )
    return Target(
        name="neutral",
        description="liveness only",
        clock_hz=1,
        sram_bytes=1,
        flash_bytes=1,
        runtime="none",
        kernels="reference",
        ops=frozenset(Op),
        latency=zero_lat,
        memory=mem,
        flash=FlashCoefficients(0, 0, 0, 0, 0),
    )


_NEUTRAL_TARGET = _neutral_target()
