"""Torch building blocks every ``build()`` reuses (timm's ``layers/``): never copied per space.

Padding follows TensorFlow's SAME rule (output = ceil(input / stride)), because that is what the
layer IR assumes and what TFLite executes; where SAME would be asymmetric (an even kernel, or a
stride of 2 on an odd input) an explicit zero-pad goes first, which the converter keeps as a PAD.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from edgenas.spaces.shapes import same_padding

#: Activation modules by the names spaces use (``None``: linear).
ACTIVATIONS = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "hard_swish": nn.Hardswish,
    "swish": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": nn.Hardsigmoid,
}


def make_activation(name: str | None) -> nn.Module:
    """A fresh activation module (``nn.Identity`` for ``None``)."""
    return nn.Identity() if name is None else ACTIVATIONS[name]()


class ConvBNReLU(nn.Module):
    """Conv (1-D or 2-D, any groups) + batch norm + activation (ReLU unless ``act`` says otherwise),
    with SAME padding for a known input size.

    ``in_size`` is the spatial input size ((H, W) or (T,)), needed to compute SAME padding.
    ``act`` names the activation (see :data:`ACTIVATIONS`; ``None`` for a linear projection).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, ...],
        stride: tuple[int, ...],
        in_size: tuple[int, ...],
        groups: int = 1,
        act: str | None = "relu",
    ) -> None:
        super().__init__()
        pads = [same_padding(s, k, st) for s, k, st in zip(in_size, kernel, stride, strict=True)]
        symmetric = all(before == after for before, after in pads)
        self.pad: nn.Module
        self.conv: nn.Conv1d | nn.Conv2d
        self.bn: nn.Module  # BatchNorm1d/2d; nn.Identity once folded (fold_batchnorm)
        if len(kernel) == 2:
            # ZeroPad2d takes (left, right, top, bottom) = (W before, W after, H before, H after)
            flat = (pads[1][0], pads[1][1], pads[0][0], pads[0][1])
            self.pad = nn.Identity() if symmetric else nn.ZeroPad2d(flat)
            padding_2d = (pads[0][0], pads[1][0]) if symmetric else 0
            self.conv = nn.Conv2d(
                in_channels,
                out_channels,
                (kernel[0], kernel[1]),
                (stride[0], stride[1]),
                padding=padding_2d,
                groups=groups,
                bias=False,
            )
            self.bn = nn.BatchNorm2d(out_channels)
        else:
            (k,), (st,) = kernel, stride
            self.pad = nn.Identity() if symmetric else nn.ConstantPad1d(pads[0], 0.0)
            padding_1d = (pads[0][0],) if symmetric else 0
            self.conv = nn.Conv1d(in_channels, out_channels, (k,), (st,), padding=padding_1d, groups=groups, bias=False)
            self.bn = nn.BatchNorm1d(out_channels)
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(self.pad(x))))


class GlobalAvgPool(nn.Module):
    """Average over every spatial position: ``(batch, C, *spatial) -> (batch, C)``, 1-D or 2-D.

    Written as an average pool whose window is the whole map, not as ``x.mean``, because that is
    what the int8 converter turns into TFLite's AVERAGE_POOL_2D, which CMSIS-NN runs on an
    optimised kernel; ``mean`` becomes MEAN, which TFLite Micro runs on its slow reference
    kernel, and is bracketed by layout copies (TRANSPOSE, and a RESHAPE for 1-D maps) that the
    pool does not need. The float function is the same. It holds no weights, so checkpoints of
    the networks that use it are those of the ``mean`` form. The ONNX export (TorchScript tracer)
    gets ``mean``, as before: its window would be read off a traced shape, which it cannot export.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if math.prod(x.shape[2:]) == 1:  # one position: the average is the value itself, no operator
            return x.flatten(1)
        if torch.onnx.is_in_onnx_export():  # ONNX's tracer cannot take a window read off the shape; ReduceMean is as fast there
            return x.mean(dim=tuple(range(2, x.dim())))
        if x.dim() == 3:
            return F.avg_pool1d(x, x.shape[2]).flatten(1)
        return F.avg_pool2d(x, tuple(x.shape[2:])).flatten(1)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): pool, 1x1 reduce + act, 1x1 expand + gate, scale.

    The two 1x1 convs carry biases (they have no batch norm), as in EfficientNet and MobileNetV3.
    """

    def __init__(self, channels: int, reduced: int, act: str, gate: str) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = make_activation(act)
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = make_activation(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class InvertedResidual(nn.Module):
    """MBConv (MobileNetV2 / MnasNet / EfficientNet / MobileNetV3): 1x1 expand (skipped when
    ``mid == c_in`` at expansion 1), KxK depthwise with the stride, optional squeeze-and-excitation,
    linear 1x1 projection; a residual add where stride is 1 and channels are kept."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        mid: int,
        kernel: int,
        stride: int,
        size: int,
        act: str,
        se_channels: int = 0,
        se_act: str = "relu",
        se_gate: str = "sigmoid",
    ) -> None:
        super().__init__()
        out_size = -(-size // stride)
        self.expand = ConvBNReLU(c_in, mid, (1, 1), (1, 1), (size, size), act=act) if mid != c_in else nn.Identity()
        self.dw = ConvBNReLU(mid, mid, (kernel, kernel), (stride, stride), (size, size), groups=mid, act=act)
        self.se = SqueezeExcite(mid, se_channels, se_act, se_gate) if se_channels else nn.Identity()
        self.project = ConvBNReLU(mid, c_out, (1, 1), (1, 1), (out_size, out_size), act=None)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.residual else y


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
