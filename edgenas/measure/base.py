"""What a host measurement is: repeated timings, their spread, and where the time went.

A :class:`Measurement` keeps every timed run (milliseconds, wall clock around one inference, and
the CPU time of the calling thread over the same run), so the median, the spread and the share of
each operator are computed from data, never stored as bare figures. Every number it reports is a
*measurement* on this machine, with its unit in the key, plus the load average at the time: the
host may be shared, and a reader must be able to see it.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import numpy as np

from edgenas.errors import InvalidInputError

#: Backends ``edgenas profile`` knows, and the model files each one reads.
BACKENDS: dict[str, tuple[str, ...]] = {
    "onnxruntime": (".onnx", ".pt"),
    "litert": (".tflite",),  # LiteRT as it runs by default: XNNPACK delegate for the float and int8 ops it takes
    "litert-no-xnnpack": (".tflite",),  # LiteRT's built-in kernels only (no default delegate)
    "torch": (".pt",),
}
#: The backend used when none is named, by file suffix.
DEFAULT_BACKEND = {".onnx": "onnxruntime", ".tflite": "litert", ".pt": "torch"}
#: The Python package that provides each backend's runtime (whose version a measurement reports).
RUNTIME_PACKAGES = {
    "onnxruntime": "onnxruntime",
    "litert": "ai-edge-litert",
    "litert-no-xnnpack": "ai-edge-litert",
    "torch": "torch",
    "tvm": "apache-tvm",
}
#: Element types an input may be given as where the model file does not declare its inputs (a
#: compiled library): NumPy's names.
INPUT_DTYPES = ("float32", "float16", "float64", "int8", "uint8", "int32", "int64")


class RunCounts(TypedDict):
    """How every runtime's measurement runs (the keyword arguments each ``measure_*`` takes)."""

    threads: int
    warmup: int
    repeats: int


@dataclass(frozen=True, slots=True)
class OpTime:
    """Time spent in one operator (or operator type), averaged over the profiled runs.

    ``ms_per_run`` is the operator's own time in one inference (ONNX Runtime: the node's kernel
    time; PyTorch: self CPU time, children excluded, so the shares add up).
    """

    name: str
    op_type: str
    ms_per_run: float
    calls_per_run: float = 1.0


