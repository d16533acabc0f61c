"""Host post-processing of a detection network: box decoding, score threshold, per-class NMS, top-k,
on hand-made outputs whose answer is known."""

from __future__ import annotations

import numpy as np

from edgenas.tasks.detection_decode import DecodeSettings, batched_nms, decode_batch, decode_boxes, nms

K = 2  # classes


def _maps(size: int = 4) -> np.ndarray:
    """One image, one level: every cell background (logit -10), box values 0 (a stride-sized box)."""
    out = np.zeros((1, K + 4, size, size), np.float32)
    out[:, :K] = -10.0
    return out


def _put(out: np.ndarray, row: int, col: int, label: int, logit: float, box: tuple[float, float, float, float]) -> None:
    out[0, label, row, col] = logit
    out[0, K:, row, col] = box


def test_box_values_decode_to_the_centre_offset_and_log_size() -> None:
    values = np.zeros((4, 2, 2), np.float32)
    values[:, 0, 1] = (0.5, -0.25, np.log(2.0), 0.0)  # cell (0, 1) of a stride-8 level: centre (12, 4)
    boxes = decode_boxes(values, 8)
    np.testing.assert_allclose(boxes[1], [16 - 8, 2 - 4, 16 + 8, 2 + 4])
    np.testing.assert_allclose(boxes[0], [0, 0, 8, 8])  # zeros: the cell itself


def test_known_boxes_survive_duplicates_are_suppressed_and_the_threshold_holds() -> None:
    out = _maps()
    _put(out, 1, 1, 0, 3.0, (0, 0, np.log(2), np.log(2)))  # class 0 at (12, 12), 16 x 16
    _put(out, 1, 2, 0, 2.0, (-1, 0, np.log(2), np.log(2)))  # the same box from the next cell: a duplicate
    _put(out, 1, 2, 1, 1.0, (-1, 0, np.log(2), np.log(2)))  # the same place, class 1: kept (per-class NMS)
    _put(out, 3, 3, 0, -4.0, (0, 0, 0, 0))  # score 0.018: under the threshold
    found = decode_batch([out], [8], K, DecodeSettings(score_threshold=0.05, iou_threshold=0.5))[0]
    assert found["labels"].tolist() == [0, 1]
    np.testing.assert_allclose(found["boxes"], [[4, 4, 20, 20], [4, 4, 20, 20]], atol=1e-5)
    assert found["scores"][0] > found["scores"][1] > 0.5
    # a lower threshold keeps the weak box; max_detections keeps the best only
    low = decode_batch([out], [8], K, DecodeSettings(score_threshold=0.01))[0]
    assert len(low["boxes"]) == 3
    top = decode_batch([out], [8], K, DecodeSettings(max_detections=1), scale=2.0, image_size=30.0)[0]
    np.testing.assert_allclose(top["boxes"], [[8, 8, 30, 30]], atol=1e-5)  # scaled to the data, clipped


def test_nms_keeps_separate_boxes_and_is_greedy_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.5, 0.9, 0.8, 0.1], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert batched_nms(boxes, scores, np.array([0, 0, 0, 1]), 0.5).tolist() == [1, 2, 3]
    assert batched_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0), 0.5).size == 0


def test_two_levels_and_images_decode_independently() -> None:
    fine, coarse = _maps(4), _maps(2)
    _put(fine, 0, 0, 1, 4.0, (0, 0, 0, 0))
    fine = np.concatenate([fine, _maps(4)])  # image 2: nothing
    coarse = np.concatenate([_maps(2), _maps(2)])
    _put(coarse[1:], 1, 1, 0, 4.0, (0, 0, 0, 0))
    first, second = decode_batch([fine, coarse], [8, 16], K)
    assert first["labels"].tolist() == [1] and first["boxes"].tolist() == [[0, 0, 8, 8]]
    assert second["labels"].tolist() == [0] and second["boxes"].tolist() == [[16, 16, 32, 32]]
