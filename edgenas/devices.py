"""Which torch device trains: ``--device auto|cpu|cuda|cuda:N|mps``.

``auto`` takes a GPU when the process has one (CUDA, else Apple's MPS), else the CPU; it is
resolved where the training runs, so a Ray task on a GPU node trains there even when the driver
has none. Asking for a device that is not there is one clear error, never a silent fallback.

Reproducibility: on the CPU the same seed gives the same weights, bit for bit (with the same
number of threads). On CUDA, :func:`deterministic` sets cuDNN to its deterministic algorithms and
turns off its autotuner; a run is then repeatable on the same GPU model, driver and library
versions, but not bit-identical to the CPU or to another GPU model (kernels sum in other orders).
Mixed precision (``--amp``, CUDA only) is not bit-reproducible across GPU models either.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from edgenas.errors import InvalidInputError

if TYPE_CHECKING:
    import torch

#: What ``--device`` accepts (``cuda:N`` for a given GPU).
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
_CUDA_N = re.compile(r"^cuda:(\d+)$")


def check_device_name(name: str) -> None:
    """A name ``--device`` accepts, or one clear error (no torch import)."""
    if name not in DEVICE_CHOICES and not _CUDA_N.match(name):
        raise InvalidInputError(f"--device must be one of {', '.join(DEVICE_CHOICES)} or cuda:N, got {name!r}")


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device ``name`` means in this process (``auto``: a GPU if there is one, else the CPU)."""
    import torch

    check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise InvalidInputError("--device mps: this torch has no Apple MPS device (use --device cpu or auto)")
        return torch.device("mps")
    if not torch.cuda.is_available():
        build = "a CPU build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, but no GPU is visible"
        raise InvalidInputError(
            f"--device {name}: no CUDA device here (torch {torch.__version__} is {build}); use --device cpu or auto, "
            "or install a CUDA build of torch (README: GPUs)"
        )
    match = _CUDA_N.match(name)
    index = int(match.group(1)) if match else 0
    if index >= torch.cuda.device_count():
        raise InvalidInputError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device(name if match else "cuda")


def deterministic(device: torch.device) -> None:
    """Deterministic kernels where the device has them (cuDNN); nothing to do on the CPU."""
    if device.type == "cuda":
        import torch

        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
