"""The kws supernet: subnets are exact slices, extraction is faithful, training learns, bad input is clear."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgenas.errors import InvalidInputError
from edgenas.evaluators.base import TrialFailed
from edgenas.evaluators.supernet import KwsSupernetEvaluator
from edgenas.evaluators.supernet.kws import extreme_plan, strided_largest_plan
from edgenas.spaces import SPACES
from edgenas.spaces.kws import KwsSpace
from edgenas.supernets.weight_sharing.kws import KwsSharedSupernet
from edgenas.tasks.base import Split, TaskData


def tiny_task(n: int = 96, classes: int = 3, seed: int = 0) -> TaskData:
    """A learnable toy task: the class shifts the mean of one MFCC band (no audio needed)."""
    rng = np.random.default_rng(seed)

    def split(m: int) -> Split:
        y = rng.integers(classes, size=m)
        x = rng.normal(size=(m, 49, 10)).astype(np.float32)
        x[np.arange(m), :, y] += 3.0
        return Split(x, y.astype(np.int64))

    return TaskData(
        "toy",
        tuple(f"c{i}" for i in range(classes)),
        split(n),
        split(48),
        split(48),
        (49, 10),
        np.zeros(10, np.float32),
        np.ones(10, np.float32),
        "synthetic test data",
    )


@pytest.mark.parametrize("family", ["2d", "1d", "both"])
def test_extracted_subnet_computes_what_the_supernet_slice_computes(family: str) -> None:
    space = KwsSpace(num_classes=3, max_depth=3)
    torch.manual_seed(0)
    net = KwsSharedSupernet(space, family).eval()
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    rng = np.random.default_rng(1)
    x = torch.randn(4, 49, 10)
    for i in range(6):
        genes = list(space.sample(rng).genes)
        genes[0] = {"2d": 0, "1d": 1, "both": i % 2}[family]
        arch = space.arch(genes)
        plan = space.plan(arch)
        sub = net.extract(plan).eval()
        assert type(sub) is type(space.build(arch))
        assert sum(p.numel() for p in sub.parameters()) == sum(p.numel() for p in space.build(arch).parameters())
        torch.testing.assert_close(sub(x), net(x, plan), rtol=1e-4, atol=1e-5)


def test_extreme_plans_bound_the_space() -> None:
    space = KwsSpace()
    big, small = extreme_plan(space, "2d", True), extreme_plan(space, "2d", False)
    assert len(big["blocks"]) == space.max_depth and len(small["blocks"]) == 1
    assert big["first_channels"] > small["first_channels"]


def test_strided_largest_is_the_extreme_with_a_strided_first_conv() -> None:
    space = KwsSpace()
    for family in ("2d", "1d"):
        big, strided = extreme_plan(space, family, True), strided_largest_plan(space, family)
        assert strided["first_stride"] == (2, 2) and big["first_stride"] == (1, 1)
        assert strided["blocks"] == big["blocks"] and strided["first_channels"] == big["first_channels"]


@pytest.mark.parametrize(("largest", "distill"), [("none", False), ("strided", True)])
def test_every_sandwich_role_learns(largest: str, distill: bool) -> None:
    space = KwsSpace(num_classes=3, max_depth=2)
    settings = {"epochs": 4, "batch_size": 32, "lr": 0.02, "largest": largest, "distill": distill, "families": ("1d",)}
    evaluator = KwsSupernetEvaluator(space, tiny_task(n=96), **settings)
    evaluator.supernets()
    first, last = evaluator.history[0], evaluator.history[-1]
    roles = {"smallest", "random"} | ({"largest"} if largest != "none" else set())
    assert set(first) - {"family", "epoch", "warmup"} == roles
    for role in roles:
        assert last[role] < first[role] - 0.1, (role, first, last)


def test_a_shared_supernet_trains_both_families_in_turn() -> None:
    space = KwsSpace(num_classes=3, max_depth=2)
    settings = {"epochs": 3, "batch_size": 32, "lr": 0.02, "share_families": True, "finetune_steps": 0}
    evaluator = KwsSupernetEvaluator(space, tiny_task(n=96), **settings)
    nets = evaluator.supernets()
    assert nets["2d"] is nets["1d"]  # one set of weights
    by_family = {f: [h for h in evaluator.history if h["family"] == f] for f in ("2d", "1d")}
    for family, rows in by_family.items():
        assert len(rows) == 3 and rows[-1]["random"] < rows[0]["random"] - 0.1, (family, rows)
    for genes in ([0, 2, 2, 0, 1, 3, 0, 0, 3, 1, 0], [1, 2, 2, 0, 1, 3, 0, 0, 3, 1, 0]):
        assert evaluator.evaluate(space.arch(genes)).accuracy > 0.5  # chance is 1/3


def test_finetuning_is_deterministic_and_reuses_the_cached_supernet(tmp_path: Path) -> None:
    space = KwsSpace(num_classes=3, max_depth=1)
    data, cache = tiny_task(n=64), tmp_path / "supernet.pt"
    settings = {"epochs": 1, "batch_size": 32, "families": ("1d",), "cache": cache}
    arch = space.arch([1, 2, 2, 0, 0, 3, 0, 0])
    plain = KwsSupernetEvaluator(space, data, finetune_steps=0, **settings).subnet(arch)
    tuned = [KwsSupernetEvaluator(space, data, finetune_steps=20, **settings) for _ in range(2)]
    nets = [e.subnet(arch) for e in tuned]
    assert all(e.train_seconds == 0.0 for e in tuned)  # the supernet came from the cache both times
    for b, c in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(b, c, rtol=0, atol=0)  # same weights, same steps: same network
    assert any(not torch.equal(a, b) for a, b in zip(plain.parameters(), nets[0].parameters(), strict=True))


def test_warmup_epochs_train_the_largest_alone() -> None:
    space = KwsSpace(num_classes=3, max_depth=1)
    settings = {"epochs": 1, "warmup_epochs": 1, "batch_size": 48, "largest": "strided", "families": ("1d",)}
    evaluator = KwsSupernetEvaluator(space, tiny_task(n=96), **settings)
    evaluator.supernets()
    warm, after = evaluator.history
    assert warm["warmup"] and set(warm) == {"family", "epoch", "warmup", "largest"}
    assert not after["warmup"] and {"largest", "smallest", "random"} <= set(after)


def test_bad_schedules_are_clear_errors() -> None:
    space, data = KwsSpace(num_classes=3), tiny_task()
    with pytest.raises(InvalidInputError, match="largest must be one of"):
        KwsSupernetEvaluator(space, data, largest="huge")
    with pytest.raises(InvalidInputError, match="need a largest network"):
        KwsSupernetEvaluator(space, data, largest="none", distill=True)
    with pytest.raises(InvalidInputError, match=">= 0"):
        KwsSupernetEvaluator(space, data, random_per_step=-1)
    with pytest.raises(InvalidInputError, match=">= 0"):
        KwsSupernetEvaluator(space, data, finetune_steps=-5)


def test_supernet_evaluator_learns_and_caches(tmp_path: Path) -> None:
    space = KwsSpace(num_classes=3, max_depth=1)
    data = tiny_task(n=64)
    cache = tmp_path / "supernet.pt"
    settings = {"epochs": 3, "batch_size": 32, "seed": 0, "calibration_batches": 2, "families": ("1d",)}
    evaluator = KwsSupernetEvaluator(space, data, cache=cache, **settings)
    arch = space.arch([1, 2, 2, 0, 0, 3, 0, 0])  # 1d, c48, k3, stride 2, depth 1, block c48
    first = evaluator.evaluate(arch)
    assert first.extra["inherited"] == 1.0 and first.accuracy > 0.6  # chance is 1/3
    assert cache.exists()
    again = KwsSupernetEvaluator(space, data, cache=cache, **settings)
    assert again.evaluate(arch).accuracy == first.accuracy  # loaded, not retrained: same weights
    assert again.train_seconds == 0.0
    other = KwsSupernetEvaluator(space, data, cache=cache, **{**settings, "largest": "strided"})
    other.supernets()
    assert other.train_seconds > 0.0  # another schedule's weights are not reused
    with pytest.raises(TrialFailed, match="1d family only"):
        again.evaluate(space.arch([0, 2, 2, 0, 0, 3, 0, 0]))


def test_spaces_without_a_supernet_are_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="has no supernet yet.*kws"):
        KwsSupernetEvaluator(SPACES.create("nb201"), tiny_task())
