"""The ``kws`` supernet: every decision of the space mixed by architecture weights, one path per step.

One logit vector ``alpha[name]`` per decision of ``KwsSpace.decisions()`` (so the derived
architecture is simply the argmax of each), sampled each step with straight-through
Gumbel-softmax (a hard one-hot forward, the soft sample's gradient backward). How each kind of
decision is realised:

* **operator choices** (family, first kernel, first stride, each block's kernel and stride):
  single-path, as in GDAS (Dong & Yang 2019) and ProxylessNAS: only the sampled operator runs and
  memory stays that of one network. The sampled gate entries (1 in the forward pass) multiply the
  **logits**, not the operator's output: in this chain every operator output goes through conv +
  batch norm, which divides a scale out, so a gate there got no gradient at all (only float
  noise, ~1e-5 of the family's; fixed, ``tests/differentiable``). Strides share the kernel's
  weights (a stride is not a new operator).
* **channel widths** (first_channels, b{i}_channels): one max-width conv whose first ``c``
  output channels are sliced for the sampled width ``c`` (as in slimmable / once-for-all
  networks, so a narrow path costs a narrow conv), then multiplied by FBNetV2's mask mixture
  ``sum_j g_j * mask_j`` restricted to those ``c`` channels. The forward pass equals the sampled
  width. The mask reaches the loss only in the last block run (elsewhere a depthwise conv and
  batch norm divide out any per-channel scale), and there only for choices narrower than the
  sampled one, so the sampled width's gate also multiplies the logits, as the operators' do.
* **depth**: per-block on/off. Blocks past the sampled depth are not run; the pooled features of
  the last block run are multiplied by the depth gate, so the depth logits learn too.

The gradient every sampled choice gets through the logits is the same straight-through signal:
whether scaling the sampled network's logits up lowers the cross-entropy, i.e. whether it puts
the right class above its softmax-weighted mean logit.

The two families (2-D DS-CNN and 1-D temporal conv) have separate weights; their other decisions
share logits, as they share genes in the space. Padding follows the space's SAME rule.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.spaces.kws import (
    BLOCK_CHANNELS,
    BLOCK_KERNELS,
    BLOCK_STRIDES,
    FIRST_CHANNELS,
    FIRST_KERNELS,
    FIRST_STRIDES,
    KwsSpace,
)
from edgenas.spaces.shapes import same_padding


class _SharedConv(nn.Module):
    """Conv + BN + ReLU at max width whose stride is chosen per call (SAME padding from the input)."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, ...], groups: int = 1) -> None:
        super().__init__()
        self.kernel = kernel
        self.conv: nn.Conv1d | nn.Conv2d
        self.bn: nn.BatchNorm1d | nn.BatchNorm2d
        if len(kernel) == 2:
            self.conv = nn.Conv2d(cin, cout, (kernel[0], kernel[1]), groups=groups, bias=False)
            self.bn = nn.BatchNorm2d(cout)
        else:
            (k,) = kernel
            self.conv = nn.Conv1d(cin, cout, (k,), groups=groups, bias=False)
            self.bn = nn.BatchNorm1d(cout)

    def forward(self, x: torch.Tensor, stride: tuple[int, ...], out_channels: int | None = None) -> torch.Tensor:
        """Run on ``x``'s channels (a slice of the max width) producing ``out_channels`` (depthwise: as many as in)."""
        cin = x.shape[1]
        depthwise = self.conv.groups > 1
        cout = cin if depthwise else (out_channels or self.conv.out_channels)
        weight = self.conv.weight[:cout] if depthwise else self.conv.weight[:cout, :cin]
        pads = [same_padding(int(s), k, st) for s, k, st in zip(x.shape[2:], self.kernel, stride, strict=True)]
        x = F.pad(x, [p for before_after in reversed(pads) for p in before_after])  # F.pad: last axis first
        conv = F.conv2d if len(self.kernel) == 2 else F.conv1d
        x = conv(x, weight, None, stride, 0, 1, cin if depthwise else 1)
        # batch statistics always: the supernet is only ever trained, never evaluated
        x = F.batch_norm(x, None, None, self.bn.weight[:cout], self.bn.bias[:cout], training=True)
        return F.relu(x)


