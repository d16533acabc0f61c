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
from typing import TYPE_CHECKING, Any

from edgenas.errors import InvalidInputError

if TYPE_CHECKING:
    import torch

    from edgenas.tasks.base import TaskData

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


class SplitTensors:
    """A task's splits as tensors on the training device, moved there once per process and kept.

    Evaluators and supernets index these tensors every step; moving a batch from host memory
    per step would make a GPU wait on copies. The cache is not pickled: a worker process (or a
    Ray task) that receives the evaluator moves the splits to *its* device on first use.

    Args:
        data: The task's splits.
        device: A ``--device`` name, resolved in the process that first asks for a split.
    """

    def __init__(self, data: TaskData, device: str = "cpu") -> None:
        check_device_name(device)
        self.data = data
        self.name = device
        self._device: torch.device | None = None
        self._tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"data": self.data, "name": self.name, "_device": None, "_tensors": {}}

    def device(self) -> torch.device:
        """The device ``device`` names in this process (resolved once)."""
        if self._device is None:
            self._device = resolve_device(self.name)
        return self._device

    def __call__(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The inputs and labels of ``split`` (``train``, ``val``, ``test``) on the device."""
        if split not in self._tensors:
            import numpy as np
            import torch

            part = self.data.splits()[split]
            device = self.device()
            x = torch.from_numpy(np.ascontiguousarray(part.x)).to(device)
            self._tensors[split] = (x, torch.from_numpy(np.asarray(part.y)).to(device))
        return self._tensors[split]
