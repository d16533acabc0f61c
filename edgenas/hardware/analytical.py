"""Analytical hardware cost of a network: peak SRAM, flash and latency from its layer list.

Pure functions of ``list[Layer]`` and a :class:`Target`: no torch, no I/O, a few microseconds
per layer, so a search can price thousands of candidates a second before training any.

What is modelled (the TFLite Micro deployment of the int8 ``.tflite`` edgenas exports):

* **The converted graph**: the IR plus the converter's layout copies (TRANSPOSE/RESHAPE at the
  input and around a 1-D PAD) less what it folds (a 2-D PAD into its convolution),
  :func:`edgenas.hardware.tflite_graph.lower`. Every figure below
  is computed over that graph, not the bare IR.
* **Activations (arena head)**: a tensor lives from the op that produces it to its last
  consumer; the network input from the start, a network output to the end. Buffers (rounded up
  to the 16-B arena alignment, plus each op's kernel scratch for one op) are placed by the same
  greedy first-fit algorithm as TFLite Micro's ``GreedyMemoryPlanner`` (:func:`greedy_plan_bytes`),
  so the head is the planner's, not just the liveness peak; or, where larger, the memory the
  planner itself needs while it plans (:func:`planning_bytes`).
* **RESHAPE**: by default it does *not* alias its input (TFLite Micro plans the output as its
  own buffer and the kernel copies); ``memory.reshape_aliases_input: true`` makes it share the
  input's buffer, which then lives until the reshape's last consumer.
* **Persistent tail**: per-channel requantisation data, one ``TfLiteEvalTensor`` per tensor and
  one ``NodeAndRegistration`` per operator, per-builtin kernel op data and a fixed allocator
  overhead (x86-64 host figures from TFLite Micro's recording allocator; see docs/deploy.md).
* **Flash**: the ``.tflite`` flatbuffer: int8 weights, int32 biases, quantisation parameters and
  flatbuffer records per weighted op, per other op and per model.
* **Latency**: per-op cycles from the target's coefficients, divided by the clock: over the IR
  for the per-MAC-kind coefficients (the optimised engines they were calibrated on fuse the
  layout copies away), over the converted graph kernel by kernel for a target whose runtime is
  TFLite Micro + CMSIS-NN (``latency.kernels``, :mod:`edgenas.hardware.kernel_latency`).

Checked against TFLite Micro on converted ``kws`` networks (``benchmarks/estimate_vs_tflm.py``,
``docs/deploy.md``): arena within 1 % and file size within 4 % on the host.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Iterable, Sequence

from edgenas.errors import InvalidInputError
from edgenas.hardware.kernel_latency import graph_cycles
from edgenas.hardware.target import (
    FlashCoefficients,
    LatencyCoefficients,
    MemoryCoefficients,
    Target,
)
from edgenas.hardware.tflite_graph import CONST_OPERAND_BUILTINS, TfliteOp, as_converted, lower
from edgenas.ir import DTYPE_BYTES, WEIGHTED_OPS, Layer, Op

_CONV_OPS = frozenset({Op.CONV2D, Op.CONV1D})

#: What each operator of an unrolled recurrent layer adds to the arena's persistent tail and to the
#: file beyond the per-operator figures of the target file (fitted on convolutional networks).
#: Fitted on three converted kws networks with a GRU or an LSTM of 7-13 steps (136-380 such
#: operators): the arena residual was 22.2-23.8 B per operator (the op data of ADD and MUL, larger
#: than the default the target files assume); the file's 52-76 B (tensor names of about 120
#: characters, the torch module path of every step). Checked on other networks, the CRNN named point
#: among them: docs/spaces.md, tests/export/test_recurrent_estimates.py.
RECURRENT_OP_TAIL_BYTES = 23
RECURRENT_OP_FILE_BYTES = 65
_DEPTHWISE_OPS = frozenset({Op.DWCONV2D, Op.DWCONV1D})


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
    them in ``Prepare``; the reference kernels use no scratch for these ops. Global pooling runs
    as AVERAGE_POOL_2D (``arm_avgpool_s8``: one int32 per channel), and over one spatial position
    as no operator at all.
    """
    op = layer.op
    if op is Op.GLOBAL_AVGPOOL and layer.in_elements == layer.in_channels:
        return 0
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
    if op in (Op.AVGPOOL2D, Op.GLOBAL_AVGPOOL):
        return layer.out_channels * 4  # arm_avgpool_s8_get_buffer_size: int32 per channel
    return 0  # FC (arm_fully_connected_s8), ADD, RESHAPE, SOFTMAX: none