class _FamilyNet(nn.Module):
    """The weights of one family at max width."""

    def __init__(self, two_d: bool, input_shape: tuple[int, int], max_depth: int, num_classes: int) -> None:
        super().__init__()
        self.two_d = two_d
        cin = 1 if two_d else input_shape[1]
        c0 = max(FIRST_CHANNELS)
        cmax = max(BLOCK_CHANNELS)
        first = [k if two_d else k[:1] for k in FIRST_KERNELS]
        self.conv0 = nn.ModuleList(_SharedConv(cin, c0, k) for k in first)
        self.dw = nn.ModuleList()
        self.pw = nn.ModuleList()
        for i in range(max_depth):
            width = c0 if i == 0 else cmax
            dims = 2 if two_d else 1
            self.dw.append(nn.ModuleList(_SharedConv(width, width, (k,) * dims, groups=width) for k in BLOCK_KERNELS))
            self.pw.append(_SharedConv(width, cmax, (1,) * dims))
        self.classifier = nn.Linear(cmax, num_classes)

    def first(self, kernel: int) -> _SharedConv:
        """The first conv of kernel choice ``kernel``."""
        conv = self.conv0[kernel]
        assert isinstance(conv, _SharedConv)
        return conv

    def block(self, i: int, kernel: int) -> tuple[_SharedConv, _SharedConv]:
        """Block ``i``'s depthwise conv of kernel choice ``kernel`` and its pointwise conv."""
        dw, pw = self.dw[i], self.pw[i]
        assert isinstance(dw, nn.ModuleList) and isinstance(pw, _SharedConv)
        conv = dw[kernel]
        assert isinstance(conv, _SharedConv)
        return conv, pw


def _mask(choices: tuple[int, ...], width: int) -> torch.Tensor:
    m = torch.zeros(len(choices), width)
    for j, c in enumerate(choices):
        m[j, :c] = 1.0
    return m


