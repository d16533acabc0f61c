"""Operator-support audit: which operators of a model a target's runtime executes natively.

A model that fits on paper but needs an operator the device lacks runs on a slow reference
kernel, on the host CPU, or not at all. ``edgenas audit`` reads the operators of a ``.tflite``
(straight from its flatbuffer, with the schema that ships in ``ai-edge-litert``; no interpreter,
so a model with an operator LiteRT cannot build is still audited) or a ``.onnx`` (with ``onnx``),
maps each to the canonical vocabulary of :mod:`edgenas.opset`, and compares it with the
target's ``native_ops``. Search spaces ask the same question of their layer IR
(:func:`audit_layers`), so a search never proposes what the audit would reject.

Types matter: a target's list describes int8 kernels, so a float ``CONV_2D`` is a fallback on
an int8 runtime. In an ONNX QDQ model the ``DequantizeLinear -> op -> QuantizeLinear`` units are
what an int8 runtime executes as one int8 operator: the Q/DQ nodes inside them are not listed,
and only those at the float boundary of the model (an input's ``QuantizeLinear``, an output's
``DequantizeLinear``) count as operators.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgenas.errors import InvalidInputError, MissingExtraError
from edgenas.ir import Layer
from edgenas.opset import (
    ONNX_CONVS,
    TFLITE_FUSED_ACTIVATIONS,
    layer_requirements,
    onnx_canonical,
    onnx_conv,
    requirement,
    tflite_canonical,
)

FORMATS = ("tflite", "onnx")
_LAYOUT = frozenset({"reshape", "transpose"})


@dataclass(frozen=True)
class OperatorUse:
    """One operator of a model, as the file names it, with its count and verdict."""

    name: str  # as in the file: "CONV_2D", "RELU (fused)", "Conv", or an IR op value
    requirement: str  # canonical, with the tensor type where not int8: "conv2d", "conv2d[float32]"
    count: int
    native: bool


@dataclass(frozen=True)
class AuditResult:
    """Every operator of one model against one target's native list."""

    model_path: str
    format: str
    target_name: str
    operators: tuple[OperatorUse, ...]

    @property
    def fallback(self) -> tuple[OperatorUse, ...]:
        return tuple(op for op in self.operators if not op.native)

    @property
    def all_native(self) -> bool:
        return not self.fallback

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "format": self.format,
            "target": self.target_name,
            "all_native": self.all_native,
            "operators": [asdict(op) for op in self.operators],
            "fallback": sorted({op.requirement for op in self.fallback}),
        }


def _tally(target, uses: Sequence[tuple[str, str]]) -> tuple[OperatorUse, ...]:
    counts = Counter(uses)
    order = list(dict.fromkeys(uses))  # first appearance, as in the file
    return tuple(OperatorUse(name, req, counts[(name, req)], req in target.native_ops) for name, req in order)


# --------------------------------------------------------------------------- IR


def audit_layers(layers: Sequence[Layer], target, name: str = "layers") -> AuditResult:
    """Audit a network's layer IR (what a search space proposes) against ``target``."""
    uses = [(str(layer.op.value), req) for layer in layers for req in layer_requirements(layer)]
    return AuditResult(model_path=name, format="ir", target_name=target.name, operators=_tally(target, uses))


# --------------------------------------------------------------------------- TFLite


def _tflite_schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        try:
            from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
        except ImportError:
            raise MissingExtraError("reading .tflite operators needs the TFLite schema: pip install 'edgenas[tflite]'") from None
    return schema


