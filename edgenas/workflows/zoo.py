"""The model zoo: published ImageNet classifiers as named points of the ``mbconv`` space.

Each entry records what the paper reports (top-1 accuracy, parameters, multiply-adds) with the
table it comes from; the architecture itself is ``MbconvSpace().named(entry.arch)``. Accuracies
are *published* figures (single 224-or-native-resolution crop, ImageNet-1k validation), not
measured here: edgenas measures latency, not ImageNet accuracy.

The parameter counts of our modules equal the reference implementations exactly (the training
module, batch norm unfolded: torchvision's ``num_params`` for MobileNetV2/V3 and EfficientNet,
osmr/imgclsmob's ``mnasnet_a1`` for MnasNet-A1); the IR counts the *deployed* network (batch norm folded to
one bias per channel), 0.2-0.4 % fewer. ``tests/core/test_mbconv_space.py`` checks both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgenas.errors import InvalidInputError, MissingExtraError, UnknownNameError


@dataclass(frozen=True, slots=True)
class ZooEntry:
    """A published model: the space point it is, and what its paper reports."""

    name: str  # display name
    arch: str  # MbconvSpace.named() key
    top1: float  # published ImageNet-1k top-1 accuracy, fraction in [0, 1]
    params_m: float  # published parameters, millions (as printed in the paper)
    macs_m: float  # published multiply-adds, millions (as printed in the paper)
    resolution: int
    citation: str
    reference_params: int  # exact count of the reference implementation's module (BN unfolded)
    reference: str  # which implementation gives reference_params


_MBV3 = "Howard et al., Searching for MobileNetV3, ICCV 2019 (arXiv:1905.02244), Table 3"
# EfficientNet top-1: arXiv:1905.11946 v5 Table 2 (the ICML 2019 version printed 76.3 / 78.8 / 79.8 / 81.1
# for B0..B3, before the updated training recipe of the released checkpoints).
_EFF = "Tan & Le, EfficientNet: Rethinking Model Scaling for CNNs, ICML 2019 (arXiv:1905.11946v5), Table 2"

ZOO: tuple[ZooEntry, ...] = (
    ZooEntry(
        "MobileNetV2 1.0",
        "mobilenetv2",
        0.720,
        3.4,
        300,
        224,
        "Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks, CVPR 2018 (arXiv:1801.04381), Table 4",
        3_504_872,
        "torchvision mobilenet_v2",
    ),
    ZooEntry(
        "MobileNetV3-Large 1.0", "mobilenetv3-large", 0.752, 5.4, 219, 224, _MBV3, 5_483_032, "torchvision mobilenet_v3_large"
    ),
    ZooEntry(
        "MobileNetV3-Small 1.0", "mobilenetv3-small", 0.674, 2.5, 56, 224, _MBV3, 2_542_856, "torchvision mobilenet_v3_small"
    ),
    ZooEntry(
        "MnasNet-A1",
        "mnasnet-a1",
        0.752,
        3.9,
        312,
        224,
        "Tan et al., MnasNet: Platform-Aware Neural Architecture Search for Mobile, CVPR 2019 (arXiv:1807.11626), Table 1",
        3_887_038,
        "osmr/imgclsmob mnasnet_a1 (its test asserts 3,887,038 weights)",
    ),
    ZooEntry("EfficientNet-B0", "efficientnet-b0", 0.771, 5.3, 390, 224, _EFF, 5_288_548, "torchvision efficientnet_b0"),
    ZooEntry("EfficientNet-B1", "efficientnet-b1", 0.791, 7.8, 700, 240, _EFF, 7_794_184, "torchvision efficientnet_b1"),
    ZooEntry("EfficientNet-B2", "efficientnet-b2", 0.801, 9.2, 1000, 260, _EFF, 9_109_994, "torchvision efficientnet_b2"),
    ZooEntry("EfficientNet-B3", "efficientnet-b3", 0.816, 12.0, 1800, 300, _EFF, 12_233_232, "torchvision efficientnet_b3"),
)


def zoo_entry(name: str) -> ZooEntry:
    """Look an entry up by ``arch`` key (``efficientnet-b0``) or display name, case-insensitively."""
    key = name.strip().lower()
    for entry in ZOO:
        if key in (entry.arch, entry.name.lower()):
            return entry
    raise UnknownNameError(f"unknown zoo model {name!r}. Accepted: {', '.join(e.arch for e in ZOO)}.")


# --------------------------------------------------------------------------- measuring the zoo

PRECISIONS = ("fp32", "int8")
#: Which latency figure the Pareto front and the plot use: the median (default) or the minimum
#: of the repeats (closer to an idle machine's latency where other processes share the cores).
#: ``cpu``: the median CPU time of the inference thread (single thread only; see LatencyStats).
STATISTICS = {"median": "latency_ms", "min": "latency_min_ms", "cpu": "cpu_ms"}
BACKENDS = ("onnxruntime", "litert")


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Repeated single-input runs of one model: milliseconds, measured on this host."""

    median_ms: float
    min_ms: float
    p90_ms: float
    iqr_ms: float  # spread: 75th - 25th percentile
    repeats: int
    threads: int
    # CPU time of the calling thread per run (median, IQR): with one thread both runtimes run the
    # whole inference on the caller, so this is the compute time without the waits that other
    # processes sharing the cores add to the wall clock.
    cpu_ms: float = float("nan")
    cpu_iqr_ms: float = float("nan")

    def to_dict(self) -> dict[str, float | int]:
        return {
            "latency_ms": self.median_ms,
            "latency_min_ms": self.min_ms,
            "latency_p90_ms": self.p90_ms,
            "latency_iqr_ms": self.iqr_ms,
            "cpu_ms": self.cpu_ms,
            "cpu_iqr_ms": self.cpu_iqr_ms,
            "repeats": self.repeats,
            "threads": self.threads,
        }


