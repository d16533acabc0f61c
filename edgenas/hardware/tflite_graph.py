"""The operator graph of the int8 ``.tflite`` that edgenas's export path emits for a layer list.

The IR lists the operators a network *computes*. The file TFLite Micro runs holds more, and
sometimes less: the PyTorch model is NCHW, TFLite is NHWC, and litert-torch (0.10, PT2E route of
:mod:`edgenas.export.tflite`) keeps ops it cannot move to NHWC in the torch layout, bracketed by
TRANSPOSE/RESHAPE copies. Each copy is a node, a tensor record, a constant shape/permutation
tensor and, while it runs, a second live activation buffer, so memory and flash estimates must
see them. The rules below were read off converted ``kws`` files and match them op for op (see
``docs/deploy.md``):

* **2-D networks** (IR shapes ``(H, W, C)``): the network input gets one layout op (a RESHAPE
  when it has one channel, else a TRANSPOSE). A PAD is no operator at all: the export keeps the
  zero pad in NHWC right before its convolution and the converter folds it into that
  convolution's SAME padding (the spaces pad only where SAME is asymmetric). The exception is a
  PAD on a multi-channel network input (images): it runs on the NCHW input, then one TRANSPOSE.
  A regular conv with one input channel becomes DEPTHWISE_CONV_2D (channel multiplier = output
  channels).
* **1-D networks** (IR shapes ``(T, C)``, run as ``(1, T, C)`` 2-D tensors): the input is
  ``(T, C)``; a PAD on it runs first, then TRANSPOSE, RESHAPE, TRANSPOSE bring it to ``(1, T, C)``;
  any other PAD gets TRANSPOSE, RESHAPE before and RESHAPE, TRANSPOSE after it (the layout pass
  moves only 4-D tensors, so a 1-D pad stays in the torch layout).
* Both: GLOBAL_AVGPOOL is one AVERAGE_POOL_2D with no layout copy (the spaces pool with
  ``avg_pool``, whose output keeps its input's quantisation); over a single spatial position it
  is no operator at all (the FULLY_CONNECTED reads the conv output).

Other spaces (MBConv, residual ADDs) follow the same 2-D rules; their folded PADs and the image
input's PAD were checked on converted files, the rest of their graphs has not been.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from edgenas.ir import DTYPE_BYTES, Layer, Op

#: TFLite builtin of each IR op (1-D ops run as 2-D kernels on ``(1, T, C)`` tensors).
BUILTIN = {
    Op.CONV2D: "CONV_2D",
    Op.CONV1D: "CONV_2D",
    Op.DWCONV2D: "DEPTHWISE_CONV_2D",
    Op.DWCONV1D: "DEPTHWISE_CONV_2D",
    Op.FC: "FULLY_CONNECTED",
    Op.AVGPOOL2D: "AVERAGE_POOL_2D",
    Op.GLOBAL_AVGPOOL: "AVERAGE_POOL_2D",
    Op.ADD: "ADD",
    Op.RESHAPE: "RESHAPE",
    Op.PAD: "PAD",
    Op.SOFTMAX: "SOFTMAX",
    Op.MUL: "MUL",
    Op.SIGMOID: "LOGISTIC",
    Op.HARD_SWISH: "HARD_SWISH",
}

#: Activations the converter writes as several builtins (each output the size of the layer's):
#: hard-sigmoid as relu6(x + 3) / 6, swish as x * logistic(x) (the MUL also reads x).
MULTI_OP_ACTIVATIONS = {Op.HARD_SIGMOID: ("ADD", "RELU6", "MUL"), Op.SWISH: ("LOGISTIC", "MUL")}

#: Builtins that read one small constant int32 tensor besides their data (shape, perm, paddings, axes).
CONST_OPERAND_BUILTINS = frozenset({"RESHAPE", "TRANSPOSE", "PAD", "MEAN", "SUM"})


class TfliteOp(NamedTuple):
    """One operator of the converted file (a named tuple: built thousands of times a second).

    Attributes:
        builtin: TFLite builtin name (``"CONV_2D"``, ``"TRANSPOSE"``...).
        out_bytes: Bytes of its output tensor (unaligned).
        inputs: Producing ops (indices into the lowered list); ``-1`` is the network input.
        layer: The IR layer it realises, or ``None`` for converter layout glue.
        owner: The IR layer whose lowering emitted it (layout glue included), for per-layer figures.
    """

    builtin: str
    out_bytes: int
    inputs: tuple[int, ...]
    layer: Layer | None = None
    owner: int = 0


def _nbytes(layer: Layer, elements: int) -> int:
    return elements * DTYPE_BYTES.get(layer.dtype, 1)


def lower(layers: Sequence[Layer]) -> tuple[int, list[TfliteOp]]:
    """``(network input bytes, operators)`` of the ``.tflite`` the export path writes for ``layers``.

    Producer indices must already be valid (the analytical module checks them first).
    """
    first = layers[0]
    input_bytes = _nbytes(first, first.in_elements)
    ops: list[TfliteOp] = []
    where: dict[int, int] = {-1: -1}  # IR index (-1: network input) -> lowered op holding that tensor

    def glue(kinds: Sequence[str], src: int, size: int, owner: int = 0) -> int:
        for kind in kinds:
            ops.append(TfliteOp(kind, size, (src,), None, owner))
            src = len(ops) - 1
        return src

    rank = len(first.in_shape)
    input_glue: tuple[str, ...] = ()
    if rank == 3:
        input_glue = ("RESHAPE",) if first.in_channels == 1 else ("TRANSPOSE",)
    elif rank == 2:
        input_glue = ("TRANSPOSE", "RESHAPE", "TRANSPOSE")
    # a PAD on the raw input runs before the input's layout copies (1-D, or a multi-channel image)
    pad_first = first.op is Op.PAD and (rank == 2 or (rank == 3 and first.in_channels > 1))
    if input_glue and not pad_first:
        where[-1] = glue(input_glue, -1, input_bytes)
    for i, layer in enumerate(layers):
        inputs = layer.inputs if layer.inputs is not None else (i - 1,)
        srcs = [where[p] for p in inputs]
        rank = len(layer.in_shape)
        out_bytes = _nbytes(layer, layer.out_elements)
        builtin = BUILTIN.get(layer.op, "")
        reads_input = inputs == (-1,)
        if layer.op is Op.PAD and rank == 3 and not (reads_input and pad_first):
            where[i] = srcs[0]  # folded into the next convolution's SAME padding
            continue
        if layer.op is Op.PAD and rank in (2, 3):
            if reads_input and pad_first:  # on the raw input: the input's layout glue follows it
                ops.append(TfliteOp(builtin, out_bytes, tuple(srcs), layer, i))
                where[i] = glue(input_glue, len(ops) - 1, out_bytes, i)
                continue
            # a 1-D PAD mid-network stays in the torch layout, between layout copies
            src = glue(("TRANSPOSE", "RESHAPE"), srcs[0], _nbytes(layer, layer.in_elements), i)
            ops.append(TfliteOp(builtin, out_bytes, (src,), layer, i))
            where[i] = glue(("RESHAPE", "TRANSPOSE"), len(ops) - 1, out_bytes, i)
            continue
        if layer.op is Op.GLOBAL_AVGPOOL and layer.in_elements == layer.in_channels:
            where[i] = srcs[0]  # one spatial position: the pool is a flatten the next FC does itself
            continue
        if layer.op in MULTI_OP_ACTIVATIONS:
            prev = srcs[0]
            kinds = MULTI_OP_ACTIVATIONS[layer.op]
            for k, kind in enumerate(kinds):
                reads = (prev, srcs[0]) if layer.op is Op.SWISH and kind == "MUL" else (prev,)
                ops.append(TfliteOp(kind, out_bytes, reads, layer if k == len(kinds) - 1 else None, i))
                prev = len(ops) - 1
            where[i] = prev
            continue
        if layer.op is Op.CONV2D and layer.in_channels == 1 and layer.groups == 1:
            builtin = "DEPTHWISE_CONV_2D"  # the converter's choice for a one-channel input (multiplier = C_out)
        ops.append(TfliteOp(builtin, out_bytes, tuple(srcs), layer, i))
        where[i] = len(ops) - 1
    return input_bytes, ops


def as_converted(layers: Sequence[Layer], builtins: Sequence[str]) -> tuple[int, list[TfliteOp]]:
    """``(network input bytes, operators)`` of a file that holds ``layers`` op for op, as ``builtins``.

    For a network converted by another tool (the MLPerf Tiny reference models), whose layer list
    was read off the file itself: no layout copies added, nothing folded.
    """
    first = layers[0]
    ops = []
    for i, (layer, builtin) in enumerate(zip(layers, builtins, strict=True)):
        inputs = layer.inputs if layer.inputs is not None else (i - 1,)
        ops.append(TfliteOp(builtin, _nbytes(layer, layer.out_elements), tuple(inputs), layer, i))
    return _nbytes(first, first.in_elements), ops
