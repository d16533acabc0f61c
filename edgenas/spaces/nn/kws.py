"""The torch realisation of a ``kws`` genotype (kept apart so ``layers()`` never imports torch)."""

from __future__ import annotations

import math

import torch
from torch import nn

from edgenas.spaces.nn.blocks import ConvBNReLU, GlobalAvgPool
from edgenas.spaces.nn.recurrent import UnrolledGru, UnrolledLstm


class KwsNet(nn.Module):
    """DS-CNN / 1-D DS-CNN. Input ``(batch, time, coefficients)`` MFCCs (or a one-channel image
    ``(batch, 1, H, W)``); output logits."""

    def __init__(self, plan: dict, input_shape: tuple[int, int], num_classes: int) -> None:
        super().__init__()
        self.two_d = bool(plan["two_d"])
        t, f = input_shape
        layers: list[nn.Module] = []
        if self.two_d:
            kernel, stride = tuple(plan["first_kernel"]), tuple(plan["first_stride"])
            size: tuple[int, ...] = (t, f)
            cin = 1
        else:
            kernel, stride = (plan["first_kernel"][0],), (plan["first_stride"][0],)
            size = (t,)
            cin = f
        c0 = plan["first_channels"]
        layers.append(ConvBNReLU(cin, c0, kernel, stride, size))
        size = tuple(math.ceil(s / st) for s, st in zip(size, stride, strict=True))
        cin = c0
        dims = len(size)
        for c, k, s in plan["blocks"]:
            layers.append(ConvBNReLU(cin, cin, (k,) * dims, (s,) * dims, size, groups=cin))
            size = tuple(math.ceil(x / s) for x in size)
            layers.append(ConvBNReLU(cin, c, (1,) * dims, (1,) * dims, size))
            cin = c
        self.features = nn.Sequential(*layers)
        self.recurrent: nn.Module | None = None
        if plan.get("cell"):  # frames of frequency x channels features; the state feeds the classifier
            cell = UnrolledGru if plan["cell"] == "gru" else UnrolledLstm
            self.recurrent = cell(cin * math.prod(size[1:]), plan["hidden"], plan["readout"])
            cin = plan["hidden"]
        self.pool = GlobalAvgPool()
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # a one-channel image (batch, 1, H, W): read as an H x W map
            x = x.squeeze(1)
        # 2-D: (batch, 1, time, coefficients), written as a channels-last view turned to NCHW; the
        # converter then meets an NHWC tensor and folds the first layer's asymmetric zero pad into
        # the convolution (``unsqueeze(1)`` left a PAD between two RESHAPEs). Same values.
        x = x.unsqueeze(-1).permute(0, 3, 1, 2) if self.two_d else x.transpose(1, 2)
        x = self.features(x)
        if self.recurrent is not None:
            # (batch, C, T) or (batch, C, T, F) -> (batch, C x F, T): the converter writes one
            # TRANSPOSE and one RESHAPE (a transpose to (batch, T, C) broke its same-scale rule)
            seq = x.permute(0, 1, 3, 2).flatten(1, 2) if x.dim() == 4 else x
            return self.classifier(self.recurrent(seq))
        return self.classifier(self.pool(x))
