"""The kws space: its IR agrees exactly with the torch network it builds."""

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from edgenas.errors import InvalidInputError
from edgenas.ir import Op, total_macs, total_params
from edgenas.spaces import SPACES, KwsSpace
from edgenas.spaces.nn.blocks import fold_batchnorm
from edgenas.spaces.shapes import same_padding
from edgenas.testing import check_space


def test_space_contract():
    check_space(KwsSpace())


def test_ds_cnn_s_matches_the_published_reference():
    # MLPerf Tiny's KWS reference (DS-CNN-S of Hello Edge): 2,656,768 MACs, 22,604 parameters.
    space = KwsSpace()
    layers = space.layers(space.named("ds-cnn-s"))
    assert total_macs(layers) == 2_656_768
    assert total_params(layers) == 22_604
    # SAME padding of the 10x4 stride-2 conv is asymmetric in time: the converter emits a PAD.
    assert [layer.op for layer in layers][:4] == [Op.PAD, Op.CONV2D, Op.DWCONV2D, Op.CONV2D]
    assert layers[0].out_shape == (58, 12, 1)
    assert layers[1].out_shape == (25, 5, 64)


@pytest.mark.parametrize("seed", range(12))
def test_ir_has_a_pad_exactly_where_the_network_pads_explicitly(seed):
    from torch import nn

    space = KwsSpace()
    arch = space.sample(np.random.default_rng(seed))
    explicit = [m for m in space.build(arch).modules() if isinstance(m, (nn.ZeroPad2d, nn.ConstantPad1d))]
    pads = [layer for layer in space.layers(arch) if layer.op is Op.PAD]
    assert len(pads) == len(explicit)


@pytest.mark.parametrize("seed", range(12))
def test_ir_matches_torch_counts_and_shapes(seed):
    space = KwsSpace()
    arch = space.sample(np.random.default_rng(seed))
    model = fold_batchnorm(space.build(arch).eval())
    with FlopCounterMode(display=False) as counter:
        logits = model(torch.zeros(1, 49, 10))
    layers = space.layers(arch)
    assert logits.shape == (1, 12)
    assert counter.get_total_flops() == 2 * total_macs(layers)
    assert sum(p.numel() for p in model.parameters()) == total_params(layers)


def test_inactive_genes_are_normalised():
    space = KwsSpace()
    a = space.named("ds-cnn-s")
    genes = list(a.genes)
    genes[-1] = 1  # stride of block 6, beyond depth 4: no effect
    assert space.arch(genes) == a


def test_one_d_family_folds_equivalent_strides():
    space = KwsSpace()
    genes = list(space.named("ds-cnn-s").genes)
    genes[0] = 1  # 1d
    genes[3] = 0  # stride (2, 2)
    same = list(genes)
    same[3] = 1  # stride (2, 1): the time stride is what a 1-D net uses
    assert space.arch(genes) == space.arch(same)


def test_bad_genes_are_rejected_with_a_clear_message():
    space = KwsSpace()
    with pytest.raises(InvalidInputError, match="out of range for decision 'family'"):
        space.arch([9] + [0] * (len(space.decisions()) - 1))
    with pytest.raises(InvalidInputError, match="decisions"):
        space.arch([0, 0])


def test_same_padding_follows_tensorflow():
    assert same_padding(49, 10, 2) == (4, 5)
    assert same_padding(25, 3, 1) == (1, 1)
    assert same_padding(5, 5, 2) == (2, 2)


def test_registry_builds_spaces():
    assert isinstance(SPACES.create("kws", num_classes=5), KwsSpace)
