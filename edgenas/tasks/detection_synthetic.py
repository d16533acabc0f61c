"""Synthetic industrial-inspection scenes: machined parts with defects, drawn offline with NumPy.

Why a generator: a detection search needs data that exists on every machine without a download,
that looks like the problem (small defects on metal parts on a production line, under uneven
light) and whose labels are exact. Every scene is drawn from its own random stream (the seed and
the scene's number), so the data set is the same on every machine and any scene can be redrawn.

A scene is a background (fine noise texture, brushed-metal stripes, or a conveyor belt with its
slats), one to three parts (plates with rounded corners, discs, gears; each with a ring or corners
of bolt holes, metallic shading and a shadow), defects on the parts, and distractors that are not
defects and carry no box: screws, printed serial marks, dust specks, and the parts' own holes and
edges. Light varies per scene: a brightness gradient, vignetting, gamma, a colour cast and sensor
noise. The four defect classes:

- ``scratch``: a thin line, brighter or darker than the metal, at any angle;
- ``dent``: a small ellipse shaded dark on one side and bright on the other (a crater under a lamp);
- ``missing_hole``: a bolt hole absent from a part's regular pattern (the box is where it should be);
- ``stain``: a soft irregular blot, oil-dark or residue-light, semi-transparent.

Each box is the bounding box of the defect's drawn pixels (clipped to its part), so it is exact.
It is not a photograph: no real optics, reflections or sensor artefacts beyond noise, no motion
blur, and the shapes are simple; a model trained on it learns the task's structure, not a
factory's images.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgenas._rng import rng_for
from edgenas.errors import InvalidInputError
from edgenas.settings import cache_dir as cache_dir_setting
from edgenas.tasks.detection import DEFAULT_IMAGE_SIZE, HOLDOUT_FRACTION, SPLIT_NAMES, DetectionData, DetectionSplit
from edgenas.tasks.npz_cache import params_hash, read_cache, save_atomic

logger = logging.getLogger(__name__)

CLASSES = ("scratch", "dent", "missing_hole", "stain")
DEFAULT_IMAGES = 2000
_VERSION = 2  # bump when drawing changes, so old caches are not reused
#: Chance of 0, 1, 2, 3 and 4 defects in a scene (a tenth are defect-free: an inspection mostly passes).
_DEFECTS_PER_SCENE = (0.1, 0.3, 0.3, 0.2, 0.1)
_BACKGROUNDS = ("noise", "brushed", "conveyor")
_SHAPES = ("plate", "disc", "gear")
_MIN_BOX_PX = 2.0  # a defect box narrower than this (after clipping to its part) is drawn again elsewhere


def _params(seed: int, n_images: int, image_size: int) -> dict[str, object]:
    return {
        "version": _VERSION,
        "seed": seed,
        "n_images": n_images,
        "image_size": image_size,
        "classes": list(CLASSES),
        "defects_per_scene": list(_DEFECTS_PER_SCENE),
        "parts": [1, 3],
        "part_radius": [0.16, 0.3],  # of the image side
        "gamma": [0.7, 1.4],
        "noise_sigma": [0.005, 0.035],
    }


def load_synthetic_detection(
    cache_dir: Path | None = None, *, seed: int = 0, n_images: int = DEFAULT_IMAGES, image_size: int = DEFAULT_IMAGE_SIZE
) -> DetectionData:
    """The synthetic inspection scenes (module docstring), split 70/15/15 at random, cached as ``.npz``.

    The default 2,000 RGB scenes of 96 x 96 take a few seconds to draw; later calls read
    ``cache_dir/detection-synthetic-v2-<hash>.npz``.

    Example::

        >>> data = load_synthetic_detection(seed=0)
        >>> data.input_shape, data.classes
        ((3, 96, 96), ('scratch', 'dent', 'missing_hole', 'stain'))
    """
    for name, value, low in (("seed", seed, 0), ("n_images", n_images, 3), ("image_size", image_size, 32)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInputError(f"{name} must be an integer of at least {low}, got {value!r}")
    if image_size > 1024:
        raise InvalidInputError(f"image_size must be at most 1024 pixels, got {image_size}")
    params = _params(seed, n_images, image_size)
    folder = Path(cache_dir) if cache_dir is not None else cache_dir_setting()
    path = folder / f"detection-synthetic-v{_VERSION}-{params_hash(params)}.npz"

    def valid(a: dict[str, np.ndarray]) -> bool:
        m = a["labels"].shape[0]
        return (
            a["images"].shape == (n_images, image_size, image_size, 3)
            and a["images"].dtype == np.uint8
            and a["split"].shape == (n_images,)
            and a["boxes"].shape == (m, 4)
            and a["image_index"].shape == (m,)
            and bool(np.all(np.isfinite(a["boxes"])))
        )

    try:
        arrays = read_cache(path, params, valid) or _generate(params, path)
    except PermissionError as exc:
        raise InvalidInputError(f"cannot write the detection cache in {folder} ({exc}); set EDGENAS_CACHE") from exc
    whole = DetectionSplit(arrays["images"], arrays["boxes"], arrays["labels"], arrays["image_index"])
    splits = {name: whole.take(np.flatnonzero(arrays["split"] == i)) for i, name in enumerate(SPLIT_NAMES)}
    n = {name: len(s) for name, s in splits.items()}
    boxes = np.bincount(arrays["labels"], minlength=len(CLASSES))
    source = (
        f"Synthetic industrial-inspection scenes drawn offline (edgenas generator v{_VERSION}, seed {seed}): "
        f"{n_images} RGB images of {image_size}x{image_size}, 1-3 machined parts (plates, discs, gears with bolt holes) "
        "on noise, brushed-metal or conveyor-belt backgrounds under a light gradient, vignetting, gamma and sensor noise; "
        f"{int(boxes.sum())} defect boxes ({', '.join(f'{c} {int(k)}' for c, k in zip(CLASSES, boxes, strict=True))}), "
        "distractors unlabelled (screws, serial marks, dust); "
        f"split at random {n['train']}/{n['val']}/{n['test']} images for train/val/test."
    )
    return DetectionData.build("detection-synthetic", CLASSES, splits, source)


def _generate(params: dict[str, object], path: Path) -> dict[str, np.ndarray]:
    started = time.perf_counter()
    seed, n_images, size = int(params["seed"]), int(params["n_images"]), int(params["image_size"])  # type: ignore[call-overload]
    images = np.empty((n_images, size, size, 3), dtype=np.uint8)
    boxes: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    grid = _Grid.of(size)
    for i in range(n_images):
        images[i], scene_boxes, scene_labels = draw_scene(rng_for(seed, "detection-scene", i), grid)
        boxes.append(scene_boxes)
        labels.append(scene_labels)
    split_rng = rng_for(seed, "detection-split")
    split = np.zeros(n_images, dtype=np.int8)
    order = split_rng.permutation(n_images)
    n_hold = max(1, round(HOLDOUT_FRACTION * n_images))
    split[order[:n_hold]], split[order[n_hold : 2 * n_hold]] = 1, 2
    whole = DetectionSplit.from_objects(images, boxes, labels)
    arrays = {
        "images": images,
        "boxes": whole.boxes,
        "labels": whole.labels,
        "image_index": whole.image_index,
        "split": split,
        "params_json": np.asarray(json.dumps(params, sort_keys=True)),
        "generation_s": np.asarray(time.perf_counter() - started),
    }
    save_atomic(path, arrays)
    logger.info("drew %d synthetic inspection scenes in %.1f s -> %s", n_images, time.perf_counter() - started, path)
    return arrays


# -- drawing ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Grid:
    """Pixel-centre coordinates of a square image, computed once per data set."""

    size: int
    x: np.ndarray  # float32 (S, S)
    y: np.ndarray

    @classmethod
    def of(cls, size: int) -> _Grid:
        y, x = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)
        return cls(size, x, y)


@dataclass
class _Part:
    shape: str
    cx: float
    cy: float
    radius: float
    angle: float
    holes: list[tuple[float, float]]
    hole_radius: float
    missing: set[int]


def _soft(distance: np.ndarray) -> np.ndarray:
    """Coverage from a signed distance (negative inside): one pixel of anti-aliased edge."""
    return np.clip(0.5 - distance, 0.0, 1.0)


def _part_distance(part: _Part, grid: _Grid) -> np.ndarray:
    dx, dy = grid.x - part.cx, grid.y - part.cy
    if part.shape == "disc":
        return np.hypot(dx, dy) - part.radius
    if part.shape == "gear":
        teeth = 8 + int(part.radius) % 5
        theta = np.arctan2(dy, dx) + part.angle
        profile = part.radius * (0.9 + 0.1 * np.clip(3.0 * np.cos(teeth * theta), -1.0, 1.0))
        return np.hypot(dx, dy) - profile
    c, s = math.cos(part.angle), math.sin(part.angle)  # plate: a rotated rectangle with rounded corners
    u, v = np.abs(c * dx + s * dy), np.abs(-s * dx + c * dy)
    rounding = 0.2 * part.radius
    qx, qy = u - (part.radius - rounding), v - (0.7 * part.radius - rounding)
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - rounding


def _plan_part(rng: np.random.Generator, size: int, placed: list[_Part]) -> _Part | None:
    for _ in range(20):
        radius = float(rng.uniform(0.16, 0.3) * size)
        cx, cy = (float(v) for v in rng.uniform(radius * 0.8, size - radius * 0.8, 2))
        if all(math.hypot(cx - p.cx, cy - p.cy) > 0.85 * (radius + p.radius) for p in placed):
            break
    else:
        return None
    shape = str(rng.choice(_SHAPES))
    angle = float(rng.uniform(0, math.pi))
    c, s = math.cos(angle), math.sin(angle)
    if shape == "plate":  # four corner holes, in the plate's frame
        local = [(sx * 0.65 * radius, sy * 0.38 * radius) for sx in (-1, 1) for sy in (-1, 1)]
        holes = [(cx + c * u - s * v, cy + s * u + c * v) for u, v in local]
    else:  # a ring of bolt holes
        count = int(rng.integers(4, 7))
        ring = 0.55 * radius
        holes = [
            (cx + ring * math.cos(angle + 2 * math.pi * k / count), cy + ring * math.sin(angle + 2 * math.pi * k / count))
            for k in range(count)
        ]
    return _Part(shape, cx, cy, radius, angle, holes, max(2.0, 0.12 * radius), set())


def _background(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    size = grid.size
    kind = str(rng.choice(_BACKGROUNDS))
    coarse = rng.normal(0, 1, (7, 7)).astype(np.float32)
    low = _upsample(coarse, size)
    if kind == "noise":
        base = rng.uniform(0.25, 0.6)
        value = base + 0.06 * low + 0.03 * rng.normal(0, 1, (size, size)).astype(np.float32)
    elif kind == "brushed":
        base = rng.uniform(0.35, 0.7)
        theta = rng.uniform(0, math.pi)
        along = (grid.x * math.cos(theta) + grid.y * math.sin(theta)).astype(np.int64) + 2 * size
        streaks = np.convolve(rng.normal(0, 1, 5 * size), np.ones(3) / 3, mode="same").astype(np.float32)
        value = base + 0.05 * streaks[along] + 0.03 * low
    else:  # conveyor belt: dark rubber with slats across the direction of travel
        base = rng.uniform(0.1, 0.25)
        period = rng.uniform(8, 20) * size / 96
        coordinate = grid.y if rng.random() < 0.5 else grid.x
        slat = (np.mod(coordinate + rng.uniform(0, period), period) < 1.2).astype(np.float32)
        value = base - 0.06 * slat + 0.02 * low + 0.025 * rng.normal(0, 1, (size, size)).astype(np.float32)
    tint = rng.uniform(0.92, 1.08, 3).astype(np.float32)
    return np.asarray(value, dtype=np.float32)[:, :, None] * tint


def _upsample(coarse: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of a small grid of values to ``size x size`` (smooth low-frequency texture)."""
    n = coarse.shape[0]
    pos = np.linspace(0, n - 1, size, dtype=np.float32)
    i0 = np.minimum(pos.astype(np.int64), n - 2)
    f = pos - i0
    rows = coarse[i0] * (1 - f)[:, None] + coarse[i0 + 1] * f[:, None]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i0 + 1] * f[None, :]


