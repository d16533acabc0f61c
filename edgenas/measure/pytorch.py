"""PyTorch eager on the host CPU: timed runs, and per-operator self time from ``torch.profiler``.

Reads the checkpoints ``edgenas search`` writes (``best/model.pt``: genotype + weights, see
:mod:`edgenas.export.checkpoint`), rebuilt from the registered space, and runs them on one
random input of the space's shape. ``torch.set_num_threads`` is process-wide, so the previous
value is restored afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict, Unpack

import torch
from torch import nn

from edgenas.errors import InvalidInputError
from edgenas.measure.base import Measurement, OpTime, check_counts, check_input_shape
from edgenas.measure.ort import time_runs_with_cpu


def load_module(path: Path) -> tuple[nn.Module, torch.Tensor]:
    """The checkpoint's network (eval mode) and a random input of its space's shape (batch 1)."""
    from edgenas.export.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)  # foreign, corrupt or damaged files -> InvalidInputError
    shape = getattr(ckpt.space, "input_shape", None)
    if callable(shape):  # mbconv, detection: the resolution is a decision, so the shape is the architecture's
        shape = shape(ckpt.arch)
    if shape is None:
        raise InvalidInputError(f"{path}: space {ckpt.arch.space!r} does not declare an input shape to profile with")
    dims = check_input_shape(shape, str(path))
    return ckpt.module, torch.randn(1, *dims, generator=torch.Generator().manual_seed(0))


def profile_ops(module: nn.Module, example: torch.Tensor, runs: int) -> tuple[OpTime, ...]:
    """Self CPU time per ``aten`` operator (ms per run) over ``runs`` profiled runs.

    Self time excludes an operator's children (``aten::conv2d`` -> ``aten::mkldnn_convolution``),
    so the rows add up to the time spent in operators.
    """
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        module(example)  # allocations out of the trace
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                module(example)
    rows = []
    for event in prof.key_averages():
        self_ms = event.self_cpu_time_total / 1000.0 / runs  # microseconds -> ms
        if self_ms > 0:
            rows.append(OpTime(event.key, event.key, self_ms, event.count / runs))
    return tuple(rows)


def measure_module(
    module: nn.Module,
    example: torch.Tensor,
    *,
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    per_op: bool = True,
    profile_runs: int = 20,
    label: str = "in-memory module",
) -> Measurement:
    """Time ``module(example)`` in eager PyTorch on this CPU, under ``inference_mode``."""
    check_counts(repeats, warmup, threads)
    module = module.eval()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            times, cpu_times = time_runs_with_cpu(lambda: module(example), warmup, repeats)
        ops = profile_ops(module, example, min(profile_runs, repeats)) if per_op else ()
    finally:
        torch.set_num_threads(before)
    return Measurement(
        backend="torch",
        model=label,
        threads=threads,
        warmup=warmup,
        times_ms=times,
        ops=ops,
        ops_note=None if per_op else "per-operator profiling not requested",
        input_shape=tuple(example.shape),
        cpu_times_ms=cpu_times,
    )


class ModuleOptions(TypedDict, total=False):
    """The keyword arguments of :func:`measure_module` that :func:`measure_checkpoint` passes on."""

    threads: int
    warmup: int
    repeats: int
    per_op: bool
    profile_runs: int


def measure_checkpoint(path: Path, **kwargs: Unpack[ModuleOptions]) -> Measurement:
    """:func:`measure_module` on an ``edgenas search`` checkpoint (``best/model.pt``)."""
    module, example = load_module(path)
    return measure_module(module, example, label=str(path), **kwargs)


def onnx_bytes(module: nn.Module, example: torch.Tensor) -> bytes:
    """The module as ONNX, in memory (TorchScript exporter: ~50 ms, where the dynamo exporter
    takes seconds; the measured graph is what ONNX Runtime runs either way, after its own fusions)."""
    import io
    import logging
    import warnings

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(
            module.eval(),
            (example,),
            buffer,  # type: ignore[arg-type]  # torch's hint says a path; the TorchScript exporter also writes to a file object
            dynamo=False,
            input_names=["features"],
            output_names=["logits"],
            opset_version=17,
        )
    return buffer.getvalue()
