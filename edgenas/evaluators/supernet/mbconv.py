"""Train the ``mbconv`` supernet once (sandwich rule), then score subnets with inherited weights.

The recipe is :class:`~edgenas.evaluators.supernet.kws.KwsSupernetEvaluator`'s (the ``kws`` one): every
step accumulates the gradients of the largest subnet, the smallest and ``RANDOM_PER_STEP``
random ones, all drawn from the space being searched (a target-filtered space's largest network
is the largest one the target can run, not the unfiltered space's). A subnet is scored by
extracting its slices into the stand-alone ``MbconvNet``, re-estimating batch norm on training
batches (``recalibrate_batchnorm``; the shared statistics belong to no subnet) and measuring
validation accuracy. ``Metrics.extra["inherited"] = 1`` marks the accuracy as inherited.

Optionally (``distill=True``) the smaller subnets learn from the largest one's soft predictions
as well as the labels (BigNAS / OFA in-place distillation); ``benchmarks/evaluators.py`` measured
whether that ranks better (``benchmarks/results/evaluators.md``).

Determinism: weights, batch order and subnet draws come from ``seed_for(seed, "supernet", ...)``
and ``rng_for``; the same seed gives the same supernet and the same scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from edgenas._rng import rng_for, seed_for
from edgenas.arch import Arch, Decision
from edgenas.errors import InvalidInputError
from edgenas.evaluators.base import TrialFailed
from edgenas.evaluators.supernet.base import SupernetEvaluatorBase
from edgenas.evaluators.supernet.kws import RANDOM_PER_STEP
from edgenas.spaces.base import SearchSpace
from edgenas.spaces.mbconv import MbconvSpace
from edgenas.supernets.weight_sharing.mbconv import MbconvSharedSupernet, stage_depths
from edgenas.tasks.base import TaskData

#: Decisions whose choices are ordered by size (the sandwich's largest takes the biggest value).
_SIZED = ("resolution", "_depth", "_width", "_kernel", "_expand", "head_fc", "_se")


def extreme_arch(space: SearchSpace, largest: bool) -> Arch:
    """The largest (or smallest) network of ``space``: every sized decision at its biggest (or
    smallest) remaining choice, activation / precision / SE style at the first remaining choice.

    A target-filtered space (``OpFilteredSpace``) only offers its remaining choices, so the
    sandwich trains the extremes the search can actually visit.
    """
    allowed = getattr(space, "allowed", None)
    genes = []
    for i, decision in enumerate(space.decisions()):
        options = list(allowed[i]) if allowed is not None else list(range(len(decision.choices)))
        if decision.name.endswith(_SIZED) or decision.name in _SIZED:
            pick = max if largest else min
            genes.append(pick(options, key=partial(_size, decision)))
        else:
            genes.append(options[0])
    return space.arch(genes)


def _size(decision: Decision, choice: int) -> float:
    """The value of a sized decision's choice (a number or a flag) as a float."""
    value = decision.choices[choice]
    assert isinstance(value, int | float)
    return float(value)


