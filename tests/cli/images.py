"""A tiny image-folder task for CLI tests: three grey classes told apart by brightness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def grey_classes(root: Path, size: int = 10, per_class: int = 8) -> Path:
    """``root/{dark,mid,light}/<i>.png``: ``size`` x ``size`` grey images, ``per_class`` per class (seeded)."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("dark", "mid", "light")):
        for i in range(per_class):
            pixels = np.clip(40 + 80 * c + rng.integers(-30, 30, (size, size)), 0, 255).astype(np.uint8)
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels, "L").save(root / name / f"{i}.png")
    return root
