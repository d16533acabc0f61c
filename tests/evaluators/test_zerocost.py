"""Zero-cost proxies: finite, deterministic, space-agnostic; the evaluator and --evaluator parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from edgenas._rng import seed_for
from edgenas.errors import UnknownNameError
from edgenas.evaluators.zerocost import PROXIES, ZeroCostEvaluator, get_proxy
from edgenas.spaces import KwsSpace
from edgenas.tasks.base import Split, TaskData
from edgenas.trial import Metrics

NAMES = ("synflow", "naswot", "grad-norm", "snip", "params", "macs")


def _tiny(seed: int = 0, width: int = 8) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, stride=2, padding=1),
        nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 3),
    )


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, 1, 8, 8, generator=g), torch.arange(16) % 3


def test_registry_lists_every_proxy() -> None:
    assert set(PROXIES.names()) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_proxy_is_finite_and_deterministic(name: str) -> None:
    x, y = _batch()
    first = get_proxy(name)(_tiny(), x, y)
    second = get_proxy(name)(_tiny(), x.clone(), y.clone())
    assert math.isfinite(first) and first == second


def test_proxies_see_the_architecture() -> None:
    x, y = _batch()
    narrow, wide = _tiny(width=4), _tiny(width=16)
    assert get_proxy("params")(wide, x, y) > get_proxy("params")(narrow, x, y)
    # 8x8 input: conv1 64*w*9, conv2 16*w*w*9, linear 3w (MACs per inference).
    assert get_proxy("macs")(_tiny(width=8), x, y) == 64 * 8 * 9 + 16 * 8 * 8 * 9 + 3 * 8
    assert get_proxy("synflow")(wide, x, y) > get_proxy("synflow")(narrow, x, y)  # more paths, more flow
    # NASWOT: log det of a 16x16 kernel, each entry at most the number of units.
    units = 8 * 8 * 8 + 8 * 4 * 4
    assert 0 < get_proxy("naswot")(_tiny(), x, y) <= 16 * math.log(16 * units)


def test_naswot_without_activations_is_a_clear_failure() -> None:
    from edgenas.evaluators import TrialFailed

    x, y = _batch()
    with pytest.raises(TrialFailed, match="activation"):
        get_proxy("naswot")(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), x, y)


def test_unknown_proxy_lists_the_available_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_proxy("jacov")
    for name in NAMES:
        assert name in str(info.value)


def _task(n: int = 40) -> TaskData:
    rng = np.random.default_rng(0)
    split = Split(rng.standard_normal((n, 49, 10)).astype(np.float32), (np.arange(n) % 4).astype(np.int64))
    return TaskData("toy", ("a", "b", "c", "d"), split, split, split, (49, 10), np.zeros(10), np.ones(10), "random")


@pytest.mark.parametrize("name", NAMES)
def test_evaluator_is_deterministic_and_labels_its_signal(name: str) -> None:
    space = KwsSpace(num_classes=4, max_depth=2)
    arch = space.sample(np.random.default_rng(3))
    first = ZeroCostEvaluator(space, _task(), proxy=name, batch_size=16, seed=0).evaluate(arch)
    again = ZeroCostEvaluator(space, _task(), proxy=name, batch_size=16, seed=0).evaluate(arch)
    assert first.accuracy == again.accuracy and math.isfinite(first.accuracy)
    assert first.signal == f"zerocost:{name}" and not first.is_accuracy
    assert Metrics.from_dict(first.to_dict()) == first  # the label survives the store


def test_evaluator_scores_the_network_training_starts_from() -> None:
    from edgenas.evaluators.train import TrainEvaluator

    space, data = KwsSpace(num_classes=4, max_depth=2), _task()
    arch = space.sample(np.random.default_rng(1))
    built = ZeroCostEvaluator(space, data).initial_module(arch)
    generator = torch.Generator().manual_seed(seed_for(0, "train", arch.key()))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
        reference = space.build(arch)
    for a, b in zip(built.state_dict().values(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert TrainEvaluator(space, data).name == "train"
