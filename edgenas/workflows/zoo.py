"""``edgenas zoo``: time the model zoo's published ImageNet classifiers on this host.

The zoo itself (``ZOO``, ``zoo_entry``: each model's space point, published top-1, parameters,
multiply-adds and citation) lives beside the architectures in :mod:`edgenas.spaces.mbconv_named`.
This module exports each model (ONNX, or ``.tflite`` for LiteRT), quantizes it to int8, times it
with :mod:`edgenas.measure` and finds the accuracy-latency Pareto front (drawn by ``edgenas.report.zoo_plot``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgenas.errors import InvalidInputError, MissingExtraError
from edgenas.files import write_text
from edgenas.spaces.mbconv_named import ZOO, zoo_entry

if TYPE_CHECKING:
    from edgenas.measure import Measurement
    from edgenas.measure.base import RunCounts

PRECISIONS = ("fp32", "int8")
#: Which latency figure the Pareto front and the plot use: the median (default) or the minimum
#: of the repeats (closer to an idle machine's latency where other processes share the cores).
#: ``cpu``: the median CPU time of the inference thread (single thread only; see ``Measurement.cpu_times_ms``).
STATISTICS = {"median": "latency_ms", "min": "latency_min_ms", "cpu": "cpu_ms"}
BACKENDS = ("onnxruntime", "litert")


def _row(m: Measurement) -> dict[str, float | int]:
    """The zoo.json figures of one timed model (milliseconds, measured on this host)."""
    return {
        "latency_ms": m.median_ms,
        "latency_min_ms": m.min_ms,
        "latency_p90_ms": m.p90_ms,
        "latency_iqr_ms": m.iqr_ms,  # spread: 75th - 25th percentile
        # CPU time of the calling thread per run: with one thread both runtimes run the whole
        # inference on the caller, so this is the compute time without the waits that other
        # processes sharing the cores add to the wall clock.
        "cpu_ms": m.cpu_median_ms,
        "cpu_iqr_ms": m.cpu_iqr_ms,
        "repeats": m.repeats,
        "threads": m.threads,
    }


def _one_minute_load(host: dict[str, Any]) -> float | None:
    load = float(host["load_avg_1_5_15"][0])
    return round(load, 2) if math.isfinite(load) else None


def pareto_names(points: list[tuple[str, float, float]]) -> list[str]:
    """Names of the (name, top1, latency_ms) points no other point beats on both (higher top-1, lower latency)."""
    front = []
    for name, acc, lat in points:
        if not any(a >= acc and la <= lat and (a, la) != (acc, lat) for _, a, la in points):
            front.append(name)
    return front


def measure_model(
    model: Any,
    input_shape: tuple[int, ...],
    stem: Path,
    *,
    precisions: tuple[str, ...] = PRECISIONS,
    backend: str = "onnxruntime",
    threads: int = 1,
    warmup: int = 3,
    repeats: int = 20,
    calibration_images: int = 8,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, dict]:
    """Export ``model`` (an eval-mode ``nn.Module``) to ``<stem>.fp32.onnx`` / ``<stem>.int8.onnx`` and time each.

    int8 is ONNX Runtime static QDQ (per-channel int8 weights, int8 activations) calibrated on
    ``calibration_images`` *random* standard-normal inputs: right for timing, not for accuracy.
    With ``backend="litert"`` the files are ``.tflite`` (litert-torch; int8 is the PT2E route of
    ``edgenas.export.tflite``, same random calibration); operators the quantizer leaves in float
    are listed under ``float_operators``.
    """
    if backend == "litert":
        return _measure_litert(model, input_shape, stem, precisions, threads, warmup, repeats, calibration_images, progress)
    import numpy as np
    import torch

    from edgenas.export.onnx import export_onnx
    from edgenas.export.onnx_int8 import quantize_onnx_int8
    from edgenas.measure.ort import measure_onnx

    # batch 1, standard-normal input (default_rng(0)), sequential execution, all graph optimisations
    counts: RunCounts = {"threads": threads, "warmup": warmup, "repeats": repeats}
    out: dict[str, dict] = {}
    stem.parent.mkdir(parents=True, exist_ok=True)
    if "fp32" in precisions:
        progress(f"{stem.name}: exporting fp32 ONNX and timing it")
        path = export_onnx(model, torch.zeros(1, *input_shape), stem.with_name(stem.name + ".fp32.onnx"))
        out["fp32"] = {**_row(measure_onnx(path, per_op=False, **counts)), "model_bytes": path.stat().st_size}
    if "int8" in precisions:
        progress(f"{stem.name}: int8 static quantization (random calibration inputs) and timing it")
        rng = np.random.default_rng(0)
        calibration = rng.standard_normal((calibration_images, *input_shape)).astype(np.float32)
        check = rng.standard_normal((2, *input_shape)).astype(np.float32)
        info = quantize_onnx_int8(model, calibration, check, stem.with_name(stem.name + ".int8.onnx"))
        out["int8"] = {**_row(measure_onnx(Path(info.path), per_op=False, **counts)), "model_bytes": info.size_bytes}
    return out


def _measure_litert(
    model: Any,
    input_shape: tuple[int, ...],
    stem: Path,
    precisions: tuple[str, ...],
    threads: int,
    warmup: int,
    repeats: int,
    calibration_images: int,
    progress: Callable[[str], None],
) -> dict[str, dict]:
    import numpy as np
    import torch

    from edgenas.export.tflite import convert_int8, quiet_native_output
    from edgenas.measure.litert import measure_tflite

    try:
        import litert_torch
    except ImportError:
        raise MissingExtraError("LiteRT conversion needs litert-torch: pip install 'edgenas[tflite]'") from None
    # batch 1, default kernels (the XNNPACK delegate); input int8 noise for a full-integer model, standard-normal otherwise
    counts: RunCounts = {"threads": threads, "warmup": warmup, "repeats": repeats}
    out: dict[str, dict] = {}
    stem.parent.mkdir(parents=True, exist_ok=True)
    if "fp32" in precisions:
        progress(f"{stem.name}: converting to fp32 .tflite (litert-torch) and timing it")
        path = stem.with_name(stem.name + ".fp32.tflite")
        with torch.no_grad(), quiet_native_output():
            litert_torch.convert(model, (torch.zeros(1, *input_shape),)).export(str(path))
        out["fp32"] = {**_row(measure_tflite(path, **counts)), "model_bytes": path.stat().st_size}
    if "int8" in precisions:
        progress(f"{stem.name}: int8 .tflite (PT2E, random calibration inputs) and timing it")
        path = stem.with_name(stem.name + ".int8.tflite")
        calibration = np.random.default_rng(0).standard_normal((calibration_images, *input_shape)).astype(np.float32)
        # MobileNetV3 / EfficientNet keep some float ops (hard-swish, SE mean/mul): a CPU runs
        # the mixed model, so it is timed, and the float operators are recorded beside it.
        info = convert_int8(model, calibration, path, require_full_int8=False)
        out["int8"] = {
            **_row(measure_tflite(path, **counts)),
            "model_bytes": info.size_bytes,
            "float_operators": sorted(set(info.float_operators)),
        }
    return out


def run_zoo(
    models: list[str] | None,
    *,
    precisions: tuple[str, ...] = PRECISIONS,
    backend: str = "onnxruntime",
    out: Path = Path("runs/zoo"),
    threads: int = 1,
    warmup: int = 3,
    repeats: int = 20,
    calibration_images: int = 8,
    statistic: str = "median",
    progress: Callable[[str], None] = lambda message: None,
    plot: Path | None = None,
) -> dict:
    """Export each zoo model to ONNX, quantize it (int8), time it with ONNX Runtime; write
    ``out/zoo.json`` (and the accuracy-latency plot to ``plot``, if given); return the summary.

    Weights are PyTorch's seeded random initialisation with batch norm folded: latency does not
    depend on trained values, and the accuracies are the papers'. The int8 models are calibrated
    on random inputs (see :func:`measure_model`), so they say nothing about accuracy, only speed.
    """
    if backend not in BACKENDS:
        raise InvalidInputError(f"unknown backend {backend!r}. Accepted: {', '.join(BACKENDS)}.")
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad or not precisions:
        raise InvalidInputError(f"unknown precision {bad[0] if bad else ''!r}. Accepted: {', '.join(PRECISIONS)}.")
    if statistic not in STATISTICS:
        raise InvalidInputError(f"unknown statistic {statistic!r}. Accepted: {', '.join(STATISTICS)}.")
    if repeats < 1 or warmup < 0 or threads < 1 or calibration_images < 1:
        raise InvalidInputError("--repeats, --threads and calibration images must be >= 1 and --warmup >= 0")
    entries = [zoo_entry(m) for m in models] if models else list(ZOO)

    import onnxruntime as ort
    import torch

    from edgenas.ir import total_macs, total_params
    from edgenas.measure import host_info, runtime_version
    from edgenas.spaces.mbconv import MbconvSpace
    from edgenas.spaces.nn.blocks import fold_batchnorm

    space = MbconvSpace()
    rows = []
    host_before = host_info()
    for entry in entries:
        arch = space.named(entry.arch)
        layers = space.layers(arch)
        shape = space.input_shape(arch)
        torch.manual_seed(0)
        model = fold_batchnorm(space.build(arch).eval())
        row: dict = {
            "name": entry.name,
            "arch": entry.arch,
            "top1": entry.top1,
            "top1_source": "published: " + entry.citation,
            "params": total_params(layers),
            "macs": total_macs(layers),
            "resolution": entry.resolution,
        }
        measured = measure_model(
            model,
            shape,
            out / entry.arch,
            precisions=precisions,
            backend=backend,
            threads=threads,
            warmup=warmup,
            repeats=repeats,
            calibration_images=calibration_images,
            progress=progress,
        )
        rows.append({**row, **measured})
    key = STATISTICS[statistic]
    host_after = host_info()
    pareto = {p: pareto_names([(r["name"], r["top1"], r[p][key]) for r in rows if key in r[p]]) for p in precisions}
    summary = {
        "models": rows,
        "backend": backend,
        "precisions": list(precisions),
        "threads": threads,
        "warmup": warmup,
        "repeats": repeats,
        "statistic": statistic,
        "pareto": pareto,
        "sources": {"latency_ms": "measured", "top1": "published", "params": "counted", "macs": "counted"},
        "calibration": f"{calibration_images} random standard-normal images (int8 ranges are not those of real images)",
        "weights": "random (seeded PyTorch init, batch norm folded): latency only",
        "host": {
            "cpu": host_after["processor"],
            "cores": host_after["cpu_count"],
            "machine": host_after["machine"],
            "onnxruntime": ort.__version__,
            "runtime": runtime_version(backend),
            "torch": torch.__version__,
            # other processes' load while measuring (1-minute load average before / after): a busy
            # host inflates medians; compare with the minimum
            "load_average": [_one_minute_load(host_before), _one_minute_load(host_after)],
        },
    }
    if plot is not None:
        from edgenas.report.zoo_plot import plot_zoo

        plot.parent.mkdir(parents=True, exist_ok=True)
        summary["plot"] = str(plot_zoo(summary, plot))
    write_text(out / "zoo.json", json.dumps(summary, indent=2) + "\n")
    return summary


def zoo_table(summary: dict) -> str:
    """The summary as a Markdown table (what ``benchmarks/results/zoo.md`` holds)."""
    precisions = summary["precisions"]
    head = ["model", "top-1 % (published)", "params M", "MMACs", "input"]
    for p in precisions:
        head += [f"{p} ms (median)", f"{p} ms (min)", f"{p} CPU ms (median)", f"{p} MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary["models"]:
        cells = [r["name"], f"{100 * r['top1']:.1f}", f"{r['params'] / 1e6:.2f}", f"{r['macs'] / 1e6:.0f}", f"{r['resolution']}"]
        for p in precisions:
            star = " *" if r["name"] in summary["pareto"][p] else ""
            m = r[p]
            if "error" in m:
                cells += ["n/a (int8 route refused the model)", "", "", ""]
                continue
            mixed = " (mixed)" if m.get("float_operators") else ""
            figures = {key: f"{m[key]:.1f}" for key in STATISTICS.values()}
            figures[STATISTICS[summary["statistic"]]] += star
            cells += [
                figures["latency_ms"] + mixed,
                figures["latency_min_ms"],
                figures["cpu_ms"],
                f"{m['model_bytes'] / 1e6:.1f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Latency measured with {summary['host'].get('runtime', summary['backend'])}, {summary['threads']} thread(s), "
        f"batch 1, {summary['repeats']} runs after {summary['warmup']} warm-up, on {summary['host']['cpu']} "
        f"({summary['host']['cores']} cores, 1-min load average {summary['host']['load_average'][0]} before, "
        f"{summary['host']['load_average'][1]} after); `*` = on the accuracy-latency Pareto front of its precision "
        f"(by {summary['statistic']}). Top-1 is published (citations in edgenas/spaces/mbconv_named.py); "
        f"params/MACs are counted on the deployed (BN-folded) network. int8: {summary['calibration']}; "
        "(mixed) = the int8 model keeps some float operators (listed in zoo.json)."
    )
    return "\n".join(lines)
