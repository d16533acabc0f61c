"""The detection space: IR equals the module it builds, every head choice runs on the int8 NPU and
the microcontrollers, later stages are inactive when no head reads them, and tasks pick it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from edgenas.errors import InvalidInputError
from edgenas.hardware import load_target
from edgenas.ir import Op, total_macs, total_params
from edgenas.opset import missing, network_requirements
from edgenas.spaces import SPACES, filter_by_ops, space_for
from edgenas.spaces.detection import DetectionSpace
from edgenas.spaces.nn.blocks import fold_batchnorm
from edgenas.testing import check_space

HEAD = ("levels", "head_width", "head_depth", "head_kernel", "resolution")


def test_space_contract() -> None:
    check_space(DetectionSpace(), samples=20)
    check_space(DetectionSpace(vocabulary="imagenet", resolutions=(64,)), samples=5)


@pytest.mark.parametrize("seed", range(4))
def test_ir_matches_the_built_module(seed: int) -> None:
    space = DetectionSpace(num_classes=3, resolutions=(32, 48))
    arch = space.sample(np.random.default_rng(seed))
    model = fold_batchnorm(space.build(arch).eval())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        outputs = model(torch.zeros(1, *space.input_shape(arch)))
    layers = space.layers(arch)
    assert counter.get_total_flops() == 2 * total_macs(layers)
    assert sum(p.numel() for p in model.parameters()) == total_params(layers)
    heads = [layer for layer in layers if layer.name.endswith(".out")]
    assert [o.shape[1:] for o in outputs] == [(h.out_shape[2], h.out_shape[0], h.out_shape[1]) for h in heads]
    assert all(h.out_channels == 3 + 4 for h in heads) and len(heads) == len(space.strides(arch))


def test_two_levels_read_two_backbone_maps_and_nothing_unread_is_built() -> None:
    space = DetectionSpace(resolutions=(64,))
    genes = list(space.arch([0] * len(space.decisions())).genes)
    index = {d.name: i for i, d in enumerate(space.decisions())}
    genes[index["levels"]] = space.decisions()[index["levels"]].choices.index("8+16")
    two = space.arch(genes)
    outs = [layer for layer in space.layers(two) if layer.name.endswith(".out")]
    assert [layer.out_shape[:2] for layer in outs] == [(8, 8), (4, 4)]
    # one stride-8 level: the stride-16 stage is not built, its genes are inactive (normalised to 0)
    genes[index["levels"]] = 0
    genes[index["s4_width"]] = 2
    one = space.arch(genes)
    assert one.genes[index["s4_width"]] == 0
    assert not any(layer.out_shape[:2] == (4, 4) for layer in space.layers(one))
    assert "det s8 w16 d1 k3" in space.describe(one)


@pytest.mark.parametrize("target", ["npu-int8", "cortex-m4", "cortex-m7", "cortex-m33"])
def test_every_head_choice_passes_the_operator_filter_and_nothing_falls_back(target: str) -> None:
    space = DetectionSpace.for_task((3, 96, 96), 4)
    chosen = load_target(target)
    filtered, removed = filter_by_ops(space, chosen.native_ops, chosen.name)
    assert not any(message.split("removed choice ")[1].startswith(HEAD) for message in removed)
    allowed = getattr(filtered, "allowed", [range(len(d.choices)) for d in space.decisions()])
    for i, decision in enumerate(space.decisions()):
        if decision.name in HEAD:
            assert len(allowed[i]) == len(decision.choices), decision.name
    rng = np.random.default_rng(0)
    for _ in range(30):
        layers = filtered.layers(filtered.sample(rng))
        assert not missing(network_requirements(layers), chosen.native_ops)
        if target == "npu-int8":  # no sigmoid, no multiplication on the NPU: no SE, no swish survive
            assert not {layer.op for layer in layers} & {Op.SIGMOID, Op.HARD_SIGMOID, Op.MUL}


def test_reference_is_a_small_one_level_net_that_the_npu_runs() -> None:
    space = DetectionSpace.for_task((3, 96, 96), 4)
    name, arch = space.reference()
    assert name == "mobilenetv2-micro-det"
    assert space.describe(arch).endswith("det s8 w32 d1 k3") and space.input_shape(arch) == (3, 96, 96)
    assert not missing(network_requirements(space.layers(arch)), load_target("npu-int8").native_ops)


def test_for_task_offers_the_data_size_and_smaller_sizes() -> None:
    assert DetectionSpace.for_task((3, 96, 96), 4).resolutions == (64, 96)
    assert DetectionSpace.for_task((3, 32, 32), 4).resolutions == (32,)
    with pytest.raises(InvalidInputError, match="square images"):
        DetectionSpace.for_task((3, 96, 64), 4)
    assert SPACES.create("detection").name == "detection"


class _Data:
    def __init__(self, task: str) -> None:
        self.task, self.name, self.input_shape, self.classes = task, "d", (3, 32, 32), ("a", "b")


def test_detection_data_are_searched_in_the_detection_space_only() -> None:
    assert space_for(_Data("detection")).name == "detection"
    with pytest.raises(InvalidInputError, match="--task detection is searched in --space detection"):
        space_for(_Data("detection"), "mbconv-micro")
    with pytest.raises(InvalidInputError, match="--space detection searches object detectors"):
        space_for(_Data("images"), "detection")
