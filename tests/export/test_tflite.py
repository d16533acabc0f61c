"""int8 TFLite export and TFLite Micro verification on small untrained ``kws`` networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("litert_torch", reason="int8 TFLite export needs the tflite extra: pip install 'edgenas[tflite]'")
pytest.importorskip("ai_edge_litert", reason="int8 TFLite export needs the tflite extra: pip install 'edgenas[tflite]'")
pytest.importorskip("tflite_micro", reason="TFLite Micro verification needs the tflite extra: pip install 'edgenas[tflite]'")

import torch  # noqa: E402

from edgenas.errors import InvalidInputError  # noqa: E402
from edgenas.export.c_array import read_c_array, write_c_array  # noqa: E402
from edgenas.export.tflite import convert_int8, inspect_tflite  # noqa: E402
from edgenas.export.verify import arena_fits, min_arena_bytes, verify_tflite  # noqa: E402
from edgenas.spaces.kws import FAMILIES, KwsSpace  # noqa: E402


def _small_arch(space: KwsSpace, family: str):
    genes = [FAMILIES.index(family), 0, 1, 0, 1] + [0, 0, 1, 1, 0, 0] + [0, 0, 0] * (space.max_depth - 2)
    return space.arch(genes)


@pytest.fixture(scope="module", params=["2d", "1d"])
def converted(request, tmp_path_factory) -> tuple[Path, torch.nn.Module, np.ndarray]:
    torch.manual_seed(0)
    space = KwsSpace(num_classes=4, input_shape=(49, 10), max_depth=3)
    model = space.build(_small_arch(space, request.param)).eval()
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((64, 49, 10)).astype(np.float32)
    path = tmp_path_factory.mktemp(request.param) / "model.tflite"
    convert_int8(model, calibration, path)
    return path, model, rng.standard_normal((20, 49, 10)).astype(np.float32)


def test_full_integer_io_and_ops(converted) -> None:
    path, _, _ = converted
    info = inspect_tflite(path.read_bytes())
    assert (info.input_dtype, info.output_dtype) == ("int8", "int8")
    assert info.float_operators == ()
    assert {"CONV_2D", "FULLY_CONNECTED"} <= set(info.operators) or "DEPTHWISE_CONV_2D" in info.operators


def test_tflm_matches_litert_and_fp32(converted) -> None:
    path, model, clips = converted
    labels = np.zeros(len(clips), dtype=np.int64)
    result = verify_tflite(path, clips, labels, fp32_model=model, estimated_peak_sram_bytes=1, estimated_flash_bytes=1)
    assert result.argmax_agreement == 1.0
    assert result.max_lsb_diff <= 1
    assert result.flash_bytes == path.stat().st_size
    assert result.tflm_accuracy == result.litert_accuracy
    assert result.fp32_accuracy is not None


def test_arena_bisection_is_the_minimum(converted) -> None:
    model_bytes = converted[0].read_bytes()
    arena = min_arena_bytes(model_bytes)
    assert arena_fits(model_bytes, arena)
    assert not arena_fits(model_bytes, arena - 1)


def test_c_array_round_trip(converted, tmp_path: Path) -> None:
    model_bytes = converted[0].read_bytes()
    files = write_c_array(model_bytes, tmp_path, arena_bytes=12345)
    assert read_c_array(files.source) == model_bytes
    source, header = files.source.read_text(), files.header.read_text()
    assert "alignas(16) const unsigned char g_model[]" in source
    assert "kTensorArenaSize = 12345;" in header
    assert f"g_model_len = {len(model_bytes)};" in header


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_model_is_a_clear_error(converted, tmp_path: Path, damage: str) -> None:
    model_bytes = converted[0].read_bytes()
    bad = {"truncate": model_bytes[: len(model_bytes) // 3], "garbage": b"\x00TFL3" * 200, "empty": b""}[damage]
    path = tmp_path / "bad.tflite"
    path.write_bytes(bad)
    with pytest.raises(InvalidInputError, match="TFL|TFLite"):
        verify_tflite(path, np.zeros((1, 49, 10), np.float32))


def test_fit_is_judged_on_the_measured_arena() -> None:
    from edgenas.export.verify import VerifyResult

    base = dict(model_path="m", flash_bytes=100, operators=(), clips=0, tflm_accuracy=None, litert_accuracy=None)
    base |= dict(fp32_accuracy=None, argmax_agreement=1.0, max_lsb_diff=0, estimated_peak_sram_bytes=10)
    assert VerifyResult(arena_bytes=2000, target_sram_bytes=1000, target_flash_bytes=10**6, **base).fits is False
    assert VerifyResult(arena_bytes=500, target_sram_bytes=1000, target_flash_bytes=10**6, **base).fits is True


def test_cli_bad_input_is_invalid_input(tmp_path: Path) -> None:
    from edgenas.cli.deploy import export, verify

    with pytest.raises(InvalidInputError, match="not a search run folder"):
        export(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="unknown --format"):
        export(tmp_path, fmt="tflite-fp16")
    (tmp_path / "bad.tflite").write_bytes(b"not a model at all")
    with pytest.raises(InvalidInputError):
        verify(tmp_path / "bad.tflite")
    with pytest.raises(InvalidInputError, match="no such model"):
        verify(tmp_path / "absent.tflite")
