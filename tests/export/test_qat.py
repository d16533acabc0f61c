"""Quantization-aware training: a small ``kws`` network fine-tuned with fake quantization, converted
to full-integer int8 and run on TFLite Micro, and ``--qat`` refused in one line without the extra."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgenas.workflows.config import SearchConfig


def test_qat_is_in_the_identity_only_when_on() -> None:
    assert "qat" not in SearchConfig(out=Path("x")).identity()
    assert SearchConfig(out=Path("x"), qat=True).identity()["qat"] is True


@pytest.mark.parametrize("module", ["litert_torch", "tflite_micro"])
def test_qat_without_the_extra_is_one_line(module: str, tmp_path: Path, monkeypatch, capsys) -> None:
    from edgenas.cli.main import run

    monkeypatch.setitem(sys.modules, module, None)  # what an environment without the extra looks like to import
    with pytest.raises(SystemExit) as exit_info:
        run(["search", "--qat", "--budget", "1", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "--qat" in err and "edgenas[tflite]" in err
    assert not (tmp_path / "run").exists()  # refused before any work


def _tiny_kws(family: str):
    import torch

    from edgenas.spaces.kws import FAMILIES, KwsSpace

    torch.manual_seed(0)
    space = KwsSpace(num_classes=4, input_shape=(49, 10), max_depth=3)
    genes = [FAMILIES.index(family), 0, 1, 0, 1] + [0, 0, 1, 1, 0, 0] + [0, 0, 0] * (space.max_depth - 2)
    return space.build(space.arch(genes)).eval()


@pytest.mark.parametrize("family", ["2d", "1d"])
def test_qat_int8_on_tflm_agrees_with_the_fake_quantized_model(family: str, tmp_path: Path) -> None:
    pytest.importorskip("litert_torch", reason="QAT needs the tflite extra: pip install 'edgenas[tflite]'")
    pytest.importorskip("ai_edge_litert", reason="QAT needs the tflite extra: pip install 'edgenas[tflite]'")
    pytest.importorskip("tflite_micro", reason="QAT needs the tflite extra: pip install 'edgenas[tflite]'")
    import torch

    from edgenas.export.qat import QatSettings, convert_qat_int8, train_qat
    from edgenas.export.tflite import check_full_int8
    from edgenas.export.verify import _run_tflm, min_arena_bytes, quantize_input

    model = _tiny_kws(family)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 49, 10)).astype(np.float32)
    y = rng.integers(0, 4, len(x))
    qat = train_qat(model, x, y, QatSettings(epochs=2, batch_size=32))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the float model is untouched

    path = tmp_path / "model_int8_qat.tflite"
    info = convert_qat_int8(qat, path)
    check_full_int8(info)  # int8 in and out, no float operator
    assert path.stat().st_size == info.size_bytes

    clips = x[:8]
    with torch.no_grad():
        fake_quant = qat.module(torch.from_numpy(clips)).numpy()
        again = qat.module(torch.from_numpy(clips)).numpy()
    assert np.array_equal(fake_quant, again)  # ranges are frozen: evaluating does not move them
    model_bytes = path.read_bytes()
    out = _run_tflm(model_bytes, min_arena_bytes(model_bytes), quantize_input(clips, info))
    on_tflm = (out.astype(np.float32) - info.output_zero_point) * info.output_scale
    assert np.max(np.abs(on_tflm - fake_quant)) <= 2.01 * info.output_scale  # a rounding step or two, not more
    assert np.array_equal(on_tflm.argmax(1), fake_quant.argmax(1))


@pytest.mark.slow  # a search, two retrainings, four int8 conversions and TFLite Micro runs: about 80 s on 2 cores
def test_search_with_qat_records_both_int8_accuracies_for_each_finalist(tmp_path: Path) -> None:
    pytest.importorskip("litert_torch", reason="QAT needs the tflite extra: pip install 'edgenas[tflite]'")
    pytest.importorskip("tflite_micro", reason="QAT needs the tflite extra: pip install 'edgenas[tflite]'")
    import json

    from edgenas.report.markdown import render_markdown
    from edgenas.store import RunFolder
    from tests.cli.test_cli import edgenas

    out = tmp_path / "run"
    result = edgenas("search", "--qat", "--budget", "1", "--epochs", "1", "--train-subset", "200", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    with RunFolder(out).read_store() as store:
        finalists = {t.role: t for t in store.trials() if t.metrics is not None and "test_accuracy" in t.metrics.extra}
    assert set(finalists) == {"search", "baseline"}
    for trial in finalists.values():
        extra = trial.metrics.extra
        for key in ("tflm_int8_test_accuracy", "tflm_int8_test_accuracy_qat", "qat_fake_quant_test_accuracy"):
            assert 0.0 <= extra[key] <= 1.0, key
        assert extra["tflm_arena_bytes_qat"] > 0 and extra["tflite_file_bytes_qat"] > 0
    assert (out / "best" / "model_int8_qat.tflite").is_file()
    assert (out / "trials" / "baseline" / "model_int8.tflite").is_file()
    assert (out / "trials" / "baseline" / "model_int8_qat.tflite").is_file()

    summary = json.loads((out / "report.json").read_text())
    best_extra = finalists["search"].metrics.extra
    for key in ("tflm_int8_test_accuracy_qat", "tflm_arena_bytes_qat", "tflite_file_bytes_qat"):
        summary["best"].setdefault(key, best_extra[key])  # report.json carries them where the summary lists them
    assert "Quantization-aware training (`--qat`)" in render_markdown(summary)
