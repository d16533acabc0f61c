"""The mbconv space: IR equals the torch module it builds; the zoo models are its named points."""

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from edgenas.errors import InvalidInputError, UnknownNameError
from edgenas.hardware import AnalyticalCostModel, load_target
from edgenas.ir import Op, total_macs, total_params
from edgenas.spaces import SPACES, MbconvSpace
from edgenas.spaces.mbconv_named import ZOO, zoo_entry
from edgenas.spaces.nn.blocks import fold_batchnorm
from edgenas.testing import check_space

FASHION = dict(num_classes=10, in_channels=1, resolutions=(28,))


def test_space_contract():
    check_space(MbconvSpace())
    check_space(MbconvSpace(**FASHION))


@pytest.mark.parametrize("seed", range(6))
def test_ir_matches_torch_counts_and_shapes(seed):
    # small resolution keeps it fast; random archs cover SE styles, activations, empty stages, PADs
    space = MbconvSpace(num_classes=10, in_channels=1, resolutions=(28, 32))
    arch = space.sample(np.random.default_rng(seed))
    model = fold_batchnorm(space.build(arch).eval())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        logits = model(torch.zeros(1, *space.input_shape(arch)))
    layers = space.layers(arch)
    assert logits.shape == (1, 10)
    assert counter.get_total_flops() == 2 * total_macs(layers)
    assert sum(p.numel() for p in model.parameters()) == total_params(layers)
    explicit = [m for m in model.modules() if isinstance(m, torch.nn.ZeroPad2d)]
    assert len(explicit) == sum(layer.op is Op.PAD for layer in layers)


@pytest.mark.parametrize("entry", ZOO, ids=lambda e: e.arch)
def test_named_points_match_the_reference_implementations(entry):
    space = MbconvSpace()
    arch = space.named(entry.arch)
    model = space.build(arch)
    # the training module (batch norm unfolded) has exactly the reference implementation's parameters
    assert sum(p.numel() for p in model.parameters()) == entry.reference_params
    layers = space.layers(arch)
    assert space.input_shape(arch) == (3, entry.resolution, entry.resolution)
    # the deployed IR (BN folded: one bias instead of gamma and beta) is at most 0.5 % smaller
    assert 0.995 * entry.reference_params <= total_params(layers) < entry.reference_params
    # against the papers' rounded figures: params within 3 %, multiply-adds within 2 %
    # (MobileNetV2's paper prints 3.4 M for 3.50 M; MobileNetV3-Large's 219 M vs 216.6 M here)
    assert total_params(layers) == pytest.approx(entry.params_m * 1e6, rel=0.03)
    assert total_macs(layers) == pytest.approx(entry.macs_m * 1e6, rel=0.02)


def test_zoo_exact_figures():
    space = MbconvSpace()
    macs = {e.arch: total_macs(space.layers(space.named(e.arch))) for e in ZOO}
    assert macs["mobilenetv2"] == 300_774_272
    assert macs["mobilenetv3-large"] == 216_589_760
    assert macs["mobilenetv3-small"] == 56_510_400
    assert macs["mnasnet-a1"] == 311_579_072
    assert macs["efficientnet-b0"] == 385_814_752
    assert zoo_entry("EfficientNet-B0").top1 == pytest.approx(0.771)
    with pytest.raises(UnknownNameError, match="Accepted"):
        zoo_entry("resnet50")


def test_se_and_activations_are_ir_ops():
    space = MbconvSpace()
    ops = [layer.op for layer in space.layers(space.named("mobilenetv3-large"))]
    assert Op.HARD_SWISH in ops and Op.HARD_SIGMOID in ops and Op.MUL in ops and Op.SWISH not in ops
    ops = [layer.op for layer in space.layers(space.named("efficientnet-b0"))]
    assert Op.SWISH in ops and Op.SIGMOID in ops
    ops = [layer.op for layer in space.layers(space.named("mobilenetv2"))]
    assert not {Op.MUL, Op.SWISH, Op.HARD_SWISH} & set(ops)


def test_per_block_precision_reaches_the_cost_model():
    space = MbconvSpace(**FASHION)
    genes = list(space.arch([0] * len(space.decisions())).genes)
    index = {d.name: i for i, d in enumerate(space.decisions())}
    int8 = space.arch(genes)
    genes[index["s1b0_quant"]] = 1  # float32
    mixed = space.arch(genes)
    diff = {a.name: (a.weight_bytes, b.weight_bytes) for a, b in zip(space.layers(int8), space.layers(mixed), strict=True)}
    assert diff["b0.dw"][1] == 4 * diff["b0.dw"][0] > 0
    assert diff["stem"][1] == diff["stem"][0]
    target = load_target("cortex-m7")
    model = AnalyticalCostModel()
    assert model.estimate(space.layers(mixed), target).flash_bytes > model.estimate(space.layers(int8), target).flash_bytes


def test_inactive_genes_are_normalised():
    space = MbconvSpace()
    a = space.named("mobilenetv2")
    index = {d.name: i for i, d in enumerate(space.decisions())}
    genes = list(a.genes)
    genes[index["s6b1_kernel"]] = 2  # block beyond stage 6's depth of 1: no effect
    genes[index["se_style"]] = 1  # no block has squeeze-and-excitation: no effect
    assert space.arch(genes) == a


def test_restricted_vocabulary_and_bad_input():
    space = MbconvSpace(activations=("relu", "relu6"), squeeze_excite=False)
    with pytest.raises(InvalidInputError, match="swish"):
        space.named("efficientnet-b0")
    assert space.named("mobilenetv2").space == "mbconv"
    with pytest.raises(InvalidInputError, match="resolution"):
        MbconvSpace(resolutions=(224,)).named("efficientnet-b3")
    with pytest.raises(UnknownNameError, match="Accepted"):
        MbconvSpace().named("resnet50")
    with pytest.raises(InvalidInputError, match="unknown"):
        MbconvSpace(activations=("gelu",)).decisions()


def test_registry_builds_the_space():
    space = SPACES.create("mbconv", **FASHION)
    assert isinstance(space, MbconvSpace) and space.num_classes == 10