def _enum_names(cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def tflite_operators(model_bytes: bytes) -> list[tuple[str, str]]:
    """``(name, requirement)`` per operator occurrence (fused activations listed after their op).

    Raises ``InvalidInputError`` for bytes that are not a complete TFLite flatbuffer.
    """
    schema = _tflite_schema()
    buf = bytes(model_bytes)
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise InvalidInputError("not a TFLite model (no TFL3 file identifier): truncated or another format")
    builtins, types, options = (
        _enum_names(schema.BuiltinOperator),
        _enum_names(schema.TensorType),
        _enum_names(schema.BuiltinOptions),
    )
    try:
        if struct.unpack_from("<I", buf, 0)[0] >= len(buf):
            raise IndexError("root table offset beyond the end of the file")
        model = schema.Model.GetRootAs(buf, 0)
        for i in range(model.BuffersLength()):  # weights: every data vector must lie inside the file
            b = model.Buffers(i)
            field = b._tab.Offset(4)
            if field and b._tab.Vector(field) + b.DataLength() > len(buf):
                raise IndexError(f"buffer {i} runs past the end of the file")
            if b.Offset() > 1 and b.Offset() + b.Size() > len(buf):
                raise IndexError(f"buffer {i} (external) runs past the end of the file")
        codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            name = builtins.get(code, f"BUILTIN_{code}")
            if name == "CUSTOM":
                custom = oc.CustomCode()
                name = f"CUSTOM:{custom.decode('utf-8', 'replace') if custom else '?'}"
            codes.append(name)
        uses: list[tuple[str, str]] = []
        for g in range(model.SubgraphsLength()):
            graph = model.Subgraphs(g)
            n_tensors = graph.TensorsLength()
            for j in range(graph.OperatorsLength()):
                op = graph.Operators(j)
                index = op.OpcodeIndex()
                if index >= len(codes):
                    raise IndexError(f"operator {j} uses opcode {index} of {len(codes)}")
                name = codes[index]
                dtype = "int8"
                if op.OutputsLength():
                    out = op.Outputs(0)
                    if not 0 <= out < n_tensors:
                        raise IndexError(f"operator {j} writes tensor {out} of {n_tensors}")
                    dtype = types.get(graph.Tensors(out).Type(), "unknown").lower()
                canonical = "custom" if name.startswith("CUSTOM:") else tflite_canonical(name)
                if canonical == "quantize" and op.InputsLength() and 0 <= op.Inputs(0) < n_tensors:
                    source = types.get(graph.Tensors(op.Inputs(0)).Type(), "").lower()
                    if source in ("int8", "uint8", "int16"):  # requantisation inside the int8 graph, not float input
                        canonical = "requantize"
                uses.append((name, requirement(canonical, dtype)))
                fused = _fused_activation(schema, options, op)
                if fused:
                    uses.append((f"{fused.upper()} (fused)", requirement(fused, dtype)))
    except (struct.error, IndexError, ValueError, TypeError, AttributeError) as exc:
        raise InvalidInputError(f"not a valid TFLite model: corrupt or truncated flatbuffer ({str(exc)[:100]})") from None
    if not uses:
        raise InvalidInputError("the TFLite model holds no operators")
    return uses


def _fused_activation(schema, options: dict[int, str], op) -> str | None:
    kind = options.get(op.BuiltinOptionsType())
    table = op.BuiltinOptions()
    cls = getattr(schema, kind, None) if kind else None
    if cls is None or table is None or not hasattr(cls, "FusedActivationFunction"):
        return None
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    return TFLITE_FUSED_ACTIVATIONS.get(opts.FusedActivationFunction())


# --------------------------------------------------------------------------- ONNX

_ONNX_TYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 10: "float16"}
_ONNX_TYPES |= {11: "float64", 16: "bfloat16"}


