"""Full-integer int8 ``.tflite`` export, the format TFLite Micro runs on a microcontroller.

Route (see ``shared/notes/int8-tflite-to-tflite-micro.md``): fold batch norm in PyTorch (the
converter does not fold ``BatchNorm1d``), strict ``torch.export`` (non-strict leaves float adds),
litert-torch's PT2E quantizer with per-channel weights, calibration on real training clips,
``convert_pt2e(fold_quantize=False)``, then ``litert_torch.convert`` *with* the ``QuantConfig``:
without it the model keeps float input/output with quantize/dequantize pairs inside.

Every converted model is inspected before it is written: int8 input and output, no operator
touching a float tensor, no CONCATENATION over TFLite Micro's 10-input limit. A model failing
that is refused rather than shipped, because a float op on a Cortex-M means a missing kernel or a
software-float slow path.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgenas.errors import InvalidInputError, MissingExtraError, UnsupportedOpError
from edgenas.files import write_bytes

#: TFLite Micro's CONCATENATION kernel accepts at most this many inputs.
TFLM_MAX_CONCAT_INPUTS = 10
_FLOAT_DTYPES = ("float16", "float32", "float64", "bfloat16")
_EXTRA_HINT = "pip install 'edgenas[tflite]'"


@dataclass(frozen=True)
class OutputInfo:
    """One output tensor of a ``.tflite``: its shape and the pair mapping int8 back to float
    (``x = (q - zero_point) * scale``)."""

    shape: tuple[int, ...]
    scale: float
    zero_point: int

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (np.asarray(q, dtype=np.float32) - self.zero_point) * self.scale


@dataclass(frozen=True)
class TfliteInfo:
    """What an int8 ``.tflite`` holds: operators in execution order and its I/O quantisation.

    ``input_scale``/``input_zero_point`` map standardised features to int8
    (``q = round(x / scale) + zero_point``); the output pair maps int8 logits back. A classifier
    has one output; a detector has one per head output, in the PyTorch module's order
    (``outputs``; the ``output_*`` fields are the first's).
    """

    size_bytes: int
    operators: tuple[str, ...]
    input_shape: tuple[int, ...]
    input_dtype: str
    output_dtype: str
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    float_operators: tuple[str, ...]
    max_concat_inputs: int
    outputs: tuple[OutputInfo, ...] = ()

    @property
    def operator_counts(self) -> dict[str, int]:
        """Operator name -> occurrences, for reports."""
        counts: dict[str, int] = {}
        for op in self.operators:
            counts[op] = counts.get(op, 0) + 1
        return counts


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """Silence C++ / progress output (file descriptors 1 and 2) for the duration.

    The converter and both interpreters print from native code, which Python's redirections do
    not catch; ``--json`` promises exactly one JSON object on stdout, so they are muted here.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved: list[tuple[int, int]] = []
    try:
        with open(os.devnull, "wb") as devnull:
            for fd in (1, 2):
                try:
                    saved.append((fd, os.dup(fd)))
                    os.dup2(devnull.fileno(), fd)
                except OSError:  # pragma: no cover - a closed descriptor: nothing to mute
                    continue
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy_fd in saved:
            os.dup2(copy_fd, fd)
            os.close(copy_fd)


def _require_litert() -> None:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
        import litert_torch  # noqa: F401
        import torchao.quantization.pt2e  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(f"int8 TFLite export needs litert-torch and ai-edge-litert: {_EXTRA_HINT} ({exc})") from None


def litert_interpreter(model_bytes: bytes):
    """A LiteRT interpreter on the *reference* kernels (the ones TFLite Micro's match bit-exactly).

    Raises ``InvalidInputError`` for bytes that are not a valid TFLite flatbuffer: LiteRT verifies
    the buffer, whereas TFLite Micro trusts it and may read out of bounds.
    """
    _require_litert()
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if len(model_bytes) < 8 or model_bytes[4:8] != b"TFL3":
        raise InvalidInputError("not a TFLite model (no TFL3 file identifier): truncated or another format")
    try:
        with quiet_native_output():
            interpreter = Interpreter(
                model_content=bytes(model_bytes), experimental_op_resolver_type=OpResolverType.BUILTIN_REF, num_threads=1
            )
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"not a valid TFLite model ({first})") from None
    return interpreter


