"""The recurrent choices of the kws space: old genotypes keep their meaning, the IR agrees with the
torch network, the converted graph is priced on every target and filtered where it cannot run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from edgenas.errors import InvalidInputError
from edgenas.hardware import flash_bytes, latency_breakdown_ms, load_target, peak_sram_bytes
from edgenas.hardware.kernel_paths import KERNEL_UNITS, op_kernel
from edgenas.hardware.tflite_graph import lower
from edgenas.ir import Layer, Op, total_macs, total_params
from edgenas.spaces import KwsSpace, filter_by_ops, rebuild_space, space_for_task
from edgenas.spaces.nn.blocks import fold_batchnorm
from edgenas.testing import check_space

TARGETS = ("cortex-m4", "cortex-m7", "cortex-m33", "npu-int8", "raspi4", "host")


def _rnn() -> KwsSpace:
    space = space_for_task("kws-rnn", (49, 10), 12)
    assert isinstance(space, KwsSpace)
    return space


def _recurrent_samples(space: KwsSpace, n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        arch = space.sample(rng)
        if space.plan(arch)["cell"]:
            out.append(arch)
    return out


def test_a_space_without_cells_is_the_old_space() -> None:
    old, new = space_for_task("kws", (49, 10), 12), _rnn()
    assert isinstance(old, KwsSpace) and old.cells == () and old.preset == "kws"  # --space kws: no cells
    assert new.cells == ("gru", "lstm") and new.preset == "kws-rnn" and new.name == "kws"
    assert new.decisions()[: len(old.decisions())][:4] == old.decisions()[:4]
    # every decision of the old space is there, with its old choices first (depth 0 is appended)
    for before, after in zip(old.decisions(), new.decisions(), strict=False):
        assert after.name == before.name and after.choices[: len(before.choices)] == before.choices
    # a stored run (no 'cells' in its parameters) rebuilds the old space: its genes stay valid
    stored = {k: v for k, v in old.params().items() if k != "cells"}
    assert rebuild_space("kws", stored).decisions() == old.decisions()
    ds = old.named("ds-cnn-s")
    assert old.layers(ds) == new.layers(new.named("ds-cnn-s"))  # the same network, with cell 'none'


def test_contract_and_rebuild_with_cells() -> None:
    space = _rnn()
    check_space(space)
    assert rebuild_space("kws", space.params()).decisions() == space.decisions()


@pytest.mark.parametrize("arch_index", range(6))
def test_ir_matches_torch_counts_for_recurrent_networks(arch_index: int) -> None:
    space = _rnn()
    arch = _recurrent_samples(space, 6)[arch_index]
    model = fold_batchnorm(space.build(arch).eval())
    with FlopCounterMode(display=False) as counter:
        logits = model(torch.zeros(1, 49, 10))
    layers = space.layers(arch)
    assert logits.shape == (1, 12)
    assert counter.get_total_flops() == 2 * total_macs(layers)
    assert sum(p.numel() for p in model.parameters()) == total_params(layers)


def test_crnn_named_point() -> None:
    space = _rnn()
    crnn = space.named("crnn")
    assert space.describe(crnn) == "2d c48 k10x4 s2x2 / gru64 last"
    gru = space.layers(crnn)[-2]
    assert (gru.op, gru.in_shape, gru.out_shape) == (Op.GRU, (25, 240), (64,))
    with pytest.raises(InvalidInputError, match="gru cell"):
        KwsSpace().named("crnn")


def test_no_cell_normalises_the_recurrent_genes_and_depth_zero() -> None:
    space = KwsSpace(cells=("gru",))
    genes = list(space.named("ds-cnn-s").genes)
    same = list(genes)
    same[-2:] = [2, 1]  # hidden and readout of no cell: no effect
    assert space.arch(same) == space.arch(genes)
    shallow = list(genes)
    shallow[4] = len(space.decisions()[4].choices) - 1  # depth 0 without a cell: a front of one block
    assert space.values(space.arch(shallow))["depth"] == 1


def test_bad_cells_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="distinct names among gru, lstm"):
        KwsSpace(cells=("gru", "rnn"))


def test_gru_lowering_is_the_converters_unrolled_graph() -> None:
    # 7 frames of 32 features, 32 units: what litert-torch 0.10 wrote for this layer (docs/spaces.md)
    gru = Layer(Op.GRU, (7, 32), (32,))
    _, ops = lower([Layer(Op.CONV1D, (13, 48), (7, 32), (3,), (2,)), gru, Layer(Op.FC, (32,), (12,))])
    kinds = [op.builtin for op in ops]
    assert kinds[:4] == ["TRANSPOSE", "RESHAPE", "TRANSPOSE", "CONV_2D"]  # the 1-D input glue
    assert kinds[4:6] == ["TRANSPOSE", "RESHAPE"]  # back to the torch layout
    assert kinds[6:20] == ["SLICE", "QUANTIZE"] * 7 and kinds[20:27] == ["RESHAPE"] * 7
    assert kinds.count("FULLY_CONNECTED") == 3 + 6 * 6 + 1 and kinds.count("LOGISTIC") == 3 * 7
    assert len(ops) == 27 + 11 + 17 * 6 + 1
    fcs = [op for op in ops if op.builtin == "FULLY_CONNECTED" and op.recurrent]
    assert sum(not op.shared for op in fcs) == 6  # each gate's two matrices are stored once
    assert ops[-1].inputs == (len(ops) - 2,)  # the classifier reads the last state


def test_lstm_mean_lowering_ends_in_the_sum_of_the_states() -> None:
    lstm = Layer(Op.LSTM, (5, 8), (5, 16))
    mean = Layer(Op.GLOBAL_AVGPOOL, (5, 16), (16,), bias=False)
    _, ops = lower([Layer(Op.CONV1D, (5, 8), (5, 8), (1,), (1,)), lstm, mean, Layer(Op.FC, (16,), (12,))])
    kinds = [op.builtin for op in ops]
    assert kinds[-6:] == ["ADD"] * 4 + ["MUL", "FULLY_CONNECTED"]
    assert kinds.count("FULLY_CONNECTED") == 3 + 8 * 4 + 1 + 0  # step 0: no forget gate, no state side
    assert len(ops) == 4 + 2 + 15 + 15 + 27 * 4 + 5 + 1


@pytest.mark.parametrize("target_name", TARGETS)
def test_recurrent_networks_price_on_every_target(target_name: str) -> None:
    target = load_target(target_name)
    space = _rnn()
    for arch in _recurrent_samples(space, 3, seed=1) + [space.named("crnn")]:
        layers = space.layers(arch)
        breakdown = latency_breakdown_ms(layers, target)  # (a PAD folded into its convolution costs 0)
        assert all(ms > 0 for ms, layer in zip(breakdown, layers, strict=True) if layer.op in (Op.GRU, Op.LSTM))
        assert peak_sram_bytes(layers, target) > 0 and flash_bytes(layers, target) > 0
        if target.kernel_latency is not None:  # every operator of the unrolled graph has a priced kernel
            _, ops = lower(layers)
            assert all(op_kernel(op, target.kernels).key in KERNEL_UNITS for op in ops)


def test_cortex_m_keeps_the_cells_and_the_npu_drops_them() -> None:
    space = _rnn()
    m7 = load_target("cortex-m7")
    assert filter_by_ops(space, m7.native_ops, m7.name)[1] == ()
    npu = load_target("npu-int8")
    filtered, messages = filter_by_ops(space, npu.native_ops, npu.name)
    # only the cells go: not a rare choice that the samples happened to see with a cell only
    assert messages == tuple(f"npu-int8 has no logistic, mul, slice kernel: removed choice cell={c!r}" for c in ("gru", "lstm"))
    rng = np.random.default_rng(0)
    assert not any(space.plan(filtered.sample(rng))["cell"] for _ in range(50))


def test_recurrent_networks_train() -> None:
    space = _rnn()
    for arch in _recurrent_samples(space, 2, seed=2):
        model = space.build(arch).train()
        loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 49, 10)), torch.tensor([0, 1, 2, 3]))
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
