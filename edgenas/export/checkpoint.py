"""``best/model.pt``: a trained network as its genotype plus weights, never a pickled class.

Loading rebuilds the module from the registered space and the stored genotype, then loads the
state dict with ``torch.load(weights_only=True)``, so a checkpoint cannot run code and survives
refactors of the module classes. The feature standardisation travels with it, because the
model is wrong without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.spaces import SPACES, SearchSpace

FORMAT = "edgenas-checkpoint-v1"


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
    """Rebuild the trained network saved by ``save_checkpoint`` (eval mode)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for foreign files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"{path} is not a readable edgenas checkpoint ({first})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInputError(f"{path} is not an edgenas checkpoint ({FORMAT})")
    arch = Arch.from_dict(data["arch"])
    space = SPACES.create(arch.space, **{k: tuple(v) if isinstance(v, list) else v for k, v in data["space_params"].items()})
    module = space.build(arch)
    module.load_state_dict(data["state_dict"])
    return Checkpoint(
        module=module.eval(),
        arch=arch,
        space=space,
        classes=tuple(data["classes"]),
        feature_mean=np.asarray(data["feature_mean"], dtype=np.float32),
        feature_std=np.asarray(data["feature_std"], dtype=np.float32),
    )
