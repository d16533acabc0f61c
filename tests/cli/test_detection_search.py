"""``edgenas search --task detection`` end to end on a few tiny synthetic scenes: the detection space
on the int8 NPU, mAP as the accuracy, finalists tested and exported to ONNX and to an int8 file
scored on LiteRT and TFLite Micro with every operator native, and the options detection refuses in
one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgenas.cli.main import run
from edgenas.store import SqliteStore
from tests.cli.test_cli import assert_one_line_error, edgenas


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "detection.yaml"
    path.write_text(f"task: detection\nscenes: 40\nimage_size: 32\ncache_dir: {tmp_path / 'cache'}\n")
    return path


def test_a_detection_search_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    config = tmp_path / "cache.yaml"
    config.write_text(f"cache_dir: {tmp_path / 'cache'}\n")  # the task's options as flags this time
    args = ["search", "--config", str(config), "--task", "detection", "--scenes", "40", "--image-size", "32"]
    args += ["--target", "npu-int8", "--budget", "2", "--epochs", "1"]
    run([*args, "--out", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err and "would not run natively" not in err
    report = json.loads((out / "report.json").read_text())
    assert report["search"]["baseline"] == "mobilenetv2-micro-det"
    best = report["best"]
    assert best["description"].startswith("32 ") and " | det s" in best["description"]
    assert 0.0 <= best["accuracy"] <= 1.0 and 0.0 <= best["test_accuracy"] <= 1.0  # mAP@0.5
    assert (out / "best" / "model.onnx").is_file() and (out / "best" / "model.pt").is_file()
    assert best["onnx_max_abs_diff"] < 1e-3
    assert (out / "best" / "model_int8.tflite").stat().st_size == best["measured"]["file_bytes"]
    assert best["measured"]["arena_bytes"] > 0 and best["int8_fallback_operators"] == 0
    for runtime in ("tflm", "litert"):
        assert 0.0 <= best[f"{runtime}_int8_test_map_50"] <= 1.0
    assert best["tflm_litert_max_lsb_diff"] <= 1
    report_md = (out / "report.md").read_text()
    assert "val mAP@0.5" in report_md and "int8 TFLite Micro" in report_md
    with SqliteStore(out / "trials.db") as store:
        finalised = [t for t in store.trials() if t.metrics and "test_map" in t.metrics.extra]
    assert {t.role for t in finalised} == {"search", "baseline"}
    assert all(0.0 <= t.metrics.extra["map"] <= 1.0 for t in finalised if t.metrics)
    # what the other commands make of a detection run: the checkpoint profiles; export and verify,
    # which are classification-shaped, say what the search wrote instead, in one line
    assert edgenas("profile", str(out / "best" / "model.pt"), "--repeats", "3", "--warmup", "1").returncode == 0
    assert_one_line_error(edgenas("export", str(out), "--format", "c"), "best/model_int8.tflite", "report.md")
    assert_one_line_error(edgenas("verify", str(out / "best" / "model_int8.tflite")), "is a detector", "mAP")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--space", "mbconv-micro"], "--task detection is searched in --space detection"),
        (["--qat"], "--qat: quantization-aware training of detection models"),
        (["--evaluator", "zerocost:naswot"], "--evaluator zerocost:naswot scores classifiers"),
    ],
)
def test_what_detection_cannot_do_yet_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], fragment: str
) -> None:
    args = ["search", "--config", str(_config(tmp_path)), "--target", "npu-int8", "--budget", "1", "--epochs", "1"]
    with pytest.raises(SystemExit) as exit_code:
        run([*args, *extra, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert exit_code.value.code == 2 and "Traceback" not in err
    assert fragment in " ".join(err.split()), err


def test_a_missing_data_folder_names_the_detection_layouts(tmp_path: Path) -> None:
    r = edgenas("search", "--task", "detection", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r"))
    assert_one_line_error(r, "not a readable folder", "YOLO labels/", "COCO annotations/*.json")
