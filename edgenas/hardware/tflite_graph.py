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

* Recurrent layers (``Op.GRU``, ``Op.LSTM``, :mod:`edgenas.spaces.nn.recurrent`): the front's
  map goes back to the torch layout (TRANSPOSE, RESHAPE to ``(features, T)``); every frame is a
  SLICE and a QUANTIZE (each frame calibrated on its own; in a test network without batch norm
  one frame of seven happened to need none), then a
  RESHAPE per frame; then each step's operators exactly as :data:`RECURRENT_STEPS` lists them,
  each FULLY_CONNECTED reading the weights its gate's first one holds (one tensor in the file).
  A mean over the states (GLOBAL_AVGPOOL after a recurrent layer) is an ADD per further state
  and a MUL by ``1 / T``, after the last step.

Other spaces (MBConv, residual ADDs) follow the same 2-D rules; their folded PADs and the image
input's PAD were checked on converted files, the rest of their graphs has not been.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    Op.GRU: "FULLY_CONNECTED",  # unrolled: see RECURRENT_STEPS
    Op.LSTM: "FULLY_CONNECTED",
}

#: One step of each recurrent cell as the converter writes it, in its order: ``(name, builtin,
#: reads)``. ``x`` is the frame, ``h`` the state before the step (``c`` the LSTM's cell state);
#: a FULLY_CONNECTED named ``*x`` reads the frame with the gate's input-side weights, ``*h`` the
#: state with its state-side ones. Step 0 (zero state) has no state-side products.
_GRU_0 = (
    ("rx", "FC", ("x",)), ("r", "LOGISTIC", ("rx",)), ("zx", "FC", ("x",)), ("z", "LOGISTIC", ("zx",)),
    ("nx", "FC", ("x",)), ("rb", "MUL", ("r",)), ("na", "ADD", ("nx", "rb")), ("g", "LOGISTIC", ("na",)),
    ("gn", "MUL", ("g",)), ("zd", "MUL", ("z", "gn")), ("h", "ADD", ("g", "zd")),
)  # fmt: skip
_GRU_T = (
    ("rx", "FC", ("x",)), ("rh", "FC", ("h",)), ("ra", "ADD", ("rx", "rh")), ("r", "LOGISTIC", ("ra",)),
    ("zx", "FC", ("x",)), ("zh", "FC", ("h",)), ("za", "ADD", ("zx", "zh")), ("z", "LOGISTIC", ("za",)),
    ("nx", "FC", ("x",)), ("nh", "FC", ("h",)), ("rn", "MUL", ("r", "nh")), ("na", "ADD", ("nx", "rn")),
    ("g", "LOGISTIC", ("na",)), ("gn", "MUL", ("g",)), ("d", "ADD", ("h", "gn")), ("zd", "MUL", ("z", "d")),
    ("h", "ADD", ("g", "zd")),
)  # fmt: skip
# tanh(v) = 2 sigmoid(2v) - 1: MUL, LOGISTIC, MUL, ADD
_LSTM_0 = (
    ("ix", "FC", ("x",)), ("i", "LOGISTIC", ("ix",)), ("gx", "FC", ("x",)), ("g1", "MUL", ("gx",)),
    ("g2", "LOGISTIC", ("g1",)), ("g3", "MUL", ("g2",)), ("g", "ADD", ("g3",)), ("c", "MUL", ("i", "g")),
    ("ox", "FC", ("x",)), ("o", "LOGISTIC", ("ox",)), ("c1", "MUL", ("c",)), ("c2", "LOGISTIC", ("c1",)),
    ("c3", "MUL", ("c2",)), ("tc", "ADD", ("c3",)), ("h", "MUL", ("o", "tc")),
)  # fmt: skip
_LSTM_T = (
    ("ix", "FC", ("x",)), ("ih", "FC", ("h",)), ("ia", "ADD", ("ix", "ih")), ("i", "LOGISTIC", ("ia",)),
    ("fx", "FC", ("x",)), ("fh", "FC", ("h",)), ("fa", "ADD", ("fx", "fh")), ("f", "LOGISTIC", ("fa",)),
    ("gx", "FC", ("x",)), ("gh", "FC", ("h",)), ("ga", "ADD", ("gx", "gh")), ("g1", "MUL", ("ga",)),
    ("g2", "LOGISTIC", ("g1",)), ("g3", "MUL", ("g2",)), ("g", "ADD", ("g3",)),
    ("ox", "FC", ("x",)), ("oh", "FC", ("h",)), ("oa", "ADD", ("ox", "oh")), ("o", "LOGISTIC", ("oa",)),
    ("fc", "MUL", ("f", "c")), ("ig", "MUL", ("i", "g")), ("c", "ADD", ("fc", "ig")),
    ("c1", "MUL", ("c",)), ("c2", "LOGISTIC", ("c1",)), ("c3", "MUL", ("c2",)), ("tc", "ADD", ("c3",)),
    ("h", "MUL", ("o", "tc")),
)  # fmt: skip
#: ``(first step, every later step)`` per recurrent op.
RECURRENT_STEPS = {Op.GRU: (_GRU_0, _GRU_T), Op.LSTM: (_LSTM_0, _LSTM_T)}
_STEP_BUILTINS = {"FC": "FULLY_CONNECTED", "ADD": "ADD", "MUL": "MUL", "LOGISTIC": "LOGISTIC"}
_STEP_OPS = {"ADD": Op.ADD, "MUL": Op.MUL, "LOGISTIC": Op.SIGMOID}

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
        layer: The IR layer it realises, or ``None`` for converter layout glue (a recurrent
            layer's step operators each realise a one-step layer of their own: FC, ADD...).
        owner: The IR layer whose lowering emitted it (layout glue included), for per-layer figures.
        shared: Whether its weights are those of an earlier operator (a recurrent step's).
        recurrent: Whether it is one of an unrolled recurrent layer's operators (frames, steps, mean).
    """

    builtin: str
    out_bytes: int
    inputs: tuple[int, ...]
    layer: Layer | None = None
    owner: int = 0
    shared: bool = False  # its weights are an earlier operator's (one tensor in the file): a recurrent step
    recurrent: bool = False  # an operator of an unrolled recurrent layer (or of the mean over its states)


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
    states: dict[int, list[int]] = {}  # recurrent IR layer -> the lowered op of each step's state
    for i, layer in enumerate(layers):
        inputs = layer.inputs if layer.inputs is not None else (i - 1,)
        srcs = [where[p] for p in inputs]
        if layer.op in RECURRENT_STEPS:
            states[i] = _unroll(layer, srcs[0], i, ops, glue)
            where[i] = states[i][-1]
            continue
        if layer.op is Op.GLOBAL_AVGPOOL and inputs[0] in states:  # the mean of the states
            steps = states[inputs[0]]
            size = _nbytes(layer, layer.out_elements)
            total = steps[0]
            for step in steps[1:]:
                add = Layer(Op.ADD, layer.out_shape, layer.out_shape, bias=False, dtype=layer.dtype)
                ops.append(TfliteOp("ADD", size, (total, step), add, i, recurrent=True))
                total = len(ops) - 1
            mul = Layer(Op.MUL, layer.out_shape, layer.out_shape, bias=False, dtype=layer.dtype)
            ops.append(TfliteOp("MUL", size, (total,), mul, i, recurrent=True))
            where[i] = len(ops) - 1
            continue
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


def _unroll(layer: Layer, src: int, owner: int, ops: list[TfliteOp], glue: Callable[..., int]) -> list[int]:
    """Append the operators of a recurrent layer (see the module docstring); return each step's state op."""
    steps, features = layer.in_shape
    hidden = layer.out_channels
    src = glue(("TRANSPOSE", "RESHAPE"), src, _nbytes(layer, layer.in_elements), owner)
    start = len(ops)
    frame_bytes = _nbytes(layer, features)
    sliced = []
    for _ in range(steps):
        ops.append(TfliteOp("SLICE", frame_bytes, (src,), None, owner))
        # requantised: each frame is calibrated on its own (the slice does not share the map's scale)
        ops.append(TfliteOp("QUANTIZE", frame_bytes, (len(ops) - 1,), None, owner))
        sliced.append(len(ops) - 1)
    frames = []
    for s in sliced:
        ops.append(TfliteOp("RESHAPE", frame_bytes, (s,), None, owner))
        frames.append(len(ops) - 1)
    first, later = RECURRENT_STEPS[layer.op]
    x_fc = Layer(Op.FC, (features,), (hidden,), dtype=layer.dtype)
    h_fc = {bias: Layer(Op.FC, (hidden,), (hidden,), bias=bias, dtype=layer.dtype) for bias in (False, True)}
    elementwise = {kind: Layer(op, (hidden,), (hidden,), bias=False, dtype=layer.dtype) for kind, op in _STEP_OPS.items()}
    state_bytes = _nbytes(layer, hidden)
    seen: set[str] = set()  # gate matrices already in the file
    out: list[int] = []
    values: dict[str, int] = {}
    for t, frame in enumerate(frames):
        values = {"x": frame, **({"h": values["h"], "c": values.get("c", -1)} if t else {})}
        for name, kind, reads in first if t == 0 else later:
            if kind == "FC":
                # the GRU candidate's state-side product carries a bias (``h_n`` of PyTorch's GRU)
                fc = x_fc if name.endswith("x") else h_fc[layer.op is Op.GRU and name == "nh"]
                ops.append(TfliteOp("FULLY_CONNECTED", state_bytes, (values[reads[0]],), fc, owner, name in seen))
                seen.add(name)
            else:
                ops.append(TfliteOp(_STEP_BUILTINS[kind], state_bytes, tuple(values[r] for r in reads), elementwise[kind], owner))
            values[name] = len(ops) - 1
        out.append(values["h"])
    ops[start:] = [op._replace(recurrent=True) for op in ops[start:]]
    return out


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