def inspect_tflite(model_bytes: bytes) -> TfliteInfo:
    """Operators and I/O quantisation of a ``.tflite`` (``InvalidInputError`` if unreadable)."""
    interpreter = litert_interpreter(model_bytes)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops: list[str] = []
    float_ops: list[str] = []
    max_concat = 0
    try:
        details = interpreter._get_ops_details()  # the only API listing operators with their tensors
    except UnicodeDecodeError:  # an operator name that is not text: a damaged or crafted file
        raise InvalidInputError("not a valid TFLite model (an operator name is not UTF-8)") from None
    for op in details:
        name = str(op["op_name"])
        ops.append(name)
        indices = [i for i in list(op["inputs"]) + list(op["outputs"]) if i >= 0 and i in tensors]
        if any(np.dtype(tensors[i]["dtype"]).name in _FLOAT_DTYPES for i in indices):
            float_ops.append(name)
        if name == "CONCATENATION":
            max_concat = max(max_concat, len([i for i in op["inputs"] if i >= 0]))
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or not outputs:
        raise InvalidInputError(f"expected a model with one input and at least one output, got {len(inputs)} and {len(outputs)}")
    (i_scale, i_zero), (o_scale, o_zero) = inputs[0]["quantization"], outputs[0]["quantization"]
    return TfliteInfo(
        size_bytes=len(model_bytes),
        operators=tuple(ops),
        input_shape=tuple(int(v) for v in inputs[0]["shape"]),
        input_dtype=np.dtype(inputs[0]["dtype"]).name,
        output_dtype=np.dtype(outputs[0]["dtype"]).name,
        input_scale=float(i_scale),
        input_zero_point=int(i_zero),
        output_scale=float(o_scale),
        output_zero_point=int(o_zero),
        float_operators=tuple(float_ops),
        max_concat_inputs=max_concat,
        outputs=tuple(
            OutputInfo(tuple(int(v) for v in o["shape"]), float(o["quantization"][0]), int(o["quantization"][1])) for o in outputs
        ),
    )


def check_full_int8(info: TfliteInfo) -> None:
    """Refuse a model a microcontroller cannot run natively (``UnsupportedOpError`` says why)."""
    problems = []
    if info.input_dtype != "int8" or info.output_dtype != "int8":
        problems.append(f"input/output are {info.input_dtype}/{info.output_dtype}, not int8/int8")
    if info.float_operators:
        problems.append(f"float operators: {', '.join(sorted(set(info.float_operators)))}")
    if info.max_concat_inputs > TFLM_MAX_CONCAT_INPUTS:
        problems.append(f"CONCATENATION with {info.max_concat_inputs} inputs (TFLite Micro allows {TFLM_MAX_CONCAT_INPUTS})")
    if problems:
        raise UnsupportedOpError("the int8 model is not full-integer: " + "; ".join(problems))


#: aten ops whose output keeps their input's int8 scale (see :func:`_int8_quantizer`).
_SCALE_SHARING_OPS = ("avg_pool1d", "avg_pool2d", "pad", "constant_pad_nd")


def _int8_quantizer():
    """litert-torch's PT2E quantizer, with every average pool and zero pad sharing its input's scale.

    litert-torch annotates ``mean`` and ``adaptive_avg_pool2d`` that way but leaves ``avg_pool``
    and ``pad`` out, so their output would take the next layer's input scale and the converter
    would bridge the two with a QUANTIZE. For the pool, AVERAGE_POOL_2D stays at its input's
    scale; for a 1-D map that QUANTIZE lands between two layout TRANSPOSEs it would otherwise
    cancel, so the whole feature map is requantised and copied twice on reference kernels. With
    the scale shared the pool converts to a bare AVERAGE_POOL_2D, which CMSIS-NN runs on its fast
    kernel (global pooling is written as an average pool for that reason, see ``GlobalAvgPool``).
    A zero pad only adds zeros, which every int8 scale represents exactly (the zero point), so
    sharing loses nothing; a pad that stays in the graph then needs no QUANTIZE after it (one the
    converter folds into its convolution, :func:`_zero_pad_in_nhwc`, leaves nothing either way).
    """
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.pt2e_quantizer_utils import propagate_annotation
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

    shared_ops = {getattr(torch.ops.aten, name).default for name in _SCALE_SHARING_OPS}

    class _Quantizer(pt2e_quantizer.PT2EQuantizer):
        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            model = super().annotate(model)
            for node in model.graph.nodes:
                source = node.args[0] if node.op == "call_function" and node.target in shared_ops else None
                if not isinstance(source, torch.fx.Node) or "quantization_annotation" in node.meta:
                    continue
                source_annotation = source.meta.get("quantization_annotation")
                if source_annotation is not None and source_annotation.output_qspec is not None:
                    shared = SharedQuantizationSpec(source)
                    node.meta["quantization_annotation"] = QuantizationAnnotation(
                        input_qspec_map={source: shared}, output_qspec=shared, _annotated=True
                    )
            propagate_annotation(model)  # again: what follows a pool (flatten, view) now shares it too
            return model

    return _Quantizer()