def _paint(canvas: np.ndarray, alpha: np.ndarray, colour: np.ndarray | float) -> None:
    a = alpha[:, :, None]
    canvas *= 1 - a
    canvas += a * colour


def draw_scene(rng: np.random.Generator, grid: _Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene: uint8 ``(S, S, 3)`` RGB, its defect boxes ``(k, 4)`` (x1, y1, x2, y2 pixels) and classes ``(k,)``."""
    size = grid.size
    canvas = _background(rng, grid)
    parts: list[_Part] = []
    for _ in range(int(rng.integers(1, 4))):
        part = _plan_part(rng, size, parts)
        if part is not None:
            parts.append(part)
    n_defects = int(rng.choice(len(_DEFECTS_PER_SCENE), p=_DEFECTS_PER_SCENE))
    plan = [(int(rng.integers(len(CLASSES))), int(rng.integers(len(parts)))) for _ in range(n_defects)]
    boxes: list[list[float]] = []
    labels: list[int] = []
    for label, index in plan:  # a missing hole is decided before the part is drawn
        part = parts[index]
        free = [k for k in range(len(part.holes)) if k not in part.missing]
        if CLASSES[label] == "missing_hole" and len(free) > len(part.holes) // 2:
            k = int(rng.choice(free))
            part.missing.add(k)
            hx, hy = part.holes[k]
            r = part.hole_radius + 1.0
            hole = [max(hx - r, 0.0), max(hy - r, 0.0), min(hx + r, size), min(hy + r, size)]
            if hole[2] - hole[0] >= _MIN_BOX_PX and hole[3] - hole[1] >= _MIN_BOX_PX:  # a hole off the image is not seen
                boxes.append(hole)
                labels.append(label)

    surfaces = []
    for part in parts:
        surfaces.append(_draw_part(rng, canvas, part, grid))
    for label, index in plan:
        if CLASSES[label] == "missing_hole":
            continue
        box = _draw_defect(rng, canvas, CLASSES[label], parts[index], surfaces[index], grid)
        if box is not None:
            boxes.append(box)
            labels.append(label)
    _draw_distractors(rng, canvas, grid)
    image = _light(rng, canvas, grid)
    return image, np.array(boxes, dtype=np.float32).reshape(-1, 4), np.array(labels, dtype=np.int64)


def _draw_part(rng: np.random.Generator, canvas: np.ndarray, part: _Part, grid: _Grid) -> np.ndarray:
    """Draw the part (shadow, metal, holes) and return its solid surface: where defects may go."""
    distance = _part_distance(part, grid)
    shadow = _soft(_shifted(distance, 2))
    _paint(canvas, 0.35 * shadow, 0.0)
    body = _soft(distance)
    metal = rng.choice([(0.72, 0.73, 0.75), (0.78, 0.66, 0.38), (0.45, 0.52, 0.68), (0.6, 0.6, 0.58)])
    theta = rng.uniform(0, 2 * math.pi)
    shade = 0.85 + 0.25 * ((grid.x - part.cx) * math.cos(theta) + (grid.y - part.cy) * math.sin(theta)) / (2 * part.radius)
    rim = np.clip(1 + distance / 2.0, 0, 1) * 0.15  # a darker bevel along the edge
    colour = (np.asarray(metal, dtype=np.float32) * shade[:, :, None]) * (1 - rim[:, :, None])
    a = body[:, :, None]
    canvas *= 1 - a
    canvas += a * colour
    holes = np.zeros_like(distance)
    for k, (hx, hy) in enumerate(part.holes):
        hole_distance = np.hypot(grid.x - hx, grid.y - hy) - part.hole_radius
        if k in part.missing:
            continue
        holes = np.maximum(holes, _soft(hole_distance))
        _paint(canvas, _soft(hole_distance), 0.06)
    surface = body * (1 - holes)
    return np.asarray(surface * (distance < -1.5), dtype=np.float32)


def _shifted(distance: np.ndarray, pixels: int) -> np.ndarray:
    out = np.full_like(distance, 10.0)
    out[pixels:, pixels:] = distance[:-pixels, :-pixels]
    return out


def _draw_defect(
    rng: np.random.Generator, canvas: np.ndarray, kind: str, part: _Part, surface: np.ndarray, grid: _Grid
) -> list[float] | None:
    """Draw one defect on the part's surface; its box, or None when no room was found."""
    inside = np.flatnonzero(surface.ravel() > 0.99)
    if inside.size == 0:
        return None
    for _ in range(5):
        centre = int(rng.choice(inside))
        row, col = divmod(centre, grid.size)
        cx, cy = col + 0.5, row + 0.5
        dx, dy = grid.x - cx, grid.y - cy
        if kind == "scratch":
            length = rng.uniform(0.5, 1.1) * part.radius
            theta = rng.uniform(0, math.pi)
            ux, uy = math.cos(theta), math.sin(theta)
            t = np.clip(dx * ux + dy * uy, -length / 2, length / 2)
            alpha = _soft(np.hypot(dx - t * ux, dy - t * uy) - rng.uniform(0.6, 1.1)) * surface
            colour: np.ndarray | float = float(rng.choice([0.08, 0.95]))
            strength = rng.uniform(0.75, 0.95)
        elif kind == "dent":
            r = rng.uniform(max(3.0, 0.18 * part.radius), max(3.5, 0.32 * part.radius))
            squash, theta = rng.uniform(0.6, 1.0), rng.uniform(0, math.pi)
            u = (dx * math.cos(theta) + dy * math.sin(theta)) / r
            v = (-dx * math.sin(theta) + dy * math.cos(theta)) / (r * squash)
            distance = (np.hypot(u, v) - 1) * r
            alpha = _soft(distance) * surface
            light = rng.uniform(0, 2 * math.pi)
            slope = np.clip((dx * math.cos(light) + dy * math.sin(light)) / r, -1, 1)
            colour = np.clip(0.5 + 0.5 * slope, 0, 1)[:, :, None] * np.ones(3, np.float32)
            strength = rng.uniform(0.75, 0.95)
        else:  # stain: a few soft overlapping blots with a ragged edge
            r = rng.uniform(max(3.0, 0.22 * part.radius), max(3.5, 0.4 * part.radius))
            ragged = np.zeros_like(dx)
            for _ in range(int(rng.integers(2, 5))):
                ox, oy = rng.normal(0, 0.5 * r, 2)
                ragged = np.maximum(ragged, np.clip(1.2 - np.hypot(dx - ox, dy - oy) / r, 0, 1))
            alpha = np.clip(ragged * 2.0, 0, 1) * surface
            colour = np.asarray(rng.choice([(0.18, 0.13, 0.05), (0.25, 0.22, 0.2), (0.9, 0.88, 0.8)]), dtype=np.float32)
            strength = rng.uniform(0.6, 0.85)
        box = _box(alpha > 0.3)
        if box is not None and box[2] - box[0] >= _MIN_BOX_PX and box[3] - box[1] >= _MIN_BOX_PX:
            _paint(canvas, strength * alpha, colour)
            return box
    return None


def _box(mask: np.ndarray) -> list[float] | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


def _draw_distractors(rng: np.random.Generator, canvas: np.ndarray, grid: _Grid) -> None:
    """Things that are not defects: screws, printed serial marks, dust."""
    size = grid.size
    for _ in range(int(rng.integers(0, 3))):  # screws: a small disc with a slot
        cx, cy = rng.uniform(3, size - 3, 2)
        r = rng.uniform(1.6, 3.2) * size / 96
        dx, dy = grid.x - cx, grid.y - cy
        _paint(canvas, _soft(np.hypot(dx, dy) - r), float(rng.uniform(0.55, 0.8)))
        theta = rng.uniform(0, math.pi)
        slot = np.abs(-math.sin(theta) * dx + math.cos(theta) * dy) - 0.4
        _paint(canvas, _soft(np.maximum(slot, np.hypot(dx, dy) - 0.8 * r)), 0.1)
    if rng.random() < 0.5:  # a serial mark: a row of small printed blocks
        n, w, h = int(rng.integers(3, 7)), rng.uniform(1.0, 2.0), rng.uniform(1.5, 3.0)
        # at small sizes a long mark may not fit: it starts at the left edge and runs off the image
        x0, y0 = rng.uniform(2, max(2.0, size - n * 2.5 * w - 2)), rng.uniform(2, size - h - 2)
        for k in range(n):
            left = x0 + k * 2.5 * w
            block = np.maximum(np.maximum(left - grid.x, grid.x - left - w), np.maximum(y0 - grid.y, grid.y - y0 - h))
            _paint(canvas, 0.8 * _soft(block), 0.05)
    for _ in range(int(rng.integers(0, 6))):  # dust specks
        cx, cy = rng.uniform(0, size, 2)
        _paint(canvas, 0.6 * _soft(np.hypot(grid.x - cx, grid.y - cy) - 0.5), float(rng.uniform(0.0, 1.0)))


def _light(rng: np.random.Generator, canvas: np.ndarray, grid: _Grid) -> np.ndarray:
    """Uneven light and the sensor: gradient, vignetting, colour cast, gamma, noise, 8 bits."""
    size = grid.size
    theta = rng.uniform(0, 2 * math.pi)
    gradient = 1 + rng.uniform(0, 0.35) * ((grid.x - size / 2) * math.cos(theta) + (grid.y - size / 2) * math.sin(theta)) / size
    r2 = ((grid.x - size / 2) ** 2 + (grid.y - size / 2) ** 2) / (size / 2) ** 2
    vignette = 1 - rng.uniform(0, 0.3) * r2
    gain = rng.uniform(0.75, 1.25) * gradient * vignette
    lit = canvas * gain[:, :, None] * rng.uniform(0.94, 1.06, 3).astype(np.float32)
    lit = np.clip(lit, 0, 1) ** rng.uniform(0.7, 1.4)
    lit += rng.uniform(0.005, 0.035) * rng.normal(0, 1, lit.shape).astype(np.float32)
    return np.asarray(np.clip(lit * 255 + 0.5, 0, 255), dtype=np.uint8)
