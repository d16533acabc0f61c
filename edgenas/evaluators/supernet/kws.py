"""Train a space's supernet once, then score subnets with inherited (and briefly fine-tuned) weights.

Training samples subnets per step: the family's smallest and ``random_per_step`` random ones,
plus optionally a fixed largest (the sandwich rule of BigNAS / "Universally slimmable networks",
Yu et al. 2019), with optional in-place distillation from it and warm-up epochs on it alone. A
subnet is scored by copying its slices into a stand-alone network, optionally fine-tuning it for
a few steps alone, **recalibrating batch norm** on training batches (the shared running
statistics belong to no subnet) and measuring validation accuracy.

What ranks on ``kws`` (benchmarks/results/supernet_kws.md, 30 architectures against 3-epoch
stand-alone accuracy): the sandwich's true largest (six 128-channel blocks at 49x10) costs 30x an
average subnet and its weights do not serve the small subnets, so the default has no fixed
largest; two supernets (one per family) put the families' accuracies on different scales, so
the default shares one; and a few fine-tuning steps per subnet are what lift the correlation.
The ranking got *worse* the longer the supernet trained (Spearman 0.66 after 1 epoch, 0.58
after 3, 0.48 after 10) and the same fine-tuning from untrained weights ranked best (0.81), so
the default trains 1 epoch and this evaluator is experimental: on ``kws`` a short stand-alone
training ranks better at the same cost.

The accuracy of a subnet is *inherited*, not stand-alone: ``Metrics.extra["inherited"] = 1``
says so in every trial, and finalists are retrained from scratch by ``edgenas search``.
Determinism: weights, batch order and subnet draws come from ``seed_for(seed, "supernet", ...)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgenas._rng import rng_for, seed_for
from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.evaluators.base import TrialFailed
from edgenas.evaluators.supernet.base import SupernetEvaluatorBase
from edgenas.spaces.base import SearchSpace
from edgenas.spaces.kws import BLOCK_CHANNELS, BLOCK_KERNELS, FAMILIES, FIRST_CHANNELS, FIRST_KERNELS, KwsSpace
from edgenas.supernets.weight_sharing.kws import KwsSharedSupernet
from edgenas.tasks.base import TaskData

#: Spaces that have a supernet.
SUPERNET_SPACES = ("kws",)
#: Subnets per training step besides the largest and the smallest (the sandwich's filling).
RANDOM_PER_STEP = 2
#: What the sandwich's top is: ``max`` the family's extreme (stride 1 everywhere), ``strided`` the
#: widest, deepest, largest-kernel network with the first conv's stride 2x2 (what DS-CNN and the
#: latency limits keep), ``none`` no fixed top (random subnets and the smallest only).
LARGEST_CHOICES = ("max", "strided", "none")


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


def strided_largest_plan(space: KwsSpace, family: str) -> dict:
    """The largest network with a strided first conv: widest, deepest, largest kernels, stride 2x2 then 1.

    The family's true extreme (:func:`extreme_plan`) runs six 128-channel blocks at the full 49x10
    input: about 30x the compute of an average subnet, and far from the networks a latency limit
    lets a search visit. Halving both axes first is what DS-CNN does.
    """
    plan = extreme_plan(space, family, True)
    plan["first_stride"] = (2, 2)
    return plan


class KwsSupernetEvaluator(SupernetEvaluatorBase):
    """Scores architectures with weights inherited from one trained supernet per family.

    Args:
        space: The search space (``kws``).
        data: The task's splits (train for the supernet and batch-norm recalibration, val to score).
        epochs: Supernet training epochs after the warm-up.
        batch_size, lr, weight_decay: As :class:`~edgenas.evaluators.train.TrainEvaluator` (one-cycle
            schedule, AdamW); a supernet wants a higher peak ``lr`` than one network (its steps are
            shared among many subnets).
        seed: Seed of every random draw.
        calibration_batches: Training batches used to re-estimate batch-norm statistics per subnet.
        cache: A ``.pt`` file for the trained supernet weights: loaded if present (and made for the
            same space and training settings), written after training, so a resumed search does not retrain.
        log: Called with progress lines.
        families: The ``kws`` families to train a supernet for (both by default).
        largest: The sandwich's fixed top, one of :data:`LARGEST_CHOICES` (``none``: no fixed top).
        random_per_step: Random subnets per step besides the smallest (and the largest).
        distill: The other subnets learn the largest's soft predictions (BigNAS in-place distillation).
        warmup_epochs: Epochs training the largest alone first (progressive shrinking's first phase).
        share_families: One supernet for both families (shared blocks and classifier, see
            :mod:`edgenas.supernets.weight_sharing.kws`) instead of one each.
        finetune_steps: Steps each scored subnet trains alone from its inherited weights (0: none).
        device: Where the supernets train and subnets are scored (``--device``; see the base class).
    """

    name = "supernet"

    def __init__(
        self,
        space: SearchSpace,
        data: TaskData,
        epochs: int = 1,
        batch_size: int = 64,
        lr: float = 0.015,
        weight_decay: float = 1e-4,
        seed: int = 0,
        calibration_batches: int = 8,
        cache: Path | None = None,
        log: Callable[[str], None] | None = None,
        families: tuple[str, ...] = FAMILIES,
        largest: str = "none",
        random_per_step: int = RANDOM_PER_STEP,
        distill: bool = False,
        warmup_epochs: int = 0,
        share_families: bool = True,
        finetune_steps: int = 80,
        device: str = "cpu",
    ) -> None:
        base = getattr(space, "base", space)
        if space.name not in SUPERNET_SPACES or not isinstance(base, KwsSpace):
            raise InvalidInputError(
                f"--evaluator supernet: space {space.name!r} has no supernet yet. Spaces with one: {', '.join(SUPERNET_SPACES)}."
            )
        if not families or set(families) - set(FAMILIES):
            raise InvalidInputError(f"supernet families must be among {', '.join(FAMILIES)}, got {families}")
        if largest not in LARGEST_CHOICES:
            raise InvalidInputError(f"supernet largest must be one of {', '.join(LARGEST_CHOICES)}, got {largest!r}")
        if random_per_step < 0 or warmup_epochs < 0 or finetune_steps < 0:
            raise InvalidInputError("supernet random_per_step, warmup_epochs and finetune_steps must be >= 0")
        if largest == "none" and (distill or warmup_epochs):
            raise InvalidInputError("supernet distillation and warm-up need a largest network (largest != 'none')")
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
        #: The ``KwsSpace`` itself (``space`` may be a target-filtered view of it).
        self.kws = base
        self.families = tuple(families)
        self.largest = largest
        self.random_per_step = random_per_step
        self.distill = distill
        self.warmup_epochs = warmup_epochs
        self.shared = share_families and len(self.families) > 1
        self.finetune_steps = finetune_steps
        #: Mean training loss per family, epoch and sandwich role (``largest``, ``smallest``, ``random``).
        self.history: list[dict] = []
        self._nets: dict[str, KwsSharedSupernet] | None = None

    # -- training ---------------------------------------------------------------------------
    def _fingerprint(self) -> dict:
        s = self.kws
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
            "largest": self.largest,
            "random_per_step": self.random_per_step,
            "distill": self.distill,
            "warmup_epochs": self.warmup_epochs,
            "shared": self.shared,
        }

    def supernets(self) -> dict[str, KwsSharedSupernet]:
        """The trained supernets by family (trained on first use, or loaded from ``cache``)."""
        if self._nets is None:
            groups = {"both": self.families} if self.shared else {family: (family,) for family in self.families}
            nets = {name: self._fresh(name) for name in groups}
            by_family = {family: nets[name] for name, families in groups.items() for family in families}
            weights = self._cached_weights()
            if weights is not None:
                for name, net in nets.items():
                    net.load_state_dict(weights[name])
            else:

                def train() -> dict:
                    for name, net in nets.items():
                        self._train_family(groups[name], net)
                    return {name: net.state_dict() for name, net in nets.items()}

                self._train_and_cache(train)
            self._nets = by_family
        return self._nets

    def _fresh(self, family: str) -> KwsSharedSupernet:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_for(self.seed, "supernet", "init", family) % 2**62)
            net = KwsSharedSupernet(self.kws, family)  # initialised on the CPU: the same weights on every device
        return net.to(self.torch_device())

    def _random_plan(self, family: str, rng: np.random.Generator) -> dict:
        genes = list(self.space.sample(rng).genes)
        genes[0] = FAMILIES.index(family)
        return self.kws.plan(self.space.arch(genes))

    def _top_plan(self, family: str) -> dict | None:
        if self.largest == "max":
            return extreme_plan(self.kws, family, True)
        if self.largest == "strided":
            return strided_largest_plan(self.kws, family)
        return None

    def _train_family(self, families: tuple[str, ...], net: KwsSharedSupernet) -> None:
        """Warm-up epochs on the largest alone, then sandwich steps (largest, smallest, random subnets).

        With ``distill`` the subnets other than the largest learn the largest's (detached) soft
        predictions instead of the labels (BigNAS's in-place distillation), so small subnets
        follow one teacher rather than pulling the shared weights their own way. A supernet shared
        by both families takes its steps from each family in turn (as many steps per family as
        a family's own supernet gets).
        """
        x, y = self.tensors("train")
        name = families[0] if len(families) == 1 else "both"
        steps_per_epoch = math.ceil(len(x) / self.batch_size) * len(families)
        epochs = self.warmup_epochs + self.epochs
        total = epochs * steps_per_epoch
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
        generator = torch.Generator().manual_seed(seed_for(self.seed, "supernet", "order", name) % 2**62)
        optimizer = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=self.lr, total_steps=max(total, 4), pct_start=max(0.25, 1.5 / max(total, 4))
        )
        tops = {family: self._top_plan(family) for family in families}
        smallest = {family: extreme_plan(self.kws, family, False) for family in families}
        net.train()
        step = 0
        for epoch in range(epochs):
            warm = epoch < self.warmup_epochs
            sums: dict[tuple[str, str], list[float]] = {}
            orders = [torch.randperm(len(x), generator=generator).to(x.device) for _ in families]  # drawn on the CPU
            for i in range(steps_per_epoch):
                family = families[i % len(families)]
                j = i // len(families)
                idx = orders[i % len(families)][j * self.batch_size : (j + 1) * self.batch_size]
                xb, yb = x[idx], y[idx]
                rng = rng_for(self.seed, "supernet", "subnets", family, step)
                top = tops[family]
                plans: list[tuple[str, dict]] = [] if top is None else [("largest", top)]
                if not warm:
                    plans.append(("smallest", smallest[family]))
                    plans += [("random", self._random_plan(family, rng)) for _ in range(self.random_per_step)]
                optimizer.zero_grad(set_to_none=True)
                soft = None
                for role, plan in plans:
                    logits = net(xb, plan)
                    if soft is not None:
                        loss = -(soft * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
                    else:
                        loss = loss_fn(logits, yb)
                    if not torch.isfinite(loss):
                        raise TrialFailed(f"supernet training loss became {loss.item()} ({family}, epoch {epoch + 1})")
                    loss.backward()
                    if role == "largest" and self.distill:
                        soft = torch.softmax(logits.detach(), dim=1)
                    sums.setdefault((family, role), []).append(loss.item())
                optimizer.step()
                schedule.step()
                step += 1
            for family in families:
                means = {role: float(np.mean(v)) for (f, role), v in sums.items() if f == family}
                self.history.append({"family": family, "epoch": epoch + 1, "warmup": warm, **means})
                losses = ", ".join(f"{role} {value:.3f}" for role, value in means.items())
                shared = " (shared)" if len(families) > 1 else ""
                phase = f"epoch {epoch + 1}/{epochs}{' (warm-up)' if warm else ''}"
                self.log(f"supernet {family}{shared}: {phase}, mean loss {losses}")
        net.eval()

    # -- scoring ----------------------------------------------------------------------------
    def subnet(self, arch: Arch) -> nn.Module:
        """The stand-alone network of ``arch`` with inherited weights and recalibrated batch norm."""
        plan = self.kws.plan(arch)
        if plan.get("cell"):  # the shared weights have no recurrent layer: scoring would rate another network
            raise TrialFailed("the kws supernet has no recurrent layer: search --space kws-rnn with --evaluator train")
        family = "2d" if plan["two_d"] else "1d"
        if family not in self.families:
            raise TrialFailed(f"the supernet was trained for the {', '.join(self.families)} family only, not {family}")
        net = self.supernets()[family].extract(plan).to(self.torch_device())
        if self.finetune_steps:
            self._finetune(net, seed_for(self.seed, "finetune", arch.key()))
        return self._recalibrated(net, arch)

    def _finetune(self, net: nn.Module, seed: int) -> None:
        """A few steps of the subnet alone from its inherited weights (AdamW at a fifth of ``lr``, constant).

        Inherited weights are a compromise among every subnet; a few steps of its own move each
        subnet towards what it would learn alone, at a small fraction of training it from scratch.
        """
        x, y = self.tensors("train")
        generator = torch.Generator().manual_seed(seed % 2**62)
        order = torch.randperm(len(x), generator=generator).to(x.device)  # drawn on the CPU
        optimizer = torch.optim.AdamW(net.parameters(), lr=self.lr / 5, weight_decay=self.weight_decay)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
        net.train()
        for step in range(self.finetune_steps):
            start = (step * self.batch_size) % max(len(x) - self.batch_size + 1, 1)
            idx = order[start : start + self.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(net(x[idx]), y[idx]).backward()
            optimizer.step()
        net.eval()
