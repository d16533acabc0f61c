"""The analytical SRAM and flash estimates against TFLite Micro and the real ``.tflite`` (issue 3).

A few ``kws`` architectures covering the converter's layout rules (2-D with a PAD on the input,
2-D with a PAD mid-network, 1-D, 1-D with a PAD mid-network) are converted to int8 and measured:
the host's TFLite Micro arena (bisection) must be within 10 % of the estimate evaluated for the
host's kernels (reference: no CMSIS-NN scratch), and the file within 10 % of the flash estimate.
Untrained weights; batch-norm statistics are randomised as training would leave them, so that
biases differ (identical zero biases would be shared in the file and shrink it unrealistically).
The full table over 24 trained architectures is ``benchmarks/estimate_vs_tflm.py``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("litert_torch", reason="int8 TFLite export needs the tflite extra: pip install 'edgenas[tflite]'")
pytest.importorskip("tflite_micro", reason="TFLite Micro verification needs the tflite extra: pip install 'edgenas[tflite]'")

import torch  # noqa: E402

from edgenas.export.tflite import convert_int8, inspect_tflite  # noqa: E402
from edgenas.export.verify import min_arena_bytes  # noqa: E402
from edgenas.hardware import flash_bytes, latency_ms, load_target, peak_sram_bytes  # noqa: E402
from edgenas.hardware.tflite_graph import lower  # noqa: E402
from edgenas.spaces import KwsSpace  # noqa: E402
from edgenas.workflows.pricing import price_tflite  # noqa: E402
from tests.export.batchnorm import randomise_batchnorm

pytestmark = pytest.mark.slow  # four int8 conversions and arena bisections: about 40 s

BOUND = 0.10

# (description, genes): family, first channels/kernel/stride, depth, then (channels, kernel, stride) per block
ARCHS = {
    "ds-cnn-s (2-D, PAD on the input)": None,
    "2d c48 k3x3 s1x1 / dw5 s2 c24 (PAD mid-network)": (0, 3, 2, 2, 0, 1, 1, 1),
    "1d c96 k5 s1 / dw5 s2 c96 / dw5 s1 c16 (the default search's best)": (1, 5, 1, 2, 1, 5, 1, 1, 0, 1, 0),
    "1d c32 k5 s2 / dw3 s2 c16 / dw3 s1 c16 / dw3 s2 c128 / dw5 s1 c32 / dw3 s2 c16 / dw5 s2 c24 (1-D PAD)": (
        1, 2, 1, 0, 5, 0, 0, 1, 0, 0, 0, 6, 0, 1, 2, 1, 0, 0, 0, 1, 1, 1, 1,
    ),
}  # fmt: skip


def _arch(space: KwsSpace, genes: tuple[int, ...] | None):
    if genes is None:
        return space.named("ds-cnn-s")
    return space.arch(list(genes) + [0] * (len(space.decisions()) - len(genes)))


@pytest.mark.parametrize("name", list(ARCHS), ids=["ds-cnn-s", "2d-pad-mid", "default-best", "1d-pad-mid"])
def test_estimates_within_ten_percent_of_tflite_micro(name: str, tmp_path: Path) -> None:
    space = KwsSpace()
    arch = _arch(space, ARCHS[name])
    assert name.startswith(space.describe(arch)) or ARCHS[name] is None  # the genes are the named architecture
    layers = space.layers(arch)
    calibration = np.random.default_rng(0).normal(size=(32, *space.input_shape)).astype(np.float32)
    path = tmp_path / "model.tflite"
    torch.manual_seed(0)
    info = convert_int8(randomise_batchnorm(space.build(arch).eval(), 0), calibration, path)
    model = path.read_bytes()

    # the converted graph is the lowered IR (QUANTIZE after a 2-D PAD is the one op it may add)
    _, ops = lower(layers)
    assert [op.builtin for op in ops] == [op for op in inspect_tflite(model).operators if op != "QUANTIZE"]
    assert info.operators

    target = load_target("cortex-m7")
    host = dataclasses.replace(target, kernels="reference")  # the host's TFLite Micro runs reference kernels
    arena = min_arena_bytes(model)
    sram = peak_sram_bytes(layers, host)
    flash = flash_bytes(layers, target)
    assert abs(sram / arena - 1) <= BOUND, f"SRAM estimate {sram:,} B vs TFLite Micro arena {arena:,} B"
    assert abs(flash / len(model) - 1) <= BOUND, f"flash estimate {flash:,} B vs file {len(model):,} B"
    # the device estimate adds CMSIS-NN scratch on top of the host's: never below it
    assert peak_sram_bytes(layers, target) >= sram
    # the file priced operator by operator costs what the search priced its architecture at
    priced = price_tflite(model, target)
    assert not priced.unpriced and priced.latency_ms == pytest.approx(latency_ms(layers, target), rel=0.02)
    assert all(row.path != "none" for row in priced.operators)
