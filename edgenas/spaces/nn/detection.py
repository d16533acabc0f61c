"""The torch realisation of a ``detection`` plan: the ``mbconv`` stem and blocks, then one head per level.

The backbone's stem and blocks are :class:`~edgenas.spaces.nn.mbconv.MbconvNet`'s own (built from
the truncated plan, its classifier dropped), every head conv the shared
:class:`~edgenas.spaces.nn.blocks.ConvBNReLU`, so the deployed module has exactly the operators,
MACs and parameters of ``DetectionSpace.layers``. Nothing after the last 1x1 conv: the sigmoid,
box decoding and NMS run on the host (:mod:`edgenas.tasks.detection_decode`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from edgenas.spaces.nn.blocks import ConvBNReLU
from edgenas.spaces.nn.mbconv import MbconvNet

if TYPE_CHECKING:
    from edgenas.spaces.detection import DetectionPlan, LevelPlan

#: Prior probability of an object at initialisation (RetinaNet's focal-loss initialisation): the
#: class logits start at a low score, so the first steps are not swamped by the background cells.
PRIOR = 0.01


class LevelHead(nn.Module):
    """``depth`` x (depthwise KxK + 1x1 to ``width``, ReLU), then a 1x1 conv to classes + 4 box values."""

    def __init__(self, level: LevelPlan, act: str = "relu") -> None:
        super().__init__()
        size, c, k = (level.size, level.size), level.c_in, level.kernel
        layers: list[nn.Module] = []
        for _ in range(level.depth):
            layers.append(ConvBNReLU(c, c, (k, k), (1, 1), size, groups=c, act=act))
            layers.append(ConvBNReLU(c, level.width, (1, 1), (1, 1), size, act=act))
            c = level.width
        self.tower = nn.Sequential(*layers)
        self.out = nn.Conv2d(c, level.outputs, 1)  # with a bias: no batch norm after it
        num_classes = level.outputs - 4
        bias = self.out.bias
        assert bias is not None  # nn.Conv2d(bias=True)
        with torch.no_grad():
            bias.zero_()
            bias[:num_classes] = -math.log((1 - PRIOR) / PRIOR)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.tower(x))


class DetectionNet(nn.Module):
    """Stem and MBConv blocks up to the deepest level read, a head on each level.

    Input ``(batch, channels, resolution, resolution)`` images; output a tuple with one
    ``(batch, num_classes + 4, H, W)`` map per level, in the plan's level order.
    """

    def __init__(self, plan: DetectionPlan, act: str = "relu") -> None:
        super().__init__()
        backbone = MbconvNet(plan.backbone)
        self.stem = backbone.stem
        self.blocks = backbone.blocks
        self.taps = tuple(level.block for level in plan.levels)
        self.strides: tuple[int, ...] = plan.strides  # what host decoding needs, read off the module
        self.resolution: int = plan.backbone.resolution
        self.heads = nn.ModuleList(LevelHead(level, act) for level in plan.levels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.stem(x)
        features: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                features[i] = x
        return tuple(head(features[tap]) for head, tap in zip(self.heads, self.taps, strict=True))
