"""A weight-sharing supernet for the ``kws`` space (Once-for-All style elastic kernel, width and depth).

One supernet per family (``2d`` and ``1d``: their first convolutions see different inputs, so
they share nothing useful). Every subnet of the family is a slice of the supernet's tensors:

* **width**: a layer with ``c`` output channels uses the first ``c`` filters (and the first
  ``c_in`` input channels of the next layer); batch norm uses the first ``c`` entries;
* **kernel**: a ``k`` kernel is the centre ``k`` crop of the largest one (10x4 for the first 2-D
  conv, 5 for depthwise), as OFA's elastic kernel without its transform matrices;
* **depth**: a network of depth ``d`` runs the first ``d`` blocks; strides have no weights.

``forward(x, plan)`` runs a subnet with sliced parameters, so gradients reach the shared
weights; :meth:`KwsSupernet.extract` copies a subnet's slices into a stand-alone
:class:`~edgenas.spaces._kws_torch.KwsNet` (the same module ``space.build`` gives), which can
then be batch-norm recalibrated, scored, retrained or exported like any other candidate.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from edgenas.spaces._kws_torch import KwsNet
from edgenas.spaces._padding import same_padding
from edgenas.spaces.kws import BLOCK_CHANNELS, BLOCK_KERNELS, FIRST_CHANNELS, FIRST_KERNELS, KwsSpace


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
        bn = self.bn
        x = F.batch_norm(
            x,
            bn.running_mean[:out_c],
            bn.running_var[:out_c],
            bn.weight[:out_c],
            bn.bias[:out_c],
            training=self.training,
            momentum=0.1,
            eps=bn.eps,
        )
        return F.relu(x)


class KwsSupernet(nn.Module):
    """Every network of one ``kws`` family in one set of weights (see the module docstring).

    Args:
        space: The ``kws`` space (input shape, classes, maximum depth).
        family: ``"2d"`` or ``"1d"``.
    """

    def __init__(self, space: KwsSpace, family: str) -> None:
        super().__init__()
        if family not in ("2d", "1d"):
            raise ValueError(f"family must be '2d' or '1d', got {family!r}")
        self.space = space
        self.two_d = family == "2d"
        t, f = space.input_shape
        max_first = max(FIRST_CHANNELS)
        self.max_width = max(max(FIRST_CHANNELS), max(BLOCK_CHANNELS))
        kt = max(k[0] for k in FIRST_KERNELS)
        kf = max(k[1] for k in FIRST_KERNELS)
        kdw = max(BLOCK_KERNELS)
        if self.two_d:
            self.first = _SharedConvBN(max_first, 1, (kt, kf))
            dw_kernel, pw_kernel = (kdw, kdw), (1, 1)
        else:
            self.first = _SharedConvBN(max_first, f, (kt,))
            dw_kernel, pw_kernel = (kdw,), (1,)
        self.dw = nn.ModuleList(_SharedConvBN(self.max_width, 1, dw_kernel) for _ in range(space.max_depth))
        self.pw = nn.ModuleList(_SharedConvBN(self.max_width, self.max_width, pw_kernel) for _ in range(space.max_depth))
        self.classifier = nn.Linear(self.max_width, space.num_classes)

    def forward(self, x: torch.Tensor, plan: dict) -> torch.Tensor:
        if bool(plan["two_d"]) != self.two_d:
            raise ValueError("this supernet holds the other family")
        x = x.unsqueeze(1) if self.two_d else x.transpose(1, 2)
        dims = 2 if self.two_d else 1
        kernel = tuple(plan["first_kernel"])[:dims]
        stride = tuple(plan["first_stride"])[:dims]
        x = self.first.run(x, plan["first_channels"], kernel, stride)
        for i, (c, k, s) in enumerate(plan["blocks"]):
            cin = x.shape[1]
            x = self.dw[i].run(x, cin, (k,) * dims, (s,) * dims, groups=cin)
            x = self.pw[i].run(x, c, (1,) * dims, (1,) * dims)
        x = x.mean(dim=tuple(range(2, x.dim())))
        c = x.shape[1]
        return F.linear(x, self.classifier.weight[:, :c], self.classifier.bias)

    @torch.no_grad()
    def extract(self, plan: dict) -> KwsNet:
        """A stand-alone ``KwsNet`` holding this subnet's slices (batch-norm statistics included)."""
        net = KwsNet(plan, self.space.input_shape, self.space.num_classes)
        convs = [m for m in net.features]  # ConvBNReLU: first, then (dw, pw) per block
        shared = [self.first] + [m for i in range(len(plan["blocks"])) for m in (self.dw[i], self.pw[i])]
        for block, source in zip(convs, shared, strict=True):
            w = block.conv.weight
            kernel = tuple(w.shape[2:])
            in_c = w.shape[1]
            block.conv.weight.copy_(source.sliced_weight(w.shape[0], in_c, kernel))
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
