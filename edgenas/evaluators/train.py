"""Short training on the task: the honest (and slowest) accuracy signal.

Deterministic on the CPU: the weights, the batch order and dropout draw from a torch generator
seeded by ``rng_for(seed, "train", arch.key())``, so an architecture trains to the same accuracy
whichever trial number it has, in whichever process (resume relies on it). Test accuracy is
never computed during the search: ``test_accuracy`` is called for finalists only.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from edgenas._rng import seed_for
from edgenas.arch import Arch
from edgenas.devices import deterministic, resolve_device
from edgenas.evaluators.base import TrialFailed
from edgenas.spaces.base import SearchSpace
from edgenas.tasks.base import Split, TaskData
from edgenas.trial import Metrics


@dataclass(frozen=True)
class TrainedModel:
    """A trained network and what training measured."""

    module: nn.Module
    metrics: Metrics


class TrainEvaluator:
    """Train each candidate for a few epochs (AdamW, one-cycle learning rate, label smoothing).

    Args:
        space: Builds the network of an ``Arch``.
        data: The task's splits (validation scores the search; test is kept for finalists).
        epochs: Epochs at ``budget=1``.
        batch_size: Mini-batch size.
        lr: Peak learning rate of the one-cycle schedule.
        weight_decay: AdamW weight decay.
        seed: Seed of every random draw in training.
        max_seconds: Wall-clock limit per candidate; a candidate over it fails (None: no limit).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (:mod:`edgenas.devices`), resolved
            in the process that trains; the splits are moved there once and kept.
        amp: Mixed precision (float16 autocast and loss scaling) on CUDA; ignored elsewhere.
    """

    name = "train"

    def __init__(
        self,
        space: SearchSpace,
        data: TaskData,
        epochs: int = 4,
        batch_size: int = 64,
        lr: float = 5e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
        max_seconds: float | None = None,
        device: str = "cpu",
        amp: bool = False,
    ) -> None:
        self.space = space
        self.data = data
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.max_seconds = max_seconds
        self.device = device
        self.amp = amp
        self._splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # on the device, made once per process

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_splits"] = {}  # device tensors stay in the process that made them
        return state

    def torch_device(self) -> torch.device:
        """The device this process trains on (``device`` resolved here)."""
        return resolve_device(self.device)

    def tensors(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A split's inputs and labels on the training device (moved once, then kept)."""
        if name not in self._splits:
            split = self.data.splits()[name]
            device = self.torch_device()
            x = torch.from_numpy(np.ascontiguousarray(split.x)).to(device)
            self._splits[name] = (x, torch.from_numpy(split.y).to(device))
        return self._splits[name]

    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        return self.train(arch, budget=budget).metrics

    def train(self, arch: Arch, *, budget: float = 1.0) -> TrainedModel:
        """Train ``arch`` from scratch and score it on the validation split."""
        epochs = max(1, round(self.epochs * budget))
        start = time.perf_counter()
        device = self.torch_device()
        deterministic(device)
        generator = torch.Generator().manual_seed(seed_for(self.seed, "train", arch.key()))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
            model = self.space.build(arch).to(device)
        x, y = self.tensors("train")
        use_amp = self.amp and device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda") if use_amp else None
        steps_per_epoch = math.ceil(len(x) / self.batch_size)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        total_steps = epochs * steps_per_epoch
        if total_steps >= 4:  # one-cycle needs a warm-up phase of at least one step
            schedule: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=self.lr, total_steps=total_steps, pct_start=max(0.25, 1.5 / total_steps)
            )
        else:  # a handful of steps (a tiny --data folder): constant learning rate
            schedule = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
        model.train()
        loss = torch.tensor(0.0)
        for epoch in range(epochs):
            order = torch.randperm(len(x), generator=generator).to(device)  # drawn on the CPU: the same on every device
            for step in range(steps_per_epoch):
                idx = order[step * self.batch_size : (step + 1) * self.batch_size]
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext():
                    loss = loss_fn(model(x[idx]), y[idx])
                if not torch.isfinite(loss):
                    raise TrialFailed(f"training loss became {loss.item()} in epoch {epoch + 1}")
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                schedule.step()
                if self.max_seconds is not None and time.perf_counter() - start > self.max_seconds:
                    raise TrialFailed(f"training exceeded the {self.max_seconds:g} s limit in epoch {epoch + 1}")
        model.eval()
        val = accuracy(model, self.data.val, self.batch_size * 4)
        metrics = Metrics(
            accuracy=val,
            extra={"train_loss": float(loss.item()), "epochs": float(epochs), "train_s": time.perf_counter() - start},
        )
        return TrainedModel(model, metrics)

    def test_accuracy(self, model: nn.Module) -> float:
        """Accuracy on the held-out test split (finalists only)."""
        return accuracy(model, self.data.test, self.batch_size * 4)


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` (in eval mode, on whichever device it is) on ``split``, a fraction in [0, 1]."""
    if len(split.y) == 0:
        raise TrialFailed("cannot score on an empty split")
    device = next(model.parameters(), torch.empty(0)).device
    x = torch.from_numpy(np.ascontiguousarray(split.x))
    correct = 0
    for i in range(0, len(x), batch_size):
        logits = model(x[i : i + batch_size].to(device)).cpu()
        if not torch.isfinite(logits).all():
            raise TrialFailed("the network produced non-finite outputs")
        correct += int((logits.argmax(1).numpy() == split.y[i : i + batch_size]).sum())
    return correct / len(split.y)