def ort_latency(
    path: Path, input_shape: tuple[int, ...], *, threads: int = 1, warmup: int = 3, repeats: int = 20
) -> LatencyStats:
    """Median wall-clock latency of one ONNX Runtime CPU inference (batch 1, ``threads`` intra-op threads).

    A small self-contained helper until the measurement package (``edgenas/measure``, being built
    for ``edgenas profile``) lands; it should move there. Input is standard-normal noise (latency
    of these networks does not depend on the values); all graph optimisations on, sequential mode.
    """
    import time

    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.random.default_rng(0).standard_normal((1, *input_shape)).astype(np.float32)}
    for _ in range(warmup):
        session.run(None, feed)
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        session.run(None, feed)
        times.append((time.perf_counter_ns() - start) / 1e6)
        cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
    return _stats(times, cpu, threads)


def litert_latency(path: Path, *, threads: int = 1, warmup: int = 3, repeats: int = 20) -> LatencyStats:
    """Median wall-clock latency of one LiteRT ``invoke()`` (batch 1, default kernels: the XNNPACK delegate).

    Like :func:`ort_latency`, a stop-gap until ``edgenas/measure`` lands. The input is random
    (int8 noise for a full-integer model, standard-normal otherwise).
    """
    import time

    import numpy as np

    from edgenas.export.tflite import quiet_native_output

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise MissingExtraError("LiteRT timing needs ai-edge-litert: pip install 'edgenas[tflite]'") from None
    with quiet_native_output():
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(0)
    if np.issubdtype(detail["dtype"], np.integer):
        x = rng.integers(-128, 128, size=detail["shape"]).astype(detail["dtype"])
    else:
        x = rng.standard_normal(detail["shape"]).astype(detail["dtype"])
    interpreter.set_tensor(detail["index"], x)
    for _ in range(warmup):
        interpreter.invoke()
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - start) / 1e6)
        cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
    return _stats(times, cpu, threads)


def _stats(times: list[float], cpu: list[float], threads: int) -> LatencyStats:
    import numpy as np

    q25, q50, q75, q90 = np.percentile(times, [25, 50, 75, 90])
    c25, c50, c75 = np.percentile(cpu, [25, 50, 75])
    iqr, cpu_iqr = float(q75 - q25), float(c75 - c25)
    return LatencyStats(float(q50), float(min(times)), float(q90), iqr, len(times), threads, float(c50), cpu_iqr)


