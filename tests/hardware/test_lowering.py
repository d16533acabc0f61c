"""Every IR operator prices on every built-in target: the converted-graph lowering knows them all.

A search over ``mbconv`` (squeeze-and-excitation gates, hard-swish, swish) once failed every such
candidate with a KeyError in the memory estimate; these tests keep the lowering complete.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgenas.hardware import AnalyticalCostModel, load_target
from edgenas.hardware.tflite_graph import BUILTIN, MULTI_OP_ACTIVATIONS, lower
from edgenas.ir import Layer, Op
from edgenas.spaces import SPACES

TARGETS = sorted(p.stem for p in (Path(load_target.__code__.co_filename).parent / "targets").glob("*.yaml"))


def test_every_ir_op_has_a_lowering() -> None:
    assert set(Op) == set(BUILTIN) | set(MULTI_OP_ACTIVATIONS)


def test_swish_is_logistic_then_a_mul_that_also_reads_its_input() -> None:
    conv = Layer(Op.CONV2D, (8, 8, 4), (8, 8, 4), kernel=(1, 1), name="c")
    swish = Layer(Op.SWISH, (8, 8, 4), (8, 8, 4), name="s")
    _, ops = lower([conv, swish])
    assert [op.builtin for op in ops[-2:]] == ["LOGISTIC", "MUL"]
    conv_index = next(i for i, op in enumerate(ops) if op.layer is conv)
    assert set(ops[-1].inputs) == {conv_index, len(ops) - 2}
    assert ops[-1].layer is swish and ops[-2].layer is None


@pytest.mark.parametrize("target", TARGETS)
def test_mbconv_samples_price_on_every_target(target: str) -> None:
    space = SPACES.create("mbconv")
    cost = AnalyticalCostModel()
    rng = np.random.default_rng(0)
    for _ in range(40):
        estimate = cost.estimate(space.layers(space.sample(rng)), load_target(target))
        assert estimate.peak_sram_bytes > 0 and estimate.flash_bytes > 0
