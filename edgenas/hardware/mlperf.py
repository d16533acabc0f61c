"""The MLPerf Tiny reference models and measured results, read from the shared data folder.

Latency coefficients are only as good as the measurements behind them, so they are fitted to
real boards: the four closed-division reference models (``kws`` DS-CNN, ``vww`` MobileNetV1-0.25,
``ic`` ResNet-8, ``ad`` FC autoencoder) rebuilt as :class:`~edgenas.ir.Layer` lists from
``mcu/reference_model_layers.csv``, and the submitted latencies of ``mcu/mlperf_tiny_results.csv``.
The CSVs are third-party data and are never copied into the repository: callers pass the folder
(``EDGENAS_SHARED_DATA`` or ``<repo>/../shared/data``); a missing file is a
:class:`~edgenas.errors.MissingDataError` that names it.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from edgenas.errors import InvalidInputError, MissingDataError
from edgenas.ir import Layer, Op, total_macs, total_params

#: The four benchmarks of MLPerf Tiny v0.5-v1.3 (``sww`` and ``ic2`` have no Cortex-M latency rows to fit).
BENCHMARKS = ("kws", "vww", "ic", "ad")

#: The int8 ``.tflite`` file of each reference model in ``reference_model_layers.csv``.
_MODEL_FILES = {
    "kws": "kws_ref_model.tflite",
    "vww": "vww_96_int8.tflite",
    "ic": "pretrainedResnet_quant.tflite",
    "ad": "ad01_int8.tflite",
}

#: The CSV lists ops, not edges. ResNet-8's three ADDs are the only non-chain nodes; their inputs
#: follow mlcommons/tiny ``training/image_classification/keras_model.py`` (stack 1: identity
#: shortcut from the stem conv; stacks 2-3: the 1x1 shortcut conv just before the ADD).
_ADD_INPUTS = {("ic", 3): (2, 0), ("ic", 7): (5, 6), ("ic", 11): (9, 10)}

#: Runtime names as submitted -> one family name per engine (lower case, ``-`` separated).
#: ``tflm+cmsis`` (Renesas, Arm) is TFLite Micro with its CMSIS-NN kernels, as ``tflm+cmsis-nn``.
_FAMILY_ALIASES = {
    "plumerai-inference-engine": "plumerai",
    "tflm+cmsis-nn": "tflm-cmsis-nn",
    "tflm+cmsis": "tflm-cmsis-nn",
    "microtvm+cmsis-nn": "microtvm-cmsis-nn",
    "onnc+cmsis": "onnc-cmsis-nn",
}

#: System-name suffixes of non-default builds (fp32 models, a RAM- or speed-tuned configuration
#: of the same engine submitted beside the default one): kept out of calibration.
_NON_DEFAULT_SYSTEM_MARKS = ("float", "max_performance", "min_ram")


def normalise_runtime_family(raw: str) -> str:
    """One name per engine, so ``cortex-m7:tflm-cmsis-nn`` style variants can be typed."""
    key = raw.strip().lower()
    return _FAMILY_ALIASES.get(key, key.replace("+", "-").replace(" ", "-"))


@dataclass(frozen=True, slots=True)
class MeasuredRow:
    """One MLPerf Tiny latency result: what ran, where, at which clock, and the file it came from.

    ``row_id`` is the results file path inside the mlcommons repository (``source_path`` in the
    CSV): unique per row, and the citation a target file stores for the rows it was fitted to.
    """

    row_id: str
    round: str
    submitter: str
    system: str
    board: str
    core: str
    clock_hz: int
    runtime: str
    runtime_family: str
    benchmark: str
    latency_ms: float
    precision: str
    division: str
    accelerator: bool
    duplicate: bool
    notes: str
    energy_uj: float | None = None  # energy per inference of the MLPerf Tiny energy run, where submitted
    energy_latency_ms: float | None = None  # the latency of the energy run (the board at its energy-run settings)

    @property
    def cycles(self) -> float:
        """Clock cycles per inference at the declared clock (what a cycle model predicts)."""
        return self.latency_ms * 1e-3 * self.clock_hz

    @property
    def calibration_grade(self) -> bool:
        """Closed division, int8 (or undeclared), CPU only, default build, not a re-submission."""
        system = self.system.lower()
        return (
            self.division == "closed"
            and self.precision in ("", "int8")
            and not self.accelerator
            and not self.duplicate
            and self.benchmark in BENCHMARKS
            and not any(mark in system for mark in _NON_DEFAULT_SYSTEM_MARKS)
        )


def _require(path: Path) -> Path:
    if not path.is_file():
        raise MissingDataError(
            f"MLPerf Tiny data file {path} is absent: point EDGENAS_SHARED_DATA at the shared/data folder "
            "(it holds mcu/reference_models.csv, mcu/reference_model_layers.csv and mcu/mlperf_tiny_results.csv)"
        )
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with _require(path).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _dims(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("x")) if text else ()


def _stride(in_len: int, out_len: int) -> int:
    """SAME-padded stride that maps ``in_len`` to ``out_len`` (the CSV stores shapes only)."""
    return max(1, math.ceil(in_len / out_len))


def _layer(benchmark: str, index: int, op: str, in_shape: tuple[int, ...], w: tuple[int, ...], out: tuple[int, ...]) -> Layer:
    name = f"{benchmark}.{index}.{op.lower()}"
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        kernel = (w[1], w[2])
        stride = (_stride(in_shape[0], out[0]), _stride(in_shape[1], out[1]))
        groups = in_shape[-1] if op == "DEPTHWISE_CONV_2D" else 1
        kind = Op.DWCONV2D if op == "DEPTHWISE_CONV_2D" else Op.CONV2D
        return Layer(kind, in_shape, out, kernel=kernel, stride=stride, groups=groups, name=name)
    if op == "FULLY_CONNECTED":
        return Layer(Op.FC, (math.prod(in_shape),), (out[-1],), name=name)
    if op == "AVERAGE_POOL_2D":
        window = (in_shape[0] // out[0], in_shape[1] // out[1])
        return Layer(Op.AVGPOOL2D, in_shape, out, kernel=window, stride=window, name=name)
    if op == "RESHAPE":
        return Layer(Op.RESHAPE, in_shape, out, name=name)
    if op == "SOFTMAX":
        return Layer(Op.SOFTMAX, in_shape, out, name=name)
    if op == "ADD":
        return Layer(Op.ADD, in_shape, out, name=name)
    raise InvalidInputError(f"reference model {benchmark!r} layer {index}: operator {op!r} has no IR equivalent")


def _inputs(benchmark: str, layers: list[Layer], index: int) -> tuple[int, ...] | None:
    """Producer indices: the listed ADD edges; otherwise the latest tensor of the input's shape."""
    layer = layers[index]
    if layer.op is Op.ADD:
        try:
            return _ADD_INPUTS[(benchmark, index)]
        except KeyError:
            raise InvalidInputError(f"reference model {benchmark!r}: ADD at layer {index} has no known inputs") from None
    for j in range(index - 1, -1, -1):
        if layers[j].out_shape == layer.in_shape or (layer.op is Op.FC and layers[j].out_elements == layer.in_elements):
            return None if j == index - 1 else (j,)
    return None if index == 0 else (-1,)


