"""Torch building blocks every ``build()`` reuses (timm's ``layers/``): never copied per space.

Padding follows TensorFlow's SAME rule (output = ceil(input / stride)), because that is what the
layer IR assumes and what TFLite executes; where SAME would be asymmetric (an even kernel, or a
stride of 2 on an odd input) an explicit zero-pad goes first, which the converter keeps as a PAD.
"""

from __future__ import annotations

import torch
from torch import nn

from edgenas.spaces._padding import same_padding


class ConvBNReLU(nn.Module):
    """Conv (1-D or 2-D, any groups) + batch norm + ReLU, with SAME padding for a known input size.

    ``in_size`` is the spatial input size ((H, W) or (T,)), needed to compute SAME padding.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, ...],
        stride: tuple[int, ...],
        in_size: tuple[int, ...],
        groups: int = 1,
    ) -> None:
        super().__init__()
        pads = [same_padding(s, k, st) for s, k, st in zip(in_size, kernel, stride, strict=True)]
        symmetric = all(before == after for before, after in pads)
        conv_padding = tuple(before for before, _ in pads) if symmetric else 0
        if len(kernel) == 2:
            conv_cls, bn_cls = nn.Conv2d, nn.BatchNorm2d
            # ZeroPad2d takes (left, right, top, bottom) = (W before, W after, H before, H after)
            flat = (pads[1][0], pads[1][1], pads[0][0], pads[0][1])
            self.pad: nn.Module = nn.Identity() if symmetric else nn.ZeroPad2d(flat)
        else:
            conv_cls, bn_cls = nn.Conv1d, nn.BatchNorm1d
            self.pad = nn.Identity() if symmetric else nn.ConstantPad1d(pads[0], 0.0)
        self.conv = conv_cls(in_channels, out_channels, kernel, stride, padding=conv_padding, groups=groups, bias=False)
        self.bn = bn_cls(out_channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(self.pad(x))))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every ``ConvBNReLU``'s batch norm into its conv, in place, for deployment.

    The deployed network is what the layer IR describes (weights plus one bias per channel), and
    the int8 converter does not fold ``BatchNorm1d`` by itself (see shared/notes). The model
    must be in eval mode: folding uses the running statistics.
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode")
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in model.modules():
        if isinstance(module, ConvBNReLU) and isinstance(module.bn, nn.modules.batchnorm._BatchNorm):
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = nn.Identity()
    return model