def _cpu_name() -> str:
    """The host CPU's model name (Linux ``/proc/cpuinfo``), for the results table."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _runtime_version(backend: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    package = {"onnxruntime": "onnxruntime", "litert": "ai-edge-litert"}[backend]
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:  # pragma: no cover
        return package


def _load_average() -> float | None:
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - not on every platform
        return None


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

    out: dict[str, dict] = {}
    stem.parent.mkdir(parents=True, exist_ok=True)
    if "fp32" in precisions:
        progress(f"{stem.name}: exporting fp32 ONNX and timing it")
        path = export_onnx(model, torch.zeros(1, *input_shape), stem.with_name(stem.name + ".fp32.onnx"))
        stats = ort_latency(path, input_shape, threads=threads, warmup=warmup, repeats=repeats)
        out["fp32"] = {**stats.to_dict(), "model_bytes": path.stat().st_size}
    if "int8" in precisions:
        progress(f"{stem.name}: int8 static quantization (random calibration inputs) and timing it")
        rng = np.random.default_rng(0)
        calibration = rng.standard_normal((calibration_images, *input_shape)).astype(np.float32)
        check = rng.standard_normal((2, *input_shape)).astype(np.float32)
        info = quantize_onnx_int8(model, calibration, check, stem.with_name(stem.name + ".int8.onnx"))
        stats = ort_latency(Path(info.path), input_shape, threads=threads, warmup=warmup, repeats=repeats)
        out["int8"] = {**stats.to_dict(), "model_bytes": info.size_bytes}
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

    try:
        import litert_torch
    except ImportError:
        raise MissingExtraError("LiteRT conversion needs litert-torch: pip install 'edgenas[tflite]'") from None
    out: dict[str, dict] = {}
    stem.parent.mkdir(parents=True, exist_ok=True)
    if "fp32" in precisions:
        progress(f"{stem.name}: converting to fp32 .tflite (litert-torch) and timing it")
        path = stem.with_name(stem.name + ".fp32.tflite")
        with torch.no_grad(), quiet_native_output():
            litert_torch.convert(model, (torch.zeros(1, *input_shape),)).export(str(path))
        stats = litert_latency(path, threads=threads, warmup=warmup, repeats=repeats)
        out["fp32"] = {**stats.to_dict(), "model_bytes": path.stat().st_size}
    if "int8" in precisions:
        progress(f"{stem.name}: int8 .tflite (PT2E, random calibration inputs) and timing it")
        path = stem.with_name(stem.name + ".int8.tflite")
        calibration = np.random.default_rng(0).standard_normal((calibration_images, *input_shape)).astype(np.float32)
        # MobileNetV3 / EfficientNet keep some float ops (hard-swish, SE mean/mul): a CPU runs
        # the mixed model, so it is timed, and the float operators are recorded beside it.
        info = convert_int8(model, calibration, path, require_full_int8=False)
        stats = litert_latency(path, threads=threads, warmup=warmup, repeats=repeats)
        out["int8"] = {**stats.to_dict(), "model_bytes": info.size_bytes, "float_operators": sorted(set(info.float_operators))}
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
) -> dict:
    """Export each zoo model to ONNX, quantize it (int8), time it with ONNX Runtime; return the summary.

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

    import os
    import platform

    import onnxruntime as ort
    import torch

    from edgenas.ir import total_macs, total_params
    from edgenas.spaces.mbconv import MbconvSpace
    from edgenas.spaces.nn.blocks import fold_batchnorm

    space = MbconvSpace()
    rows = []
    load_before = _load_average()
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
    pareto = {p: pareto_names([(r["name"], r["top1"], r[p][key]) for r in rows if key in r[p]]) for p in precisions}
    return {
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
            "cpu": _cpu_name(),
            "cores": os.cpu_count(),
            "machine": platform.machine(),
            "onnxruntime": ort.__version__,
            "runtime": _runtime_version(backend),
            "torch": torch.__version__,
            # other processes' load while measuring (1-minute load average before / after): a busy
            # host inflates medians; compare with the minimum
            "load_average": [load_before, _load_average()],
        },
    }


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
        f"(by {summary['statistic']}). Top-1 is published (citations in edgenas/zoo.py); "
        f"params/MACs are counted on the deployed (BN-folded) network. int8: {summary['calibration']}; "
        "(mixed) = the int8 model keeps some float operators (listed in zoo.json)."
    )
    return "\n".join(lines)
