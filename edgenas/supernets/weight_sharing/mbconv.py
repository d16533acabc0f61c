"""A weight-sharing supernet for the ``mbconv`` space (Once-for-All style elastic depth, width,
expansion and kernel).

Every network of an ``MbconvSpace`` is a slice of the supernet's tensors, position by position
(stem, stage ``s`` block ``b``, head, optional FC, classifier):

* **depth**: a stage of depth ``d`` runs its first ``d`` block positions (OFA's elastic depth);
  an empty stage runs none;
* **width and expansion**: a conv with ``c`` outputs uses the first ``c`` filters and the first
  ``c_in`` input channels (so a block's expanded width ``make_divisible(c_in * e)`` is the
  first ``mid`` channels of the position's widest expansion); batch norm the first ``c``
  entries; a block at expansion 1 has no expand conv in the space, so it skips the position's
  expand weights;
* **kernel**: a ``k x k`` depthwise kernel is the centre crop of the position's 7 x 7 kernel,
  as OFA's elastic kernel without its transform matrices;
* **activation, SE style and precision**: activations have no weights, so every block's
  activation choice shares the same convolutions; squeeze-and-excitation uses the first
  ``se`` channels of shared reduce / expand weights whichever style sets ``se``; precision is a
  deployment choice that prices the IR and does not change the float weights.

``forward(x, plan)`` runs the subnet of an ``mbconv`` :class:`~edgenas.spaces.mbconv.NetPlan`
with sliced parameters, so gradients reach the shared weights; :meth:`MbconvSharedSupernet.extract`
copies the slices into the stand-alone :class:`~edgenas.spaces.nn.mbconv.MbconvNet` (the
module ``space.build(arch)`` gives), which computes the same function in eval mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.spaces.base import SearchSpace
from edgenas.spaces.mbconv import BlockPlan, MbconvSpace, NetPlan, Vocabulary, make_divisible
from edgenas.spaces.nn.blocks import ACTIVATIONS, ConvBNReLU, InvertedResidual, SqueezeExcite
from edgenas.spaces.nn.mbconv import MbconvNet
from edgenas.spaces.shapes import same_padding
from edgenas.supernets.weight_sharing.slicing import sliced_batch_norm


def _act(name: str | None, x: torch.Tensor) -> torch.Tensor:
    """Apply a named activation (``None``: linear); the modules are stateless, so one per call is fine."""
    return x if name is None else ACTIVATIONS[name]()(x)


def _centre(full: int, k: int) -> slice:
    start = (full - k) // 2
    return slice(start, start + k)


class _SharedConvBN(nn.Module):
    """The widest (and largest-kernel) conv of one position + its batch norm; subnets use slices."""

    def __init__(self, out_channels: int, in_channels: int, kernel: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel, kernel))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.bn = nn.BatchNorm2d(out_channels)

    def sliced_weight(self, out_c: int, in_c: int, kernel: int) -> torch.Tensor:
        crop = _centre(self.weight.shape[2], kernel)
        return self.weight[:out_c, :in_c, crop, crop]

    def run(self, x: torch.Tensor, out_c: int, kernel: int, stride: int, act: str | None, groups: int = 1) -> torch.Tensor:
        """Conv (SAME padding, as ``ConvBNReLU``), batch norm on the first ``out_c`` channels, activation."""
        weight = self.sliced_weight(out_c, x.shape[1] // groups, kernel)
        ph = same_padding(x.shape[2], kernel, stride)
        pw = same_padding(x.shape[3], kernel, stride)
        x = F.conv2d(F.pad(x, (pw[0], pw[1], ph[0], ph[1])), weight, stride=stride, groups=groups)
        x = sliced_batch_norm(x, self.bn, out_c, self.training)
        return _act(act, x)

    @torch.no_grad()
    def copy_to(self, target: ConvBNReLU) -> None:
        """Copy this position's slice into a stand-alone conv + batch norm of the subnet's shape."""
        out_c, in_c, k, _ = target.conv.weight.shape
        target.conv.weight.copy_(self.sliced_weight(out_c, in_c, k))
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(target.bn, name).copy_(getattr(self.bn, name)[:out_c])


class _SharedBlock(nn.Module):
    """One MBConv block position: widest expand, 7 x 7 depthwise, SE and projection weights."""

    def __init__(self, max_in: int, max_out: int, squeeze_excite: bool, vocab: Vocabulary) -> None:
        super().__init__()
        self.max_in = max_in
        self.max_mid = make_divisible(max_in * max(vocab.expansions))
        self.expand = _SharedConvBN(self.max_mid, max_in, 1)
        self.dw = _SharedConvBN(self.max_mid, 1, max(vocab.kernels))
        self.project = _SharedConvBN(max_out, self.max_mid, 1)
        self.max_se = 0
        if squeeze_excite:  # the widest of the two styles' reduced widths (see MbconvSpace.plan)
            self.max_se = max(max(1, max_in // 4), make_divisible(self.max_mid // 4))
            self.se_reduce = nn.Conv2d(self.max_mid, self.max_se, 1)
            self.se_expand = nn.Conv2d(self.max_se, self.max_mid, 1)

    def se_biases(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The biases of the squeeze-and-excitation convs (made with ``bias=True``)."""
        reduce_bias, expand_bias = self.se_reduce.bias, self.se_expand.bias
        assert reduce_bias is not None and expand_bias is not None
        return reduce_bias, expand_bias

    def run(self, x: torch.Tensor, block: BlockPlan, se_act: str | None, se_gate: str) -> torch.Tensor:
        h = x
        if block.mid != block.c_in:
            h = self.expand.run(h, block.mid, 1, 1, block.act)
        h = self.dw.run(h, block.mid, block.kernel, block.stride, block.act, groups=block.mid)
        if block.se_channels:
            se, mid = block.se_channels, block.mid
            reduce_bias, expand_bias = self.se_biases()
            s = h.mean(dim=(2, 3), keepdim=True)
            s = _act(se_act or block.act, F.conv2d(s, self.se_reduce.weight[:se, :mid], reduce_bias[:se]))
            s = _act(se_gate, F.conv2d(s, self.se_expand.weight[:mid, :se], expand_bias[:mid]))
            h = h * s
        h = self.project.run(h, block.c_out, 1, 1, None)
        return x + h if block.residual else h