def onnx_operators(model_bytes: bytes) -> list[tuple[str, str]]:
    """``(op_type, requirement)`` per compute node (Q/DQ inside QDQ units folded, see the module docstring)."""
    try:
        import onnx
    except ImportError:
        raise MissingExtraError("reading .onnx operators needs onnx: pip install onnx") from None
    try:
        model = onnx.load_model_from_string(bytes(model_bytes))
        onnx.checker.check_model(model)
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as exc:  # protobuf DecodeError, ValidationError, InferenceError...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"not a valid ONNX model: corrupt or truncated ({first[:160]})") from None
    graph = model.graph
    if not graph.node:
        raise InvalidInputError("the ONNX model holds no operators")
    init = {t.name: t for t in graph.initializer}
    graph_outputs = {v.name for v in graph.output}
    elem = {v.name: v.type.tensor_type.elem_type for v in (*graph.input, *graph.output, *graph.value_info)}
    elem |= {name: t.data_type for name, t in init.items()}
    shapes = {
        v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
        for v in (*graph.input, *graph.value_info)
    }

    reaches_q: set[str] = set()  # tensors from which a QuantizeLinear is reached through compute nodes
    for node in reversed(graph.node):
        if node.op_type == "QuantizeLinear":
            reaches_q.update(node.input[:1])
        elif node.op_type != "DequantizeLinear" and any(out in reaches_q for out in node.output):
            reaches_q.update(node.input)
    quantized: set[str] = set()  # tensors an int8 runtime holds as int8
    pending: set[str] = set()  # float data only reshaped so far: its QuantizeLinear is still the boundary
    uses: list[tuple[str, str]] = []
    for node in graph.node:
        kind = node.op_type
        if kind == "DequantizeLinear":
            internal = (node.input[0] in init or node.input[0] in quantized) and not set(node.output) & graph_outputs
            quantized.update(node.output)
            if not internal:
                uses.append((kind, "dequantize"))
            continue
        if kind == "QuantizeLinear":
            if node.input[0] not in quantized or node.input[0] in pending:  # float data enters the int8 part here
                uses.append((kind, "quantize"))
            quantized.update(node.output)
            continue
        fed = any(name in quantized for name in node.input)
        integer = kind.startswith("QLinear") or kind.endswith("Integer") or kind == "QGemm"
        layout = onnx_canonical(kind) in _LAYOUT  # no arithmetic: commutes with quantisation
        if integer or ((fed or layout) and any(out in reaches_q for out in node.output)):
            dtype = "int8"
            quantized.update(node.output)
            if layout and (not fed or any(name in pending for name in node.input)):
                pending.update(node.output)
        else:
            dtype = _ONNX_TYPES.get(elem.get(node.output[0], 0) if node.output else 0, "float32")
        if kind in ONNX_CONVS:
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            channels = shapes.get(node.input[0], [None, None])
            canonical = onnx_conv(group, channels[1] if len(channels) > 1 else None)
        elif kind == "Clip":
            canonical = "relu6" if _clip_range(node, init) == (0.0, 6.0) else "clip"
        else:
            canonical = onnx_canonical(kind)
        uses.append((kind, requirement(canonical, dtype)))
    return uses


def _clip_range(node, init) -> tuple[float, float] | None:
    from onnx import numpy_helper

    bounds = []
    for name in node.input[1:3]:
        if name not in init:
            return None
        bounds.append(float(numpy_helper.to_array(init[name]).reshape(-1)[0]))
    return (bounds[0], bounds[1]) if len(bounds) == 2 else None


# --------------------------------------------------------------------------- files


#: Largest model file edgenas reads (whole, into memory): protobuf and flatbuffers stop at 2 GiB, and a
#: model for an edge device is far below this.
MAX_MODEL_BYTES = 1 << 30


def read_model_bytes(path: Path) -> bytes:
    """The model file's bytes, or one clear ``InvalidInputError`` (missing, a folder, unreadable, too large)."""
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder, not a model file")
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such model file")
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise InvalidInputError(f"{path} is {size:,} B; edgenas reads model files of at most {MAX_MODEL_BYTES:,} B")
        with open(path, "rb") as f:
            data = f.read(MAX_MODEL_BYTES + 1)  # a file that grows (or lies about its size) is still bounded
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read the model file ({exc.strerror or type(exc).__name__})") from None
    if len(data) > MAX_MODEL_BYTES:
        raise InvalidInputError(f"{path} is larger than {MAX_MODEL_BYTES:,} B, the most edgenas reads")
    return data


def model_format(path: Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise InvalidInputError(f"{path}: unknown model format {suffix or '(no suffix)'!r}. Accepted: .tflite, .onnx.")
    return suffix


def audit_model(path: Path, target) -> AuditResult:
    """Audit the ``.tflite`` or ``.onnx`` at ``path`` against ``target`` (a loaded ``Target``)."""
    path = Path(path)
    fmt = model_format(path)
    data = read_model_bytes(path)
    try:
        uses = tflite_operators(data) if fmt == "tflite" else onnx_operators(data)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}: {exc}") from None
    return AuditResult(model_path=str(path), format=fmt, target_name=target.name, operators=_tally(target, uses))
