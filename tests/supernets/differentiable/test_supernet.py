"""Every decision on the sampled path gets a cross-entropy gradient of the same order.

Regression test: the operator gates (kernel, stride) and the channel masks used to multiply
tensors that then went through conv + batch norm, which divides any such scale out, so those
logits only saw ~1e-7 of float noise (which Adam then amplified into a random walk), and the
search chose them by the cost term alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edgenas.spaces import KwsSpace
from edgenas.supernets.differentiable.supernet import KwsGumbelSupernet


def _active(net: KwsGumbelSupernet, gates: dict[str, torch.Tensor]) -> list[str]:
    depth = int(gates["depth"].argmax()) + 1
    names = ["family", "depth", "first_channels", "first_kernel", "first_stride"]
    return names + [f"b{i}_{d}" for i in range(depth) for d in ("channels", "kernel", "stride")]


def test_every_active_decision_learns_from_the_cross_entropy():
    space = KwsSpace(max_depth=3)
    torch.manual_seed(0)
    net = KwsGumbelSupernet(space)
    x, y = torch.randn(32, 49, 10), torch.randint(0, 12, (32,))
    generator = torch.Generator().manual_seed(3)
    for _ in range(6):
        net.zero_grad()
        gates = net.sample_gates(1.0, generator)
        F.cross_entropy(net(x, gates), y).backward()
        norms = {n: float(net.alpha[n].grad.abs().sum()) for n in _active(net, gates)}
        biggest = max(norms.values())
        assert biggest > 0
        for name, norm in norms.items():  # was ~1e-5 of the family's for kernels, strides, first layer
            assert norm > 1e-2 * biggest, (name, norms)
        depth = int(gates["depth"].argmax()) + 1
        for i in range(depth, space.max_depth):  # blocks that did not run learn nothing
            assert net.alpha[f"b{i}_kernel"].grad is None or float(net.alpha[f"b{i}_kernel"].grad.abs().sum()) == 0


def test_gates_do_not_change_the_forward_pass():
    """The straight-through gates are 1 in the forward pass: the supernet's output with gates equals
    the output with plain one-hot vectors."""
    space = KwsSpace(max_depth=3)
    torch.manual_seed(0)
    net = KwsGumbelSupernet(space)
    x = torch.randn(8, 49, 10)
    gates = net.sample_gates(0.7, torch.Generator().manual_seed(5))
    hard = {n: F.one_hot(g.argmax(), len(g)).float() for n, g in gates.items()}
    torch.testing.assert_close(net(x, gates), net(x, hard), rtol=1e-5, atol=1e-6)