class MbconvSharedSupernet(nn.Module):
    """Every network of one ``mbconv`` space in one set of weights (see the module docstring).

    Args:
        space: The ``MbconvSpace`` (or a target-filtered view of one): input channels, classes,
            and whether squeeze-and-excitation weights are needed.
        zero_init_residual: Start the last batch norm of every always-residual block position
            (a stage's second block on) at zero scale, so every depth starts as the identity
            there (BigNAS's trick to make elastic depth train stably).
    """

    def __init__(self, space: SearchSpace, zero_init_residual: bool = False) -> None:
        super().__init__()
        base = getattr(space, "base", space)
        if not isinstance(base, MbconvSpace):
            raise InvalidInputError(f"MbconvSharedSupernet needs an mbconv space, got {getattr(space, 'name', space)!r}")
        v = base.vocab
        self.in_channels = base.in_channels
        self.num_classes = base.num_classes
        self.stem = _SharedConvBN(max(v.stem_widths), base.in_channels, 3)
        # Widest input a stage's first block can see: the previous stage's widest output, or the
        # stem's (and any earlier stage's) where the stages in between may be empty.
        widest_in = max(v.stem_widths)
        blocks: list[nn.ModuleList] = []
        for s, widths in enumerate(v.stage_widths):
            positions = []
            for b in range(v.max_depths[s]):
                max_in = widest_in if b == 0 else max(widths)
                positions.append(_SharedBlock(max_in, max(widths), base.squeeze_excite, v))
            if zero_init_residual:  # positions b >= 1 keep the stage's width at stride 1: always residual
                for position in positions[1:]:
                    nn.init.zeros_(position.project.bn.weight)
            blocks.append(nn.ModuleList(positions))
            widest_in = max(widths) if v.min_depths[s] > 0 else max(widest_in, max(widths))
        self.stages = nn.ModuleList(blocks)
        self.head = _SharedConvBN(max(v.head_widths), widest_in, 1)
        # Two classifiers: one reads the head conv's pooled features, one the FC layer's outputs.
        # Sharing one would make column j mean "head channel j" for some subnets and "FC unit j"
        # for others, which no training reconciles. (Created in this order so that the classifier's
        # initial weights, drawn after head_fc's, are those of the single-classifier layout.)
        if max(v.head_fc):
            self.head_fc = nn.Linear(max(v.head_widths), max(v.head_fc))
        self.classifier = nn.Linear(max(v.head_widths), base.num_classes)
        if max(v.head_fc):
            self.fc_classifier = nn.Linear(max(v.head_fc), base.num_classes)

    def check_plan(self, plan: NetPlan) -> None:
        """Refuse a plan this supernet cannot run (other input channels, classes, or SE without weights)."""
        if plan.in_channels != self.in_channels or plan.num_classes != self.num_classes:
            raise InvalidInputError(
                f"this mbconv supernet takes {self.in_channels}-channel inputs and {self.num_classes} classes, "
                f"the architecture {plan.in_channels} and {plan.num_classes}"
            )
        if any(b.se_channels for b in plan.blocks) and not any(p.max_se for s in self._stage_positions() for p in s):
            raise InvalidInputError(
                "this mbconv supernet was built for a space without squeeze-and-excitation; "
                "build it from a space with squeeze_excite=True to score SE blocks"
            )

    def forward(self, x: torch.Tensor, plan: NetPlan, depths: tuple[int, ...]) -> torch.Tensor:
        """Logits of the subnet ``plan`` (``depths``: blocks per stage, from the genotype)."""
        x = self.stem.run(x, plan.stem_channels, 3, 2, plan.stem_act)
        for block, position in zip(plan.blocks, self.positions(depths), strict=True):
            x = position.run(x, block, plan.se_act, plan.se_gate)
        x = self.head.run(x, plan.head_channels, 1, 1, plan.head_act)
        x = x.mean(dim=(2, 3))
        classifier = self.classifier
        if plan.head_fc:
            x = _act(
                plan.head_act, F.linear(x, self.head_fc.weight[: plan.head_fc, : x.shape[1]], self.head_fc.bias[: plan.head_fc])
            )
            classifier = self.fc_classifier
        return F.linear(x, classifier.weight[:, : x.shape[1]], classifier.bias)

    def _stage_positions(self) -> list[list[_SharedBlock]]:
        """Every stage's block positions (``self.stages``, typed)."""
        out: list[list[_SharedBlock]] = []
        for stage in self.stages:
            assert isinstance(stage, nn.ModuleList)
            positions: list[_SharedBlock] = []
            for position in stage:
                assert isinstance(position, _SharedBlock)
                positions.append(position)
            out.append(positions)
        return out

    def positions(self, depths: tuple[int, ...]) -> list[_SharedBlock]:
        """The shared block positions a network with these stage depths runs: the first ``d`` of each stage."""
        stages = self._stage_positions()
        if len(depths) != len(stages) or any(d > len(s) for d, s in zip(depths, stages, strict=True)):
            raise InvalidInputError(f"stage depths {depths} do not fit the supernet's {[len(s) for s in stages]}")
        return [stage[b] for stage, d in zip(stages, depths, strict=True) for b in range(d)]

    @torch.no_grad()
    def extract(self, plan: NetPlan, depths: tuple[int, ...]) -> MbconvNet:
        """A stand-alone ``MbconvNet`` holding this subnet's slices (batch-norm statistics included)."""
        net = MbconvNet(plan)
        self.stem.copy_to(net.stem)
        for module, block, position in zip(net.blocks, plan.blocks, self.positions(depths), strict=True):
            assert isinstance(module, InvertedResidual)
            if block.mid != block.c_in:
                assert isinstance(module.expand, ConvBNReLU)
                position.expand.copy_to(module.expand)
            position.dw.copy_to(module.dw)
            if block.se_channels:
                assert isinstance(module.se, SqueezeExcite)
                se, mid = block.se_channels, block.mid
                reduce_bias, expand_bias = position.se_biases()
                reduce, expand = module.se.reduce, module.se.expand
                assert reduce.bias is not None and expand.bias is not None
                reduce.weight.copy_(position.se_reduce.weight[:se, :mid])
                reduce.bias.copy_(reduce_bias[:se])
                expand.weight.copy_(position.se_expand.weight[:mid, :se])
                expand.bias.copy_(expand_bias[:mid])
            position.project.copy_to(module.project)
        self.head.copy_to(net.head)
        features, classifier = plan.head_channels, self.classifier
        if plan.head_fc:
            assert isinstance(net.head_fc, nn.Sequential)
            fc = net.head_fc[0]
            assert isinstance(fc, nn.Linear)
            fc.weight.copy_(self.head_fc.weight[: plan.head_fc, :features])
            fc.bias.copy_(self.head_fc.bias[: plan.head_fc])
            features, classifier = plan.head_fc, self.fc_classifier
        net.classifier.weight.copy_(classifier.weight[:, :features])
        net.classifier.bias.copy_(classifier.bias)
        return net


def stage_depths(space: SearchSpace, arch: Arch) -> tuple[int, ...]:
    """Blocks per stage of ``arch`` in an ``MbconvSpace`` or a target-filtered view of one (the
    plan lists blocks only, the supernet needs their stages)."""
    base = getattr(space, "base", space)
    assert isinstance(base, MbconvSpace)
    values: Mapping[str, Any] = base.values(arch)  # choice values: ints, strings and flags by decision
    return tuple(int(values[f"s{s}_depth"]) for s in range(len(base.vocab.strides)))
