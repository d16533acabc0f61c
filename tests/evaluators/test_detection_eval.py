"""The detection evaluator: targets that decode back to the ground truth, a one-epoch training that
gives a finite, deterministic validation mAP@0.5, and the evaluator registry's choice by task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgenas.errors import InvalidInputError
from edgenas.evaluators import EVALUATORS, EvaluatorContext
from edgenas.evaluators.detection import DetectionEvaluator, assign_targets
from edgenas.spaces.detection import DetectionSpace
from edgenas.tasks.detection import DetectionData, DetectionSplit
from edgenas.tasks.detection_decode import decode_batch
from edgenas.tasks.detection_metrics import detection_map
from edgenas.tasks.detection_synthetic import load_synthetic_detection


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> DetectionData:
    return load_synthetic_detection(tmp_path_factory.mktemp("cache"), seed=1, n_images=40, image_size=32)


def test_perfect_outputs_built_from_the_targets_decode_to_the_ground_truth(data: DetectionData) -> None:
    split = data.train
    # only boxes whose every positive cell is taken by a smaller box are lost: few on 4 x 4 cells,
    # more when the whole image is 2 x 2 cells
    for resolution, strides, least in ((32, (8,), 0.6), (32, (8, 16), 0.6), (16, (8,), 0.4)):
        levels = assign_targets(split, resolution / 32, resolution, strides, len(data.classes))
        outputs = [np.concatenate([np.where(lv.cls > 0, 10.0, -10.0), lv.box], axis=1) for lv in levels]
        found = decode_batch(outputs, strides, len(data.classes), scale=32 / resolution, image_size=32)
        assert detection_map(found, split.targets())["map"] > least, (resolution, strides)


def test_every_box_gets_two_by_two_to_three_by_three_positive_cells() -> None:
    boxes = np.array([[10.0, 10.0, 15.0, 15.0], [40.0, 44.0, 60.0, 50.0]], np.float32)  # 5 px and 20 x 6 px
    split = DetectionSplit(np.zeros((1, 64, 64, 3), np.uint8), boxes, np.array([0, 3]), np.zeros(2, np.int64))
    (level,) = assign_targets(split, 1.0, 64, (8,), 4)
    small, wide = level.cls[0, 0], level.cls[0, 3]
    assert 4 <= small.sum() <= 9 and 4 <= wide.sum() <= 9  # a 5 px defect is not left with one cell
    assert small[1, 1] == 1 and wide[5, 6] == 1  # the cells holding the centres
    rows, cols = np.nonzero(level.pos[0])
    # every positive cell's box values decode back to its own box
    centre_x, centre_y = (cols + 0.5) * 8 + level.box[0, 0, rows, cols] * 8, (rows + 0.5) * 8 + level.box[0, 1, rows, cols] * 8
    owner = level.cls[0, :, rows, cols].argmax(1)
    want = boxes[np.where(owner == 0, 0, 1)]
    assert np.allclose(centre_x, (want[:, 0] + want[:, 2]) / 2) and np.allclose(centre_y, (want[:, 1] + want[:, 3]) / 2)
    assert np.allclose(np.exp(level.box[0, 2, rows, cols]) * 8, want[:, 2] - want[:, 0], rtol=1e-5)


def test_one_epoch_gives_a_finite_deterministic_map(data: DetectionData) -> None:
    space = DetectionSpace.for_task(data.input_shape, len(data.classes))
    arch = space.sample(np.random.default_rng(3))
    first = DetectionEvaluator(space, data, epochs=1, seed=0).evaluate(arch)
    again = DetectionEvaluator(space, data, epochs=1, seed=0).evaluate(arch)
    assert 0.0 <= first.accuracy <= 1.0 and 0.0 <= first.extra["map"] <= first.accuracy + 1e-9
    assert np.isfinite(first.extra["train_loss"])
    assert first.accuracy == again.accuracy and first.extra["train_loss"] == again.extra["train_loss"]


def test_the_train_evaluator_is_the_detection_one_for_detection_data(data: DetectionData) -> None:
    space = DetectionSpace.for_task(data.input_shape, len(data.classes))
    context = EvaluatorContext(space, data, epochs=1)  # type: ignore[arg-type]  # detection data
    assert isinstance(EVALUATORS.get("train")(context, None), DetectionEvaluator)
    with pytest.raises(InvalidInputError, match="--evaluator zerocost:naswot scores classifiers"):
        EVALUATORS.get("zerocost")(context, "naswot")


def test_train_subset_draws_whole_images(data: DetectionData, tmp_path: Path) -> None:
    small = data.subset_train(10, seed=0)
    assert len(small.train) == 10 and len(small.val) == len(data.val)
    assert small.subset_train(10, seed=0) is small and data.subset_train(10, seed=0).fingerprint() == small.fingerprint()
    assert np.array_equal(small.feature_mean, data.feature_mean)
    with pytest.raises(InvalidInputError, match="--train-subset"):
        data.subset_train(0, seed=0)
