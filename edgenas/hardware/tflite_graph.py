"""The operator graph of the int8 ``.tflite`` that edgenas's export path emits for a layer list.

The IR lists the operators a network *computes*. The file TFLite Micro runs holds more: the
PyTorch model is NCHW, TFLite is NHWC, and litert-torch (0.10, PT2E route of
:mod:`edgenas.export.tflite`) keeps layout-sensitive ops (PAD) in the torch layout, so it
brackets them with TRANSPOSE/RESHAPE copies. Each copy is a node, a tensor record, a constant
shape/permutation tensor and, while it runs, a second live activation buffer, so memory and flash
estimates must see them. The rules below were read off converted ``kws`` files and match them
op for op (68 files: 41 architectures with randomised batch-norm statistics, 27 untrained; see
``docs/deploy.md``):

* **2-D networks** (IR shapes ``(H, W, C)``): the network input gets one layout op (a RESHAPE
  when it has one channel, else a TRANSPOSE); a PAD runs in NCHW, so it gets a layout op after
  it and, unless it reads the network input, one before it; a regular conv with one input channel
  becomes DEPTHWISE_CONV_2D (channel multiplier = output channels).
* **1-D networks** (IR shapes ``(T, C)``, run as ``(1, T, C)`` 2-D tensors): the input is
  ``(T, C)``; a PAD on it runs first, then TRANSPOSE, RESHAPE, TRANSPOSE bring it to ``(1, T, C)``;
  any other PAD gets TRANSPOSE, RESHAPE before and RESHAPE, TRANSPOSE after it.
* Both: GLOBAL_AVGPOOL is one AVERAGE_POOL_2D with no layout copy (the spaces pool with
  ``avg_pool``, whose output keeps its input's quantisation); over a single spatial position it
  is no operator at all (the FULLY_CONNECTED reads the conv output).

Not modelled: a QUANTIZE the converter sometimes places after a 2-D PAD (17 of the 68 files; it
never changes the activation peak, which is then two padded buffers either way, and costs about
120 B of tail). Other spaces (MBConv, residual ADDs) follow the same 2-D rules but have not been
checked against converted files.
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
    """

    builtin: str
    out_bytes: int
    inputs: tuple[int, ...]
    layer: Layer | None = None


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

    def glue(kinds: Sequence[str], src: int, size: int) -> int:
        for kind in kinds:
            ops.append(TfliteOp(kind, size, (src,)))
            src = len(ops) - 1
        return src

    rank = len(first.in_shape)
    input_glue: tuple[str, ...] = ()
    if rank == 3:
        input_glue = ("RESHAPE",) if first.in_channels == 1 else ("TRANSPOSE",)
    elif rank == 2:
        input_glue = ("TRANSPOSE", "RESHAPE", "TRANSPOSE")
    if input_glue and not (rank == 2 and first.op is Op.PAD):
        where[-1] = glue(input_glue, -1, input_bytes)
    for i, layer in enumerate(layers):
        inputs = layer.inputs if layer.inputs is not None else (i - 1,)
        srcs = [where[p] for p in inputs]
        rank = len(layer.in_shape)
        out_bytes = _nbytes(layer, layer.out_elements)
        builtin = BUILTIN.get(layer.op, "")
        if layer.op is Op.PAD and rank in (2, 3):
            in_bytes = _nbytes(layer, layer.in_elements)
            reads_input = inputs == (-1,)
            before = {3: ("TRANSPOSE",), 2: ("TRANSPOSE", "RESHAPE")}[rank]
            after = {3: ("TRANSPOSE",), 2: ("RESHAPE", "TRANSPOSE")}[rank]
            if rank == 3 and layer.in_channels == 1:
                after = ("RESHAPE",)
            if not reads_input:
                srcs = [glue(before, srcs[0], in_bytes)]
            ops.append(TfliteOp(builtin, out_bytes, tuple(srcs), layer))
            out = len(ops) - 1
            if rank == 3 or not reads_input:
                out = glue(after, out, out_bytes)
            else:  # 1-D PAD on the raw (T, C) input: the input layout glue follows it
                out = glue(("TRANSPOSE", "RESHAPE", "TRANSPOSE"), out, out_bytes)
            where[i] = out
            continue
        if layer.op is Op.GLOBAL_AVGPOOL and layer.in_elements == layer.in_channels:
            where[i] = srcs[0]  # one spatial position: the pool is a flatten the next FC does itself
            continue
        if layer.op in MULTI_OP_ACTIVATIONS:
            prev = srcs[0]
            kinds = MULTI_OP_ACTIVATIONS[layer.op]
            for k, kind in enumerate(kinds):
                reads = (prev, srcs[0]) if layer.op is Op.SWISH and kind == "MUL" else (prev,)
                ops.append(TfliteOp(kind, out_bytes, reads, layer if k == len(kinds) - 1 else None))
                prev = len(ops) - 1
            where[i] = prev
            continue
        if layer.op is Op.CONV2D and layer.in_channels == 1 and layer.groups == 1:
            builtin = "DEPTHWISE_CONV_2D"  # the converter's choice for a one-channel input (multiplier = C_out)
        ops.append(TfliteOp(builtin, out_bytes, tuple(srcs), layer))
        where[i] = len(ops) - 1
    return input_bytes, ops
