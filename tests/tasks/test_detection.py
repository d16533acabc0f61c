"""Detection data: the COCO and YOLO loaders on tiny folders, every bad input, the synthetic
inspection scenes (determinism, cache, boxes) and COCO mAP on cases with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgenas.errors import InvalidInputError, MissingDataError
from edgenas.tasks import TASKS, load_task
from edgenas.tasks.detection import DetectionData, DetectionSplit, load_detection_folder
from edgenas.tasks.detection_metrics import detection_map
from edgenas.tasks.detection_synthetic import CLASSES, load_synthetic_detection


def _image(path: Path, width: int = 40, height: int = 20, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((height, width, 3), value, dtype=np.uint8)
    pixels[:, : width // 2] = 200
    Image.fromarray(pixels).save(path)


def _yolo(root: Path, labels: dict[str, str], classes: str = "crack\nspot\n", *, images: tuple[str, ...] | None = None) -> Path:
    for stem in labels if images is None else images:
        _image(root / "images" / f"{stem}.png")
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for stem, text in labels.items():
        (root / "labels" / f"{stem}.txt").write_text(text)
    if classes is not None:
        (root / "classes.txt").write_text(classes)
    return root


def _six(root: Path, **overrides: str) -> Path:
    labels = {f"im{i}": "0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.2 0.2\n" for i in range(6)}
    labels["im5"] = ""  # an empty label file: an image with no object
    return _yolo(root, {**labels, **overrides})


def _coco(root: Path, annotations: list[dict], *, images: list[dict] | None = None, write: bool = True) -> Path:
    images = images if images is not None else [{"id": i, "file_name": f"im{i}.png", "width": 40, "height": 20} for i in range(4)]
    for entry in images:
        if write:
            _image(root / "images" / entry["file_name"])
    doc = {"images": images, "annotations": annotations, "categories": [{"id": 3, "name": "dent"}, {"id": 1, "name": "scratch"}]}
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "instances.json").write_text(json.dumps(doc))
    return root


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


# -- YOLO ---------------------------------------------------------------------------------------------
def test_a_yolo_folder_is_resized_with_its_boxes_scaled_and_split_70_15_15(tmp_path: Path) -> None:
    data = load_detection_folder(_six(tmp_path / "d"), seed=1, image_size=32)
    assert isinstance(data, DetectionData) and data.classes == ("crack", "spot") and data.input_shape == (3, 32, 32)
    assert [len(s) for s in data.splits().values()] == [4, 1, 1]
    summary = data.describe()
    assert summary["total"] == 6 and sum(s["without_objects"] for s in summary["splits"].values()) == 1
    assert sum(s["boxes"] for s in summary["splits"].values()) == 10
    split = next(s for s in data.splits().values() if s.boxes.shape[0])
    boxes, labels = split.objects(int(split.image_index[0]))
    # 40 x 20 image, box centre (20, 10), 20 x 10 px -> (10, 5, 30, 15) -> scaled to 32 x 32: (8, 8, 24, 24)
    assert np.allclose(boxes[labels == 0][0], [8, 8, 24, 24])
    assert data.inputs(data.train).shape == (4, 3, 32, 32) and data.inputs(data.train).dtype == np.float32
    assert "YOLO folder" in data.source and "70/15/15" in data.source
    assert load_detection_folder(tmp_path / "d", seed=1, image_size=32).fingerprint() == data.fingerprint()


def test_yolo_split_folders_and_data_yaml_names(tmp_path: Path) -> None:
    root = tmp_path / "d"
    for split, n in (("train", 5), ("val", 2)):
        _yolo(root / split, {f"{split}{i}": "1 0.5 0.5 0.2 0.4\n" for i in range(n)}, classes=None)
    (root / "data.yaml").write_text("names: {0: crack, 1: spot}\n")
    data = load_detection_folder(root, image_size=16)
    assert data.classes == ("crack", "spot")
    assert (len(data.train), len(data.val), len(data.test)) == (4, 2, 1)  # test held out of train/
    assert "sub-folders" in data.source and "test held out" in data.source


def test_a_box_a_fraction_of_a_pixel_outside_is_clipped(tmp_path: Path) -> None:
    # x2 = (0.9 + 0.21 / 2) * 40 = 40.2: 0.2 px past the right edge
    data = load_detection_folder(_six(tmp_path / "d", im0="0 0.9 0.5 0.21 0.5\n"), image_size=40)
    assert "1 boxes clipped" in data.source
    assert max(float(s.boxes[:, 2].max()) for s in data.splits().values()) <= 40.0


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"im0": "0 0.5 0.5 0 0.5\n"}, ("im0.txt line 1", "zero area")),
        ({"im0": "0 0.5 0.5 0.5 0.5\n0 0.95 0.5 0.3 0.2\n"}, ("im0.txt line 2", "4.0 px outside", "40 x 20")),
        ({"im1": "7 0.5 0.5 0.2 0.2\n"}, ("im1.txt line 1", "class id 7 is unknown", "0 to 1")),
        ({"im2": "0 0.5 0.5\n"}, ("im2.txt line 1", "3 values")),
        ({"im3": "a b c d e\n"}, ("im3.txt line 1", "not 'class cx cy w h'")),
    ],
)
def test_bad_yolo_labels_are_one_line_naming_the_file(
    tmp_path: Path, overrides: dict[str, str], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidInputError) as exc:
        load_detection_folder(_six(tmp_path / "d", **overrides))
    text = _one_line(exc)
    for fragment in fragments:
        assert fragment in text, text


def test_bad_yolo_folders(tmp_path: Path) -> None:
    _image(tmp_path / "nolabels" / "images" / "a.png")
    with pytest.raises(MissingDataError, match="no labels"):
        load_detection_folder(tmp_path / "nolabels")
    with pytest.raises(InvalidInputError, match=r"ghost\.txt: labels for a missing image"):
        load_detection_folder(_yolo(tmp_path / "orphan", {"a": "", "b": "", "c": "", "ghost": ""}, images=("a", "b", "c")))
    with pytest.raises(InvalidInputError, match=r"d\.png: no label file .*empty \.txt"):
        load_detection_folder(_yolo(tmp_path / "unlabelled", {"a": "", "b": "", "c": ""}, images=("a", "b", "c", "d")))
    with pytest.raises(InvalidInputError, match=r"classes\.txt: empty"):
        load_detection_folder(_yolo(tmp_path / "noclasses", {"a": "", "b": "", "c": ""}, classes="\n"))
    root = _six(tmp_path / "corrupt")
    (root / "images" / "im4.png").write_bytes(b"not a png")
    with pytest.raises(InvalidInputError, match=r"im4\.png: not a readable image"):
        load_detection_folder(root)
    with pytest.raises(MissingDataError, match="not a folder"):
        load_detection_folder(tmp_path / "absent")


# -- COCO ---------------------------------------------------------------------------------------------
def _ann(i: int, image_id: int, category: int, bbox: list[float], **extra: object) -> dict:
    return {"id": i, "image_id": image_id, "category_id": category, "bbox": bbox, **extra}


def test_a_coco_folder_maps_category_ids_in_order_and_skips_crowds(tmp_path: Path) -> None:
    anns = [_ann(1, 0, 3, [10, 5, 20, 10]), _ann(2, 1, 1, [0, 0, 4, 4]), _ann(3, 2, 1, [0, 0, 40, 20], iscrowd=1)]
    data = load_detection_folder(_coco(tmp_path / "c", anns), image_size=20)
    assert data.classes == ("scratch", "dent")  # sorted by category id: 1, 3
    everything = [(b.tolist(), int(c)) for s in data.splits().values() for b, c in zip(s.boxes, s.labels, strict=True)]
    assert sorted(everything) == [([0.0, 0.0, 2.0, 4.0], 0), ([5.0, 5.0, 15.0, 15.0], 1)]
    assert "COCO folder" in data.source and "1 crowd annotations left out" in data.source
    assert load_task("detection", tmp_path / "c").classes == ("scratch", "dent")


@pytest.mark.parametrize(
    ("annotations", "fragments"),
    [
        ([_ann(7, 0, 1, [10, 5, 0, 10])], ("annotation 7", "zero area")),
        ([_ann(7, 0, 9, [10, 5, 2, 2])], ("annotation 7", "category_id 9 is unknown")),
        ([_ann(7, 42, 1, [10, 5, 2, 2])], ("annotation 7", "image_id 42")),
        ([_ann(7, 0, 1, [30, 5, 20, 10])], ("annotation 7", "10.0 px outside")),
        ([_ann(7, 0, 1, "10 5 2 2")], ("annotation 7", "bbox must be")),
    ],
)
def test_bad_coco_annotations_are_one_line_naming_the_file(
    tmp_path: Path, annotations: list[dict], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidInputError) as exc:
        load_detection_folder(_coco(tmp_path / "c", annotations))
    text = _one_line(exc)
    assert "instances.json" in text, text
    for fragment in fragments:
        assert fragment in text, text


def test_bad_coco_files(tmp_path: Path) -> None:
    root = _coco(tmp_path / "empty", [])
    (root / "annotations" / "instances.json").write_text("")
    with pytest.raises(InvalidInputError, match=r"instances\.json: empty file"):
        load_detection_folder(root)
    (root / "annotations" / "instances.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        load_detection_folder(root)
    missing = _coco(tmp_path / "missing", [], write=False)
    with pytest.raises(InvalidInputError, match=r"labels for missing images: im0\.png .*4 of 4"):
        load_detection_folder(missing)
    sizes = [{"id": i, "file_name": f"im{i}.png", "width": 64, "height": 20} for i in range(3)]
    with pytest.raises(InvalidInputError, match="declared 64 x 20 but the file is 40 x 20"):
        load_detection_folder(_coco(tmp_path / "sizes", [], images=sizes))


# -- the search takes detection data only in the detection space --------------------------------------
def test_detection_in_a_classification_space_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgenas.cli.main import run

    assert "detection" in TASKS.names()
    folder = _six(tmp_path / "d")
    with pytest.raises(SystemExit) as exit_code:
        run(["search", "--task", "detection", "--data", str(folder), "--space", "mbconv", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert exit_code.value.code == 2 and "Traceback" not in err
    assert "--task detection is searched in --space detection" in " ".join(err.split()), err


# -- the synthetic inspection scenes ------------------------------------------------------------------
def test_synthetic_scenes_are_deterministic_cached_and_boxed_inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgenas.tasks.detection_synthetic as synthetic

    data = load_synthetic_detection(tmp_path / "a", seed=3, n_images=200, image_size=64)
    assert data.input_shape == (3, 64, 64) and data.classes == CLASSES
    assert [len(s) for s in data.splits().values()] == [140, 30, 30]
    for split in data.splits().values():
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (64, 64, 3)
        x1, y1, x2, y2 = split.boxes.T
        assert np.all(x1 >= 0) and np.all(y1 >= 0) and np.all(x2 <= 64) and np.all(y2 <= 64)
        assert np.all(x2 - x1 >= 2) and np.all(y2 - y1 >= 2)
    counts = np.bincount(np.concatenate([s.labels for s in data.splits().values()]), minlength=4)
    assert counts.sum() > 200 and counts.min() > 0.15 * counts.sum(), counts  # several objects per image, classes balanced
    assert len(list((tmp_path / "a").glob("detection-synthetic-v2-*.npz"))) == 1

    monkeypatch.setattr(synthetic, "_generate", lambda *a: pytest.fail("the cache was not read"))
    assert load_synthetic_detection(tmp_path / "a", seed=3, n_images=200, image_size=64).fingerprint() == data.fingerprint()
    monkeypatch.undo()
    cache = next((tmp_path / "a").glob("*.npz"))
    cache.write_bytes(b"garbage")  # a damaged cache is drawn again, the same
    assert load_synthetic_detection(tmp_path / "a", seed=3, n_images=200, image_size=64).fingerprint() == data.fingerprint()
    assert load_synthetic_detection(tmp_path / "b", seed=3, n_images=200, image_size=64).fingerprint() == data.fingerprint()
    other = load_synthetic_detection(tmp_path / "b", seed=4, n_images=200, image_size=64)
    assert other.fingerprint() != data.fingerprint()


def test_default_size_defects_are_large_enough_for_an_inspection_camera(tmp_path: Path) -> None:
    data = load_synthetic_detection(tmp_path, seed=0, n_images=120, image_size=96)
    boxes = np.concatenate([s.boxes for s in data.splits().values()])
    labels = np.concatenate([s.labels for s in data.splits().values()])
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert np.median(side) >= 9 and np.percentile(side, 5) >= 5, np.percentile(side, [5, 50])  # pixels at 96 x 96
    for k, name in enumerate(CLASSES):  # even a missing hole or a dent spans most of a stride-8 cell
        assert np.median(side[labels == k]) >= 6.5, (name, np.median(side[labels == k]))


def test_synthetic_arguments_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="n_images"):
        load_synthetic_detection(n_images=0)
    with pytest.raises(InvalidInputError, match="image_size"):
        load_synthetic_detection(image_size=8)


def test_split_take_and_targets_keep_each_image_with_its_boxes() -> None:
    images = np.zeros((3, 4, 4, 3), np.uint8)
    split = DetectionSplit.from_objects(
        images,
        [np.array([[0, 0, 1, 1]]), np.zeros((0, 4)), np.array([[1, 1, 2, 2], [0, 0, 3, 3]])],
        [np.array([1]), np.zeros(0), np.array([0, 1])],
    )
    taken = split.take([2, 0])
    assert taken.targets()[0]["boxes"].tolist() == [[1, 1, 2, 2], [0, 0, 3, 3]] and taken.targets()[1]["labels"].tolist() == [1]
    assert split.objects(1)[0].shape == (0, 4)
    with pytest.raises(InvalidInputError, match="image_index"):
        DetectionSplit(images, np.zeros((1, 4), np.float32), np.zeros(1, np.int64), np.array([5]))


# -- mAP ----------------------------------------------------------------------------------------------
TARGET = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0]]), "labels": np.array([0])}]


def _pred(boxes: list[list[float]], scores: list[float], labels: list[int] | None = None) -> list[dict]:
    return [{"boxes": np.array(boxes), "scores": np.array(scores), "labels": np.array(labels or [0] * len(boxes))}]


def test_map_of_a_perfect_prediction_is_one() -> None:
    assert detection_map(_pred([[0, 0, 10, 10]], [0.9]), TARGET) == {"map": 1.0, "map_50": 1.0, "map_75": 1.0}


def test_a_box_at_iou_0_625_counts_at_0_5_but_not_at_0_75() -> None:
    result = detection_map(_pred([[0, 0, 10, 6.25]], [0.9]), TARGET)  # IoU 62.5 / 100
    assert result["map_50"] == 1.0 and result["map_75"] == 0.0
    assert result["map"] == pytest.approx(0.3)  # matched at 0.50, 0.55, 0.60 of ten thresholds


def test_a_false_positive_ranked_first_halves_ap_and_ranked_last_costs_nothing() -> None:
    assert detection_map(_pred([[50, 50, 60, 60], [0, 0, 10, 10]], [0.9, 0.5]), TARGET)["map"] == pytest.approx(0.5)
    assert detection_map(_pred([[50, 50, 60, 60], [0, 0, 10, 10]], [0.4, 0.5]), TARGET)["map"] == 1.0


def test_map_averages_classes_with_ground_truth_only() -> None:
    targets = [{"boxes": np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), "labels": np.array([0, 1])}]
    preds = _pred([[0, 0, 10, 10], [40, 40, 50, 50]], [0.9, 0.8], [0, 1])  # class 1 missed
    assert detection_map(preds, targets)["map"] == pytest.approx(0.5)
    preds = _pred([[0, 0, 10, 10], [40, 40, 50, 50]], [0.9, 0.8], [0, 2])  # class 2 has no ground truth: ignored
    assert detection_map(preds, TARGET)["map"] == 1.0


def test_map_edge_cases() -> None:
    assert detection_map([{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0)}], TARGET)["map"] == 0.0
    with pytest.raises(InvalidInputError, match="2 predictions for 1 images"):
        detection_map(_pred([[0, 0, 1, 1]], [1.0]) * 2, TARGET)
    with pytest.raises(InvalidInputError, match="no box"):
        detection_map(_pred([[0, 0, 1, 1]], [1.0]), [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0)}])
    with pytest.raises(InvalidInputError, match="1 boxes but 2 scores"):
        detection_map(_pred([[0, 0, 1, 1]], [1.0, 0.5], [0]), TARGET)


def test_detection_task_options_are_checked_in_one_line(tmp_path: Path) -> None:
    import inspect

    from edgenas.tasks import TASK_OPTIONS
    from edgenas.tasks.detection import detection_options

    assert tuple(inspect.signature(detection_options).parameters) == TASK_OPTIONS["detection"]
    small = load_task("detection", None, cache_dir=tmp_path, options={"scenes": 20, "image_size": 32})
    assert small.input_shape == (3, 32, 32) and sum(len(s) for s in small.splits().values()) == 20
    with pytest.raises(InvalidInputError, match="--scenes must be a whole number of at least 20"):
        load_task("detection", None, options={"scenes": 5})
    with pytest.raises(InvalidInputError, match="--image-size must be a whole number of pixels from 32 to 1024"):
        load_task("detection", None, options={"image_size": 8})
    with pytest.raises(InvalidInputError, match="--scenes sets how many synthetic scenes are drawn"):
        load_task("detection", _six(tmp_path / "d"), options={"scenes": 30})
    with pytest.raises(InvalidInputError, match="--keywords: not an option of --task detection"):
        load_task("detection", None, options={"keywords": "yes"})