class MbconvSupernetEvaluator(SupernetEvaluatorBase):
    """Scores ``mbconv`` architectures with weights inherited from one trained supernet.

    Settings, weight cache and scoring are :class:`~edgenas.evaluators.supernet.base.SupernetEvaluatorBase`'s;
    this class builds, trains and slices the ``mbconv`` supernet.

    Args:
        space: An ``MbconvSpace`` or a target-filtered view of one.
        data: The task's splits (train for the supernet and batch-norm recalibration, val to score).
        epochs: Supernet training epochs (each step trains ``2 + RANDOM_PER_STEP`` subnets).
        batch_size, lr, weight_decay: As :class:`~edgenas.evaluators.train.TrainEvaluator`.
        seed: Seed of every random draw.
        calibration_batches: Training batches used to re-estimate batch-norm statistics per subnet.
        cache: A ``.pt`` file for the trained supernet weights: loaded if present (and made for the
            same space, settings and seed), written after training.
        log: Called with progress lines.
        families: ``kws`` only; the ``mbconv`` space has none, so anything but ``None`` is an error.
        distill: Train the non-largest subnets on the largest one's soft predictions too.
        zero_init_residual: Start always-residual block positions as the identity (see
            :class:`~edgenas.supernets.weight_sharing.mbconv.MbconvSharedSupernet`).
        device: Where the supernet trains and subnets are scored (``--device``; see the base class).
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
        log: Callable[[str], None] | None = None,
        families: tuple[str, ...] | None = None,
        distill: bool = False,
        zero_init_residual: bool = False,
        device: str = "cpu",
    ) -> None:
        base = getattr(space, "base", space)
        if space.name != "mbconv" or not isinstance(base, MbconvSpace):
            raise InvalidInputError(f"MbconvSupernetEvaluator needs the mbconv space, got {space.name!r}")
        if families is not None:
            raise InvalidInputError("the mbconv space has no families: leave `families` out (it is for kws)")
        if tuple(data.input_shape)[0] != base.in_channels:
            raise InvalidInputError(f"the task's inputs have {data.input_shape[0]} channels, the mbconv space {base.in_channels}")
        super().__init__(
            space,
            data,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            seed=seed,
            calibration_batches=calibration_batches,
            cache=cache,
            log=log,
            device=device,
        )
        #: The ``MbconvSpace`` itself (``space`` may be a target-filtered view of it).
        self.mbconv = base
        self.distill = distill
        self.zero_init_residual = zero_init_residual
        self._net: MbconvSharedSupernet | None = None

    # -- training ---------------------------------------------------------------------------
    def _fingerprint(self) -> dict:
        base = self.mbconv
        return {
            "space": "mbconv",
            "layout": 2,  # 2: separate classifiers for head-conv and FC features (caches before it have no key)
            "vocabulary": base.vocabulary,
            "in_channels": base.in_channels,
            "num_classes": base.num_classes,
            "resolutions": list(base.resolutions),
            "squeeze_excite": base.squeeze_excite,
            "allowed": [list(a) for a in getattr(self.space, "allowed", [])],
            "epochs": self.epochs,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "distill": self.distill,
            "train_n": len(self.data.train),
            # only when set, so caches written before the option existed still match
            **({"zero_init_residual": True} if self.zero_init_residual else {}),
        }

    def supernet(self) -> MbconvSharedSupernet:
        """The trained supernet (trained on first use, or loaded from ``cache``)."""
        if self._net is None:
            net = self._fresh()
            weights = self._cached_weights()
            if weights is not None:
                net.load_state_dict(weights)
                net.eval()
            else:

                def train() -> dict:
                    self._train(net)
                    return net.state_dict()

                self._train_and_cache(train)
            self._net = net
        return self._net

    def supernets(self) -> dict[str, MbconvSharedSupernet]:
        """``{"mbconv": supernet}``: the shape ``KwsSupernetEvaluator.supernets`` has (one per kws family)."""
        return {"mbconv": self.supernet()}

    def _fresh(self) -> MbconvSharedSupernet:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_for(self.seed, "supernet", "init", "mbconv") % 2**62)
            net = MbconvSharedSupernet(self.space, self.zero_init_residual)  # initialised on the CPU
        return net.to(self.torch_device())

    def _run(self, net: MbconvSharedSupernet, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        return net(x, self.mbconv.plan(arch), stage_depths(self.space, arch))

    def _train(self, net: MbconvSharedSupernet) -> None:
        x, y = self.tensors("train")
        steps_per_epoch = math.ceil(len(x) / self.batch_size)
        total = self.epochs * steps_per_epoch
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
        generator = torch.Generator().manual_seed(seed_for(self.seed, "supernet", "order", "mbconv") % 2**62)
        optimizer = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if total >= 4:  # one-cycle needs a warm-up phase of at least one step (as TrainEvaluator)
            schedule: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=self.lr, total_steps=total, pct_start=max(0.25, 1.5 / total)
            )
        else:
            schedule = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
        largest, smallest = extreme_arch(self.space, True), extreme_arch(self.space, False)
        net.train()
        step = 0
        loss = torch.tensor(0.0)
        for epoch in range(self.epochs):
            order = torch.randperm(len(x), generator=generator).to(x.device)  # drawn on the CPU: the same on every device
            for i in range(steps_per_epoch):
                idx = order[i * self.batch_size : (i + 1) * self.batch_size]
                rng = rng_for(self.seed, "supernet", "subnets", "mbconv", step)
                archs = [largest, smallest] + [self.space.sample(rng) for _ in range(RANDOM_PER_STEP)]
                optimizer.zero_grad(set_to_none=True)
                teacher: torch.Tensor | None = None
                for k, arch in enumerate(archs):
                    logits = self._run(net, x[idx], arch)
                    loss = loss_fn(logits, y[idx])
                    if k == 0 and self.distill:
                        teacher = F.softmax(logits.detach(), dim=1)
                    elif teacher is not None:
                        loss = 0.5 * loss + 0.5 * F.cross_entropy(logits, teacher)
                    if not torch.isfinite(loss):
                        raise TrialFailed(f"supernet training loss became {loss.item()} (epoch {epoch + 1})")
                    loss.backward()
                optimizer.step()
                schedule.step()
                step += 1
            self.log(f"supernet mbconv: epoch {epoch + 1}/{self.epochs}, last loss {loss.item():.3f}")
        net.eval()

    # -- scoring ----------------------------------------------------------------------------
    def subnet(self, arch: Arch) -> nn.Module:
        """The stand-alone network of ``arch`` with inherited weights and recalibrated batch norm."""
        plan = self.mbconv.plan(arch)  # checks the arch belongs to this space
        net = self.supernet()
        net.check_plan(plan)
        sub = net.extract(plan, stage_depths(self.space, arch)).to(self.torch_device())
        return self._recalibrated(sub, arch)
