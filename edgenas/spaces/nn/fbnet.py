"""The torch realisation of an ``fbnet`` genotype (kept apart so ``layers()`` never imports torch).

Blocks follow FBNet's ``IRFBlock`` and ``Identity`` (facebookresearch/mobile-vision,
``fbnet_building_blocks.py``), built from the shared :class:`~edgenas.spaces.nn.blocks.ConvBNReLU`
(SAME padding, foldable batch norm); the linear projection is a ``ConvBNReLU`` whose ReLU is
removed, so ``fold_batchnorm`` folds it like every other conv.
"""

from __future__ import annotations

import torch
from torch import nn

from edgenas.spaces.nn.blocks import ConvBNReLU


def _conv(c_in: int, c_out: int, k: int, s: int, size: int, groups: int = 1, relu: bool = True) -> ConvBNReLU:
    block = ConvBNReLU(c_in, c_out, (k, k), (s, s), (size, size), groups=groups)
    if not relu:
        block.act = nn.Identity()
    return block


class ChannelShuffle(nn.Module):
    """ShuffleNet's shuffle after a grouped 1x1 conv, so the next grouped conv mixes both groups."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class FbnetBlock(nn.Module):
    """One searchable layer: an inverted-residual block, or a skip (identity, or 1x1 conv when the shape changes)."""

    def __init__(self, op: tuple[int, int, int], size: int, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        kernel, expansion, groups = op  # (0, 0, 1): skip
        self.residual = c_in == c_out and stride == 1
        if kernel == 0:
            self.body: nn.Module = nn.Identity() if self.residual else _conv(c_in, c_out, 1, stride, size)
            self.residual = False  # the identity is the block; adding x again would double it
            return
        mid, out_size = c_in * expansion, -(-size // stride)
        self.body = nn.Sequential(
            _conv(c_in, mid, 1, 1, size, groups),
            ChannelShuffle(groups) if groups > 1 else nn.Identity(),
            _conv(mid, mid, kernel, stride, size, groups=mid),
            _conv(mid, c_out, 1, 1, out_size, groups, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class FbnetNet(nn.Module):
    """HW-NAS-Bench's CIFAR FBNet. Input ``(batch, 3, 32, 32)`` images; output logits.

    Args:
        ops: Each searchable layer's (kernel, expansion, groups); kernel 0 is a skip.
        blocks: Each searchable layer's (input size, input channels, output channels, stride).
        stem_channels, head_channels, input_size, num_classes: The fixed parts of the network.
    """

    def __init__(
        self,
        ops: tuple[tuple[int, int, int], ...],
        blocks: tuple[tuple[int, int, int, int], ...],
        *,
        stem_channels: int,
        head_channels: int,
        input_size: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.stem = _conv(3, stem_channels, 3, 1, input_size)
        self.blocks = nn.Sequential(*(FbnetBlock(op, *shape) for shape, op in zip(blocks, ops, strict=True)))
        size, _, c, stride = blocks[-1]
        self.head = _conv(c, head_channels, 1, 1, -(-size // stride))
        self.classifier = nn.Linear(head_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(x.mean(dim=(2, 3)))
