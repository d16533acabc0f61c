"""The torch realisation of an ``mbconv`` plan (kept apart so ``layers()`` never imports torch).

Every conv is the shared :class:`~edgenas.spaces.nn.blocks.ConvBNReLU` (SAME padding, batch norm
that ``fold_batchnorm`` folds), every block the shared
:class:`~edgenas.spaces.nn.blocks.InvertedResidual`, so the deployed module has exactly the
operators, MACs and parameters of ``MbconvSpace.layers``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from edgenas.spaces.nn.blocks import ConvBNReLU, GlobalAvgPool, InvertedResidual, make_activation

if TYPE_CHECKING:
    from edgenas.spaces.mbconv import NetPlan


class MbconvNet(nn.Module):
    """Stem, MBConv blocks, 1x1 head, global average pooling, optional FC, classifier.

    Input ``(batch, channels, resolution, resolution)`` images; output ``(batch, classes)`` logits.
    """

    def __init__(self, plan: NetPlan) -> None:
        super().__init__()
        r = plan.resolution
        self.stem = ConvBNReLU(plan.in_channels, plan.stem_channels, (3, 3), (2, 2), (r, r), act=plan.stem_act)
        self.blocks = nn.Sequential(
            *(
                InvertedResidual(
                    b.c_in,
                    b.c_out,
                    b.mid,
                    b.kernel,
                    b.stride,
                    b.size,
                    b.act,
                    se_channels=b.se_channels,
                    se_act=plan.se_act or b.act,
                    se_gate=plan.se_gate,
                )
                for b in plan.blocks
            )
        )
        if plan.blocks:
            size, c = plan.blocks[-1].out_size, plan.blocks[-1].c_out
        else:
            size, c = -(-r // 2), plan.stem_channels
        self.head = ConvBNReLU(c, plan.head_channels, (1, 1), (1, 1), (size, size), act=plan.head_act)
        self.pool = GlobalAvgPool()
        features = plan.head_channels
        if plan.head_fc:
            self.head_fc: nn.Module = nn.Sequential(nn.Linear(features, plan.head_fc), make_activation(plan.head_act))
            features = plan.head_fc
        else:
            self.head_fc = nn.Identity()
        self.classifier = nn.Linear(features, plan.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.head_fc(self.pool(x)))
