"""Mean average precision of box detections, computed by COCO's own evaluation (pycocotools).

Why pycocotools: mAP has many near-variants (interpolation, how ties, crowds and classes without
objects count), and figures are only comparable when computed the way everyone else does.
pycocotools is the reference implementation of the COCO benchmark (101-point interpolated
precision, greedy matching by score, up to 100 detections per image, IoU thresholds 0.50 to 0.95
in steps of 0.05); it needs NumPy only. A class with no ground-truth box in the set is left out
of the mean (COCO's rule), so false positives of such a class cost nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgenas.errors import InvalidInputError, MissingExtraError

#: The IoU thresholds of mAP@[.5:.95]: 0.50, 0.55, ..., 0.95.
IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def detection_map(predictions: Sequence[Mapping[str, Any]], targets: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """COCO mAP of ``predictions`` against ``targets``, one mapping per image, in the same order.

    Args:
        predictions: Per image ``{"boxes": (k, 4), "scores": (k,), "labels": (k,)}``, boxes as
            ``(x1, y1, x2, y2)`` pixels (the layout of :meth:`DetectionSplit.targets` and torchmetrics).
        targets: Per image ``{"boxes": (k, 4), "labels": (k,)}``.

    Returns:
        ``{"map": mAP@[.5:.95], "map_50": mAP@0.5, "map_75": mAP@0.75}``, each in [0, 1].

    Raises:
        InvalidInputError: the lists differ in length, an array has the wrong shape, or no target holds a box.

    Example::

        >>> t = [{"boxes": np.array([[0, 0, 10, 10]]), "labels": np.array([0])}]
        >>> detection_map([{**t[0], "scores": np.array([0.9])}], t)["map"]
        1.0
    """
    try:  # by name: pycocotools ships no type hints, and mypy need not know it
        COCO = importlib.import_module("pycocotools.coco").COCO
        COCOeval = importlib.import_module("pycocotools.cocoeval").COCOeval
    except ImportError:
        raise MissingExtraError("detection mAP needs pycocotools: pip install pycocotools") from None
    if len(predictions) != len(targets):
        raise InvalidInputError(f"detection_map: {len(predictions)} predictions for {len(targets)} images; give one per image")
    images: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    for image_id, (pred, target) in enumerate(zip(predictions, targets, strict=True)):
        images.append({"id": image_id})
        boxes, labels = _boxes(target, "target", image_id), _labels(target, "target", image_id)
        for box, label in zip(boxes, labels, strict=True):
            truth.append({"id": len(truth) + 1, "image_id": image_id, "category_id": int(label), **_coco_box(box), "iscrowd": 0})
        boxes, labels = _boxes(pred, "prediction", image_id), _labels(pred, "prediction", image_id)
        scores = np.asarray(pred.get("scores", ()), dtype=np.float64).reshape(-1)
        if scores.shape != labels.shape:
            raise InvalidInputError(f"detection_map: prediction {image_id} has {len(labels)} boxes but {scores.size} scores")
        for box, label, score in zip(boxes, labels, scores, strict=True):
            found.append({"image_id": image_id, "category_id": int(label), "bbox": _coco_box(box)["bbox"], "score": float(score)})
    if not truth:
        raise InvalidInputError(
            "detection_map: the targets hold no box, so there is nothing to find; score on images with objects"
        )
    if not found:
        return {"map": 0.0, "map_50": 0.0, "map_75": 0.0}
    categories = sorted({a["category_id"] for a in truth} | {d["category_id"] for d in found})
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        ground = COCO()
        ground.dataset = {"images": images, "annotations": truth, "categories": [{"id": c} for c in categories]}
        ground.createIndex()
        evaluation = COCOeval(ground, ground.loadRes(found), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
    # precision: [IoU threshold, recall point, class, area range (0: all), max detections (-1: 100)];
    # -1 marks a class without ground truth, left out of the mean as COCO's summarize() does.
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    return {
        "map": _mean(precision),
        "map_50": _mean(precision[IOU_THRESHOLDS.index(0.5)]),
        "map_75": _mean(precision[IOU_THRESHOLDS.index(0.75)]),
    }


def _mean(precision: np.ndarray) -> float:
    valid = precision[precision > -1]
    return round(float(valid.mean()), 10) if valid.size else 0.0  # 1.0, not 0.9999999999999998


def _boxes(item: Mapping[str, Any], what: str, image_id: int) -> np.ndarray:
    boxes = np.asarray(item.get("boxes", np.zeros((0, 4))), dtype=np.float64)
    boxes = boxes.reshape(0, 4) if boxes.size == 0 else boxes
    if boxes.ndim != 2 or boxes.shape[1] != 4 or not np.all(np.isfinite(boxes)):
        raise InvalidInputError(
            f"detection_map: {what} {image_id}: boxes must be finite (k, 4) x1, y1, x2, y2; got {boxes.shape}"
        )
    return boxes


def _labels(item: Mapping[str, Any], what: str, image_id: int) -> np.ndarray:
    labels = np.asarray(item.get("labels", ()), dtype=np.int64).reshape(-1)
    if labels.shape[0] != _boxes(item, what, image_id).shape[0]:
        raise InvalidInputError(f"detection_map: {what} {image_id} has {labels.shape[0]} labels for its boxes")
    return labels


def _coco_box(box: np.ndarray) -> dict[str, Any]:
    """COCO's ``[x, y, width, height]`` and area from ``(x1, y1, x2, y2)``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    width, height = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
    return {"bbox": [x1, y1, width, height], "area": width * height}