@dataclass(frozen=True)
class Measurement:
    """Timed inferences of one model on this host, with their per-operator breakdown.

    Args:
        backend: ``onnxruntime``, ``litert`` or ``torch``.
        model: What was measured (a path, or a description of an in-memory model).
        threads: Intra-op threads the runtime was allowed.
        warmup: Untimed runs before timing.
        times_ms: One wall-clock time per timed run, in milliseconds.
        ops: Per-operator times from a separate profiled pass (profiling slows runs down, so
            the headline figures come from the unprofiled runs).
        ops_note: Why there is no per-operator breakdown, where there is none.
        input_shape: The input the model was run on.
        load_avg: The 1/5/15-minute load average when the measurement was made.
        cpu_times_ms: CPU time of the calling thread per timed run, in milliseconds (same runs as
            ``times_ms``; empty where not recorded). With one thread ONNX Runtime, LiteRT and
            PyTorch run the whole inference on the caller, so this is the compute time without
            the waits that other processes sharing the cores add to the wall clock; with more
            threads it is only the caller's share.
    """

    backend: str
    model: str
    threads: int
    warmup: int
    times_ms: tuple[float, ...]
    ops: tuple[OpTime, ...] = ()
    ops_note: str | None = None
    input_shape: tuple[int, ...] = ()
    load_avg: tuple[float, float, float] = field(default_factory=lambda: _load_avg())
    cpu_times_ms: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.cpu_times_ms and len(self.cpu_times_ms) != len(self.times_ms):
            raise ValueError(f"{len(self.cpu_times_ms)} CPU times for {len(self.times_ms)} timed runs: one per run, or none")

    # -- spread ----------------------------------------------------------------------------
    @property
    def repeats(self) -> int:
        return len(self.times_ms)

    def _arr(self) -> np.ndarray:
        if not self.times_ms:
            raise ValueError("a measurement needs at least one timed run")
        return np.asarray(self.times_ms, dtype=np.float64)

    @property
    def median_ms(self) -> float:
        return float(np.median(self._arr()))

    @property
    def iqr_ms(self) -> float:
        q1, q3 = np.percentile(self._arr(), [25, 75])
        return float(q3 - q1)

    @property
    def p90_ms(self) -> float:
        """90th percentile of the wall-clock times (linear interpolation between runs)."""
        return float(np.percentile(self._arr(), 90))

    @property
    def min_ms(self) -> float:
        return float(self._arr().min())

    @property
    def max_ms(self) -> float:
        return float(self._arr().max())

    @property
    def mean_ms(self) -> float:
        return float(self._arr().mean())

    @property
    def cv(self) -> float:
        """Coefficient of variation: standard deviation / mean (a fraction, unitless)."""
        a = self._arr()
        return float(a.std(ddof=1) / a.mean()) if len(a) > 1 and a.mean() > 0 else 0.0

    @property
    def cpu_median_ms(self) -> float:
        """Median CPU time of the calling thread per run (NaN where not recorded)."""
        return float(np.median(self.cpu_times_ms)) if self.cpu_times_ms else float("nan")

    @property
    def cpu_iqr_ms(self) -> float:
        """Interquartile range of the calling thread's CPU time per run (NaN where not recorded)."""
        if not self.cpu_times_ms:
            return float("nan")
        q1, q3 = np.percentile(np.asarray(self.cpu_times_ms, dtype=np.float64), [25, 75])
        return float(q3 - q1)

    @property
    def runtime(self) -> str:
        """The runtime package and its version, e.g. ``onnxruntime 1.20.1``."""
        return runtime_version(self.backend)

    # -- where the time went ---------------------------------------------------------------
    def op_types(self) -> list[OpTime]:
        """Per-operator-type totals, largest first."""
        by_type: dict[str, list[float]] = {}
        for op in self.ops:
            entry = by_type.setdefault(op.op_type, [0.0, 0.0])
            entry[0] += op.ms_per_run
            entry[1] += op.calls_per_run
        rows = [OpTime(t, t, ms, calls) for t, (ms, calls) in by_type.items()]
        return sorted(rows, key=lambda r: -r.ms_per_run)

    def bottlenecks(self, top: int = 5) -> list[tuple[OpTime, float]]:
        """The ``top`` slowest operators and their share of the summed operator time."""
        check_top(top)  # a negative slice would list all but the last few
        total = sum(op.ms_per_run for op in self.ops)
        ranked = sorted(self.ops, key=lambda r: -r.ms_per_run)[:top]
        return [(op, op.ms_per_run / total if total > 0 else 0.0) for op in ranked]

    def to_dict(self, top: int = 5) -> dict[str, object]:
        """The JSON summary (``edgenas profile --json``): snake_case keys, units in the names."""
        op_total = sum(op.ms_per_run for op in self.ops)
        return {
            "kind": "measured",
            "model": self.model,
            "backend": self.backend,
            "threads": self.threads,
            "warmup": self.warmup,
            "repeats": self.repeats,
            "input_shape": list(self.input_shape),
            "latency_ms": {
                "median": self.median_ms,
                "mean": self.mean_ms,
                "min": self.min_ms,
                "max": self.max_ms,
                "iqr": self.iqr_ms,
                "p90": self.p90_ms,
            },
            "cpu_ms": {"median": self.cpu_median_ms, "iqr": self.cpu_iqr_ms} if self.cpu_times_ms else None,
            "cv": self.cv,
            "runtime": self.runtime,
            "operators": {
                "available": bool(self.ops),
                "note": self.ops_note,
                "summed_ms_per_run": op_total if self.ops else None,
                "bottlenecks": [
                    {"name": op.name, "op_type": op.op_type, "ms_per_run": op.ms_per_run, "share": share}
                    for op, share in self.bottlenecks(top)
                ],
                "by_type": [
                    {
                        "op_type": op.op_type,
                        "ms_per_run": op.ms_per_run,
                        "calls_per_run": op.calls_per_run,
                        "share": op.ms_per_run / op_total if op_total > 0 else 0.0,
                    }
                    for op in self.op_types()
                ],
            },
            "host": host_info(self.load_avg),
        }


