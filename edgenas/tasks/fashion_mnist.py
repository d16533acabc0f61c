"""Fashion-MNIST (Xiao et al. 2017): 10 classes of 28 x 28 grey clothing images, read offline.

The files come from the Debian package ``dataset-fashion-mnist`` (gzip IDX files under
``/usr/share/datasets/fashion-mnist/``; ``make setup`` installs it), so nothing is downloaded.
The official 10,000-image test set is the test split; a fixed-seed, class-stratified carve-out
of the 60,000 training images is the validation split (test images never steer a search).

Inputs are ``float32`` tensors ``(N, 1, 28, 28)``: pixels scaled to [0, 1], then standardised
with the mean and standard deviation of the training split only. Optional subset sizes (drawn
class-stratified with the same seed) make a search on two CPU cores affordable.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from edgenas._rng import rng_for
from edgenas.errors import InvalidInputError, MissingDataError
from edgenas.tasks.base import Split, TaskData, stratified_pick

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
#: Most (uncompressed) bytes one IDX file may hold: four times the training images of Fashion-MNIST.
MAX_IDX_BYTES = 200 * 1024 * 1024
_IMAGES_MAGIC = 2051  # IDX: unsigned bytes, 3 dimensions
_LABELS_MAGIC = 2049  # IDX: unsigned bytes, 1 dimension


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip or plain) of unsigned bytes: images ``(N, rows, cols)`` or labels ``(N,)``."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read(MAX_IDX_BYTES + 1)  # bounded: a few KB of gzip can inflate to gigabytes
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidInputError(f"{path}: not a readable IDX file ({exc})") from None
    if len(raw) > MAX_IDX_BYTES:
        raise InvalidInputError(f"{path}: more than {MAX_IDX_BYTES:,} B of data; Fashion-MNIST's largest file holds 47 MB")
    if len(raw) < 8:
        raise InvalidInputError(f"{path}: too short to be an IDX file")
    magic, n = struct.unpack(">II", raw[:8])
    shape: tuple[int, ...]
    if magic == _IMAGES_MAGIC:
        if len(raw) < 16:
            raise InvalidInputError(f"{path}: too short to be an IDX image file")
        rows, cols = struct.unpack(">II", raw[8:16])
        shape, offset = (n, rows, cols), 16
    elif magic == _LABELS_MAGIC:
        shape, offset = (n,), 8
    else:
        raise InvalidInputError(f"{path}: IDX magic number {magic} is neither images ({_IMAGES_MAGIC}) nor labels")
    count = math.prod(shape)  # Python integers: a crafted header cannot overflow it
    if len(raw) - offset != count:
        raise InvalidInputError(f"{path}: header says {count} bytes of data, file holds {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def load_fashion_mnist(
    data_dir: Path | None = None,
    *,
    seed: int = 0,
    val_size: int = 5000,
    train_size: int | None = None,
    test_size: int | None = None,
) -> TaskData:
    """The Fashion-MNIST task.

    Args:
        data_dir: Folder of the four IDX files; default the Debian package's folder.
        seed: Seed of the validation carve-out and of the subsets.
        val_size: Training images held out for validation (class-stratified).
        train_size: Keep only this many of the remaining training images (None: all 55,000).
        test_size: Keep only this many test images (None: all 10,000).

    Example::

        >>> data = load_fashion_mnist(train_size=5000, test_size=2000)
        >>> data.train.x.shape
        (5000, 1, 28, 28)
    """
    folder = Path(data_dir) if data_dir is not None else DEFAULT_DIR
    missing = [name for name in FILES.values() if not (folder / name).is_file()]
    if missing:
        raise MissingDataError(
            f"Fashion-MNIST files not found in {folder} (missing {', '.join(missing)}): install the Debian package "
            "(apt-get install dataset-fashion-mnist, done by `make setup`) or pass --data with a folder holding them"
        )
    for name, value in (("val_size", val_size), ("train_size", train_size), ("test_size", test_size)):
        if value is not None and value < 1:
            raise InvalidInputError(f"{name} must be a positive number of images, got {value}")
    arrays = {key: read_idx(folder / name) for key, name in FILES.items()}
    for split in ("train", "test"):
        if arrays[f"{split}_images"].shape[1:] != (28, 28) or arrays[f"{split}_images"].ndim != 3:
            raise InvalidInputError(f"{folder / FILES[f'{split}_images']}: expected 28 x 28 images (Fashion-MNIST)")
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise InvalidInputError(f"{folder}: {split} images and labels differ in number")
    if val_size >= len(arrays["train_labels"]):
        raise InvalidInputError(f"val_size {val_size} leaves no training images (there are {len(arrays['train_labels'])})")

    y_all = arrays["train_labels"].astype(np.int64)
    val_idx = stratified_pick(y_all, val_size, rng_for(seed, "fashion-mnist", "val"))
    train_idx = np.setdiff1d(np.arange(len(y_all)), val_idx)
    if train_size is not None:
        train_idx = train_idx[stratified_pick(y_all[train_idx], train_size, rng_for(seed, "fashion-mnist", "train"))]
    y_test = arrays["test_labels"].astype(np.int64)
    test_idx = np.arange(len(y_test))
    if test_size is not None:
        test_idx = stratified_pick(y_test, test_size, rng_for(seed, "fashion-mnist", "test"))

    pixels = {
        "train": arrays["train_images"][train_idx],
        "val": arrays["train_images"][val_idx],
        "test": arrays["test_images"][test_idx],
    }
    labels = {"train": y_all[train_idx], "val": y_all[val_idx], "test": y_test[test_idx]}
    x, mean, std = normalise_images({k: v[:, None] for k, v in pixels.items()})
    subset = "" if train_size is None and test_size is None else f"; subsets: train {train_size}, test {test_size}"
    return TaskData(
        name="fashion-mnist",
        classes=CLASSES,
        train=Split(x["train"], labels["train"]),
        val=Split(x["val"], labels["val"]),
        test=Split(x["test"], labels["test"]),
        input_shape=(1, 28, 28),
        feature_mean=mean,
        feature_std=std,
        source=(
            f"Fashion-MNIST from {folder} (IDX files of the Debian package dataset-fashion-mnist, MIT); "
            f"validation: {val_size} training images held out (class-stratified, seed {seed}); "
            f"test: the official test set{subset}"
        ),
    )


def normalise_images(
    raw: dict[str, np.ndarray], *, std_floor: float = 1e-6
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Scale uint8 ``(N, C, H, W)`` images to [0, 1], then standardise per channel with training statistics.

    Why training only: statistics of validation or test images would leak into the inputs.
    Returns the float32 splits and the per-channel mean and standard deviation (of the [0, 1] pixels).
    """
    train = raw["train"]
    if train.shape[0] == 0:
        raise InvalidInputError("the training split is empty, so images cannot be normalised; add more images")
    # Exact integer sums of x and x^2 per channel: fast, and no float round-off on 43 M pixels.
    count = train.shape[0] * train.shape[2] * train.shape[3]
    sums = train.sum(axis=(0, 2, 3), dtype=np.int64).astype(np.float64)
    squares = np.einsum("nchw,nchw->c", train, train, dtype=np.int64).astype(np.float64)
    mean = sums / count / 255.0
    std = np.maximum(np.sqrt(np.maximum(squares / count / 255.0**2 - mean**2, 0.0)), std_floor)
    scale = (1.0 / (255.0 * std)).astype(np.float32).reshape(1, -1, 1, 1)
    shift = (mean / std).astype(np.float32).reshape(1, -1, 1, 1)
    out = {k: v.astype(np.float32) * scale - shift for k, v in raw.items()}
    return out, mean.astype(np.float32), std.astype(np.float32)
