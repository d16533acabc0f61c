"""What runs on the host after a detection network's int8 graph: sigmoid, box decoding, NMS, top-k.

The int8 graph (``edgenas.spaces.detection``) ends at one 1x1 conv per feature level, giving per
cell ``num_classes`` class logits and 4 box values; everything else is here, in NumPy, because the
NPU has no sigmoid, no sort and no data-dependent control flow, and because it costs microseconds
on the few hundred cells of a small image:

1. **sigmoid** of the class logits: an independent score per class (no softmax: a cell may hold
   no object at all);
2. **box decoding** (:func:`decode_boxes`): cell ``(i, j)`` of a stride-``s`` level has its centre
   at ``((j + 0.5) s, (i + 0.5) s)`` input pixels; the box values ``(dx, dy, tw, th)`` give the
   box centre ``centre + (dx, dy) s`` and its size ``exp(tw) s`` by ``exp(th) s`` (``tw``, ``th``
   clipped to ``[-BOX_LOG_CLIP, BOX_LOG_CLIP]``), CenterNet's centre-and-size form, which holds a
   box smaller than its cell, unlike FCOS's distances to the sides;
3. a **score threshold** (``score_threshold``), then the ``pre_nms_top_k`` best (cell, class)
   pairs over all levels;
4. **per-class NMS** (:func:`batched_nms`): greedy, by score, a box dropped when its IoU with a
   kept box of the same class exceeds ``iou_threshold``; classes are kept apart by shifting each
   class's boxes to its own region (torchvision's ``batched_nms`` trick), so one pass serves all;
5. the ``max_detections`` best survivors per image, and the boxes scaled to the data's pixels.

Why written here: torchvision is not a dependency, pycocotools only scores, and no installed
library (NumPy, SciPy, ONNX Runtime's Python API) offers NMS as a function; the greedy loop is a
dozen vectorised lines, each step one IoU row against the remaining boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Box values per cell, after the class logits: dx, dy, tw, th.
BOX_VALUES = 4
#: Log-size values are clipped to this (e^6 ~ 400 strides): a wild value never overflows.
BOX_LOG_CLIP = 6.0


@dataclass(frozen=True)
class DecodeSettings:
    """Host post-processing settings (COCO-style defaults: low threshold, 100 detections per image).

    Args:
        score_threshold: Lowest class score kept.
        iou_threshold: NMS drops a box overlapping a kept one of its class by more than this.
        pre_nms_top_k: Best (cell, class) pairs per image that enter NMS.
        max_detections: Detections kept per image after NMS.
    """

    score_threshold: float = 0.05
    iou_threshold: float = 0.5
    pre_nms_top_k: int = 1000
    max_detections: int = 100


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, without overflow warnings for large negative logits."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def cell_centres(size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cx, cy)`` in input pixels of every cell of a ``size`` x ``size`` level, row-major ``(size * size,)``."""
    centres = (np.arange(size, dtype=np.float32) + 0.5) * stride
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    return cx.reshape(-1), cy.reshape(-1)


def decode_boxes(values: np.ndarray, stride: int) -> np.ndarray:
    """Boxes ``(H * W, 4)`` as ``(x1, y1, x2, y2)`` input pixels from box values ``(4, H, W)`` (see the module docstring)."""
    size = values.shape[1]
    cx, cy = cell_centres(size, stride)
    dx, dy, tw, th = (values[k].reshape(-1).astype(np.float32) for k in range(BOX_VALUES))
    x, y = cx + dx * stride, cy + dy * stride
    w = np.exp(np.clip(tw, -BOX_LOG_CLIP, BOX_LOG_CLIP)) * stride
    h = np.exp(np.clip(th, -BOX_LOG_CLIP, BOX_LOG_CLIP)) * stride
    return np.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], axis=1)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` box with each of ``(n, 4)`` boxes."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes greedy NMS keeps, best score first (ties: the lower index first)."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Per-class NMS in one pass: each class's boxes shifted to a region of their own, so boxes of
    different classes never overlap (torchvision's ``batched_nms``)."""
    if boxes.size == 0:
        return np.zeros(0, dtype=np.int64)
    offset = labels.astype(np.float32)[:, None] * (float(boxes.max() - boxes.min()) + 1.0)
    return nms(boxes + offset, scores, iou_threshold)


def decode_image(
    outputs: Sequence[np.ndarray],
    strides: Sequence[int],
    num_classes: int,
    settings: DecodeSettings,
    scale: float = 1.0,
    image_size: float | None = None,
) -> dict[str, np.ndarray]:
    """One image's detections from its per-level maps ``(num_classes + 4, H, W)``.

    Returns ``{"boxes": (k, 4), "scores": (k,), "labels": (k,)}``, boxes in input pixels times
    ``scale`` (the data's size over the network's), clipped to ``[0, image_size]`` when given,
    best score first: the layout
    :func:`~edgenas.tasks.detection_metrics.detection_map` reads.
    """
    all_boxes, all_scores = [], []
    for output, stride in zip(outputs, strides, strict=True):
        all_scores.append(sigmoid(output[:num_classes].reshape(num_classes, -1).T.astype(np.float32)))
        all_boxes.append(decode_boxes(output[num_classes : num_classes + BOX_VALUES], stride))
    boxes, scores = np.concatenate(all_boxes), np.concatenate(all_scores)  # (cells, 4), (cells, classes)
    cell, label = np.nonzero(scores > settings.score_threshold)
    score = scores[cell, label]
    if score.size > settings.pre_nms_top_k:
        best = np.argsort(-score, kind="stable")[: settings.pre_nms_top_k]
        cell, label, score = cell[best], label[best], score[best]
    kept = batched_nms(boxes[cell], score, label, settings.iou_threshold)[: settings.max_detections]
    found = boxes[cell[kept]] * np.float32(scale)
    if image_size is not None:
        found = np.clip(found, 0.0, image_size)
    return {
        "boxes": found.astype(np.float32),
        "scores": score[kept].astype(np.float32),
        "labels": label[kept].astype(np.int64),
    }


def decode_batch(
    outputs: Sequence[np.ndarray],
    strides: Sequence[int],
    num_classes: int,
    settings: DecodeSettings | None = None,
    scale: float = 1.0,
    image_size: float | None = None,
) -> list[dict[str, np.ndarray]]:
    """:func:`decode_image` for every image of a batch of per-level maps ``(batch, num_classes + 4, H, W)``."""
    settings = settings or DecodeSettings()
    return [
        decode_image([level[i] for level in outputs], strides, num_classes, settings, scale, image_size)
        for i in range(len(outputs[0]))
    ]
