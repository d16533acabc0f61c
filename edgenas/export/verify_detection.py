"""A detection network's int8 ``.tflite`` scored by mAP on LiteRT and on TFLite Micro, beside fp32.

A classifier is checked by the share of clips whose arg-max survives quantization
(:mod:`edgenas.export.verify`); a detector's outputs are dense maps that host code decodes into
boxes, so the honest check is the metric itself: the same images go through the float network,
LiteRT's reference kernels and the TFLite Micro interpreter, each output map is dequantized with
the file's own scale and zero point, and the *same* decoding (``decode``: sigmoid, boxes, NMS)
and COCO scorer turn all three into mAP. The arena and the file size are measured as for any
model, and the largest int8 difference between TFLite Micro and LiteRT says whether the
microcontroller's interpreter computes what the reference does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgenas.errors import InvalidInputError
from edgenas.export.audit import read_model_bytes
from edgenas.export.tflite import inspect_tflite
from edgenas.export.verify import min_arena_bytes, quantize_input, run_int8

#: Per-level output maps of a batch of images -> one detection dictionary per image.
Decode = Callable[[Sequence[np.ndarray]], list[dict[str, np.ndarray]]]


@dataclass(frozen=True)
class DetectionVerifyResult:
    """mAP of the float network and of its int8 file on two runtimes, with the measured footprint."""

    model_path: str
    flash_bytes: int
    arena_bytes: int
    operators: tuple[str, ...]
    images: int
    fp32_map_50: float | None
    fp32_map: float | None
    litert_map_50: float
    litert_map: float
    tflm_map_50: float
    tflm_map: float
    max_lsb_diff: int

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["operators"] = list(self.operators)
        return out


def verify_detection(
    path: Path,
    inputs: np.ndarray,
    targets: Sequence[Mapping[str, np.ndarray]],
    decode: Decode,
    *,
    fp32_outputs: Sequence[np.ndarray] | None = None,
) -> DetectionVerifyResult:
    """Score the int8 detector at ``path`` on ``inputs`` (float, preprocessed as in training,
    ``(images, *input_shape)``) against ``targets`` on LiteRT and TFLite Micro.

    Args:
        decode: Turns per-level maps (``(images, channels, h, w)`` each, float) into detections
            in the targets' pixels; the same function the float network is scored with.
        fp32_outputs: The float network's maps on the same inputs, for its mAP beside the int8's.
    """
    from edgenas.tasks.detection_metrics import detection_map

    inputs = np.asarray(inputs, dtype=np.float32)
    if len(inputs) != len(targets) or not len(inputs):
        raise InvalidInputError(f"detection check: {len(inputs)} images for {len(targets)} targets; give one target per image")
    model_bytes = read_model_bytes(path)
    info = inspect_tflite(model_bytes)
    if tuple(inputs.shape[1:]) != tuple(info.input_shape[1:]):
        raise InvalidInputError(f"images are shaped {tuple(inputs.shape[1:])}, the model expects {tuple(info.input_shape[1:])}")
    arena = min_arena_bytes(model_bytes)
    xq = quantize_input(inputs, info)
    tflm = run_int8(model_bytes, xq, "tflm", arena)
    lite = run_int8(model_bytes, xq, "litert")

    def scored(maps: Sequence[np.ndarray]) -> dict[str, float]:
        return detection_map(decode(maps), targets)

    def dequantized(raw: list[np.ndarray]) -> list[np.ndarray]:
        return [out.dequantize(q) for out, q in zip(info.outputs, raw, strict=True)]

    on_tflm, on_litert = scored(dequantized(tflm)), scored(dequantized(lite))
    on_fp32 = scored(list(fp32_outputs)) if fp32_outputs is not None else None
    lsb = max(int(np.max(np.abs(a.astype(np.int32) - b.astype(np.int32)))) for a, b in zip(tflm, lite, strict=True))
    return DetectionVerifyResult(
        model_path=str(path),
        flash_bytes=len(model_bytes),
        arena_bytes=arena,
        operators=info.operators,
        images=len(inputs),
        fp32_map_50=None if on_fp32 is None else on_fp32["map_50"],
        fp32_map=None if on_fp32 is None else on_fp32["map"],
        litert_map_50=on_litert["map_50"],
        litert_map=on_litert["map"],
        tflm_map_50=on_tflm["map_50"],
        tflm_map=on_tflm["map"],
        max_lsb_diff=lsb,
    )
