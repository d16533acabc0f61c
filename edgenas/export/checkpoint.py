"""``best/model.pt``: a trained network as its genotype plus weights, never a pickled class.

Loading rebuilds the module from the registered space and the stored genotype, then loads the
state dict with ``torch.load(weights_only=True)``, so a checkpoint cannot run code and survives
refactors of the module classes. The feature standardisation travels with it, because the
model is wrong without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.spaces import SPACES, SearchSpace

FORMAT = "edgenas-checkpoint-v1"
#: The keys ``save_checkpoint`` writes, no more and no fewer.
_KEYS = ("format", "arch", "space_params", "classes", "feature_mean", "feature_std", "state_dict")
#: A checkpoint of a network for a microcontroller is kilobytes to megabytes; anything beyond this is not one.
MAX_CHECKPOINT_BYTES = 1 << 30
#: Longest list (genes, class names, feature statistics) and largest number (a space parameter) a checkpoint may hold.
_MAX_ITEMS = 100_000
_MAX_PARAM = 65_536


@dataclass(frozen=True)
class Checkpoint:
    module: nn.Module
    arch: Arch
    space: SearchSpace  # the space the genotype indexes (rebuilt from the stored constructor arguments)
    classes: tuple[str, ...]
    feature_mean: np.ndarray
    feature_std: np.ndarray


def save_checkpoint(path: Path, module: nn.Module, arch: Arch, space_params: dict, classes, feature_mean, feature_std) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": FORMAT,
            "arch": arch.to_dict(),
            "space_params": dict(space_params),
            "classes": list(classes),
            "feature_mean": [float(v) for v in feature_mean],
            "feature_std": [float(v) for v in feature_std],
            "state_dict": module.state_dict(),
        },
        path,
    )
    return path


def load_checkpoint(path: Path) -> Checkpoint:
    """Rebuild the trained network saved by ``save_checkpoint`` (eval mode).

    The file is data from elsewhere: every field is checked before it is used, and the network is
    first built on PyTorch's ``meta`` device (no memory) and compared with the stored tensors, so a
    crafted file cannot make edgenas allocate more than the weights it actually holds.
    """
    path = Path(path)
    data = _read(path)
    try:
        return _rebuild(data)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}: damaged edgenas checkpoint: {exc}") from None


def _read(path: Path) -> dict[str, Any]:
    """The checkpoint's top-level record, with exactly the keys ``save_checkpoint`` writes."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read the checkpoint ({exc.strerror or exc})") from None
    if size > MAX_CHECKPOINT_BYTES:
        raise InvalidInputError(
            f"{path} is {size:,} B; an edgenas checkpoint is at most {MAX_CHECKPOINT_BYTES:,} B: pass best/model.pt of a run"
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, OSError... for foreign files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"{path} is not a readable edgenas checkpoint ({first[:160]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInputError(f"{path} is not an edgenas checkpoint ({FORMAT})")
    missing = [key for key in _KEYS if key not in data]
    extra = sorted(str(key)[:40] for key in data if key not in _KEYS)
    if missing or extra:
        what = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(extra[:5])}" if extra else "",
            )
            if part
        )
        raise InvalidInputError(f"{path}: damaged edgenas checkpoint ({what}); export it again from its run folder")
    return data