def reference_models(shared_dir: Path) -> dict[str, list[Layer]]:
    """The four int8 reference models as layer lists, MACs and params checked against the file.

    Shapes drop the batch dimension (``1x25x5x64`` -> ``(25, 5, 64)``); the model's MACs and
    parameters must equal ``reference_models.csv`` exactly, or the listing is treated as corrupt.
    """
    mcu = Path(shared_dir) / "mcu"
    layer_rows = _read(mcu / "reference_model_layers.csv")
    totals = {r["benchmark"]: r for r in _read(mcu / "reference_models.csv") if "fp32" not in r["model"]}
    models: dict[str, list[Layer]] = {}
    for benchmark in BENCHMARKS:
        rows = [r for r in layer_rows if r["benchmark"] == benchmark and r["model_file"] == _MODEL_FILES[benchmark]]
        rows.sort(key=lambda r: int(r["layer"]))
        layers: list[Layer] = []
        for r in rows:
            in_shape, w, out = _dims(r["input_shape"])[1:], _dims(r["weight_shape"]), _dims(r["output_shape"])[1:]
            layers.append(_layer(benchmark, int(r["layer"]), r["op"], in_shape, w, out))
        layers = [dataclasses.replace(layer, inputs=_inputs(benchmark, layers, i)) for i, layer in enumerate(layers)]
        expected = totals.get(benchmark)
        if not layers or expected is None:
            raise MissingDataError(f"{mcu}: no int8 rows for reference model {benchmark!r}")
        if total_macs(layers) != int(expected["macs"]) or total_params(layers) != int(expected["params"]):
            raise InvalidInputError(
                f"reference model {benchmark!r}: layers give {total_macs(layers)} MACs / {total_params(layers)} params, "
                f"reference_models.csv says {expected['macs']} / {expected['params']}"
            )
        models[benchmark] = layers
    return models


def measured_rows(shared_dir: Path) -> list[MeasuredRow]:
    """Every latency result of ``mlperf_tiny_results.csv`` (filter with ``calibration_grade``)."""
    out: list[MeasuredRow] = []
    for r in _read(Path(shared_dir) / "mcu" / "mlperf_tiny_results.csv"):
        try:
            latency_ms = float(r["latency_ms"])
            clock_hz = int(round(float(r["clock_mhz"]) * 1e6))
        except ValueError:
            continue  # no single latency or clock figure: nothing a cycle model can use
        out.append(
            MeasuredRow(
                row_id=r["source_path"],
                round=r["round"],
                submitter=r["submitter"],
                system=r["system"],
                board=r["board"],
                core=r["core"],
                clock_hz=clock_hz,
                runtime=r["runtime"],
                runtime_family=normalise_runtime_family(r["runtime_family"]),
                benchmark=r["benchmark"],
                latency_ms=latency_ms,
                precision=r["precision"],
                division=r["division"],
                accelerator="accelerator" in r["notes"].lower(),
                duplicate=bool(r["duplicate_of"]),
                notes=r["notes"],
                energy_uj=_number(r.get("energy_uj", "")),
                energy_latency_ms=_number(r.get("energy_mode_latency_ms", "")),
            )
        )
    return out


def _number(text: str) -> float | None:
    """A positive figure of the CSV, or None where the cell is empty or not a number."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 and math.isfinite(value) else None


def energy_rows(shared_dir: Path, board: str) -> list[MeasuredRow]:
    """The calibration-grade rows of ``board`` (case-insensitive) with a measured energy per inference.

    Their latency for an energy model is the energy run's own (``energy_latency_ms``) where the
    CSV has it: the board ran at its energy-run settings then, which may differ from the
    performance run's.
    """
    wanted = board.lower()
    return [r for r in measured_rows(shared_dir) if r.board.lower() == wanted and r.energy_uj is not None and r.calibration_grade]