def _constant_pad_nhwc(node) -> None:
    """Rewrite a 4-D ``constant_pad_nd`` node's NCHW padding list for the same tensor in NHWC."""
    pads = list(node.args[1])
    per_dim = [(0, 0)] * 4  # NCHW (before, after); torch lists pairs from the last dimension
    for i in range(len(pads) // 2):
        per_dim[3 - i] = (pads[2 * i], pads[2 * i + 1])
    n, c, h, w = per_dim
    nhwc_pads = [v for pair in (c, w, h, n) for v in pair]  # from NHWC's last dimension (C) back
    node.args = (node.args[0], nhwc_pads, *node.args[2:])


@contextlib.contextmanager
def _zero_pad_in_nhwc() -> Iterator[None]:
    """Let litert-torch's layout pass keep a 2-D zero pad in NHWC for the duration of a conversion.

    The pass knows how to move convolutions, pools and the reflect/replicate pads to TFLite's
    NHWC layout but not ``constant_pad_nd``, so a zero pad in front of a convolution ran in the
    torch layout between two TRANSPOSE copies of the whole map (and, with its own scale, a
    QUANTIZE). Kept in NHWC it sits right before the convolution, and the converter folds a pad
    equal to TensorFlow's SAME rule (what ``ConvBNReLU`` writes where SAME is asymmetric) into the
    convolution's SAME padding: TRANSPOSE, PAD, QUANTIZE, TRANSPOSE become nothing. The rewriter
    is registered only while converting and removed afterwards, so litert-torch is left as found.
    If this litert-torch has no such registry the conversion goes on with the pad in NCHW.
    """
    import torch

    try:
        from litert_torch._convert.fx_passes.optimize_layout_transposes_pass import layout_rewrite

        rewriters = layout_rewrite.rewriters
    except (ImportError, AttributeError):  # pragma: no cover - another litert-torch layout
        yield
        return
    op = torch.ops.aten.constant_pad_nd.default
    previous = rewriters.get(op)
    rewriters[op] = _constant_pad_nhwc
    try:
        yield
    finally:
        if previous is None:
            rewriters.pop(op, None)
        else:  # pragma: no cover - a litert-torch that rewrites it itself
            rewriters[op] = previous


def convert_int8(
    model,
    calibration: np.ndarray,
    path: Path,
    *,
    max_calibration_clips: int = 400,
    batch_size: int = 64,
    require_full_int8: bool = True,
) -> TfliteInfo:
    """Write ``model`` as a full-integer int8 ``.tflite`` at ``path`` and return what it holds.

    Args:
        model: A ``torch.nn.Module`` taking ``(batch, *clip_shape)`` float features. Not
            modified: batch norm is folded on a copy.
        calibration: Float clips ``(N, *clip_shape)`` from the *training* split, preprocessed
            exactly as at inference (standardised). The first ``max_calibration_clips`` set the
            activation ranges; a few hundred are enough and keep export fast.
        path: Destination ``.tflite`` file (folders are created).
        require_full_int8: Refuse (do not write) a model with float operators, as a
            microcontroller needs. ``False`` writes it anyway (for a CPU runtime that executes
            mixed models, e.g. timing the zoo); ``TfliteInfo.float_operators`` lists them.

    Raises:
        MissingExtraError: litert-torch is not installed.
        UnsupportedOpError: the converted model is not full-integer (it is not written).
    """
    _require_litert()
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from torchao.quantization.pt2e import quantize_pt2e

    from edgenas.spaces.nn.blocks import fold_batchnorm

    if max_calibration_clips < 1:
        raise InvalidInputError(f"int8 calibration needs at least 1 clip, got max_calibration_clips={max_calibration_clips}")
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim < 2 or len(calibration) == 0:
        raise InvalidInputError("int8 calibration needs at least one clip, shaped (clips, ...)")
    clips = torch.from_numpy(np.ascontiguousarray(calibration[:max_calibration_clips]))
    folded = fold_batchnorm(copy.deepcopy(model).eval())
    example = (clips[:1].clone(),)
    # Export with a dynamic batch so calibration runs in batches; the model is converted at batch 1.
    batch = torch.export.Dim("batch", min=1, max=4096)
    two = (torch.cat([clips[:1], clips[:1]]),)
    with torch.no_grad():
        graph = torch.export.export(folded, two, dynamic_shapes=({0: batch},), strict=True).module()
        quantizer = _int8_quantizer().set_global(pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))
        prepared = quantize_pt2e.prepare_pt2e(graph, quantizer)
        for start in range(0, len(clips), batch_size):
            prepared(clips[start : start + batch_size])
        quantized = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
    return write_quantized(quantized, example, quantizer, Path(path), require_full_int8=require_full_int8)


def write_quantized(quantized, example: tuple, quantizer, path: Path, *, require_full_int8: bool = True) -> TfliteInfo:
    """Convert a PT2E-quantized graph (``convert_pt2e``'s output) with litert-torch and write the
    ``.tflite``: the one conversion of both the post-training and the quantization-aware routes,
    with the zero pads kept channels-last, inspected before it is written."""
    import litert_torch
    import torch
    from litert_torch.quantize.quant_config import QuantConfig

    with torch.no_grad(), quiet_native_output(), _zero_pad_in_nhwc():
        edge = litert_torch.convert(quantized, example, quant_config=QuantConfig(pt2e_quantizer=quantizer))
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "model.tflite"
        with quiet_native_output():
            edge.export(str(staged))
        model_bytes = staged.read_bytes()
    info = inspect_tflite(model_bytes)
    if require_full_int8:
        check_full_int8(info)
    write_bytes(path, model_bytes)  # complete or not at all: a full disk never leaves half a model
    return info