def _rebuild(data: dict[str, Any]) -> Checkpoint:
    arch_data, params, state = data["arch"], data["space_params"], data["state_dict"]
    if not isinstance(arch_data, dict) or not isinstance(arch_data.get("space"), str):
        raise InvalidInputError("'arch' must name its space and list its genes")
    genes = arch_data.get("genes")
    if not isinstance(genes, list) or not genes or len(genes) > _MAX_ITEMS or not all(_is_int(g) for g in genes):
        raise InvalidInputError(f"'arch.genes' must be a non-empty list of at most {_MAX_ITEMS:,} integers")
    if not isinstance(params, dict) or not all(isinstance(k, str) and _plain(v) for k, v in params.items()):
        raise InvalidInputError(f"'space_params' must map names to numbers (at most {_MAX_PARAM:,}), strings or short lists")
    classes = _strings(data["classes"], "classes")
    mean, std = _vector(data["feature_mean"], "feature_mean"), _vector(data["feature_std"], "feature_std")
    if mean.shape != std.shape:
        raise InvalidInputError(f"'feature_mean' has {mean.size} values, 'feature_std' {std.size}")
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise InvalidInputError("'state_dict' must map parameter names to tensors")
    space = _space(arch_data["space"], params)
    try:
        arch = space.arch(tuple(int(g) for g in genes))
    except InvalidInputError as exc:
        raise InvalidInputError(f"'arch.genes' do not fit space {arch_data['space']!r} ({exc})") from None
    if arch.genes != tuple(genes):
        raise InvalidInputError(f"'arch.genes' are not a normalised genotype of space {arch.space!r}")
    num_classes = getattr(space, "num_classes", None)
    if isinstance(num_classes, int) and num_classes != len(classes):
        raise InvalidInputError(f"{len(classes)} class names for a network of {num_classes} outputs")
    module = _build(space, arch, state)
    return Checkpoint(module=module.eval(), arch=arch, space=space, classes=classes, feature_mean=mean, feature_std=std)


def _space(name: str, params: dict[str, Any]) -> SearchSpace:
    if name not in SPACES:
        raise InvalidInputError(f"unknown space {name[:40]!r} (edgenas has {', '.join(SPACES.names())})")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    try:
        return SPACES.create(name, **kwargs)
    except Exception as exc:  # TypeError for an unknown parameter, ValueError/InvalidInputError for a bad value
        raise InvalidInputError(f"'space_params' do not make a {name} space ({_first_line(exc)})") from None


def _build(space: SearchSpace, arch: Arch, state: dict[str, torch.Tensor]) -> nn.Module:
    """The network with the stored weights; its shapes are checked on the meta device first."""
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in space.build(arch).state_dict().items()}
    except Exception as exc:  # a space whose parameters cannot build this genotype
        raise InvalidInputError(f"space {arch.space!r} cannot build the stored genotype ({_first_line(exc)})") from None
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise InvalidInputError(
            f"'state_dict' does not match the genotype: {len(missing)} tensor(s) missing"
            + (f" (e.g. {missing[0][:60]})" if missing else "")
            + f", {len(unexpected)} unexpected"
            + (f" (e.g. {unexpected[0][:60]})" if unexpected else "")
        )
    wrong = [k for k, shape in expected.items() if tuple(state[k].shape) != shape]
    if wrong:
        k = wrong[0]
        raise InvalidInputError(
            f"'state_dict' tensor {k[:60]} is shaped {tuple(state[k].shape)}, the genotype needs {expected[k]}"
            + (f" ({len(wrong) - 1} more differ)" if len(wrong) > 1 else "")
        )
    module = space.build(arch)  # as large as the stored tensors, which are already in memory
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"'state_dict' cannot be loaded ({_first_line(exc)})") from None
    return module


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(value: Any, depth: int = 0) -> bool:
    """A space constructor argument as ``save_checkpoint`` stores them: bounded numbers, short
    strings, booleans, None, and short lists of those."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) <= _MAX_PARAM
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= _MAX_PARAM
    if isinstance(value, str):
        return len(value) <= 200
    if isinstance(value, list | tuple):
        return depth == 0 and len(value) <= 64 and all(_plain(v, depth + 1) for v in value)
    return False


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or len(value) > _MAX_ITEMS or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(f"'{key}' must be a non-empty list of at most {_MAX_ITEMS:,} names")
    return tuple(value)


def _vector(value: Any, key: str) -> np.ndarray:
    ok = isinstance(value, list) and 0 < len(value) <= _MAX_ITEMS and all(isinstance(v, int | float) for v in value)
    out = np.asarray(value if ok else [], dtype=np.float32)
    if not ok or not np.all(np.isfinite(out)):
        raise InvalidInputError(f"'{key}' must be a non-empty list of at most {_MAX_ITEMS:,} finite numbers")
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]
