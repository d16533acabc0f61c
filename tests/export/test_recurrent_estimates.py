"""The analytical SRAM and flash estimates of recurrent kws networks against TFLite Micro and the file.

Three networks of the ``kws`` space with a recurrent layer (a GRU read at its last state, a GRU read
as the mean of its states, an LSTM after a 2-D front), seven time steps each to keep the
conversion short, are converted to int8 and measured as in ``test_estimate_vs_tflm.py``: the
converted graph is the lowered IR operator for operator, the host's TFLite Micro arena and the
file are within 10 % of the estimates (here +0.1 to +0.2 % for the arena, +0.4 to +2.7 % for the
file; the CRNN named point, 25 steps, -0.1 % and -2.6 %: docs/spaces.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("litert_torch", reason="int8 TFLite export needs the tflite extra: pip install 'edgenas[tflite]'")
pytest.importorskip("tflite_micro", reason="TFLite Micro verification needs the tflite extra: pip install 'edgenas[tflite]'")

import torch  # noqa: E402

from edgenas.export.tflite import check_full_int8, convert_int8, inspect_tflite  # noqa: E402
from edgenas.export.verify import min_arena_bytes  # noqa: E402
from edgenas.hardware import flash_bytes, latency_ms, load_target, peak_sram_bytes  # noqa: E402
from edgenas.hardware.tflite_graph import lower  # noqa: E402
from edgenas.spaces import KwsSpace  # noqa: E402
from edgenas.workflows.pricing import price_tflite  # noqa: E402
from tests.export.batchnorm import randomise_batchnorm  # noqa: E402

pytestmark = pytest.mark.slow  # three int8 conversions of 150-250 operators and arena bisections: about 50 s

BOUND = 0.10

# family, first conv (channels, kernel, stride), blocks (channels, kernel, stride), cell, hidden, readout
NETWORKS = {
    "gru-last": ("1d", 32, (5, 3), (2, 2), [(48, 3, 2), (32, 3, 2)], "gru", 32, "last"),
    "gru-mean": ("1d", 48, (3, 3), (2, 2), [(64, 5, 2), (32, 3, 2)], "gru", 16, "mean"),
    "lstm-2d": ("2d", 32, (10, 4), (2, 2), [(32, 3, 2), (32, 3, 2)], "lstm", 32, "last"),
}


def _arch(space: KwsSpace, values: tuple):
    family, c0, k0, s0, blocks, cell, hidden, readout = values
    names = {"family": family, "first_channels": c0, "first_kernel": k0, "first_stride": s0, "depth": len(blocks)}
    for i, (c, k, s) in enumerate(blocks):
        names |= {f"b{i}_channels": c, f"b{i}_kernel": k, f"b{i}_stride": s}
    names |= {"cell": cell, "hidden": hidden, "readout": readout}
    genes = [d.choices.index(names[d.name]) if d.name in names else 0 for d in space.decisions()]
    return space.arch(genes)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_recurrent_estimates_within_ten_percent_of_tflite_micro(name: str, tmp_path: Path) -> None:
    space = KwsSpace(cells=("gru", "lstm"))
    arch = _arch(space, NETWORKS[name])
    layers = space.layers(arch)
    assert layers[-2 if NETWORKS[name][-1] == "last" else -3].in_shape[0] == 7  # seven time steps
    calibration = np.random.default_rng(0).normal(size=(32, *space.input_shape)).astype(np.float32)
    path = tmp_path / "model.tflite"
    torch.manual_seed(0)
    info = convert_int8(randomise_batchnorm(space.build(arch).eval(), 0), calibration, path)
    check_full_int8(info)  # fully int8: no float operator, int8 input and output
    model = path.read_bytes()

    # the converted graph is the lowered IR; a frame's QUANTIZE is there or not as calibration falls
    _, ops = lower(layers)
    file_ops = inspect_tflite(model).operators
    assert [op.builtin for op in ops if op.builtin != "QUANTIZE"] == [op for op in file_ops if op != "QUANTIZE"]
    assert 0 <= sum(op.builtin == "QUANTIZE" for op in ops) - file_ops.count("QUANTIZE") <= 1

    target = load_target("cortex-m7")
    host = dataclasses.replace(target, kernels="reference")
    arena = min_arena_bytes(model)  # TFLite Micro runs it
    sram = peak_sram_bytes(layers, host)
    flash = flash_bytes(layers, target)
    assert abs(sram / arena - 1) <= BOUND, f"SRAM estimate {sram:,} B vs TFLite Micro arena {arena:,} B"
    assert abs(flash / len(model) - 1) <= BOUND, f"flash estimate {flash:,} B vs file {len(model):,} B"
    priced = price_tflite(model, target)
    assert not priced.unpriced and priced.latency_ms == pytest.approx(latency_ms(layers, target), rel=0.05)