class KwsGumbelSupernet(nn.Module):
    """Weights of every candidate of a ``kws`` space plus one logit vector per decision.

    ``forward(x, tau)`` samples one architecture (Gumbel-softmax at temperature ``tau``) and
    returns its logits; ``weight_parameters()`` and ``arch_parameters()`` feed the two optimisers.

    A space filtered to a target's operators (``edgenas.spaces.filter_by_ops``) lists the choices
    it kept per decision (``allowed``): the others get a logit of minus infinity, so they are
    never sampled, never derived and carry no probability in the expected cost.
    """

    # buffers (register_buffer), declared for the type checker
    first_mask: torch.Tensor
    block_mask: torch.Tensor

    def __init__(self, space: KwsSpace) -> None:
        if getattr(getattr(space, "base", space), "cells", ()):  # its paths have no recurrent layer
            raise InvalidInputError("the differentiable search covers --space kws only, not its recurrent cells (kws-rnn)")
        super().__init__()
        self.space = space
        self.names = [d.name for d in space.decisions()]
        self.alpha = nn.ParameterDict({d.name: nn.Parameter(torch.zeros(len(d.choices))) for d in space.decisions()})
        allowed = getattr(space, "allowed", None)  # an operator-filtered space
        self.masked = allowed is not None and any(
            len(ok) < len(d.choices) for ok, d in zip(allowed, space.decisions(), strict=True)
        )
        if self.masked:
            assert allowed is not None
            for d, ok in zip(space.decisions(), allowed, strict=True):
                mask = torch.full((len(d.choices),), -math.inf)
                mask[list(ok)] = 0.0
                self.register_buffer(f"removed_{d.name}", mask)
        self.nets = nn.ModuleList(
            _FamilyNet(two_d, space.input_shape, space.max_depth, space.num_classes) for two_d in (True, False)
        )
        self.register_buffer("first_mask", _mask(FIRST_CHANNELS, max(FIRST_CHANNELS)))
        self.register_buffer("block_mask", _mask(BLOCK_CHANNELS, max(BLOCK_CHANNELS)))

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alpha.values())

    def weight_parameters(self) -> list[nn.Parameter]:
        return list(self.nets.parameters())

    def logits(self, name: str) -> torch.Tensor:
        """The architecture logits of one decision, removed choices at minus infinity."""
        a = self.alpha[name]
        return a + getattr(self, f"removed_{name}") if self.masked else a

    def probabilities(self) -> dict[str, torch.Tensor]:
        """softmax(alpha) per decision: the distribution the expected cost is taken under."""
        return {name: F.softmax(self.logits(name), dim=0) for name in self.alpha}

    def derive(self) -> Arch:
        """The most probable architecture (argmax per decision, normalised by the space)."""
        return self.space.arch([int(self.logits(name).argmax()) for name in self.names])

    def sample_gates(self, tau: float, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Straight-through Gumbel-softmax gates: one-hot forward, soft gradient."""
        gates = {}
        for name in self.alpha:
            a = self.logits(name)
            # drawn on the CPU (where the generator is): the same noise on every device
            u = torch.rand(a.shape, generator=generator).to(a.device).clamp_(1e-10, 1 - 1e-10)
            soft = F.softmax((a - torch.log(-torch.log(u))) / tau, dim=0)
            hard = F.one_hot(soft.argmax(), len(a)).to(soft.dtype)
            gates[name] = hard - soft.detach() + soft
        return gates

    def forward(self, x: torch.Tensor, gates: dict[str, torch.Tensor]) -> torch.Tensor:
        idx = {name: int(g.argmax()) for name, g in gates.items()}
        family = idx["family"]
        net = self.nets[family]
        assert isinstance(net, _FamilyNet)
        x = x.unsqueeze(1) if net.two_d else x.transpose(1, 2)
        dims = 2 if net.two_d else 1
        stride0 = FIRST_STRIDES[idx["first_stride"]][:dims]
        c0 = FIRST_CHANNELS[idx["first_channels"]]
        depth = idx["depth"] + 1
        # A gate that scales a tensor feeding conv + batch norm gets no gradient: the batch norm
        # divides the scale out (per channel after a depthwise conv). That holds for every
        # operator gate and channel mask inside the chain, so the sampled entry of every active
        # decision's gate multiplies the logits instead, as the family gate does: forward value
        # 1, and each sampled choice learns whether the sampled network beats its own average
        # logit. (The last block's channel mask does reach the loss, but only for choices
        # narrower than the sampled one: it gives all the wider ones and the sampled one the
        # same gradient, which the softmax cancels, so its sampled entry is in the product too.)
        path = [("first_kernel", "first_stride", "first_channels")] + [
            (f"b{i}_kernel", f"b{i}_stride", f"b{i}_channels") for i in range(depth)
        ]
        path_gate = torch.stack([gates[name][idx[name]] for names in path for name in names]).prod()
        y = net.first(idx["first_kernel"])(x, stride0, c0)
        view = (1, -1) + (1,) * dims
        y = y * (gates["first_channels"] @ self.first_mask)[:c0].view(view)
        for i in range(depth):
            k, s = idx[f"b{i}_kernel"], idx[f"b{i}_stride"]
            dw, pw = net.block(i, k)
            y = dw(y, (BLOCK_STRIDES[s],) * dims)
            c = BLOCK_CHANNELS[idx[f"b{i}_channels"]]
            # FBNetV2 channel mask: only the last block's reaches the loss (no batch norm after it)
            y = pw(y, (1,) * dims, c) * (gates[f"b{i}_channels"] @ self.block_mask)[:c].view(view)
        pooled = y.mean(dim=tuple(range(2, 2 + dims))) * gates["depth"][idx["depth"]]
        logits = F.linear(pooled, net.classifier.weight[:, : pooled.shape[1]], net.classifier.bias)
        return logits * (gates["family"][family] * path_gate)


def param_count(module: nn.Module) -> int:
    return sum(math.prod(p.shape) for p in module.parameters())
