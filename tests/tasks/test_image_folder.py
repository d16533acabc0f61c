"""A folder of images, one sub-folder per class: mixed sizes and modes, bad folders, the CLI."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgenas.errors import InvalidInputError, MissingDataError
from edgenas.tasks import TASKS
from edgenas.tasks.image_folder import EmptyClassError, load_image_folder


def _png(path: Path, size: tuple[int, int], mode: str, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    width, height = size
    grey = mode == "L"
    shape = (height, width) if grey else (height, width, 3)
    pixels = np.clip(value + rng.integers(-20, 20, shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels, "L" if grey else "RGB").convert(mode).save(path)


def _folder(root: Path, modes=("L",), sizes=((16, 12),), per_class: int = 5) -> Path:
    for c, name in enumerate(("circle", "square", "triangle")):
        for i in range(per_class):
            _png(root / name / f"{i}.png", sizes[i % len(sizes)], modes[i % len(modes)], 40 + 80 * c)
    return root


def test_grey_images_of_one_size_need_no_conversion(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        data = load_image_folder(_folder(tmp_path))
    assert data.classes == ("circle", "square", "triangle") and data.input_shape == (1, 12, 16)
    assert data.train.x.shape[1:] == (1, 12, 16) and data.train.x.dtype == np.float32
    assert (len(data.train), len(data.val), len(data.test)) == (9, 3, 3)  # 5 per class: 3/1/1
    assert "0 resized, 0 converted" in data.source and not caplog.records
    assert data.train.x[data.train.y == 0].mean() < data.train.x[data.train.y == 2].mean()


def test_mixed_sizes_and_modes_are_resized_converted_and_counted(tmp_path: Path, caplog) -> None:
    root = _folder(tmp_path, modes=("L", "RGB", "RGBA", "P"), sizes=((16, 12), (16, 12), (32, 20)), per_class=6)
    with caplog.at_level(logging.WARNING):
        data = load_image_folder(root)
    # 18 images; size (16x12) is the most common (12 of 18); colour present -> RGB.
    assert data.input_shape == (3, 12, 16)
    assert "18 images in 3 classes" in data.source and "6 resized" in data.source and "converted" in data.source
    assert any("mixed image sizes or channels" in r.getMessage() for r in caplog.records)
    again = load_image_folder(root)
    assert np.array_equal(again.train.x, data.train.x)  # deterministic split and conversion
    assert load_image_folder(root, image_size=(8, 8)).input_shape == (3, 8, 8)


def test_empty_class_and_bad_folders_are_clear_errors(tmp_path: Path) -> None:
    root = _folder(tmp_path / "a")
    (root / "empty").mkdir()
    (root / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(EmptyClassError, match="empty"):
        load_image_folder(root)
    with pytest.raises(MissingDataError, match="no class sub-folders"):
        load_image_folder(tmp_path / "a" / "circle")
    with pytest.raises(MissingDataError, match="not a folder"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="needs --data"):
        TASKS.create("images", data_dir=None)
    bad = _folder(tmp_path / "b")
    (bad / "circle" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InvalidInputError, match="not a readable image"):
        load_image_folder(bad)


def test_cli_empty_class_exits_2_with_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = _folder(tmp_path / "imgs")
    (root / "empty").mkdir()
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "edgenas.cli", "search", "--task", "images", "--data", str(root), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        cwd=repo,
        env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "hold no image" in proc.stderr and "Traceback" not in proc.stderr
