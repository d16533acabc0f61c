"""Which kernel runs each operator of a converted int8 graph under TensorFlow Lite Micro + CMSIS-NN.

TFLite Micro's CMSIS-NN kernels pick a function per operator from its shape (the same rules that
decide their scratch buffers in :func:`edgenas.hardware.analytical.scratch_bytes`): a 1x1
convolution runs ``arm_convolve_1x1_s8_fast``, a depthwise convolution with a channel multiplier
the generic ``arm_depthwise_conv_s8``, and operators CMSIS-NN has no kernel for (MEAN, PAD,
TRANSPOSE, QUANTIZE, the activations) TFLite Micro's portable reference code. The cost of an
operator depends on that choice far more than on its builtin name, so both the latency model
(:mod:`edgenas.hardware.kernel_latency`) and the per-operator report
(:mod:`edgenas.hardware.kernels`) read the choice from here, one rule set for both.

Each choice has a ``key``: the entry of a target file's ``latency.kernels.instructions`` table
that prices it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgenas.hardware.tflite_graph import BUILTIN, MULTI_OP_ACTIVATIONS, TfliteOp
from edgenas.ir import Layer, Op

#: The kinds of kernel path, fastest first.
FAST, GENERIC, REFERENCE, RUNTIME, NONE = "cmsis-nn fast", "cmsis-nn generic", "tflm reference", "runtime", "none"

#: Every kernel key a ``latency.kernels.instructions`` table must price, with the unit its
#: per-unit count is taken over: ``mac``, ``input`` (input elements) or ``output`` (output elements).
KERNEL_UNITS: dict[str, str] = {
    "conv_1x1": "mac",  # arm_convolve_1x1_s8_fast / arm_convolve_1x1_s8
    "conv_s8": "mac",  # arm_convolve_s8 (im2col) and arm_convolve_1_x_n_s8
    "depthwise_3x3": "mac",  # arm_depthwise_conv_3x3_s8
    "depthwise_opt": "mac",  # arm_depthwise_conv_s8_opt (multiplier 1, any kernel)
    "depthwise_generic": "mac",  # arm_depthwise_conv_s8 (channel multiplier > 1)
    "fully_connected": "mac",  # arm_fully_connected_s8
    "avgpool": "input",  # arm_avgpool_s8
    "add": "output",  # arm_elementwise_add_s8
    "mul": "output",  # arm_elementwise_mul_s8
    "softmax": "output",  # arm_softmax_s8
    "mean": "input",  # TFLM reference reduce (int8 MEAN)
    "transpose": "output",  # TFLM reference TRANSPOSE
    "reshape": "output",  # TFLM RESHAPE: a memcpy when input and output buffers differ
    "pad": "output",  # TFLM reference PAD
    "quantize": "output",  # TFLM reference QUANTIZE (int8 -> int8 requantisation)
    "relu6": "output",  # TFLM reference RELU6 (hard-sigmoid's middle pass)
    "logistic": "output",  # TFLM reference int8 LOGISTIC
    "hard_swish": "output",  # TFLM reference int8 HARD_SWISH
    "slice": "output",  # TFLM reference SLICE (a recurrent layer's frames)
}

_CONV = frozenset({Op.CONV2D, Op.CONV1D})
_DEPTHWISE = frozenset({Op.DWCONV2D, Op.DWCONV1D})
#: A layer the converter emits no operator for (a 2-D PAD folded into its convolution's SAME padding).
FOLDED_FUNCTION = "none (folded by the converter)"
_CMSIS_ELEMENTWISE = {Op.ADD: ("arm_elementwise_add_s8", "add"), Op.MUL: ("arm_elementwise_mul_s8", "mul"),
                      Op.SOFTMAX: ("arm_softmax_s8", "softmax")}  # fmt: skip
_REFERENCE_KEYS = {
    "MEAN": "mean", "SUM": "mean", "TRANSPOSE": "transpose", "RESHAPE": "reshape", "PAD": "pad", "QUANTIZE": "quantize",
    "RELU6": "relu6", "LOGISTIC": "logistic", "HARD_SWISH": "hard_swish", "ADD": "add", "MUL": "mul",
    "SLICE": "slice",
}  # fmt: skip
#: Builtins TFLite Micro runs on its reference kernels whatever layer they compute (CMSIS-NN has none).
_REFERENCE_ONLY = frozenset({"MEAN", "SUM", "TRANSPOSE", "PAD", "QUANTIZE", "RELU6", "LOGISTIC", "HARD_SWISH", "SLICE"})


@dataclass(frozen=True)
class KernelChoice:
    """The kernel an operator runs on: its function (or builtin), which kind of path, and its price key."""

    function: str
    path: str
    key: str = ""  # entry of KERNEL_UNITS ("" where no operator runs)


FOLDED = KernelChoice(FOLDED_FUNCTION, NONE)


def builtin_of(layer: Layer) -> str:
    """The TFLite builtin(s) the export path writes for ``layer``."""
    if layer.op in MULTI_OP_ACTIVATIONS:
        return " + ".join(MULTI_OP_ACTIVATIONS[layer.op])
    if layer.op is Op.CONV2D and layer.in_channels == 1 and layer.groups == 1:
        return "DEPTHWISE_CONV_2D"  # the converter's form of a one-channel convolution
    return BUILTIN.get(layer.op, layer.op.value.upper())


def _cmsis(layer: Layer, builtin: str) -> KernelChoice:
    op = layer.op
    depthwise = op in _DEPTHWISE or (op in _CONV and layer.groups > 1 and layer.groups == layer.in_channels)
    if op in _CONV and not depthwise:
        if builtin == "DEPTHWISE_CONV_2D":  # a one-channel convolution the converter made depthwise
            return KernelChoice("arm_depthwise_conv_s8 (channel multiplier > 1)", GENERIC, "depthwise_generic")
        if all(k == 1 for k in layer.kernel):
            fast = all(s == 1 for s in layer.stride)
            return KernelChoice("arm_convolve_1x1_s8_fast" if fast else "arm_convolve_1x1_s8", FAST, "conv_1x1")
        if op is Op.CONV1D:
            return KernelChoice("arm_convolve_s8 (arm_convolve_1_x_n_s8 where the wrapper takes it)", FAST, "conv_s8")
        return KernelChoice("arm_convolve_s8", FAST, "conv_s8")
    if depthwise:
        if layer.in_channels != layer.out_channels:
            return KernelChoice("arm_depthwise_conv_s8 (channel multiplier > 1)", GENERIC, "depthwise_generic")
        if op is Op.DWCONV2D and tuple(layer.kernel) == (3, 3):
            return KernelChoice("arm_depthwise_conv_3x3_s8", FAST, "depthwise_3x3")
        return KernelChoice("arm_depthwise_conv_s8_opt", FAST, "depthwise_opt")
    if op in (Op.FC, Op.GRU, Op.LSTM):  # a recurrent layer's products run as fully connected steps
        return KernelChoice("arm_fully_connected_s8", FAST, "fully_connected")
    if op in (Op.AVGPOOL2D, Op.GLOBAL_AVGPOOL):
        return KernelChoice("arm_avgpool_s8", FAST, "avgpool")
    if op in _CMSIS_ELEMENTWISE:
        function, key = _CMSIS_ELEMENTWISE[op]
        return KernelChoice(function, FAST, key)
    return _reference(builtin)


def _reference(builtin: str) -> KernelChoice:
    return KernelChoice(f"TFLM reference {builtin}", REFERENCE, _REFERENCE_KEYS.get(builtin, ""))


def choose_kernel(layer: Layer, target_kernels: str, builtin: str | None = None) -> KernelChoice:
    """The kernel ``layer`` runs on a runtime whose kernel library is ``target_kernels``.

    ``builtin`` is the operator the file holds for it (default: what edgenas's export writes,
    :func:`builtin_of`); a file converted by another tool may hold another (the MLPerf Tiny
    reference DS-CNN keeps its one-channel first convolution a CONV_2D).
    """
    if layer.op is Op.GLOBAL_AVGPOOL and layer.in_elements == layer.in_channels:
        return KernelChoice("none (a flatten the next layer reads)", NONE)
    builtin = builtin or builtin_of(layer)
    choice = _reference(builtin) if builtin in _REFERENCE_ONLY else _cmsis(layer, builtin)
    return choice if target_kernels == "cmsis-nn" else KernelChoice(builtin, RUNTIME, choice.key)


def op_kernel(op: TfliteOp, target_kernels: str) -> KernelChoice:
    """The kernel one operator of the converted graph runs on (layout copies included)."""
    if op.layer is None or op.layer.op in MULTI_OP_ACTIVATIONS:
        # converter glue, or one pass of an activation written as several builtins
        elementwise = {"ADD": Op.ADD, "MUL": Op.MUL, "SOFTMAX": Op.SOFTMAX}.get(op.builtin)
        if elementwise is not None:
            function, key = _CMSIS_ELEMENTWISE[elementwise]
            choice = KernelChoice(function, FAST, key)
        else:
            choice = _reference(op.builtin)
        return choice if target_kernels == "cmsis-nn" else KernelChoice(op.builtin, RUNTIME, choice.key)
    return choose_kernel(op.layer, target_kernels, op.builtin)
