"""ONNX Runtime static int8 quantization (QDQ), calibrated on the task's training clips.

For targets that run ONNX Runtime (a phone or a Raspberry Pi CPU) rather than TFLite Micro:
per-channel int8 weights and int8 activations whose ranges come from real training clips,
in the QDQ format ORT's CPU and NPU execution providers fuse into integer kernels.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgenas.errors import InvalidInputError
from edgenas.export.onnx import export_onnx
from edgenas.files import write_bytes


@dataclass(frozen=True)
class OnnxInt8Info:
    path: str
    size_bytes: int
    fp32_size_bytes: int
    argmax_agreement: float  # share of calibration-held-out clips where int8 and fp32 pick the same class
    clips: int


class _Reader:
    """ORT's CalibrationDataReader protocol over a float array, one clip per call."""

    def __init__(self, name: str, clips: np.ndarray) -> None:
        self._feeds = iter([{name: clip[None].astype(np.float32)} for clip in clips])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def quantize_onnx_int8(
    model: nn.Module, calibration: np.ndarray, check: np.ndarray, path: Path, *, max_calibration_clips: int = 400
) -> OnnxInt8Info:
    """Export ``model`` to ONNX, quantize it statically to int8 QDQ, and compare it with fp32 on ``check``."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if max_calibration_clips < 1:
        raise InvalidInputError(f"int8 calibration needs at least 1 clip, got max_calibration_clips={max_calibration_clips}")
    if len(calibration) == 0 or len(check) == 0:
        raise InvalidInputError("int8 quantization needs calibration and check clips; the data have none")
    model = model.eval()
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(model, torch.from_numpy(np.ascontiguousarray(calibration[:2])), Path(tmp) / "fp32.onnx")
        input_name = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).get_inputs()[0].name
        quantized = Path(tmp) / "int8.onnx"
        quantize_static(
            str(fp32),
            str(quantized),
            _Reader(input_name, calibration[:max_calibration_clips]),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        fp32_size = fp32.stat().st_size
        write_bytes(path, quantized.read_bytes())  # complete or not at all (edgenas.files)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {input_name: check.astype(np.float32)})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(np.ascontiguousarray(check))).numpy()
    agreement = float(np.mean(got.argmax(1) == want.argmax(1)))
    return OnnxInt8Info(str(path), path.stat().st_size, fp32_size, agreement, len(check))
