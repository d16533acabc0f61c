"""Measurement on the host: this machine is a real device.

One module per runtime (:mod:`.ort` ONNX Runtime, :mod:`.litert` LiteRT, :mod:`.pytorch`
PyTorch eager), each returning a :class:`Measurement`: every timed run, the spread, and a
per-operator breakdown where the runtime exposes one. :func:`measure_model` picks the runtime
from the file (``edgenas profile``); :mod:`.loop` turns the ONNX Runtime measurement into a cost
function for ``edgenas search --latency measured``. Runtimes are imported only when used.
"""

from __future__ import annotations

from pathlib import Path

from edgenas.errors import InvalidInputError, UnknownNameError
from edgenas.measure.base import (
    BACKENDS,
    DEFAULT_BACKEND,
    Measurement,
    OpTime,
    RunCounts,
    check_counts,
    check_readable,
    host_info,
    runtime_version,
)

__all__ = ["BACKENDS", "Measurement", "OpTime", "host_info", "measure_model", "runtime_version"]


def measure_model(
    path: Path, backend: str | None = None, *, threads: int = 1, warmup: int = 10, repeats: int = 50, per_op: bool = True
) -> Measurement:
    """Measure a model file on this CPU: ``.onnx`` (ONNX Runtime), ``.tflite`` (LiteRT) or an
    ``edgenas search`` checkpoint ``.pt`` (PyTorch, or ONNX Runtime on its in-memory export).

    >>> m = measure_model(Path("runs/kws-cortex-m7/best/model.onnx"), repeats=100)  # doctest: +SKIP
    >>> print(f"{m.median_ms:.3f} ms median, IQR {m.iqr_ms:.3f} ms")                 # doctest: +SKIP
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in DEFAULT_BACKEND:
        raise InvalidInputError(
            f"{path}: not a model file edgenas can profile (expected .onnx, .tflite or an edgenas .pt checkpoint)"
        )
    name = backend or DEFAULT_BACKEND[suffix]
    if name not in BACKENDS:
        raise UnknownNameError(f"unknown backend {name!r}. Accepted: {', '.join(BACKENDS)}.")
    if suffix not in BACKENDS[name]:
        raise InvalidInputError(f"backend {name!r} cannot run a {suffix} file (it reads {', '.join(BACKENDS[name])})")
    check_counts(repeats, warmup, threads)  # before a runtime loads anything
    check_readable(path)
    counts: RunCounts = {"threads": threads, "warmup": warmup, "repeats": repeats}
    if name in ("litert", "litert-no-xnnpack"):
        from edgenas.measure.litert import measure_tflite

        return measure_tflite(path, xnnpack=name == "litert", **counts)
    if name == "torch":
        from edgenas.measure.pytorch import measure_checkpoint

        return measure_checkpoint(path, per_op=per_op, **counts)
    from edgenas.measure.ort import measure_onnx

    if suffix == ".pt":
        from edgenas.measure.pytorch import load_module, onnx_bytes

        module, example = load_module(path)
        return measure_onnx(onnx_bytes(module, example), per_op=per_op, label=f"{path} (exported to ONNX in memory)", **counts)
    return measure_onnx(path, per_op=per_op, **counts)
