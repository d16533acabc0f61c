"""Which space a task is searched in: images go to ``mbconv`` at their resolution, MFCC maps to
``kws``; ``--space`` overrides; the ``mbconv`` space filtered for an int8 NPU never proposes a
kernel the NPU lacks; ``--train-subset`` keeps class proportions and is deterministic."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from edgenas.errors import InvalidInputError
from edgenas.export.audit import audit_layers
from edgenas.hardware import load_target
from edgenas.spaces import SPACES, KwsSpace, MbconvSpace, filter_by_ops, space_for
from edgenas.tasks.base import Split, TaskData, subset_train
from edgenas.workflows.search import SearchConfig


def _data(shape: tuple[int, ...], classes: int = 10) -> SimpleNamespace:
    return SimpleNamespace(name="toy", input_shape=shape, classes=tuple(str(c) for c in range(classes)))


def test_images_are_searched_in_mbconv_at_their_resolution_and_mfcc_in_kws() -> None:
    space = space_for(_data((1, 28, 28)))
    assert isinstance(space, MbconvSpace) and space.resolutions == (28,) and space.in_channels == 1
    assert space.vocabulary == "micro"  # small images: the micro vocabulary; larger ones: imagenet
    assert (
        space_for(_data((3, 96, 96))).vocabulary == "imagenet"
        and space_for(_data((1, 28, 28)), "mbconv").vocabulary == "imagenet"
    )
    assert space.num_classes == 10 and space.input_shape(space.sample(np.random.default_rng(0))) == (1, 28, 28)
    assert isinstance(space_for(_data((49, 10), 12)), KwsSpace)
    old = space_for(_data((1, 28, 28)), "kws")  # the behaviour before mbconv was wired in
    assert isinstance(old, KwsSpace) and old.input_shape == (28, 28)


@pytest.mark.parametrize(
    ("shape", "name", "words"),
    [
        ((49, 10), "mbconv", ["searches images", "(49, 10)"]),
        ((3, 32, 24), "mbconv", ["square", "32x24"]),
        ((3, 32, 32), "kws", ["3-channel", "grey"]),
        ((1, 28, 28), "resnet", ["--space", "auto, kws, mbconv, mbconv-micro, nb201, fbnet"]),
        ((49, 10), "mbconv-micro", ["--space mbconv-micro searches images"]),
    ],
)
def test_a_space_that_cannot_take_the_data_is_a_clear_error(shape, name, words) -> None:
    with pytest.raises(InvalidInputError) as info:
        space_for(_data(shape), name)
    assert all(w in str(info.value) for w in words)


def test_differentiable_search_refuses_other_tasks_instead_of_searching_kws_silently() -> None:
    with pytest.raises(InvalidInputError, match="kws space of the kws task"):
        SearchConfig(task="fashion-mnist", strategy="differentiable").validate()
    with pytest.raises(InvalidInputError, match="--space must be one of"):
        SearchConfig(space="vit").validate()


@pytest.mark.parametrize("name", ["auto", "mbconv-micro"])
def test_space_params_rebuild_the_same_genes_and_description(name: str) -> None:
    space, _ = filter_by_ops(space_for(_data((1, 16, 16)), name), load_target("npu-int8").native_ops, "npu-int8")
    arch = space.sample(np.random.default_rng(3))
    rebuilt = SPACES.create("mbconv", **{k: tuple(v) if isinstance(v, list) else v for k, v in space.params().items()})
    assert rebuilt.describe(arch) == space.describe(arch) and rebuilt.layers(arch) == space.layers(arch)


def test_the_mbconv_baseline_is_mobilenetv2_at_the_task_resolution_and_runs_on_the_npu() -> None:
    target = load_target("npu-int8")
    space, _ = filter_by_ops(space_for(_data((1, 28, 28)), "mbconv"), target.native_ops, target.name)
    name, arch = space.reference()
    assert name == "mobilenetv2" and space.describe(arch).startswith("28 c32r6 | c16 k3e1r6 | /2 c24 k3e6r6 k3e6r6")
    assert not audit_layers(space.layers(arch), target).fallback


def test_npu_filter_removes_float_swish_hard_swish_and_se_in_grouped_lines() -> None:
    target = load_target("npu-int8")
    space, messages = filter_by_ops(MbconvSpace(num_classes=10, in_channels=1, resolutions=(28,)), target.native_ops, target.name)
    text = "\n".join(messages)
    assert "removed choice s*b*_se=True (28 decisions" in text and "logistic, mul" in text
    assert "removed choice s*b*_act='swish'" in text and "removed choice s*b*_act='hard_swish'" in text
    assert "removed choice s*b*_quant='float32'" in text and "conv2d[float32]" in text
    assert "removed choice stem_act='swish'" in text  # a one-off decision keeps its own line
    assert len(messages) < 15  # not one line per block
    rng = np.random.default_rng(0)
    for _ in range(40):
        arch = space.mutate(space.sample(rng), rng)
        assert not audit_layers(space.layers(arch), target).fallback, space.describe(arch)


@pytest.mark.parametrize("target_name", ["raspi4", "host"])
def test_cpu_targets_keep_every_mbconv_choice(target_name: str) -> None:
    target = load_target(target_name)
    space = MbconvSpace(num_classes=10, in_channels=1, resolutions=(28,))
    filtered, messages = filter_by_ops(space, target.native_ops, target.name)
    assert filtered is space and messages == ()


def _task(n: int) -> TaskData:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), n // 4)
    split = Split(rng.normal(size=(len(y), 1, 8, 8)).astype(np.float32), y)
    stats = np.zeros(1, np.float32), np.ones(1, np.float32)
    return TaskData("toy", ("a", "b", "c", "d"), split, split, split, (1, 8, 8), *stats, source="made here")


def test_train_subset_is_stratified_deterministic_and_leaves_val_and_test_whole() -> None:
    data = _task(400)
    small = subset_train(data, 100, seed=0)
    assert len(small.train) == 100 and np.bincount(small.train.y).tolist() == [25] * 4
    assert len(small.val) == len(small.test) == 400 and "training subset: 100 of 400" in small.source
    assert np.array_equal(subset_train(data, 100, seed=0).train.x, small.train.x)
    assert not np.array_equal(subset_train(data, 100, seed=1).train.x, small.train.x)
    assert small.fingerprint() != data.fingerprint() and subset_train(data, 1000, seed=0) is data
    with pytest.raises(InvalidInputError, match="--train-subset must be a positive"):
        subset_train(data, 0, seed=0)


@pytest.mark.parametrize("target_name", ["npu-int8", "cortex-m7"])
def test_the_micro_vocabulary_filters_for_small_targets_and_its_baseline_runs_there(target_name: str) -> None:
    target = load_target(target_name)
    space, removed = filter_by_ops(space_for(_data((1, 28, 28)), "mbconv-micro"), target.native_ops, target.name)
    assert space.base.vocabulary == "micro" and removed  # float32 (and on the NPU swish / SE) go
    name, arch = space.reference()
    assert name == "mobilenetv2-micro"
    assert space.describe(arch) == (
        "28 c16r6 | c16 k3e6r6 | /2 c24 k3e6r6 k3e6r6 | /2 c32 k3e6r6 k3e6r6 k3e6r6 | c64 k3e6r6 k3e6r6 k3e6r6 "
        "| /2 c96 k3e6r6 k3e6r6 | h256r6"
    )
    assert not audit_layers(space.layers(arch), target).fallback
    rng = np.random.default_rng(0)
    for _ in range(20):  # every stage present, five stages, no head FC
        plan = space.base.plan(space.sample(rng))
        assert 5 <= len(plan.blocks) <= 11 and plan.head_fc == 0
        assert not audit_layers(space.layers(space.sample(rng)), target).fallback


def test_published_models_belong_to_the_imagenet_vocabulary_and_the_error_says_so() -> None:
    from edgenas.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="point of the imagenet vocabulary"):
        MbconvSpace(10, 1, (28,), vocabulary="micro").named("mobilenetv2")
    with pytest.raises(UnknownNameError, match="point of the micro vocabulary"):
        MbconvSpace(10, 1, (28,)).named("mobilenetv2-micro")
    with pytest.raises(InvalidInputError, match="vocabulary must be one of imagenet, micro"):
        MbconvSpace(vocabulary="tiny")
