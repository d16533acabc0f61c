"""Fashion-MNIST from the Debian package: shapes, splits, normalisation, determinism, bad files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from edgenas.errors import InvalidInputError, MissingDataError
from edgenas.tasks import TASKS
from edgenas.tasks.fashion_mnist import CLASSES, DEFAULT_DIR, FILES, load_fashion_mnist, read_idx, stratified_pick


@pytest.fixture(scope="module")
def small():
    if not all((DEFAULT_DIR / name).is_file() for name in FILES.values()):
        pytest.skip(f"Fashion-MNIST not installed at {DEFAULT_DIR} (apt-get install dataset-fashion-mnist)")
    return load_fashion_mnist(seed=0, val_size=1000, train_size=2000, test_size=500)


def test_shapes_classes_and_stratified_subsets(small) -> None:
    assert small.classes == CLASSES and small.input_shape == (1, 28, 28)
    for split, n in ((small.train, 2000), (small.val, 1000), (small.test, 500)):
        assert split.x.shape == (n, 1, 28, 28) and split.x.dtype == np.float32 and split.y.dtype == np.int64
        assert set(np.bincount(split.y, minlength=10).tolist()) == {n // 10}  # the official sets are balanced
    # Standardised with training statistics: the training split has mean 0 and std 1 (up to subsetting).
    assert abs(float(small.train.x.mean())) < 0.05 and abs(float(small.train.x.std()) - 1) < 0.05
    raw = small.train.x * small.feature_std[0] + small.feature_mean[0]  # back to [0, 1] pixels
    assert raw.min() > -1e-5 and raw.max() < 1 + 1e-5
    assert "dataset-fashion-mnist" in small.source


def test_same_seed_same_data_other_seed_other_validation(small) -> None:
    again = load_fashion_mnist(seed=0, val_size=1000, train_size=2000, test_size=500)
    assert np.array_equal(again.val.x, small.val.x) and np.array_equal(again.train.y, small.train.y)
    other = load_fashion_mnist(seed=1, val_size=1000, train_size=2000, test_size=500)
    assert not np.array_equal(other.val.x, small.val.x)


def test_validation_is_carved_from_train_and_test_is_official() -> None:
    if not (DEFAULT_DIR / FILES["test_images"]).is_file():
        pytest.skip(f"Fashion-MNIST not installed at {DEFAULT_DIR}")
    data = TASKS.create("fashion-mnist", data_dir=None, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (55000, 5000, 10000)
    test_pixels = read_idx(DEFAULT_DIR / FILES["test_images"])
    recovered = np.rint((data.test.x[:, 0] * data.feature_std[0] + data.feature_mean[0]) * 255)
    assert np.array_equal(recovered.astype(np.uint8), test_pixels)


def _write_idx(path: Path, array: np.ndarray) -> None:
    magic = 2051 if array.ndim == 3 else 2049
    header = struct.pack(">II", magic, array.shape[0]) + b"".join(struct.pack(">I", d) for d in array.shape[1:])
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_a_folder_of_idx_files_and_its_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("test", 20)):
        _write_idx(tmp_path / FILES[f"{split}_images"], rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / FILES[f"{split}_labels"], np.arange(n) % 10)
    data = load_fashion_mnist(tmp_path, val_size=10)
    assert (len(data.train), len(data.val), len(data.test)) == (50, 10, 20)
    assert np.bincount(data.val.y).tolist() == [1] * 10
    with pytest.raises(InvalidInputError, match="leaves no training"):
        load_fashion_mnist(tmp_path, val_size=60)
    (tmp_path / FILES["test_labels"]).write_bytes(b"not gzip")
    with pytest.raises(InvalidInputError, match="IDX"):
        load_fashion_mnist(tmp_path, val_size=10)
    with pytest.raises(MissingDataError, match="dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path / "nowhere")


def test_stratified_pick_keeps_proportions() -> None:
    y = np.repeat([0, 1, 2], [600, 300, 100])
    picked = stratified_pick(y, 100, np.random.default_rng(0))
    assert len(set(picked.tolist())) == 100 and np.bincount(y[picked]).tolist() == [60, 30, 10]
