"""LiteRT (ai-edge-litert) on the host CPU: timed ``invoke()`` runs of a ``.tflite`` file.

The Python interpreter exposes no per-operator timer, so the breakdown lists the operators it
would run without times and says so (``ops_note``); use ``--backend onnxruntime`` on the ONNX
export, or the ``benchmark_model`` tool of LiteRT, for per-operator times. The interpreter is an
optional extra (``pip install 'edgenas[tflite]'``); without it the error names the extra.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgenas.errors import InvalidInputError, MissingExtraError
from edgenas.measure.base import Measurement, check_counts, check_input_shape
from edgenas.measure.ort import time_runs_with_cpu

#: Most bytes of tensors a model may declare (all of them together, activations and weights).
MAX_TENSOR_BYTES = 1 << 30
NO_OPS_NOTE = "the LiteRT Python interpreter exposes no per-operator times (use --backend onnxruntime on the ONNX export)"


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise MissingExtraError(
            "the litert backend needs ai-edge-litert: pip install 'edgenas[tflite]' (or pip install ai-edge-litert)"
        ) from None
    return Interpreter


def _resolver(xnnpack: bool) -> dict[str, object]:
    """The interpreter's keyword that turns the default XNNPACK delegate off (nothing when it stays on)."""
    if xnnpack:
        return {}
    from ai_edge_litert.interpreter import OpResolverType

    return {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}


def _check_tensor_sizes(interpreter, path: Path) -> None:
    """Refuse a model whose tensors (as its file declares them) would not fit in memory, before LiteRT allocates them."""
    for detail in interpreter.get_input_details():
        check_input_shape(detail["shape"], str(path))
    total = 0
    for detail in interpreter.get_tensor_details():
        shape = tuple(max(int(d), 0) for d in detail.get("shape", ()))
        total += math.prod(shape) * np.dtype(detail.get("dtype", np.float32)).itemsize
    if total > MAX_TENSOR_BYTES:
        raise InvalidInputError(
            f"{path}: its tensors declare {total:,} B; edgenas profiles models of at most {MAX_TENSOR_BYTES:,} B"
        )


def measure_tflite(path: Path, *, threads: int = 1, warmup: int = 10, repeats: int = 50, xnnpack: bool = True) -> Measurement:
    """Time a ``.tflite`` model with the LiteRT interpreter (``num_threads=threads``).

    ``xnnpack=False`` runs LiteRT's built-in kernels only: the XNNPACK delegate, on by default,
    takes over the operators it supports and can be several times faster (or, on some int8
    graphs, slower), so a device's figure means little without saying which one ran.
    """
    from edgenas.export.tflite import quiet_native_output

    check_counts(repeats, warmup, threads)
    interpreter_class = _interpreter_class()
    try:
        with quiet_native_output():  # the XNNPACK delegate announces itself on stderr from native code
            interpreter = interpreter_class(model_path=str(path), num_threads=threads, **_resolver(xnnpack))
            _check_tensor_sizes(interpreter, path)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InvalidInputError(f"{path} is not a TFLite model LiteRT can load ({first})") from None
    rng = np.random.default_rng(0)
    shape: tuple[int, ...] = ()
    for detail in interpreter.get_input_details():
        shape = tuple(int(d) for d in detail["shape"])
        dtype = np.dtype(detail["dtype"])
        if np.issubdtype(dtype, np.floating):
            value = rng.standard_normal(shape).astype(dtype)
        else:
            info = np.iinfo(dtype)
            value = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
        interpreter.set_tensor(detail["index"], value)
    times, cpu_times = time_runs_with_cpu(interpreter.invoke, warmup, repeats)
    try:
        op_names = sorted({str(op.get("op_name", "?")) for op in interpreter._get_ops_details()})  # noqa: SLF001
    except UnicodeDecodeError:  # an operator name that is not text: a damaged or crafted file
        raise InvalidInputError(f"{path}: not a valid TFLite model (an operator name is not UTF-8)") from None
    return Measurement(
        backend="litert" if xnnpack else "litert-no-xnnpack",
        model=str(path),
        threads=threads,
        warmup=warmup,
        times_ms=times,
        ops=(),
        ops_note=f"{NO_OPS_NOTE}; operators in the model: {', '.join(op_names)}",
        input_shape=shape,
        cpu_times_ms=cpu_times,
    )
