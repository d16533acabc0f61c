"""Your own images: a folder with one sub-folder of images per class (the ImageFolder layout).

::

    DIR/cat/0001.png  DIR/cat/0002.jpg  ...  DIR/dog/0001.png  ...

Every image is brought to one size and one colour mode so that a network sees one input shape:
the most common size among the images (or ``image_size``), and grey (``L``) when every image is
grey, else RGB. Images that had to be resized or converted are counted and the task says so in
one line (logged as a warning and kept in ``TaskData.source``). The split is class-stratified with
a fixed seed (80/10/10 by default), and inputs are standardised per channel with statistics of the
training split only, as for Fashion-MNIST.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgenas._rng import rng_for
from edgenas.errors import InvalidInputError, MissingDataError
from edgenas.tasks.base import Split, TaskData
from edgenas.tasks.fashion_mnist import normalise_images

if TYPE_CHECKING:
    from PIL.Image import Image as PilImage

log = logging.getLogger(__name__)

#: Largest image read (pixels, width x height): 4096 x 4096. The size is a header field, and a 48 KB PNG
#: can declare 20000 x 20000 pixels (a decompression bomb), so it is checked before the pixels are decoded.
MAX_IMAGE_PIXELS = 4096 * 4096
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


class EmptyClassError(MissingDataError):
    """A class folder holds no image (so the class could never be learned or scored)."""


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS and not p.name.startswith("."))


def load_image_folder(
    data_dir: Path,
    *,
    seed: int = 0,
    image_size: tuple[int, int] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> TaskData:
    """Read ``data_dir`` (one sub-folder of images per class) into a task.

    Args:
        data_dir: The folder; class names are its sub-folder names, in sorted order.
        seed: Seed of the class-stratified split.
        image_size: ``(height, width)`` to resize to; default the most common size in the folder.
        val_fraction: Share of each class held out for validation.
        test_fraction: Share of each class held out for test.

    Raises:
        MissingDataError: ``data_dir`` is not a folder, or has no class sub-folders.
        EmptyClassError: a class folder has no image.
        InvalidInputError: an image cannot be read, or fewer than two classes.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise MissingDataError(f"--data {root}: not a folder (expected one sub-folder of images per class)")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise MissingDataError(f"--data {root}: no class sub-folders (expected {root}/<class>/<image>.png)")
    files: dict[str, list[Path]] = {d.name: _image_files(d) for d in class_dirs}
    empty = [name for name, found in files.items() if not found]
    if empty:
        raise EmptyClassError(
            f"--data {root}: class folder(s) {', '.join(empty)} hold no image ({'/'.join(EXTENSIONS)}); add images or remove them"
        )
    if len(files) < 2:
        raise InvalidInputError(f"--data {root}: only one class ({class_dirs[0].name}); a classifier needs at least two")
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise InvalidInputError(f"val_fraction {val_fraction} and test_fraction {test_fraction} must leave images to train on")

    images: list[PilImage] = []
    labels: list[int] = []
    for label, paths in enumerate(files.values()):
        for path in paths:
            images.append(read_image(path))
            labels.append(label)

    sizes = Counter((im.height, im.width) for im in images)
    if image_size is None:
        # Most common size; ties go to the larger image, so no class loses detail by a coin toss.
        image_size = max(sizes, key=lambda hw: (sizes[hw], hw[0] * hw[1], hw))
    height, width = image_size
    mode = "L" if all(im.mode in _GREY_MODES for im in images) else "RGB"
    resized = sum(1 for im in images if (im.height, im.width) != (height, width))
    converted = sum(1 for im in images if im.mode != mode)
    pixels = np.stack([_as_array(im, mode, (width, height)) for im in images])  # (N, H, W, C)
    pixels = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))  # (N, C, H, W)
    y = np.array(labels, dtype=np.int64)

    split_of = _stratified_split(y, val_fraction, test_fraction, rng_for(seed, "image-folder"))
    raw = {name: pixels[split_of == i] for i, name in enumerate(("train", "val", "test"))}
    x, mean, std = normalise_images(raw)
    note = (
        f"{len(images)} images in {len(files)} classes; brought to {height}x{width} {mode}: "
        f"{resized} resized, {converted} converted"
    )
    if resized or converted:
        log.warning("--data %s: mixed image sizes or channels: %s", root, note)
    return TaskData(
        name="images",
        classes=tuple(files),
        train=Split(x["train"], y[split_of == 0]),
        val=Split(x["val"], y[split_of == 1]),
        test=Split(x["test"], y[split_of == 2]),
        input_shape=(pixels.shape[1], height, width),
        feature_mean=mean,
        feature_std=std,
        source=f"image folder {root}: {note}; split class-stratified (seed {seed})",
    )


def read_image(path: Path) -> PilImage:
    """One image file, decoded, or one clear error: unreadable, not an image, or larger than
    :data:`MAX_IMAGE_PIXELS` (checked on the header, before the pixels are decompressed)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
            if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
                raise InvalidInputError(
                    f"{path}: {width} x {height} pixels; edgenas reads images of 1 to {MAX_IMAGE_PIXELS:,} pixels "
                    "(a damaged file, a decompression bomb, or resize it)"
                )
            im.load()
            return im.copy()
    except Image.DecompressionBombError:  # Pillow's own bound, met before ours when the header is absurd
        raise InvalidInputError(f"{path}: declares more pixels than any image edgenas reads (a decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:  # Pillow's plugins raise all of these
        raise InvalidInputError(f"{path}: not a readable image ({str(exc)[:160]})") from None


def _as_array(image: PilImage, mode: str, size: tuple[int, int]) -> np.ndarray:
    """One image as uint8 ``(H, W, C)`` in ``mode`` at ``size`` (width, height)."""
    from PIL import Image

    if image.mode in ("I", "I;16", "F"):  # 16-bit or float grey: scale into 8 bits, not clip
        values = np.asarray(image, dtype=np.float64)
        span = max(float(values.max() - values.min()), 1e-12)
        image = Image.fromarray(((values - values.min()) / span * 255).astype(np.uint8), "L")
    if image.mode != mode:
        image = image.convert(mode)
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    out = np.asarray(image, dtype=np.uint8)
    return out[:, :, None] if out.ndim == 2 else out


def _stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """0 (train), 1 (val) or 2 (test) per example; each class keeps at least one training image,
    and gives one to validation and test as soon as it has three."""
    split = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        n = len(members)
        n_val = max(1, round(val_fraction * n)) if n >= 3 and val_fraction > 0 else 0
        n_test = max(1, round(test_fraction * n)) if n >= 3 and test_fraction > 0 else 0
        split[members[:n_val]] = 1
        split[members[n_val : n_val + n_test]] = 2
    return split
