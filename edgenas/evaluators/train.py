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
from edgenas.devices import SplitTensors, deterministic
from edgenas.evaluators.base import TrialFailed
from edgenas.spaces.base import SearchSpace
from edgenas.tasks.base import TaskData
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
        self.tensors = SplitTensors(data, device)  # on the device, moved once per process

    def torch_device(self) -> torch.device:
        """The device this process trains on (``device`` resolved here)."""
        return self.tensors.device()

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
        val = accuracy(model, *self.tensors("val"), batch_size=self.batch_size * 4)
        metrics = Metrics(
            accuracy=val,
            extra={"train_loss": float(loss.item()), "epochs": float(epochs), "train_s": time.perf_counter() - start},
        )
        return TrainedModel(model, metrics)

    def test_accuracy(self, model: nn.Module) -> float:
        """Accuracy on the held-out test split (finalists only)."""
        return accuracy(model, *self.tensors("test"), batch_size=self.batch_size * 4)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` (in eval mode, on whichever device it is) on inputs ``x`` and
    labels ``y``, a fraction in [0, 1].

    Tensors already on the model's device (:class:`~edgenas.devices.SplitTensors`) are used where
    they are; arrays are moved a batch at a time.
    """
    if len(y) == 0:
        raise TrialFailed("cannot score on an empty split")
    device = next(model.parameters(), torch.empty(0)).device
    inputs = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    labels = torch.from_numpy(np.asarray(y)) if isinstance(y, np.ndarray) else y
    correct = 0
    for i in range(0, len(inputs), batch_size):
        logits = model(inputs[i : i + batch_size].to(device))
        if not torch.isfinite(logits).all():
            raise TrialFailed("the network produced non-finite outputs")
        correct += int((logits.argmax(1) == labels[i : i + batch_size].to(logits.device)).sum())
    return correct / len(labels)