def _op_scratch(op: TfliteOp, target: Target) -> int:
    """Scratch of a lowered operator: the IR layer's, except where the converter changed the kernel."""
    if op.layer is None:
        return 0
    if op.builtin == "DEPTHWISE_CONV_2D" and op.layer.op in _CONV_OPS:
        return 0  # one-channel conv run as depthwise with multiplier > 1: generic kernel, no buffer
    return scratch_bytes(op.layer, target)


def _graph(layers: Sequence[Layer]) -> tuple[int, tuple[TfliteOp, ...]]:
    _check(layers)
    return _lowered(tuple(layers))


def graph_of(layers: Sequence[Layer]) -> tuple[TfliteOp, ...]:
    """The operators of the int8 ``.tflite`` the export path writes for ``layers`` (validated)."""
    return _graph(layers)[1]


@functools.lru_cache(maxsize=256)
def _lowered(layers: tuple[Layer, ...]) -> tuple[int, tuple[TfliteOp, ...]]:
    """Validated lowering, memoised: a cost model asks for SRAM and flash of the same layers in a row
    (a pure function of frozen layers, so the cache can never be stale)."""
    for i in range(len(layers)):
        _producer_indices(layers, i)
        _elem_bytes(layers[i])
    input_bytes, ops = lower(layers)
    return input_bytes, tuple(ops)


def _live_intervals(input_bytes: int, ops: Sequence[TfliteOp], target: Target) -> tuple[list[int], list[int], list[int]]:
    """Per buffer: size (aligned bytes), first op it is live at, last op it is live at.

    Buffer 0 is the network input, buffer i+1 the output of lowered op i.
    """
    n = len(ops)
    align = target.memory.tensor_alignment_bytes
    alias = target.memory.reshape_aliases_input
    sizes = [_align(input_bytes, align)] + [_align(op.out_bytes, align) for op in ops]
    start = [0] + list(range(n))
    last = [-1] * (n + 1)
    # owner[b] = the buffer that actually holds tensor b (an aliasing RESHAPE shares its input's)
    owner = list(range(n + 1))
    consumed = [False] * (n + 1)
    for i, op in enumerate(ops):
        for p in op.inputs:
            last[owner[p + 1]] = max(last[owner[p + 1]], i)
            consumed[p + 1] = True
        if alias and op.builtin == "RESHAPE":
            owner[i + 1] = owner[op.inputs[0] + 1]
            sizes[i + 1] = 0
    for b in range(n + 1):
        if not consumed[b]:  # a network output (or an unread tensor): kept to the end
            last[owner[b]] = n - 1
        if last[b] < start[b]:
            last[b] = start[b]
    return sizes, start, last


def greedy_plan_bytes(buffers: Sequence[tuple[int, int, int]]) -> int:
    """Arena bytes TFLite Micro's ``GreedyMemoryPlanner`` uses for ``(size, first_op, last_op)`` buffers.

    The planner's algorithm (tflite-micro ``memory_planner/greedy_memory_planner.cc``): buffers
    sorted by size, largest first, with a stable sort of a list the planner filled back to front,
    so equal sizes go *last added first* (buffers are added tensor by tensor in index order, then
    the scratch buffers); each goes at the lowest offset where it overlaps no already-placed
    buffer live at the same time. Not always the liveness optimum: on small networks a buffer can
    land above a gap too small for it (``1d c16 k3 s2 / dw5 s1 c24 / dw3 s2 c24``: 1,408 B planned
    against a 1,008 B liveness peak, as TFLite Micro measures).
    """
    order = sorted(range(len(buffers)), key=lambda b: (-buffers[b][0], -b))
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last), kept sorted by offset
    top = 0
    for b in order:
        size, first, last = buffers[b]
        offset = 0
        for p_offset, p_size, p_first, p_last in placed:
            if p_first > last or first > p_last:
                continue  # not live at the same time
            if p_offset - offset >= size:
                break  # fits in the gap below this one
            offset = max(offset, p_offset + p_size)
        bisect.insort(placed, (offset, size, first, last))
        top = max(top, offset + size)
    return top


def _activation_profile(layers: Sequence[Layer], target: Target, with_scratch: bool) -> int:
    return _head_bytes(*_graph(layers), target, with_scratch)


def _head_bytes(input_bytes: int, ops: Sequence[TfliteOp], target: Target, with_scratch: bool) -> int:
    """The head of the arena: activation (and scratch) buffers placed by the greedy planner, or
    the planner's own temporary memory where that is larger (:func:`planning_bytes`)."""
    sizes, start, last = _live_intervals(input_bytes, ops, target)
    buffers = [(size, s, e) for size, s, e in zip(sizes, start, last, strict=True) if size > 0]
    scratch = [(_align(_op_scratch(op, target), target.memory.tensor_alignment_bytes), i, i) for i, op in enumerate(ops)]
    scratch = [entry for entry in scratch if entry[0] > 0] if with_scratch else []
    planned = greedy_plan_bytes(buffers + scratch)
    return max(planned, _planning_bytes(ops, len(buffers) + len(scratch), len(scratch), target))


