"""The mbconv supernet: subnets are exact slices, extraction is faithful, training learns and is
deterministic, bad input is a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgenas.errors import InvalidInputError
from edgenas.evaluators.supernet import SUPERNET_SPACES, KwsSupernetEvaluator, MbconvSupernetEvaluator, supernet_evaluator
from edgenas.evaluators.supernet.mbconv import extreme_arch
from edgenas.spaces import SPACES, KwsSpace, MbconvSpace, OpFilteredSpace
from edgenas.supernets.weight_sharing.mbconv import MbconvSharedSupernet, stage_depths
from edgenas.tasks.base import Split, TaskData

#: The npu-int8 choices (relu/relu6, no SE, int8) at a small resolution, so tests stay fast.
NPU_SPACE = {"activations": ("relu", "relu6"), "squeeze_excite": False, "precisions": ("int8",)}


def tiny_images(n: int = 64, size: int = 16, seed: int = 0) -> TaskData:
    """A learnable toy image task: class 1 images are brighter, class 0 darker (pooling keeps that)."""
    rng = np.random.default_rng(seed)

    def split(m: int) -> Split:
        y = rng.integers(2, size=m)
        x = rng.normal(size=(m, 1, size, size)).astype(np.float32)
        x[y == 1] += 1.0
        x[y == 0] -= 1.0
        return Split(x, y.astype(np.int64))

    return TaskData(
        "toy-images",
        ("dark", "bright"),
        split(n),
        split(64),
        split(32),
        (1, size, size),
        np.zeros(1, np.float32),
        np.ones(1, np.float32),
        "synthetic test data",
    )


def _randomise_batchnorm(net: torch.nn.Module) -> None:
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)


@pytest.mark.parametrize(
    "options", [{}, NPU_SPACE, {**NPU_SPACE, "vocabulary": "micro"}], ids=["full-space", "npu-int8-choices", "micro"]
)
def test_extracted_subnet_computes_what_the_supernet_slice_computes(options: dict) -> None:
    # the full space exercises SE (both styles), swish / hard-swish and the head FC too
    space = MbconvSpace(num_classes=5, in_channels=1, resolutions=(16, 20), **options)
    torch.manual_seed(0)
    net = MbconvSharedSupernet(space).eval()
    _randomise_batchnorm(net)
    rng = np.random.default_rng(3)
    for _ in range(3):
        arch = space.sample(rng)
        plan = space.plan(arch)
        sub = net.extract(plan, stage_depths(space, arch)).eval()
        reference = space.build(arch)
        assert type(sub) is type(reference)
        reference.load_state_dict(sub.state_dict())  # same module, same parameter shapes
        x = torch.randn(2, 1, plan.resolution, plan.resolution)
        with torch.no_grad():
            torch.testing.assert_close(sub(x), net(x, plan, stage_depths(space, arch)), rtol=1e-5, atol=1e-6)


def test_smaller_choices_are_slices_of_the_larger_ones() -> None:
    space = MbconvSpace(num_classes=3, in_channels=1, resolutions=(16,), **NPU_SPACE)
    net = MbconvSharedSupernet(space)
    k7 = space.from_values({"s1_depth": 1, "s1b0_kernel": 7, "s1b0_expand": 6})
    k3 = space.from_values({"s1_depth": 1, "s1b0_kernel": 3, "s1b0_expand": 3})
    big = net.extract(space.plan(k7), stage_depths(space, k7)).blocks[0].dw.conv.weight
    small = net.extract(space.plan(k3), stage_depths(space, k3)).blocks[0].dw.conv.weight
    assert big.shape[2:] == (7, 7) and small.shape[2:] == (3, 3)
    torch.testing.assert_close(small, big[: small.shape[0], :, 2:5, 2:5])  # first channels, centre crop


def test_extreme_archs_bound_the_space() -> None:
    space = MbconvSpace(num_classes=10, in_channels=1, resolutions=(28,), **NPU_SPACE)
    big, small = extreme_arch(space, True), extreme_arch(space, False)
    params = [sum(p.numel() for p in space.build(a).parameters()) for a in (big, small)]
    rng = np.random.default_rng(0)
    for _ in range(5):
        n = sum(p.numel() for p in space.build(space.sample(rng)).parameters())
        assert params[1] <= n <= params[0]
    assert space.values(big)["s5_depth"] == 6 and space.values(small)["s5_depth"] == 1


def small_choices(space: MbconvSpace) -> OpFilteredSpace:
    """``space`` restricted to its small choices (as a target filter would), so training is quick."""
    limits = {"_depth": 1, "_width": 16, "_kernel": 5, "_expand": 3, "head_width": 256, "head_fc": 0}
    allowed = []
    for d in space.decisions():
        limit = next((v for k, v in limits.items() if d.name.endswith(k)), None)
        allowed.append([i for i, c in enumerate(d.choices) if limit is None or c <= limit] or [0])
    return OpFilteredSpace(space, allowed, frozenset())


@pytest.fixture
def one_torch_thread():
    """Training numerics depend on the thread count (float sums split across threads): on a
    2-core AVX-512 host the 16 steps lowered the loss by 9 %, on one thread by the asserted 20 %."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_training_lowers_the_loss_and_caches(tmp_path: Path, one_torch_thread: None) -> None:
    space = small_choices(MbconvSpace(num_classes=2, in_channels=1, resolutions=(16,), **NPU_SPACE))
    data = tiny_images()
    settings = {"epochs": 4, "batch_size": 16, "seed": 0, "calibration_batches": 2}
    evaluator = MbconvSupernetEvaluator(space, data, cache=tmp_path / "net.pt", **settings)
    x, y = torch.from_numpy(data.val.x), torch.from_numpy(data.val.y)
    big = extreme_arch(space, True)

    def largest_loss() -> float:  # the largest subnet, extracted and batch-norm recalibrated
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(evaluator.subnet(big)(x), y).item()

    evaluator._net = evaluator._fresh()  # untrained weights first
    before = largest_loss()
    evaluator._net = None
    evaluator.supernet()  # trains
    assert largest_loss() < 0.8 * before
    # the sandwich's two ends learn in 16 steps (chance is 1/2); a random middle subnet needs
    # many more steps than a unit test affords, so only its scoring is checked here
    assert evaluator.evaluate(extreme_arch(space, False)).accuracy > 0.8
    arch = space.sample(np.random.default_rng(5))
    first = evaluator.evaluate(arch)
    assert first.extra["inherited"] == 1.0 and 0.0 <= first.accuracy <= 1.0
    # cached: loaded, not retrained
    loaded = MbconvSupernetEvaluator(space, data, cache=tmp_path / "net.pt", **settings)
    assert loaded.evaluate(arch).accuracy == first.accuracy and loaded.train_seconds == 0.0
    assert loaded.train_cpu_seconds == evaluator.train_cpu_seconds > 0  # the one-off cost travels with the cache


