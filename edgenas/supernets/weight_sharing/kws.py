"""A weight-sharing supernet for the ``kws`` space (Once-for-All style elastic kernel, width and depth).

One supernet per family (``2d`` or ``1d``), or one for both (``both``): there a 1-D network runs
as a 2-D one on a ``(time, 1)`` map, its own first conv (the MFCCs are its input channels) but
the blocks and classifier of the 2-D networks, a temporal kernel ``k`` being the centre column
of the shared ``k x k`` depthwise kernel. Sharing puts both families' inherited accuracies on
one scale (two separately trained supernets learn at different speeds, so their accuracies do
not compare). Every subnet is a slice of the supernet's tensors:

* **width**: a layer with ``c`` output channels uses the first ``c`` filters (and the first
  ``c_in`` input channels of the next layer); batch norm uses the first ``c`` entries;
* **kernel**: a ``k`` kernel is the centre ``k`` crop of the largest one (10x4 for the first 2-D
  conv, 5 for depthwise), as OFA's elastic kernel without its transform matrices;
* **depth**: a network of depth ``d`` runs the first ``d`` blocks; strides have no weights.

``forward(x, plan)`` runs a subnet with sliced parameters, so gradients reach the shared
weights; :meth:`KwsSharedSupernet.extract` copies a subnet's slices into a stand-alone
:class:`~edgenas.spaces.nn.kws.KwsNet` (the same module ``space.build`` gives), which can
then be batch-norm recalibrated, scored, retrained or exported like any other candidate.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from edgenas.spaces.kws import BLOCK_CHANNELS, BLOCK_KERNELS, FIRST_CHANNELS, FIRST_KERNELS, KwsSpace
from edgenas.spaces.nn.blocks import ConvBNReLU
from edgenas.spaces.nn.kws import KwsNet
from edgenas.spaces.shapes import same_padding
from edgenas.supernets.weight_sharing.slicing import sliced_batch_norm


def _centre(full: int, k: int) -> slice:
    start = (full - k) // 2
    return slice(start, start + k)


class _SharedConvBN(nn.Module):
    """The largest conv (no bias) + batch norm of one position; subnets use slices of both."""

    def __init__(self, out_channels: int, in_channels: int, kernel: tuple[int, ...]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *kernel))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.bn = nn.BatchNorm2d(out_channels) if len(kernel) == 2 else nn.BatchNorm1d(out_channels)

    def sliced_weight(self, out_c: int, in_c: int, kernel: tuple[int, ...]) -> torch.Tensor:
        full = self.weight.shape[2:]
        index = (slice(0, out_c), slice(0, in_c), *(_centre(f, k) for f, k in zip(full, kernel, strict=True)))
        return self.weight[index]

    def run(self, x: torch.Tensor, out_c: int, kernel: tuple[int, ...], stride: tuple[int, ...], groups: int = 1) -> torch.Tensor:
        in_c = x.shape[1] // groups
        weight = self.sliced_weight(out_c, in_c, kernel)
        pads = [same_padding(s, k, st) for s, k, st in zip(x.shape[2:], kernel, stride, strict=True)]
        flat = [p for before_after in reversed(pads) for p in before_after]  # F.pad wants the last axis first
        x = F.pad(x, flat)
        conv = F.conv2d if len(kernel) == 2 else F.conv1d
        x = conv(x, weight, stride=stride, groups=groups)
        x = sliced_batch_norm(x, self.bn, out_c, self.training)
        return F.relu(x)


class KwsSharedSupernet(nn.Module):
    """Every network of one ``kws`` family in one set of weights (see the module docstring).

    Args:
        space: The ``kws`` space (input shape, classes, maximum depth).
        family: ``"2d"``, ``"1d"`` or ``"both"`` (shared blocks, see the module docstring).
    """

    def __init__(self, space: KwsSpace, family: str) -> None:
        super().__init__()
        if family not in ("2d", "1d", "both"):
            raise ValueError(f"family must be '2d', '1d' or 'both', got {family!r}")
        self.space = space
        self.family = family
        self.two_d = family != "1d"  # the blocks' layout: "both" holds 2-D blocks
        t, f = space.input_shape
        max_first = max(FIRST_CHANNELS)
        self.max_width = max(max(FIRST_CHANNELS), max(BLOCK_CHANNELS))
        kt = max(k[0] for k in FIRST_KERNELS)
        kf = max(k[1] for k in FIRST_KERNELS)
        kdw = max(BLOCK_KERNELS)
        dw_kernel: tuple[int, ...]
        pw_kernel: tuple[int, ...]
        if self.two_d:
            self.first = _SharedConvBN(max_first, 1, (kt, kf))
            dw_kernel, pw_kernel = (kdw, kdw), (1, 1)
        else:
            self.first = _SharedConvBN(max_first, f, (kt,))
            dw_kernel, pw_kernel = (kdw,), (1,)
        if family == "both":  # the 1-D first conv as a (kt, 1) 2-D conv over a (time, 1) map
            self.first_1d = _SharedConvBN(max_first, f, (kt, 1))
        self.dw = nn.ModuleList(_SharedConvBN(self.max_width, 1, dw_kernel) for _ in range(space.max_depth))
        self.pw = nn.ModuleList(_SharedConvBN(self.max_width, self.max_width, pw_kernel) for _ in range(space.max_depth))
        self.classifier = nn.Linear(self.max_width, space.num_classes)

    def _first(self, plan: dict) -> _SharedConvBN:
        if self.family == "both" and not plan["two_d"]:
            return self.first_1d
        return self.first

    def _block(self, i: int) -> tuple[_SharedConvBN, _SharedConvBN]:
        """The shared depthwise and pointwise convs of block ``i``."""
        dw, pw = self.dw[i], self.pw[i]
        assert isinstance(dw, _SharedConvBN) and isinstance(pw, _SharedConvBN)
        return dw, pw

    def _shapes(self, plan: dict) -> tuple[tuple[int, ...], tuple[int, ...], list[tuple[tuple[int, ...], tuple[int, ...]]]]:
        """The first conv's kernel and stride, and each block's (depthwise kernel, stride), in this supernet's layout."""
        two_d = bool(plan["two_d"])
        kernel: tuple[int, ...]
        stride: tuple[int, ...]
        blocks: list[tuple[tuple[int, ...], tuple[int, ...]]]
        if two_d:
            kernel, stride = tuple(plan["first_kernel"]), tuple(plan["first_stride"])
            blocks = [((k, k), (s, s)) for _, k, s in plan["blocks"]]
        elif self.family == "both":  # time x 1
            kernel, stride = (plan["first_kernel"][0], 1), (plan["first_stride"][0], 1)
            blocks = [((k, 1), (s, 1)) for _, k, s in plan["blocks"]]
        else:
            kernel, stride = (plan["first_kernel"][0],), (plan["first_stride"][0],)
            blocks = [((k,), (s,)) for _, k, s in plan["blocks"]]
        return kernel, stride, blocks

    def forward(self, x: torch.Tensor, plan: dict) -> torch.Tensor:
        if self.family != "both" and bool(plan["two_d"]) != self.two_d:
            raise ValueError("this supernet holds the other family")
        if plan["two_d"]:
            x = x.unsqueeze(1)
        else:
            x = x.transpose(1, 2)
            if self.family == "both":
                x = x.unsqueeze(-1)
        kernel, stride, blocks = self._shapes(plan)
        ones = (1,) * len(kernel)
        x = self._first(plan).run(x, plan["first_channels"], kernel, stride)
        for i, ((c, _, _), (k, s)) in enumerate(zip(plan["blocks"], blocks, strict=True)):
            cin = x.shape[1]
            dw, pw = self._block(i)
            x = dw.run(x, cin, k, s, groups=cin)
            x = pw.run(x, c, ones, ones)
        x = x.mean(dim=tuple(range(2, x.dim())))
        c = x.shape[1]
        return F.linear(x, self.classifier.weight[:, :c], self.classifier.bias)

    @torch.no_grad()
    def extract(self, plan: dict) -> KwsNet:
        """A stand-alone ``KwsNet`` holding this subnet's slices (batch-norm statistics included)."""
        net = KwsNet(plan, self.space.input_shape, self.space.num_classes)
        convs = [m for m in net.features]  # ConvBNReLU: first, then (dw, pw) per block
        shared = [self._first(plan)] + [m for i in range(len(plan["blocks"])) for m in self._block(i)]
        for block, source in zip(convs, shared, strict=True):
            assert isinstance(block, ConvBNReLU)
            w = block.conv.weight
            kernel = tuple(w.shape[2:])
            extra = source.weight.dim() - w.dim()  # a 1-D net from the shared 2-D blocks: a (k, 1) column
            sliced = source.sliced_weight(w.shape[0], w.shape[1], kernel + (1,) * extra)
            block.conv.weight.copy_(sliced.reshape(w.shape))
            n = w.shape[0]
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(block.bn, name).copy_(getattr(source.bn, name)[:n])
        c = net.classifier.in_features
        net.classifier.weight.copy_(self.classifier.weight[:, :c])
        net.classifier.bias.copy_(self.classifier.bias)
        return net


def plan_size(plan: dict) -> float:
    """A rough compute size of a plan (for picking the sandwich's largest and smallest)."""
    t_scale = 1.0 / math.prod(plan["first_stride"])
    total = plan["first_channels"] * t_scale
    cin = plan["first_channels"]
    for c, k, s in plan["blocks"]:
        t_scale /= s
        total += (cin * k + cin * c) * t_scale
        cin = c
    return total