def _planning_bytes(ops: Sequence[TfliteOp], planned_buffers: int, scratch_requests: int, target: Target) -> int:
    mem = target.memory
    records = (_tensor_count(ops) + scratch_requests) * mem.planning_record_bytes
    return mem.planning_fixed_bytes + records + planned_buffers * mem.planner_buffer_bytes


def planning_bytes(layers: Sequence[Layer], target: Target) -> int:
    """Head memory TFLite Micro needs *while* planning (``MicroAllocator::CommitStaticMemoryPlan``).

    An ``AllocationInfo`` per tensor and scratch request, the planner's per-buffer arrays
    (``GreedyMemoryPlanner::per_buffer_size()`` each) and the scratch-request block, all held in
    the head at once. On small networks with many tensors this exceeds the activation plan, and
    the arena must be that large even though the plan needs less.
    """
    input_bytes, ops = _graph(layers)
    sizes, _, _ = _live_intervals(input_bytes, ops, target)
    scratch = sum(1 for op in ops if _op_scratch(op, target) > 0)
    return _planning_bytes(ops, sum(1 for size in sizes if size > 0) + scratch, scratch, target)


def activation_peak_bytes(layers: Sequence[Layer]) -> int:
    """Peak bytes of live activation tensors of the deployed graph (no scratch, no alignment padding).

    Liveness over the converted operator graph (:func:`edgenas.hardware.tflite_graph.lower`: the
    IR plus the converter's layout copies); see the module docstring. For the target's arena figure
    (alignment, RESHAPE aliasing, scratch, persistent tail) use :func:`peak_sram_bytes`.
    """
    return _activation_profile(layers, _NEUTRAL_TARGET, with_scratch=False)


def _per_channel_bytes(ops: Sequence[TfliteOp], target: Target) -> int:
    mem = target.memory
    return sum(
        op.layer.out_channels * mem.per_channel_quant_bytes
        for op in ops
        if op.layer is not None and op.layer.op in mem.per_channel_ops
    )


def persistent_bytes(layers: Sequence[Layer], target: Target) -> int:
    """The TFLite Micro persistent tail: what stays allocated for the life of the interpreter.

    Per-channel requantisation data (int32 multiplier + int32 shift per output channel of each
    per-channel op), one ``TfLiteEvalTensor`` per tensor of the file (activations, weights,
    biases, the constant shape/permutation/axis operands), one ``NodeAndRegistration`` per
    operator, each kernel's op data and builtin parameters (per TFLite builtin) and the
    allocator's own objects (with the persistent input/output ``TfLiteTensor`` records).
    """
    return _tail_bytes(_graph(layers)[1], target)


def _tail_bytes(ops: Sequence[TfliteOp], target: Target) -> int:
    mem = target.memory
    state = dict(mem.kernel_state_bytes)
    kernel_state = sum(state.get(op.builtin, mem.default_kernel_state_bytes) for op in ops)
    return (
        _per_channel_bytes(ops, target)
        + sum(op.recurrent for op in ops) * RECURRENT_OP_TAIL_BYTES
        + _tensor_count(ops) * mem.tensor_record_bytes
        + len(ops) * mem.node_record_bytes
        + kernel_state
        + mem.allocator_overhead_bytes
    )


def peak_sram_bytes(layers: Sequence[Layer], target: Target) -> int:
    """Estimated minimum tensor arena: activation peak (with the scratch of the op at which it
    occurs, unless ``memory.include_scratch`` is false) plus the persistent tail."""
    input_bytes, ops = _graph(layers)
    return _head_bytes(input_bytes, ops, target, target.memory.include_scratch) + _tail_bytes(ops, target)


# --------------------------------------------------------------------------- flash


def _tensor_count(ops: Sequence[TfliteOp]) -> int:
    """Tensors in the flatbuffer: the input, one output per op, weights and bias per weighted
    op, and the constant operand (shape, permutation, paddings, axes) of the glue ops."""
    count = 1 + len(ops)
    for op in ops:
        if op.shared:  # a recurrent step's product: the gate's weights are counted once, its bias is its own
            count += int(op.layer is not None and op.layer.bias)
            continue
        if op.layer is not None and op.layer.op in WEIGHTED_OPS:
            count += 2 if op.layer.bias else 1
        elif op.builtin in CONST_OPERAND_BUILTINS:
            count += 1
    return count


