"""One operator vocabulary for targets, model files and the layer IR.

A target says which operators its runtime executes natively; a ``.tflite`` names them as TFLite
builtins (``CONV_2D``), a ``.onnx`` as ONNX op types (``Conv`` with ``group``), a search space as
IR layers (``Op.CONV2D`` with a fused ``relu``). To compare them, each is mapped here to a
*canonical* name (``conv2d``), so the operator audit of a file and the filtering of a search
space ask the same question of the same list.

A requirement is a canonical name for an int8 kernel (``"conv2d"``), or the name with the tensor
type in brackets for any other type (``"conv2d[float32]"``): a target's native list describes
int8 kernels unless it names another type explicitly, so a float operator on an int8-only
runtime is a fallback. Names this module does not know pass through lower-cased, so an exotic
operator is never silently "native": no target lists it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from edgenas.ir import Layer

#: Canonical operators and what they are. Target files may only name these.
CANONICAL_OPS: dict[str, str] = {
    "conv2d": "2-D convolution, groups = 1 (a 1-D conv runs as a 2-D conv on a (T, 1, C) tensor)",
    "depthwise_conv2d": "depthwise 2-D convolution (groups = input channels)",
    "grouped_conv2d": "2-D convolution with 1 < groups < input channels",
    "transpose_conv2d": "transposed 2-D convolution",
    "fully_connected": "fully connected / dense / Gemm",
    "batch_matmul": "matrix product of two activations",
    "avg_pool2d": "average pooling",
    "max_pool2d": "max pooling",
    "mean": "mean over axes (global average pooling)",
    "add": "element-wise addition",
    "sub": "element-wise subtraction",
    "mul": "element-wise multiplication (squeeze-and-excitation gating, swish)",
    "div": "element-wise division",
    "maximum": "element-wise maximum",
    "minimum": "element-wise minimum",
    "relu": "ReLU (fused into the producing op or standalone)",
    "relu6": "ReLU6 (fused or standalone; ONNX Clip(0, 6))",
    "relu_n1_to_1": "ReLU clipped to [-1, 1]",
    "clip": "clip to a range other than [0, 6]",
    "leaky_relu": "leaky ReLU",
    "prelu": "parametric ReLU",
    "logistic": "sigmoid",
    "tanh": "hyperbolic tangent",
    "hard_swish": "hard swish",
    "hard_sigmoid": "hard sigmoid",
    "gelu": "GELU",
    "exp": "exponential",
    "softmax": "softmax",
    "reshape": "reshape, squeeze, expand dims, flatten (no arithmetic)",
    "transpose": "axis permutation",
    "pad": "zero padding",
    "concatenation": "concatenation",
    "split": "split",
    "slice": "slice / strided slice",
    "gather": "gather",
    "resize": "bilinear / nearest resize",
    "batch_norm": "batch normalisation left unfolded",
    "layer_norm": "layer normalisation",
    "quantize": "float -> int8 (data entering the int8 part of a model)",
    "requantize": "int8 -> int8 with other scale or zero point (TFLite QUANTIZE on an int8 input)",
    "dequantize": "int8 -> float",
    "lstm": "LSTM layer",
    "gru": "GRU layer",
    "rnn": "simple RNN layer",
    "svdf": "SVDF layer",
    "custom": "a custom operator (never native unless a target names it)",
}

#: Tensor types a requirement may carry in brackets; int8 is the unbracketed default.
DTYPES = ("int8", "int16", "int32", "uint8", "float16", "float32", "bfloat16", "float64", "int64", "bool")

_TFLITE: dict[str, str] = {
    "CONV_2D": "conv2d",
    "DEPTHWISE_CONV_2D": "depthwise_conv2d",
    "TRANSPOSE_CONV": "transpose_conv2d",
    "FULLY_CONNECTED": "fully_connected",
    "BATCH_MATMUL": "batch_matmul",
    "AVERAGE_POOL_2D": "avg_pool2d",
    "MAX_POOL_2D": "max_pool2d",
    "MEAN": "mean",
    "SUM": "mean",  # the same TFLM reduce kernel (reduce.cc); the converter writes a one-position MEAN as RESHAPE + SUM
    "ADD": "add",
    "SUB": "sub",
    "MUL": "mul",
    "DIV": "div",
    "MAXIMUM": "maximum",
    "MINIMUM": "minimum",
    "RELU": "relu",
    "RELU6": "relu6",
    "RELU_N1_TO_1": "relu_n1_to_1",
    "LEAKY_RELU": "leaky_relu",
    "PRELU": "prelu",
    "LOGISTIC": "logistic",
    "TANH": "tanh",
    "HARD_SWISH": "hard_swish",
    "GELU": "gelu",
    "EXP": "exp",
    "SOFTMAX": "softmax",
    "RESHAPE": "reshape",
    "SQUEEZE": "reshape",
    "EXPAND_DIMS": "reshape",
    "TRANSPOSE": "transpose",
    "PAD": "pad",
    "PADV2": "pad",
    "CONCATENATION": "concatenation",
    "SPLIT": "split",
    "SPLIT_V": "split",
    "SLICE": "slice",
    "STRIDED_SLICE": "slice",
    "GATHER": "gather",
    "RESIZE_BILINEAR": "resize",
    "RESIZE_NEAREST_NEIGHBOR": "resize",
    "QUANTIZE": "quantize",
    "DEQUANTIZE": "dequantize",
    "LSTM": "lstm",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "lstm",
    "BIDIRECTIONAL_SEQUENCE_LSTM": "lstm",
    "RNN": "rnn",
    "UNIDIRECTIONAL_SEQUENCE_RNN": "rnn",
    "SVDF": "svdf",
    "CUSTOM": "custom",
}

#: TFLite ``ActivationFunctionType`` values fused into an op (0 = NONE).
TFLITE_FUSED_ACTIVATIONS = {1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh", 5: "sign_bit"}

_ONNX: dict[str, str] = {
    "ConvTranspose": "transpose_conv2d",
    "Gemm": "fully_connected",
    "MatMul": "fully_connected",
    "MatMulInteger": "fully_connected",
    "QLinearMatMul": "fully_connected",
    "QGemm": "fully_connected",
    "AveragePool": "avg_pool2d",
    "QLinearAveragePool": "avg_pool2d",
    "MaxPool": "max_pool2d",
    "GlobalAveragePool": "mean",
    "QLinearGlobalAveragePool": "mean",
    "ReduceMean": "mean",
    "GlobalMaxPool": "max_pool2d",
    "Add": "add",
    "QLinearAdd": "add",
    "Sub": "sub",
    "Mul": "mul",
    "QLinearMul": "mul",
    "Div": "div",
    "Max": "maximum",
    "Min": "minimum",
    "Relu": "relu",
    "LeakyRelu": "leaky_relu",
    "QLinearLeakyRelu": "leaky_relu",
    "PRelu": "prelu",
    "Sigmoid": "logistic",
    "QLinearSigmoid": "logistic",
    "Tanh": "tanh",
    "HardSwish": "hard_swish",
    "HardSigmoid": "hard_sigmoid",
    "Gelu": "gelu",
    "Exp": "exp",
    "Softmax": "softmax",
    "QLinearSoftmax": "softmax",
    "Reshape": "reshape",
    "Flatten": "reshape",
    "Squeeze": "reshape",
    "Unsqueeze": "reshape",
    "Transpose": "transpose",
    "Pad": "pad",
    "Concat": "concatenation",
    "QLinearConcat": "concatenation",
    "Split": "split",
    "Slice": "slice",
    "Gather": "gather",
    "Resize": "resize",
    "BatchNormalization": "batch_norm",
    "LayerNormalization": "layer_norm",
    "QuantizeLinear": "quantize",
    "DequantizeLinear": "dequantize",
    "LSTM": "lstm",
    "GRU": "gru",
    "RNN": "rnn",
}

#: ONNX convolution op types: canonical name depends on ``group`` (see :func:`onnx_conv`).
ONNX_CONVS = ("Conv", "QLinearConv", "ConvInteger")

#: Operators without a tensor type of their own (type conversions): never bracketed.
_TYPELESS = frozenset({"quantize", "requantize", "dequantize"})

# IR op values -> canonical operators, including names later spaces may add to ``Op``
# (squeeze-and-excitation, GRU, gating) so that a new IR op is filtered correctly at once.
_IR: dict[str, tuple[str, ...]] = {
    "conv2d": ("conv2d",),
    "conv1d": ("conv2d",),
    "dwconv2d": ("depthwise_conv2d",),
    "dwconv1d": ("depthwise_conv2d",),
    "fc": ("fully_connected",),
    "avgpool2d": ("avg_pool2d",),
    "maxpool2d": ("max_pool2d",),
    "global_avgpool": ("avg_pool2d",),
    "add": ("add",),
    "mul": ("mul",),
    "reshape": ("reshape",),
    "pad": ("pad",),
    "softmax": ("softmax",),
    "sigmoid": ("logistic",),
    "hard_sigmoid": ("add", "relu6", "mul"),  # relu6(x + 3) / 6: TFLite has no HARD_SIGMOID builtin
    "hard_swish": ("hard_swish",),
    "swish": ("logistic", "mul"),  # x * sigmoid(x): TFLite has no SWISH builtin
    "concat": ("concatenation",),
    "se": ("mean", "fully_connected", "logistic", "mul"),  # squeeze-and-excitation: pool, 2 FC, gate
    "squeeze_excite": ("mean", "fully_connected", "logistic", "mul"),
    "gru": ("gru",),
    "lstm": ("lstm",),
    # a GRU / LSTM layer unrolled by the converter (edgenas.hardware.tflite_graph): frames sliced
    # from the map in the torch layout, then each step's products, sums, gates and state updates
    "unrolled_gru": ("transpose", "reshape", "slice", "fully_connected", "add", "mul", "logistic"),
    "unrolled_lstm": ("transpose", "reshape", "slice", "fully_connected", "add", "mul", "logistic"),
}
_ACTIVATIONS: dict[str, tuple[str, ...]] = {
    "relu": ("relu",),
    "relu6": ("relu6",),
    "hard_swish": ("hard_swish",),
    "hswish": ("hard_swish",),
    "hardswish": ("hard_swish",),
    "swish": ("logistic", "mul"),  # x * sigmoid(x): TFLite has no SWISH builtin
    "silu": ("logistic", "mul"),
    "sigmoid": ("logistic",),
    "tanh": ("tanh",),
    "gelu": ("gelu",),
    "leaky_relu": ("leaky_relu",),
}


def requirement(canonical: str, dtype: str = "int8") -> str:
    """The requirement string for ``canonical`` on tensors of ``dtype`` (see the module docstring)."""
    if canonical in _TYPELESS or dtype == "int8":
        return canonical
    return f"{canonical}[{dtype}]"


def split_requirement(text: str) -> tuple[str, str]:
    """``"conv2d[float32]"`` -> ``("conv2d", "float32")``; ``"conv2d"`` -> ``("conv2d", "int8")``."""
    if text.endswith("]") and "[" in text:
        name, dtype = text[:-1].split("[", 1)
        return name, dtype
    return text, "int8"


def check_name(text: str) -> str:
    """Validate a name a target file declares native; ``ValueError`` names the accepted ones."""
    name, dtype = split_requirement(text)
    if name not in CANONICAL_OPS:
        raise ValueError(f"unknown operator {text!r}; canonical operators: {', '.join(sorted(CANONICAL_OPS))}")
    if dtype not in DTYPES:
        raise ValueError(f"unknown tensor type {dtype!r} in {text!r}; accepted: {', '.join(DTYPES)}")
    return text


def tflite_canonical(builtin: str) -> str:
    """TFLite builtin name (``"CONV_2D"``) -> canonical name; unknown ones lower-cased."""
    return _TFLITE.get(builtin, builtin.lower())


def onnx_canonical(op_type: str) -> str:
    """ONNX op type -> canonical name (convolutions: use :func:`onnx_conv`); unknown ones lower-cased."""
    return _ONNX.get(op_type, op_type.lower())


def onnx_conv(group: int, in_channels: int | None) -> str:
    """Canonical name of an ONNX ``Conv`` with ``group`` over ``in_channels`` (None: unknown)."""
    if group <= 1:
        return "conv2d"
    if in_channels is not None and group == in_channels:
        return "depthwise_conv2d"
    return "grouped_conv2d"


def layer_requirements(layer: Layer) -> tuple[str, ...]:
    """What one IR layer needs from the runtime: its operator(s) and its fused activation."""
    value = str(layer.op.value) if hasattr(layer.op, "value") else str(layer.op)
    names = list(_IR.get(value, (value,)))
    if layer.activation:
        names += _ACTIVATIONS.get(layer.activation, (layer.activation.lower(),))
    return tuple(requirement(name, layer.dtype) for name in names)


def network_requirements(layers: Sequence[Layer]) -> frozenset[str]:
    """Every requirement of a network's layers."""
    return frozenset(req for layer in layers for req in layer_requirements(layer))


def missing(requirements: Iterable[str], native: frozenset[str]) -> tuple[str, ...]:
    """The requirements ``native`` does not cover, sorted."""
    return tuple(sorted(set(requirements) - native))
