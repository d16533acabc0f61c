"""Train a space's supernet once (sandwich rule), then score subnets with inherited weights.

Training follows the sandwich rule of BigNAS / Once-for-All's progressive shrinking in its
simplest honest form: every step accumulates the gradients of the largest subnet, the smallest
and two random ones (Yu et al. 2019, "Universally slimmable networks"), so the shared weights
serve every size. A subnet is scored by copying its slices into a stand-alone network,
**recalibrating batch norm** on training batches (the shared running statistics belong to no
subnet; Yu et al. showed they must be re-estimated) and measuring validation accuracy.

The accuracy of a subnet is *inherited*, not stand-alone: ``Metrics.extra["inherited"] = 1``
says so in every trial, and finalists are retrained from scratch by ``edgenas search``.
Determinism: weights, batch order and subnet draws come from ``seed_for(seed, "supernet", ...)``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgenas._rng import rng_for, seed_for
from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.evaluators._base import TrialFailed
from edgenas.evaluators.train import accuracy
from edgenas.spaces._base import SearchSpace
from edgenas.spaces.kws import BLOCK_CHANNELS, BLOCK_KERNELS, FAMILIES, FIRST_CHANNELS, FIRST_KERNELS, KwsSpace
from edgenas.supernet._kws import KwsSupernet
from edgenas.tasks._base import TaskData
from edgenas.trial import Metrics

#: Spaces that have a supernet.
SUPERNET_SPACES = ("kws",)
#: Subnets per training step besides the largest and the smallest (the sandwich's filling).
RANDOM_PER_STEP = 2


def extreme_plan(space: KwsSpace, family: str, largest: bool) -> dict:
    """The largest (or smallest) network of a family: widest, deepest, stride 1 (or the opposite)."""
    pick = max if largest else min
    two_d = family == "2d"
    first_kernel = max(FIRST_KERNELS) if largest else min(FIRST_KERNELS, key=lambda k: k[0] * k[1])
    stride = (1, 1) if largest else (2, 2)
    depth = space.max_depth if largest else 1
    block = (pick(BLOCK_CHANNELS), pick(BLOCK_KERNELS), 1 if largest else 2)
    return {
        "two_d": two_d,
        "first_channels": pick(FIRST_CHANNELS),
        "first_kernel": first_kernel,
        "first_stride": stride,
        "blocks": [block] * depth,
    }


class SupernetEvaluator:
    """Scores architectures with weights inherited from one trained supernet per family.

    Args:
        space: The search space (``kws``).
        data: The task's splits (train for the supernet and batch-norm recalibration, val to score).
        epochs: Supernet training epochs (each step trains four subnets).
        batch_size, lr, weight_decay: As :class:`~edgenas.evaluators.train.TrainEvaluator`.
        seed: Seed of every random draw.
        calibration_batches: Training batches used to re-estimate batch-norm statistics per subnet.
        families: The ``kws`` families to train a supernet for (both by default).
        cache: A ``.pt`` file for the trained supernet weights: loaded if present (and made for the
            same space, epochs and seed), written after training, so a resumed search does not retrain.
        log: Called with progress lines.
    """

    name = "supernet"

    def __init__(
        self,
        space: SearchSpace,
        data: TaskData,
        epochs: int = 6,
        batch_size: int = 64,
        lr: float = 5e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
        calibration_batches: int = 8,
        cache: Path | None = None,
        log=None,  # type: ignore[no-untyped-def]
        families: tuple[str, ...] = FAMILIES,
    ) -> None:
        if space.name not in SUPERNET_SPACES or not isinstance(getattr(space, "base", space), KwsSpace):
            raise InvalidInputError(
                f"--evaluator supernet: space {space.name!r} has no supernet yet. Spaces with one: {', '.join(SUPERNET_SPACES)}."
            )
        if not families or set(families) - set(FAMILIES):
            raise InvalidInputError(f"supernet families must be among {', '.join(FAMILIES)}, got {families}")
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
        self.families = tuple(families)
        self._nets: dict[str, KwsSupernet] | None = None
        self.train_seconds = 0.0

    # -- training ---------------------------------------------------------------------------
    def _fingerprint(self) -> dict:
        s = self.space
        return {
            "space": s.name,
            "input_shape": list(s.input_shape),
            "num_classes": s.num_classes,
            "max_depth": s.max_depth,
            "epochs": self.epochs,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "train_n": len(self.data.train),
            "families": list(self.families),
        }

    def supernets(self) -> dict[str, KwsSupernet]:
        """The trained supernets by family (trained on first use, or loaded from ``cache``)."""
        if self._nets is None:
            nets = {family: self._fresh(family) for family in self.families}
            if self.cache is not None and self.cache.exists():
                state = torch.load(self.cache, weights_only=True)
                if state.get("fingerprint") == self._fingerprint():
                    for family, net in nets.items():
                        net.load_state_dict(state["weights"][family])
                    self.log(f"supernet loaded from {self.cache}")
                    self._nets = nets
                    return nets
                self.log(f"{self.cache} was trained with other settings: training again")
            self._train(nets)
            if self.cache is not None:
                self.cache.parent.mkdir(parents=True, exist_ok=True)
                weights = {family: net.state_dict() for family, net in nets.items()}
                torch.save({"fingerprint": self._fingerprint(), "weights": weights}, self.cache)
            self._nets = nets
        return self._nets

    def _fresh(self, family: str) -> KwsSupernet:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_for(self.seed, "supernet", "init", family) % 2**62)
            return KwsSupernet(self.space, family)

    def _random_plan(self, family: str, rng: np.random.Generator) -> dict:
        genes = list(self.space.sample(rng).genes)
        genes[0] = FAMILIES.index(family)
        return self.space.plan(self.space.arch(genes))

    def _train(self, nets: dict[str, KwsSupernet]) -> None:
        start = time.perf_counter()
        x = torch.from_numpy(np.ascontiguousarray(self.data.train.x))
        y = torch.from_numpy(self.data.train.y)
        steps_per_epoch = math.ceil(len(x) / self.batch_size)
        total = self.epochs * steps_per_epoch
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
        for family, net in nets.items():
            generator = torch.Generator().manual_seed(seed_for(self.seed, "supernet", "order", family) % 2**62)
            optimizer = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.lr, total_steps=max(total, 4), pct_start=0.25)
            largest, smallest = extreme_plan(self.space, family, True), extreme_plan(self.space, family, False)
            net.train()
            step = 0
            for epoch in range(self.epochs):
                order = torch.randperm(len(x), generator=generator)
                for i in range(steps_per_epoch):
                    idx = order[i * self.batch_size : (i + 1) * self.batch_size]
                    rng = rng_for(self.seed, "supernet", "subnets", family, step)
                    plans = [largest, smallest] + [self._random_plan(family, rng) for _ in range(RANDOM_PER_STEP)]
                    optimizer.zero_grad(set_to_none=True)
                    for plan in plans:
                        loss = loss_fn(net(x[idx], plan), y[idx])
                        if not torch.isfinite(loss):
                            raise TrialFailed(f"supernet training loss became {loss.item()} ({family}, epoch {epoch + 1})")
                        loss.backward()
                    optimizer.step()
                    schedule.step()
                    step += 1
                self.log(f"supernet {family}: epoch {epoch + 1}/{self.epochs}, last loss {loss.item():.3f}")
            net.eval()
        self.train_seconds = time.perf_counter() - start

    # -- scoring ----------------------------------------------------------------------------
    def subnet(self, arch: Arch) -> nn.Module:
        """The stand-alone network of ``arch`` with inherited weights and recalibrated batch norm."""
        plan = self.space.plan(arch)
        family = "2d" if plan["two_d"] else "1d"
        if family not in self.families:
            raise TrialFailed(f"the supernet was trained for the {', '.join(self.families)} family only, not {family}")
        net = self.supernets()[family].extract(plan)
        recalibrate_batchnorm(
            net, self.data.train.x, self.batch_size, self.calibration_batches, seed_for(self.seed, "bn", arch.key())
        )
        return net

    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        start = time.perf_counter()
        net = self.subnet(arch)
        val = accuracy(net, self.data.val, self.batch_size * 4)
        return Metrics(accuracy=val, extra={"inherited": 1.0, "eval_s": time.perf_counter() - start})


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, x: np.ndarray, batch_size: int, batches: int, seed: int) -> None:
    """Re-estimate every batch norm's running statistics as a plain average over ``batches`` training batches."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch counts equally
    generator = torch.Generator().manual_seed(seed % 2**62)
    order = torch.randperm(len(x), generator=generator)[: batch_size * batches]
    data = torch.from_numpy(np.ascontiguousarray(x))
    net.train()
    for i in range(0, len(order), batch_size):
        net(data[order[i : i + batch_size]])
    net.eval()