def host_info(load_avg: Sequence[float] | None = None) -> dict[str, object]:
    """The machine a measurement was taken on, and how busy it was (1/5/15-min load average)."""
    load = list(load_avg) if load_avg is not None else list(_load_avg())
    return {
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "load_avg_1_5_15": load,
    }


def runtime_version(backend: str) -> str:
    """``"<package> <version>"`` of the runtime behind ``backend`` (the package name alone if it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    package = RUNTIME_PACKAGES.get(backend, backend)
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return package


def _load_avg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:  # pragma: no cover - not on Linux/macOS
        nan = float("nan")
        return (nan, nan, nan)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


#: Most timed (or untimed) runs one measurement makes: every timed run is kept, so the count is memory too.
MAX_RUNS = 1_000_000
#: Most intra-op threads a runtime is given (far beyond any host's cores; a bigger count is a typo).
MAX_THREADS = 1024
#: Most elements of the random input a model is run on (64 MiB of float32): a model file declares its
#: input shape, and a crafted one must not make the host allocate terabytes for it.
MAX_INPUT_ELEMENTS = 1 << 24


def check_counts(repeats: int, warmup: int, threads: int) -> None:
    """Reject counts no measurement can use, naming the flag."""
    if not 1 <= repeats <= MAX_RUNS:
        raise InvalidInputError(f"--repeats must be between 1 and {MAX_RUNS:,}, got {repeats}")
    if not 0 <= warmup <= MAX_RUNS:
        raise InvalidInputError(f"--warmup must be between 0 and {MAX_RUNS:,}, got {warmup}")
    if not 1 <= threads <= MAX_THREADS:
        raise InvalidInputError(f"--threads must be between 1 and {MAX_THREADS:,}, got {threads}")


def check_readable(path: Path) -> None:
    """A model file that exists and can be read, or one clear line (a folder, no permission, an I/O error)."""
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder, not a model file")
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None


def check_top(top: int) -> None:
    """``--top``: how many bottleneck operators to list (0 lists none; a negative count is a mistake)."""
    if top < 0:
        raise InvalidInputError(f"--top must be 0 or more (operators to list), got {top}")


def random_feeds(
    specs: Mapping[str, tuple[Sequence[int], str]], seed: int = 0, model: str = "the model"
) -> dict[str, np.ndarray]:
    """The inputs every runtime is timed on: unit-normal floats, zero integers, one generator drawn in input order.

    One recipe for every runtime, so that ONNX Runtime on an ``.onnx`` file and a compiled library
    of the same model (whose shapes come from the client) are fed the same values.
    """
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, (shape, dtype) in specs.items():
        dims = list(check_input_shape(shape, model))
        kind = np.dtype(dtype)
        if np.issubdtype(kind, np.floating):
            feeds[name] = rng.standard_normal(dims).astype(kind)
        else:
            feeds[name] = np.zeros(dims, dtype=kind)
    return feeds


def check_input_shape(shape: Sequence[int], model: str) -> tuple[int, ...]:
    """The input shape a model declares, refused before anything of that size is allocated."""
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims):
        raise InvalidInputError(f"{model}: input shape {dims} has a negative dimension")
    elements = math.prod(dims)
    if elements > MAX_INPUT_ELEMENTS:
        raise InvalidInputError(
            f"{model}: input shape {dims} is {elements:,} values; edgenas profiles inputs of at most {MAX_INPUT_ELEMENTS:,}"
        )
    return dims
