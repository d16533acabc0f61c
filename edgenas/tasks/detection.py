"""Object detection data: images with boxes and class ids, from COCO JSON, YOLO text labels or a generator.

A detection task is not a classification task with another label: an image holds any number of
objects, each a box and a class. :class:`DetectionData` keeps the images as uint8 ``(N, H, W, C)``
(a float copy of 2,000 images is four times larger and every evaluator normalises anyway) and the
boxes of a split as one flat ``(M, 4)`` array with the image each belongs to, so a split saves to
and loads from an ``.npz`` without pickling ragged lists. It stands beside :class:`TaskData`, not
in it, so that no classification evaluator ever receives boxes.

``--data DIR`` reads either layout (one loader each, chosen by what the folder holds)::

    YOLO:  DIR/images/a.png   DIR/labels/a.txt ("class cx cy w h", normalised)   DIR/classes.txt or data.yaml
    COCO:  DIR/annotations/instances.json (or DIR/x.json)   images where its file_name points

and ``DIR/train``, ``DIR/val`` (and ``DIR/test``) sub-folders in either layout are the splits; without
them the images are split 70/15/15 with the seed. Every image is resized (stretched) to one square
size with its boxes scaled, and a box that reaches less than one pixel past the image edge (a
rounding of the labelling tool) is clipped; anything worse stops with the file and line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgenas._rng import rng_for
from edgenas.errors import InvalidInputError, MissingDataError
from edgenas.tasks.image_folder import _GREY_MODES, EXTENSIONS, _as_array, read_image

#: The square side images are resized to by default: small enough for a microcontroller-class
#: NPU at 30 frames per second, large enough that a 6-pixel defect is still a few pixels.
DEFAULT_IMAGE_SIZE = 96
#: A box may reach this far (pixels of the original image) past the edge and is clipped; farther is an error.
CLIP_TOLERANCE_PX = 1.0
SPLIT_NAMES = ("train", "val", "test")
#: Share of the images held out for validation and for test when the folder has no split sub-folders.
HOLDOUT_FRACTION = 0.15


#: Fewest synthetic scenes a run may ask for (so that validation and test hold a few images each).
MIN_SCENES = 20


@dataclass(frozen=True)
class DetectionOptions:
    """A run's detection task options (``TASK_OPTIONS["detection"]``, ``task_options`` of a run).

    ``scenes``: how many synthetic scenes to draw (None: the generator's default); only without
    ``--data``. ``image_size``: the square side images are drawn at or resized to.
    """

    scenes: int | None = None
    image_size: int = DEFAULT_IMAGE_SIZE


def detection_options(scenes: int | None = None, image_size: int = DEFAULT_IMAGE_SIZE) -> DetectionOptions:
    """:class:`DetectionOptions` from the options as given (a ``--config`` file's ``scenes: 200``), checked."""
    if scenes is not None and (isinstance(scenes, bool) or not isinstance(scenes, int) or scenes < MIN_SCENES):
        raise InvalidInputError(f"--scenes must be a whole number of at least {MIN_SCENES} synthetic scenes, got {scenes!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or not 32 <= image_size <= 1024:
        raise InvalidInputError(f"--image-size must be a whole number of pixels from 32 to 1024, got {image_size!r}")
    return DetectionOptions(scenes, image_size)


@dataclass(frozen=True, eq=False)
class DetectionSplit:
    """One split: images and their objects.

    ``boxes[j]`` is ``(x1, y1, x2, y2)`` in pixels of the stored images (x to the right, y down,
    ``x2 > x1``), ``labels[j]`` its class index and ``image_index[j]`` the image it is on
    (non-decreasing, so the boxes of one image are contiguous). An image without a box is a
    valid "no object" image.
    """

    images: np.ndarray  # uint8 (N, H, W, C)
    boxes: np.ndarray  # float32 (M, 4)
    labels: np.ndarray  # int64 (M,)
    image_index: np.ndarray  # int64 (M,)
    _starts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n, m = self.images.shape[0], self.boxes.shape[0]
        if self.images.ndim != 4:
            raise InvalidInputError(f"detection images must be (N, H, W, C), got shape {self.images.shape}")
        if self.boxes.shape != (m, 4) or self.labels.shape != (m,) or self.image_index.shape != (m,):
            raise InvalidInputError(
                f"detection split has boxes {self.boxes.shape}, labels {self.labels.shape} and "
                f"image_index {self.image_index.shape}; expected (M, 4), (M,) and (M,)"
            )
        if m and (self.image_index.min() < 0 or self.image_index.max() >= n or np.any(np.diff(self.image_index) < 0)):
            raise InvalidInputError(f"detection split: image_index must be sorted indices into its {n} images")
        object.__setattr__(self, "_starts", np.searchsorted(self.image_index, np.arange(n + 1)))

    @classmethod
    def from_objects(cls, images: np.ndarray, boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> DetectionSplit:
        """A split from per-image lists: ``boxes[i]`` ``(k_i, 4)`` and ``labels[i]`` ``(k_i,)`` for image ``i``."""
        counts = [len(b) for b in boxes]
        return cls(
            images=images,
            boxes=np.concatenate([np.reshape(b, (-1, 4)) for b in boxes] or [np.zeros((0, 4))]).astype(np.float32),
            labels=np.concatenate([np.reshape(c, (-1,)) for c in labels] or [np.zeros(0)]).astype(np.int64),
            image_index=np.repeat(np.arange(len(counts), dtype=np.int64), counts),
        )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def objects(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(k, 4)`` and labels ``(k,)`` of image ``i``."""
        start, end = int(self._starts[i]), int(self._starts[i + 1])
        return self.boxes[start:end], self.labels[start:end]

    def targets(self) -> list[dict[str, np.ndarray]]:
        """Per image ``{"boxes", "labels"}``: the ground truth :func:`~edgenas.tasks.detection_metrics.detection_map` takes."""
        return [dict(zip(("boxes", "labels"), self.objects(i), strict=True)) for i in range(len(self))]

    def take(self, indices: Sequence[int] | np.ndarray) -> DetectionSplit:
        """The images ``indices`` (in that order) and their objects."""
        idx = np.asarray(indices, dtype=np.int64)
        per_image = [self.objects(int(i)) for i in idx]
        return DetectionSplit.from_objects(self.images[idx], [b for b, _ in per_image], [c for _, c in per_image])


@dataclass(frozen=True, eq=False)
class DetectionData:
    """A detection task: class names, three splits, the input shape and where the data came from.

    ``input_shape`` is ``(C, H, W)`` as for image classification, so a backbone from an image space
    fits. ``feature_mean`` / ``feature_std`` are per channel of the [0, 1] pixels of the training
    split only; :meth:`inputs` applies them.
    """

    task: ClassVar[str] = "detection"

    name: str
    classes: tuple[str, ...]
    train: DetectionSplit
    val: DetectionSplit
    test: DetectionSplit
    input_shape: tuple[int, int, int]
    feature_mean: np.ndarray
    feature_std: np.ndarray
    source: str

    @classmethod
    def build(cls, name: str, classes: Sequence[str], splits: dict[str, DetectionSplit], source: str) -> DetectionData:
        """The task from its splits: input shape and training statistics computed here."""
        train = splits["train"]
        if len(train) == 0:
            raise InvalidInputError(f"{name}: the training split holds no image; add images")
        n, height, width, channels = train.images.shape
        for split_name, split in splits.items():
            if split.boxes.size and split.labels.max() >= len(classes):
                raise InvalidInputError(
                    f"{name}: {split_name} has class id {int(split.labels.max())}, only {len(classes)} classes"
                )
        count = n * height * width
        sums = train.images.sum(axis=(0, 1, 2), dtype=np.int64).astype(np.float64)
        squares = np.einsum("nhwc,nhwc->c", train.images, train.images, dtype=np.int64).astype(np.float64)
        mean = sums / count / 255.0
        std = np.maximum(np.sqrt(np.maximum(squares / count / 255.0**2 - mean**2, 0.0)), 1e-6)
        return cls(
            name=name,
            classes=tuple(classes),
            train=train,
            val=splits["val"],
            test=splits["test"],
            input_shape=(channels, height, width),
            feature_mean=mean.astype(np.float32),
            feature_std=std.astype(np.float32),
            source=source,
        )

    def subset_train(self, size: int, seed: int) -> DetectionData:
        """This task with ``size`` training images drawn at random (with their boxes): ``--train-subset``.

        Validation and test stay whole and the standardisation is the full training split's, as
        for classification (:func:`edgenas.tasks.base.subset_train`); images, not boxes, are
        counted, because an image is what a training step reads.
        """
        if size < 1:
            raise InvalidInputError(f"--train-subset must be a positive number of images, got {size}")
        if size >= len(self.train):
            return self
        keep = np.sort(rng_for(seed, self.name, "train-subset").choice(len(self.train), size, replace=False))
        source = f"{self.source}; training subset: {size} of {len(self.train)} images (at random, seed {seed})"
        return dataclasses.replace(self, train=self.train.take(keep), source=source)

    def splits(self) -> dict[str, DetectionSplit]:
        """The three splits by name, in a fixed order."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def inputs(self, split: DetectionSplit) -> np.ndarray:
        """A split's images as a network reads them: float32 ``(N, C, H, W)``, standardised per channel."""
        x = split.images.astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255.0)
        return np.ascontiguousarray((x - self.feature_mean.reshape(1, -1, 1, 1)) / self.feature_std.reshape(1, -1, 1, 1))

    def fingerprint(self) -> str:
        """SHA-1 of every split's images and objects: a resume on other data is refused."""
        digest = hashlib.sha1()
        for split in self.splits().values():
            for array in (split.images, split.boxes, split.labels, split.image_index):
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        """JSON-able summary: images, boxes per class and images without objects, per split."""
        splits: dict[str, Any] = {}
        for split_name, split in self.splits().items():
            counts = np.bincount(split.labels, minlength=len(self.classes))
            splits[split_name] = {
                "total": len(split),
                "boxes": int(split.boxes.shape[0]),
                "per_class": {c: int(counts[i]) for i, c in enumerate(self.classes)},
                "without_objects": int(len(split) - len(np.unique(split.image_index))),
            }
        return {
            "name": self.name,
            "task": self.task,
            "classes": list(self.classes),
            "input_shape": list(self.input_shape),
            "total": int(sum(s["total"] for s in splits.values())),
            "splits": splits,
            "source": self.source,
        }


# -- folders ------------------------------------------------------------------------------------------
@dataclass
class _Read:
    """What one folder gave: resized images, per-image boxes (resized pixels) and labels, and counts."""

    images: list[np.ndarray] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    clipped: int = 0
    crowd: int = 0


def load_detection_folder(data_dir: Path, *, seed: int = 0, image_size: int = DEFAULT_IMAGE_SIZE) -> DetectionData:
    """Read a COCO JSON or YOLO folder (see the module docstring) into a detection task.

    Args:
        data_dir: The folder; ``train``/``val``/``test`` sub-folders are the splits when present
            (a missing ``val`` or ``test`` is a seeded 15 % of ``train``), else one seeded 70/15/15 split.
        seed: Seed of the split.
        image_size: Side of the square every image is resized to (boxes scaled with it).

    Raises:
        MissingDataError: ``data_dir`` is not a folder, or holds no labels in either format.
        InvalidInputError: a bad label, image or class list; the message names the file (and line).
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise MissingDataError(f"--data {root}: not a folder (expected YOLO images/ + labels/ or COCO annotations/*.json)")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or not 8 <= image_size <= 1024:
        raise InvalidInputError(f"image_size must be a whole number of pixels from 8 to 1024, got {image_size!r}")
    rng = rng_for(seed, "detection-folder")
    folders = {name: root / name for name in SPLIT_NAMES if (root / name).is_dir()}
    if folders and "train" not in folders:
        raise InvalidInputError(
            f"--data {root}: has {', '.join(folders)} sub-folders but no train/; add one or flatten the folder"
        )
    formats: set[str] = set()
    reads: dict[str, _Read] = {}
    classes: tuple[str, ...] | None = None
    for split_name, folder in (folders or {"all": root}).items():
        fmt, found, read = _read_folder(folder, root, image_size)
        formats.add(fmt)
        if classes is not None and found != classes:
            raise InvalidInputError(
                f"--data {root}: {split_name}/ names classes {list(found)}, train/ {list(classes)}; use one class list"
            )
        classes = found
        reads[split_name] = read
    assert classes is not None
    if len(formats) > 1:
        raise InvalidInputError(f"--data {root}: mixes {' and '.join(sorted(formats))} labels between splits; use one format")
    mode = "RGB" if any(im.shape[2] == 3 for r in reads.values() for im in r.images) else "L"
    splits = {name: _to_split(read, mode) for name, read in reads.items()}
    if "all" in splits:
        whole = splits.pop("all")
        if len(whole) < 3:
            raise InvalidInputError(f"--data {root}: {len(whole)} image(s); a detection task needs at least 3 (train, val, test)")
        order = rng.permutation(len(whole))
        n_hold = max(1, round(HOLDOUT_FRACTION * len(whole)))
        splits = {
            "train": whole.take(np.sort(order[2 * n_hold :])),
            "val": whole.take(np.sort(order[:n_hold])),
            "test": whole.take(np.sort(order[n_hold : 2 * n_hold])),
        }
        how = f"split 70/15/15 at random (seed {seed})"
    else:
        carved = [name for name in SPLIT_NAMES if name not in splits]
        for name in carved:
            train = splits["train"]
            if len(train) < 2:
                raise InvalidInputError(
                    f"--data {root}: train/ has {len(train)} image(s), too few to hold out a {name} split; add {name}/"
                )
            order = rng.permutation(len(train))
            n_hold = max(1, round(HOLDOUT_FRACTION * len(train)))
            splits[name], splits["train"] = train.take(np.sort(order[:n_hold])), train.take(np.sort(order[n_hold:]))
        how = "splits from the train/val/test sub-folders" + (
            f" ({' and '.join(carved)} held out of train/ at random, seed {seed})" if carved else ""
        )
    n_images = sum(len(s) for s in splits.values())
    n_boxes = sum(int(s.boxes.shape[0]) for s in splits.values())
    fmt = formats.pop()
    notes = f"; {sum(r.clipped for r in reads.values())} boxes clipped (< {CLIP_TOLERANCE_PX:g} px past the edge)"
    crowd = sum(r.crowd for r in reads.values())
    notes += f"; {crowd} crowd annotations left out" if crowd else ""
    source = (
        f"{fmt} folder {root}: {n_images} images, {n_boxes} boxes in {len(classes)} classes; "
        f"resized (stretched) to {image_size}x{image_size} {mode}{notes}; {how}"
    )
    return DetectionData.build(f"detection-{fmt.lower()}", classes, splits, source)


def _to_split(read: _Read, mode: str) -> DetectionSplit:
    arrays = [np.repeat(im, 3, axis=2) if mode == "RGB" and im.shape[2] == 1 else im for im in read.images]
    return DetectionSplit.from_objects(np.stack(arrays), read.boxes, read.labels)


def _read_folder(folder: Path, root: Path, size: int) -> tuple[str, tuple[str, ...], _Read]:
    """Which format ``folder`` holds, its class names and its images and objects."""
    if (folder / "labels").is_dir():
        return ("YOLO", *_read_yolo(folder, root, size))
    jsons = _coco_files(folder)
    if jsons:
        if len(jsons) > 1:
            names = ", ".join(p.name for p in jsons)
            raise InvalidInputError(
                f"--data {folder}: {len(jsons)} COCO JSON files ({names}); keep one per folder (splits: train/, val/, test/)"
            )
        return ("COCO", *_read_coco(jsons[0], folder, size))
    raise MissingDataError(
        f"--data {folder}: no labels: expected YOLO {folder}/labels/*.txt beside images/, or a COCO {folder}/annotations/*.json"
    )


def _coco_files(folder: Path) -> list[Path]:
    inside = folder / "annotations"
    found = sorted(inside.glob("*.json")) if inside.is_dir() else []
    return found or sorted(p for p in folder.glob("*.json") if p.is_file())


def _resized(path: Path, size: int) -> tuple[np.ndarray, int, int]:
    """The image at ``path`` as uint8 ``(size, size, 1 or 3)`` and its original width and height."""
    image = read_image(path)
    mode = "L" if image.mode in _GREY_MODES else "RGB"
    return _as_array(image, mode, (size, size)), image.width, image.height


def _checked_box(box: Sequence[float], width: int, height: int, where: str, read: _Read) -> list[float]:
    """The box ``(x1, y1, x2, y2)`` clipped to the image, or one clear error: zero area, or more than a pixel outside."""
    x1, y1, x2, y2 = box
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise InvalidInputError(f"{where}: a box coordinate is not a finite number")
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        raise InvalidInputError(f"{where}: box of zero area ({x2 - x1:g} x {y2 - y1:g} px); remove it or give it a size")
    over = max(-x1, -y1, x2 - width, y2 - height)
    if over > CLIP_TOLERANCE_PX:
        raise InvalidInputError(
            f"{where}: box ({x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}) reaches {over:.1f} px outside the {width} x {height} "
            f"image; fix the label (up to {CLIP_TOLERANCE_PX:g} px is clipped)"
        )
    if over > 0:
        read.clipped += 1
        x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height))
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            raise InvalidInputError(f"{where}: box lies on the image edge (zero area once clipped); remove it")
    return [x1, y1, x2, y2]


def _add(read: _Read, image: np.ndarray, boxes: list[list[float]], labels: list[int], width: int, height: int, size: int) -> None:
    scale = np.array([size / width, size / height, size / width, size / height], dtype=np.float64)
    read.images.append(image)
    read.boxes.append((np.array(boxes, dtype=np.float64).reshape(-1, 4) * scale).astype(np.float32))
    read.labels.append(np.array(labels, dtype=np.int64))


# -- YOLO ---------------------------------------------------------------------------------------------
def _yolo_classes(folder: Path, root: Path) -> tuple[str, ...]:
    """Class names from ``classes.txt`` (one a line) or ``data.yaml`` (``names``), in the folder or at the root."""
    for base in dict.fromkeys((folder, root)):
        text_file, yaml_file = base / "classes.txt", base / "data.yaml"
        if text_file.is_file():
            names = [
                line.strip() for line in text_file.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()
            ]
            if not names:
                raise InvalidInputError(f"{text_file}: empty; write one class name a line (line 1 is class 0)")
            return _unique(names, text_file)
        if yaml_file.is_file():
            return _yaml_names(yaml_file)
    raise InvalidInputError(
        f"--data {folder}: YOLO labels need class names: add classes.txt (one a line) or data.yaml (names: [...])"
    )


def _yaml_names(path: Path) -> tuple[str, ...]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: not valid YAML ({str(exc).splitlines()[0][:120]})") from None
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):  # {0: a, 1: b}: the keys must be 0..n-1
        if sorted(names) != list(range(len(names))):
            raise InvalidInputError(f"{path}: names must be numbered 0 to {len(names) - 1}, got {sorted(names)}")
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, list) or not names or not all(isinstance(n, str | int) for n in names):
        raise InvalidInputError(f"{path}: expected 'names: [class0, class1, ...]' (a non-empty list)")
    return _unique([str(n) for n in names], path)


def _unique(names: list[str], path: Path) -> tuple[str, ...]:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInputError(f"{path}: class name(s) {', '.join(dupes)} appear twice; each class needs its own name")
    return tuple(names)


def _read_yolo(folder: Path, root: Path, size: int) -> tuple[tuple[str, ...], _Read]:
    classes = _yolo_classes(folder, root)
    image_dir, label_dir = folder / "images", folder / "labels"
    images = (
        {
            p.stem: p
            for p in sorted(image_dir.iterdir())
            if p.is_file() and p.suffix.lower() in EXTENSIONS and not p.name.startswith(".")
        }
        if image_dir.is_dir()
        else {}
    )
    labels = {p.stem: p for p in sorted(label_dir.glob("*.txt")) if p.is_file() and p.name != "classes.txt"}
    if not labels:
        raise MissingDataError(f"--data {folder}: labels/ holds no .txt label file (one per image: 'class cx cy w h' a line)")
    orphans = sorted(set(labels) - set(images))
    if orphans:
        raise InvalidInputError(
            f"{labels[orphans[0]]}: labels for a missing image (no {image_dir}/{orphans[0]}.png/.jpg; "
            f"{len(orphans)} label file(s) without an image)"
        )
    unlabelled = sorted(set(images) - set(labels))
    if unlabelled:
        raise InvalidInputError(
            f"{images[unlabelled[0]]}: no label file {label_dir}/{unlabelled[0]}.txt ({len(unlabelled)} image(s) without one); "
            "an image with no objects needs an empty .txt"
        )
    read = _Read()
    for stem, image_path in images.items():
        array, width, height = _resized(image_path, size)
        boxes, ids = _yolo_labels(labels[stem], classes, width, height, read)
        _add(read, array, boxes, ids, width, height, size)
    return classes, read


def _yolo_labels(
    path: Path, classes: tuple[str, ...], width: int, height: int, read: _Read
) -> tuple[list[list[float]], list[int]]:
    """The boxes (pixels of the original image) and class ids of one label file; empty: no object."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: not a text file (expected 'class cx cy w h' lines)") from None
    boxes, ids = [], []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path} line {number}"
        if len(fields) != 5:
            raise InvalidInputError(f"{where}: {len(fields)} values; expected 5 ('class cx cy w h'; polygons are not read)")
        try:
            class_id = int(fields[0])
            cx, cy, w, h = (float(v) for v in fields[1:])
        except ValueError:
            raise InvalidInputError(
                f"{where}: {line.strip()!r} is not 'class cx cy w h' (an integer, then four numbers)"
            ) from None
        if not 0 <= class_id < len(classes):
            raise InvalidInputError(f"{where}: class id {class_id} is unknown (the class list has ids 0 to {len(classes) - 1})")
        x1, y1 = (cx - w / 2) * width, (cy - h / 2) * height
        boxes.append(_checked_box((x1, y1, x1 + w * width, y1 + h * height), width, height, where, read))
        ids.append(class_id)
    return boxes, ids


# -- COCO ---------------------------------------------------------------------------------------------
def _read_coco(path: Path, folder: Path, size: int) -> tuple[tuple[str, ...], _Read]:
    doc = _coco_document(path)
    categories = doc["categories"]
    if not categories:
        raise InvalidInputError(f"{path}: 'categories' is empty; a detection task needs at least one class")
    cat_ids: dict[int, int] = {}
    names: list[str] = []
    for cat in sorted(categories, key=lambda c: c.get("id", 0) if isinstance(c, dict) else 0):
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) or not isinstance(cat.get("name"), str):
            raise InvalidInputError(f"{path}: every category needs an integer 'id' and a 'name', got {str(cat)[:80]}")
        if cat["id"] in cat_ids:
            raise InvalidInputError(f"{path}: category id {cat['id']} appears twice")
        cat_ids[cat["id"]] = len(names)
        names.append(cat["name"])
    classes = _unique(names, path)

    files: dict[int, tuple[Path, dict[str, Any]]] = {}
    missing: list[str] = []
    for entry in doc["images"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int) or not isinstance(entry.get("file_name"), str):
            raise InvalidInputError(f"{path}: every image needs an integer 'id' and a 'file_name', got {str(entry)[:80]}")
        if entry["id"] in files:
            raise InvalidInputError(f"{path}: image id {entry['id']} appears twice")
        found = next((p for p in _coco_candidates(entry["file_name"], path, folder) if p.is_file()), None)
        if found is None:
            missing.append(entry["file_name"])
        else:
            files[entry["id"]] = (found, entry)
    if missing:
        raise InvalidInputError(
            f"{path}: labels for missing images: {missing[0]} not found beside the JSON, in {folder} or {folder}/images "
            f"({len(missing)} of {len(doc['images'])} images missing)"
        )
    if not files:
        raise InvalidInputError(f"{path}: 'images' is empty; list the images and their annotations")

    per_image: dict[int, list[tuple[list[float], int, str]]] = {image_id: [] for image_id in files}
    read = _Read()
    for number, ann in enumerate(doc["annotations"]):
        ann_id = ann.get("id", number) if isinstance(ann, dict) else number
        where = f"{path} annotation {ann_id}"
        if not isinstance(ann, dict):
            raise InvalidInputError(f"{where}: expected an object with image_id, category_id and bbox")
        if ann.get("image_id") not in per_image:
            raise InvalidInputError(f"{where}: image_id {ann.get('image_id')!r} is not in 'images'")
        if ann.get("category_id") not in cat_ids:
            raise InvalidInputError(f"{where}: category_id {ann.get('category_id')!r} is unknown (categories: {sorted(cat_ids)})")
        bbox = ann.get("bbox")
        if (
            not isinstance(bbox, list)
            or len(bbox) != 4
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
        ):
            raise InvalidInputError(f"{where}: bbox must be [x, y, width, height] in pixels, got {str(bbox)[:60]}")
        if ann.get("iscrowd", 0):
            read.crowd += 1  # a crowd region marks a group, not one object: COCO's evaluation ignores it too
            continue
        x, y, w, h = (float(v) for v in bbox)
        per_image[ann["image_id"]].append(([x, y, x + w, y + h], cat_ids[ann["category_id"]], where))

    for image_id, (image_path, entry) in files.items():
        array, width, height = _resized(image_path, size)
        declared = (entry.get("width"), entry.get("height"))
        if None not in declared and declared != (width, height):
            raise InvalidInputError(
                f"{path}: image id {image_id} ({entry['file_name']}) is declared {declared[0]} x {declared[1]} "
                f"but the file is {width} x {height}; its boxes would land in the wrong place"
            )
        boxes = [_checked_box(box, width, height, where, read) for box, _, where in per_image[image_id]]
        _add(read, array, boxes, [c for _, c, _ in per_image[image_id]], width, height, size)
    return classes, read


def _coco_document(path: Path) -> dict[str, list[Any]]:
    raw = path.read_bytes()
    if not raw.strip():
        raise InvalidInputError(f"{path}: empty file; a COCO annotation file needs images, annotations and categories")
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{path}: expected a COCO object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise InvalidInputError(f"{path}: no '{key}' list; a COCO annotation file needs images, annotations and categories")
    return doc


def _coco_candidates(file_name: str, json_path: Path, folder: Path) -> list[Path]:
    """Where an image's ``file_name`` may be: beside the JSON, in the folder, or in its ``images/``."""
    name = Path(file_name)
    if name.is_absolute() or ".." in name.parts:
        return []  # a label file never reaches outside --data
    return [json_path.parent / name, folder / name, folder / "images" / name, folder / "images" / name.name]
