"""What every space's supernet evaluator shares: its settings, the weight cache, batch-norm
recalibration and scoring.

A supernet evaluator trains shared weights once (one supernet per ``kws`` family, or one for
``mbconv``), caches them beside a fingerprint of everything that shaped them, and scores an
architecture by extracting its subnet, recalibrating batch norm and measuring validation
accuracy. The spaces differ only in how their supernet is built, trained and sliced, so a
subclass provides ``_fingerprint`` and ``subnet``, and calls :meth:`SupernetEvaluatorBase._cached_weights`
/ :meth:`SupernetEvaluatorBase._train_and_cache` when its supernet is first needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgenas._rng import seed_for
from edgenas.arch import Arch
from edgenas.devices import SplitTensors, deterministic
from edgenas.errors import InvalidInputError
from edgenas.evaluators.train import accuracy
from edgenas.spaces.base import SearchSpace
from edgenas.tasks.base import TaskData
from edgenas.trial import Metrics


class SupernetEvaluatorBase:
    """Settings, cache and scoring of a supernet evaluator (see the module docstring).

    Args:
        space: The search space (or a target-filtered view of it).
        data: The task's splits (train for the supernet and batch-norm recalibration, val to score).
        epochs: Supernet training epochs.
        batch_size, lr, weight_decay: As :class:`~edgenas.evaluators.train.TrainEvaluator`.
        seed: Seed of every random draw.
        calibration_batches: Training batches used to re-estimate batch-norm statistics per subnet.
        cache: A ``.pt`` file for the trained weights: loaded if present and made with the same
            fingerprint, written after training, so a resumed search does not train again. The
            weights are stored on the CPU, so a cache trained on a GPU serves a CPU-only machine.
        log: Called with progress lines.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (:mod:`edgenas.devices`): where the
            supernet trains and subnets are scored; the splits are moved there once per process.
    """

    name = "supernet"

    def __init__(
        self,
        space: SearchSpace,
        data: TaskData,
        *,
        epochs: int,
        batch_size: int,
        lr: float,
        weight_decay: float,
        seed: int,
        calibration_batches: int,
        cache: Path | None,
        log: Callable[[str], None] | None,
        device: str = "cpu",
    ) -> None:
        if epochs < 1:
            raise InvalidInputError(f"supernet epochs must be >= 1, got {epochs}")
        self.space = space
        self.data = data
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.calibration_batches = calibration_batches
        self.cache = cache
        self.log = log or (lambda message: None)
        self.device = device
        self.tensors = SplitTensors(data, device)
        self.train_seconds = 0.0  # wall seconds of training in this process (0 when loaded)
        #: CPU seconds the training took, also when loaded from ``cache`` (stored with the weights, so
        #: a study that reuses the cache still reports the one-off cost; NaN for caches without it).
        self.train_cpu_seconds = 0.0

    # -- what a space's evaluator provides ----------------------------------------------------
    def _fingerprint(self) -> dict:
        """Everything that shaped the weights: a cache made with another fingerprint is not reused."""
        raise NotImplementedError

    def subnet(self, arch: Arch) -> nn.Module:
        """The stand-alone network of ``arch`` with inherited weights and recalibrated batch norm."""
        raise NotImplementedError

    def supernets(self) -> dict[str, Any]:
        """The trained supernet(s), trained (or loaded from the cache) on first use."""
        raise NotImplementedError

    def torch_device(self) -> torch.device:
        """The device this process trains and scores on (``device`` resolved here; deterministic
        kernels switched on where the device has them)."""
        device = self.tensors.device()
        deterministic(device)
        return device

    # -- parallel searches ------------------------------------------------------------------
    def prepare(self) -> None:
        """Train (or load) the supernet here, once, before the evaluator is copied to workers."""
        self.supernets()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["log"] = None  # a progress callback of the driver's (a console, a closure) stays there
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if state.get("log") is None:
            self.log = _silent

    # -- the weight cache -------------------------------------------------------------------
    def _cached_weights(self) -> Any | None:
        """The weights stored in ``cache`` if they were trained with this fingerprint, else None."""
        if self.cache is None or not self.cache.exists():
            return None
        state = torch.load(self.cache, weights_only=True, map_location="cpu")
        if state.get("fingerprint") != self._fingerprint():
            self.log(f"{self.cache} was trained with other settings: training again")
            return None
        self.train_cpu_seconds = float(state.get("train_cpu_s", float("nan")))
        self.log(f"supernet loaded from {self.cache}")
        return state["weights"]

    def _train_and_cache(self, train: Callable[[], Any]) -> None:
        """Run ``train`` (which returns the weights to store), time it, and write ``cache``."""
        wall, cpu = time.perf_counter(), time.process_time()
        weights = train()
        self.train_seconds = time.perf_counter() - wall
        self.train_cpu_seconds = time.process_time() - cpu
        if self.cache is not None:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            state = {"fingerprint": self._fingerprint(), "weights": _on_cpu(weights), "train_cpu_s": self.train_cpu_seconds}
            torch.save(state, self.cache)

    # -- scoring ----------------------------------------------------------------------------
    def _recalibrated(self, net: nn.Module, arch: Arch) -> nn.Module:
        """``net`` with batch norm re-estimated on this arch's own draw of training batches."""
        x, _ = self.tensors("train")
        recalibrate_batchnorm(net, x, self.batch_size, self.calibration_batches, seed_for(self.seed, "bn", arch.key()))
        return net

    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        start = time.perf_counter()
        net = self.subnet(arch)
        val = accuracy(net, *self.tensors("val"), batch_size=self.batch_size * 4)
        return Metrics(accuracy=val, extra={"inherited": 1.0, "eval_s": time.perf_counter() - start})


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, x: torch.Tensor | np.ndarray, batch_size: int, batches: int, seed: int) -> None:
    """Re-estimate every batch norm's running statistics as a plain average over ``batches`` training batches
    (``x``: the training inputs, on the network's device or as an array).

    The supernet's running statistics were accumulated over many subnets and belong to none of
    them; without this, inherited accuracy measures the mismatch, not the weights.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch counts equally
    generator = torch.Generator().manual_seed(seed % 2**62)
    order = torch.randperm(len(x), generator=generator)[: batch_size * batches]  # drawn on the CPU: the same on every device
    data = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    device = next(net.parameters(), torch.empty(0)).device
    order = order.to(data.device)
    net.train()
    for i in range(0, len(order), batch_size):
        net(data[order[i : i + batch_size]].to(device))
    net.eval()


def _silent(message: str) -> None:
    """A worker's copy of a supernet evaluator says nothing."""


def _on_cpu(weights: Any) -> Any:
    """``weights`` (a state dict, or a dict of them) with every tensor on the CPU."""
    if isinstance(weights, torch.Tensor):
        return weights.detach().cpu()
    if isinstance(weights, dict):
        return type(weights)((key, _on_cpu(value)) for key, value in weights.items())
    return weights
