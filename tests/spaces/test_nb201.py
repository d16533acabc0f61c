from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from edgenas.errors import InvalidInputError
from edgenas.ir import Op, total_macs
from edgenas.spaces import SPACES
from edgenas.spaces.nb201 import OPS, Nb201Space, active_edges, index_map
from edgenas.testing import check_space


def test_contract() -> None:
    check_space(SPACES.create("nb201"))


def test_string_round_trip_and_order() -> None:
    space = Nb201Space()
    text = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    arch = space.from_string(text)
    assert arch.genes == (3, 0, 1, 4, 2, 0)
    assert space.arch_string(arch) == text
    assert space.ordinal(space.arch((0,) * 6)) == 0 and space.ordinal(space.arch((4,) * 6)) == 5**6 - 1
    with pytest.raises(InvalidInputError, match="NB201 cell string"):
        space.from_string("|conv~0|")


def test_every_row_of_the_table_is_its_index(accuracy_csv: Path) -> None:
    """NB201's index is the table's row order (not a gene enumeration): arch_string must reproduce it exactly."""
    with accuracy_csv.open(newline="") as f:
        strings = [row["ArchitectureString"] for row in csv.DictReader(f)]
    space = Nb201Space()
    assert len(strings) == len(OPS) ** 6
    archs = [space.from_string(s) for s in strings]
    assert [space.arch_string(a) for a in archs] == strings
    assert len({a.genes for a in archs}) == len(strings)  # every genotype exactly once
    order = index_map(strings)
    assert all(space.index(a, order) == i for i, a in enumerate(archs))


def test_active_edges_drop_what_cannot_reach_the_output() -> None:
    assert active_edges((3, 0, 0, 0, 0, 0)) == ()  # node 1 feeds nothing: the output is unreachable
    assert active_edges((3, 0, 0, 0, 0, 1)) == ()  # node 2 has no input
    expected = ((1, 0, "skip_connect"), (2, 1, "nor_conv_3x3"), (3, 2, "skip_connect"))
    assert active_edges((1, 0, 3, 0, 0, 1)) == expected


def test_layers_skeleton() -> None:
    layers = Nb201Space().layers(Nb201Space().arch((3,) * 6))
    assert layers[0].out_shape == (32, 32, 16) and layers[-1].out_shape == (10,)
    assert layers[-2].op is Op.GLOBAL_AVGPOOL and layers[-2].in_shape == (8, 8, 64)
    convs_per_cell = 6
    assert sum(layer.op is Op.CONV2D for layer in layers) == 1 + 15 * convs_per_cell + 2 * 3
    for k, layer in enumerate(layers):
        assert layer.inputs is not None and all(-1 <= p < k for p in layer.inputs)


def test_forward_and_macs_match_torch_flop_counter() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    space = Nb201Space()
    rng = np.random.default_rng(0)
    archs = [space.arch(g) for g in [(3,) * 6, (0,) * 6, (4, 2, 1, 2, 1, 1), (3, 0, 0, 0, 3, 0)]]
    archs += [space.sample(rng) for _ in range(2)]
    for arch in archs:
        model = space.build(arch).eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            out = model(torch.randn(2, 3, 32, 32))
        assert out.shape == (2, 10)
        assert counter.get_total_flops() == 2 * 2 * total_macs(space.layers(arch)), space.describe(arch)
    assert total_macs(space.layers(archs[0])) == 220_119_680  # NB201's largest cell: ~220 MFLOPs in the paper
