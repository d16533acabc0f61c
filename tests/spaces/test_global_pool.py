"""Global pooling written as an average pool: the same float function and checkpoints as ``mean``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgenas.spaces import KwsSpace, MbconvSpace
from edgenas.spaces.kws import FAMILIES
from edgenas.spaces.nn.blocks import GlobalAvgPool


class _MeanPool(nn.Module):
    """The former pooling of the spaces' networks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=tuple(range(2, x.dim())))


def _kws(family: str) -> tuple[nn.Module, torch.Tensor]:
    space = KwsSpace(num_classes=5)
    rng = np.random.default_rng(1)
    arch = next(a for a in (space.sample(rng) for _ in range(200)) if FAMILIES[a.genes[0]] == family)
    torch.manual_seed(0)
    return space.build(arch).eval(), torch.randn(3, *space.input_shape)


@pytest.mark.parametrize("shape", [(2, 8, 25, 5), (2, 8, 13), (2, 8, 1, 1), (2, 8, 1), (2, 8, 7, 3)])
def test_pool_equals_the_spatial_mean(shape: tuple[int, ...]) -> None:
    x = torch.randn(*shape)
    torch.testing.assert_close(GlobalAvgPool()(x), _MeanPool()(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("family", ["2d", "1d"])
def test_kws_network_output_equals_the_mean_form(family: str) -> None:
    model, x = _kws(family)
    with torch.no_grad():
        new = model(x)
        model.pool = _MeanPool()
        old = model(x)
    torch.testing.assert_close(new, old, rtol=0, atol=1e-6)


def test_mbconv_network_output_equals_the_mean_form() -> None:
    space = MbconvSpace.for_task((1, 28, 28), 10)
    torch.manual_seed(0)
    model = space.build(space.sample(np.random.default_rng(3))).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        new = model(x)
        model.pool = _MeanPool()
        old = model(x)
    torch.testing.assert_close(new, old, rtol=0, atol=1e-6)


@pytest.mark.parametrize("family", ["2d", "1d"])
def test_old_kws_checkpoint_loads(family: str) -> None:
    model, _ = _kws(family)
    state = model.state_dict()
    # a checkpoint written before the pooling was a module held only the convs and the classifier
    assert all(key.split(".")[0] in ("features", "classifier") for key in state)
    fresh, _ = _kws(family)
    fresh.load_state_dict({k: v.clone() for k, v in state.items()}, strict=True)
