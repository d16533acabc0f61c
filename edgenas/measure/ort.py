"""ONNX Runtime on the host CPU: timed runs, and per-node times from ORT's own profiler.

Two sessions: one plain, timed with ``perf_counter`` around ``session.run`` (the figure a user
gets), and one with ``enable_profiling`` whose JSON trace gives each node's kernel time. The
profiler's bookkeeping slows runs down, so the breakdown is reported as shares of the summed
kernel time and never mixed into the headline median.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from edgenas.errors import InvalidInputError
from edgenas.measure.base import Measurement, OpTime, check_counts, random_feeds

_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
}


def _options(threads: int, profile_prefix: str | None = None):  # -> ort.SessionOptions
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # the default, stated
    options.log_severity_level = 3
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return options


def session(model: bytes | Path, threads: int = 1, profile_prefix: str | None = None):  # -> ort.InferenceSession
    """An ONNX Runtime CPU session on ``model`` (a file or the bytes of one); bad models -> one clear error."""
    import onnxruntime as ort

    source = str(model) if isinstance(model, Path) else model
    try:
        return ort.InferenceSession(source, _options(threads, profile_prefix), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail / InvalidProtobuf / InvalidGraph types
        what = model if isinstance(model, Path) else "the model"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InvalidInputError(f"{what} is not an ONNX model ONNX Runtime can load ({first})") from None


def example_inputs(sess, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs of the session's declared shapes (symbolic dimensions, e.g. batch, -> 1)."""
    specs = {}
    for inp in sess.get_inputs():
        dtype = _NUMPY_TYPES.get(inp.type)
        if dtype is None:
            raise InvalidInputError(f"input {inp.name!r} has type {inp.type}, which edgenas profile cannot feed")
        specs[inp.name] = ([d if isinstance(d, int) and d > 0 else 1 for d in inp.shape], np.dtype(dtype).name)
    return random_feeds(specs, seed, "the ONNX model")


def time_runs(run, warmup: int, repeats: int) -> tuple[float, ...]:
    """Call ``run()`` ``warmup`` times untimed, then ``repeats`` times timed (wall-clock ms each)."""
    return time_runs_with_cpu(run, warmup, repeats)[0]


def time_runs_with_cpu(run, warmup: int, repeats: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """:func:`time_runs`, and the calling thread's CPU time over each timed run (ms): ``(wall, cpu)``.

    The CPU clock is read outside the wall clock, so the wall-clock times do not include it.
    """
    for _ in range(warmup):
        run()
    times, cpu = [], []
    for _ in range(repeats):
        start_cpu = time.thread_time_ns()
        start = time.perf_counter_ns()
        run()
        end = time.perf_counter_ns()
        end_cpu = time.thread_time_ns()
        times.append((end - start) / 1e6)
        cpu.append((end_cpu - start_cpu) / 1e6)
    return tuple(times), tuple(cpu)


def profile_ops(model: bytes | Path, feeds: dict[str, np.ndarray], threads: int, runs: int) -> tuple[OpTime, ...]:
    """Per-node kernel time (ms per run) from ONNX Runtime's profiling JSON over ``runs`` runs."""
    with tempfile.TemporaryDirectory(prefix="edgenas-ort-profile-") as folder:
        sess = session(model, threads, profile_prefix=os.path.join(folder, "ort"))
        for _ in range(runs + 1):  # the first run allocates buffers: ops_from_trace drops it
            sess.run(None, feeds)
        trace = Path(sess.end_profiling())
        events = json.loads(trace.read_text(encoding="utf-8"))
    return ops_from_trace(events, runs + 1, skip_first=True)


def ops_from_trace(events: list[dict], runs: int, skip_first: bool = False) -> tuple[OpTime, ...]:
    """Per-node kernel time (ms per run) from an ORT trace's ``*_kernel_time`` events.

    Each node's time is the *median* of its per-call durations times its calls per run: one
    preempted call on a shared machine would otherwise dominate a 20-run mean.
    """
    durations: dict[str, list[float]] = {}
    types: dict[str, str] = {}
    labels: dict[str, str] = {}
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        node = name[: -len("_kernel_time")]
        args = event.get("args", {})
        types.setdefault(node, str(args.get("op_name", "?")))
        shapes = [dims for out in args.get("output_type_shape", []) for dims in out.values()]
        if shapes and node not in labels:
            labels[node] = f"{node} -> {'x'.join(map(str, shapes[0]))}"
        durations.setdefault(node, []).append(float(event.get("dur", 0)) / 1000.0)  # microseconds -> ms
    kept = max(runs - 1 if skip_first else runs, 1)
    out = []
    for node, times in durations.items():
        if skip_first:
            times = times[max(len(times) // runs, 1) :] if len(times) > 1 else times  # the first run allocates
        calls = len(times) / kept
        out.append(OpTime(labels.get(node, node), types[node], float(np.median(times)) * calls, calls))
    return tuple(out)


def measure_onnx(
    model: bytes | Path,
    *,
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    per_op: bool = True,
    profile_runs: int = 20,
    label: str | None = None,
) -> Measurement:
    """Time ``model`` (an ``.onnx`` path or its bytes) with ONNX Runtime on this CPU.

    >>> m = measure_onnx(Path("best/model.onnx"), repeats=100)   # doctest: +SKIP
    >>> m.median_ms, m.iqr_ms, m.bottlenecks(3)                   # doctest: +SKIP
    """
    check_counts(repeats, warmup, threads)
    sess = session(model, threads)
    feeds = example_inputs(sess)
    times, cpu_times = time_runs_with_cpu(lambda: sess.run(None, feeds), warmup, repeats)
    ops = profile_ops(model, feeds, threads, min(profile_runs, max(repeats, 1))) if per_op else ()
    shape = tuple(next(iter(feeds.values())).shape) if feeds else ()
    return Measurement(
        backend="onnxruntime",
        model=label or (str(model) if isinstance(model, Path) else "in-memory ONNX"),
        threads=threads,
        warmup=warmup,
        times_ms=times,
        ops=ops,
        ops_note=None if per_op else "per-operator profiling not requested",
        input_shape=shape,
        cpu_times_ms=cpu_times,
    )