def flash_bytes(layers: Sequence[Layer], target: Target) -> int:
    """Size of the int8 ``.tflite`` model: the bytes the model occupies in flash.

    Weights at their dtype width, biases at ``flash.bias_bytes`` (int32), quantisation
    parameters (float32 scale + int64 zero point per channel for per-channel tensors, one per
    tensor otherwise), and flatbuffer records per weighted op, per other op and per model, over
    the converted operator graph (:func:`edgenas.hardware.tflite_graph.lower`). The records are
    dominated by the converter's tensor names (torch module paths, 30-460 B each), hence fitted
    per operator kind rather than derived. The runtime's code is not included.
    """
    _, ops = _graph(layers)
    fl = target.flash
    per_channel_ops = target.memory.per_channel_ops
    total = fl.model_overhead_bytes
    for op in ops:
        total += fl.quant_param_bytes_per_channel  # the output activation's scale/zero point
        total += RECURRENT_OP_FILE_BYTES * op.recurrent
        layer = op.layer
        if layer is None or layer.op not in WEIGHTED_OPS:
            total += fl.other_op_bytes
            continue
        if op.shared:  # a recurrent step: the gate's weights are stored once, but each step's int32 bias
            # is its own (the bias scale is the step's input scale x the weight scale)
            total += fl.other_op_bytes
            if layer.bias:
                total += layer.out_channels * (fl.bias_bytes + fl.quant_param_bytes_per_channel)
            continue
        total += fl.weighted_op_bytes
        channels = layer.out_channels if layer.op in per_channel_ops else 1
        total += layer.weight_count * _elem_bytes(layer)
        total += fl.quant_param_bytes_per_channel * channels  # weight scales
        if layer.bias:
            total += layer.out_channels * fl.bias_bytes
            total += fl.quant_param_bytes_per_channel * channels  # bias scales
    return total + fl.quant_param_bytes_per_channel  # the network input's


def code_bytes(layers: Sequence[Layer], target: Target) -> int:
    """The runtime code the model's operators link into the firmware (flash beside the model file).

    The code of each distinct TFLite builtin of the converted graph (:func:`builtins_code_bytes`).
    The interpreter's core is not included: it is there whatever the model.
    """
    if not target.flash.kernel_code_bytes and not target.flash.per_builtin_code_bytes:
        return 0  # no code sizes in the target file: no need to lower the graph
    return builtins_code_bytes({op.builtin for op in _graph(layers)[1]}, target)


def builtins_code_bytes(builtins: Iterable[str], target: Target) -> int:
    """The code a firmware links for these TFLite builtins: per distinct builtin, its kernel library's
    code (``flash.kernel_code_bytes``, e.g. the CMSIS-NN functions TFLite Micro's CONV_2D calls) and
    the runtime's own code for it (``flash.per_builtin_code_bytes``). Zero on a target whose file
    gives no code sizes."""
    fl = target.flash
    library = dict(fl.kernel_code_bytes)
    return sum(library.get(b, 0) + fl.per_builtin_code_bytes for b in set(builtins))


# --------------------------------------------------------------------------- latency


def mac_kind(layer: Layer) -> str | None:
    """Which cycles-per-MAC coefficient prices a layer (``None`` for ops without MACs)."""
    op = layer.op
    if op in (Op.FC, Op.GRU, Op.LSTM):  # a recurrent layer runs as fully connected products, step by step
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


def latency_breakdown_ms(layers: Sequence[Layer], target: Target, *, as_converted_by: Sequence[str] | None = None) -> list[float]:
    """Estimated milliseconds per layer on the target's runtime, in layer order.

    A target with a ``latency.kernels`` block prices the converted graph kernel by kernel
    (:mod:`edgenas.hardware.kernel_latency`); the converter's layout copies count towards the
    layer whose lowering wrote them. ``as_converted_by`` gives, for a network another tool
    converted, the builtin of each layer as its file holds it (no copies added, nothing folded).
    """
    _check(layers)
    ms_per_cycle = 1000.0 / target.clock_hz
    model = target.kernel_latency
    if model is None:
        return [_layer_cycles(layer, target.latency) * ms_per_cycle for layer in layers]
    ops = as_converted(layers, as_converted_by)[1] if as_converted_by is not None else _graph(layers)[1]
    per_layer = [0.0] * len(layers)
    for op, cycles in zip(ops, graph_cycles(ops, model, target.kernels), strict=True):
        per_layer[op.owner] += cycles * ms_per_cycle
    return per_layer


def latency_ms(layers: Sequence[Layer], target: Target, *, as_converted_by: Sequence[str] | None = None) -> float:
    """Estimated end-to-end milliseconds for one inference (sum of the breakdown)."""
    return math.fsum(latency_breakdown_ms(layers, target, as_converted_by=as_converted_by))


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
        kernel_state_bytes=(),
        default_kernel_state_bytes=0,
        allocator_overhead_bytes=0,
        planning_fixed_bytes=0,
        planning_record_bytes=0,
        planner_buffer_bytes=0,
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