def test_same_seed_same_supernet_and_scores() -> None:
    space = small_choices(MbconvSpace(num_classes=2, in_channels=1, resolutions=(16,), **NPU_SPACE))
    data = tiny_images(n=32)
    settings = {"epochs": 1, "batch_size": 16, "seed": 3, "calibration_batches": 1}
    one, two = (MbconvSupernetEvaluator(space, data, **settings) for _ in range(2))
    for (name, a), (_, b) in zip(one.supernet().state_dict().items(), two.supernet().state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    arch = space.sample(np.random.default_rng(5))
    assert one.evaluate(arch).accuracy == two.evaluate(arch).accuracy
    other = MbconvSupernetEvaluator(space, data, **{**settings, "seed": 4}).supernet()
    assert not torch.equal(other.stem.weight, one.supernet().stem.weight)  # the seed matters


def test_factory_picks_the_space_and_names_the_supported_ones() -> None:
    data = tiny_images(n=8)
    assert "mbconv" in SUPERNET_SPACES and "kws" in SUPERNET_SPACES
    space = MbconvSpace(num_classes=2, in_channels=1, resolutions=(16,))
    assert isinstance(supernet_evaluator(space, data, epochs=1), MbconvSupernetEvaluator)
    assert isinstance(supernet_evaluator(KwsSpace(num_classes=3), data, epochs=1), KwsSupernetEvaluator)
    with pytest.raises(InvalidInputError, match="has no supernet yet.*kws, mbconv"):
        supernet_evaluator(SPACES.create("nb201"), data)


def test_bad_input_is_a_clear_error() -> None:
    data = tiny_images(n=8)
    with pytest.raises(InvalidInputError, match="needs the mbconv space"):
        MbconvSupernetEvaluator(KwsSpace(num_classes=3), data)
    space = MbconvSpace(num_classes=2, in_channels=1, resolutions=(16,))
    with pytest.raises(InvalidInputError, match="no families"):
        MbconvSupernetEvaluator(space, data, families=("2d",))
    with pytest.raises(InvalidInputError, match="1 channels, the mbconv space 3"):
        MbconvSupernetEvaluator(MbconvSpace(num_classes=2, in_channels=3, resolutions=(16,)), data)
    # a supernet built without SE weights refuses an SE block rather than silently dropping it
    no_se = MbconvSharedSupernet(MbconvSpace(num_classes=2, in_channels=1, resolutions=(16,), squeeze_excite=False))
    se_arch = space.from_values({"s1_depth": 1, "s1b0_se": True})
    with pytest.raises(InvalidInputError, match="without squeeze-and-excitation"):
        no_se.check_plan(space.plan(se_arch))
    with pytest.raises(InvalidInputError, match="3 classes"):
        MbconvSharedSupernet(MbconvSpace(num_classes=3, in_channels=1)).check_plan(space.plan(se_arch))


def test_zero_init_residual_starts_extra_depth_as_the_identity() -> None:
    space = MbconvSpace(num_classes=3, in_channels=1, resolutions=(16,), **NPU_SPACE)
    torch.manual_seed(0)
    net = MbconvSharedSupernet(space, zero_init_residual=True).eval()
    shallow, deep = (space.from_values({"s1_depth": d, "s1_width": 16, "s2_width": 24}) for d in (1, 2))
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        outputs = [net(x, space.plan(a), stage_depths(space, a)) for a in (shallow, deep)]
    torch.testing.assert_close(outputs[0], outputs[1])  # the second block of stage 1 adds nothing yet
