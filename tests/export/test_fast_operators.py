"""The converted ``kws`` networks pool globally with AVERAGE_POOL_2D (CMSIS-NN's fast kernel), not MEAN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("litert_torch", reason="int8 TFLite export needs the tflite extra: pip install 'edgenas[tflite]'")
pytest.importorskip("ai_edge_litert", reason="int8 TFLite export needs the tflite extra: pip install 'edgenas[tflite]'")

import torch  # noqa: E402

from edgenas.export.tflite import check_full_int8, convert_int8  # noqa: E402
from edgenas.spaces import KwsSpace  # noqa: E402
from tests.export.batchnorm import randomise_batchnorm

# genes: family, first channels/kernel/stride, depth, then (channels, kernel, stride) per block
ARCHS = {
    "ds-cnn-s": None,
    "1d c96 k5 s1 / dw5 s2 c96 / dw5 s1 c16": (1, 5, 1, 2, 1, 5, 1, 1, 0, 1, 0),
}


@pytest.mark.parametrize("name", list(ARCHS))
def test_global_pooling_converts_to_a_bare_average_pool(name: str, tmp_path: Path) -> None:
    space = KwsSpace()
    genes = ARCHS[name]
    arch = space.named(name) if genes is None else space.arch(list(genes) + [0] * (len(space.decisions()) - len(genes)))
    torch.manual_seed(0)
    model = randomise_batchnorm(space.build(arch)).eval()
    calibration = np.random.default_rng(0).standard_normal((32, *space.input_shape)).astype(np.float32)
    info = convert_int8(model, calibration, tmp_path / "model.tflite")
    check_full_int8(info)
    assert "MEAN" not in info.operators and "SUM" not in info.operators
    # the pool reads the last conv directly (no layout copy, no requantisation) and feeds the classifier
    assert info.operators[-3:] == ("CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED")
    assert info.operators.count("AVERAGE_POOL_2D") == 1
