"""An image search end to end on the int8 NPU: the ``mbconv`` space (its ``micro`` vocabulary, as
``--space auto`` picks for small images) at the images' resolution,
the best model converted to int8 TFLite and run in TFLite Micro, estimates against the
interpreter, every operator native, and ``verify`` reading the run's own images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgenas.workflows.search import SearchConfig, run_search

from .images import grey_classes
from .test_cli import edgenas

pytest.importorskip("litert_torch", reason="the tflite extra converts the best model")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("images")
    config = SearchConfig(
        task="images",
        data=grey_classes(root / "imgs", size=16, per_class=10),
        target="npu-int8",
        strategy="random",
        budget=1,
        epochs=1,
        out=root / "run",
    )
    return run_search(config).summary


def test_images_are_searched_in_mbconv_micro_and_the_baseline_is_mobilenetv2_micro(run: dict) -> None:
    assert run["best"]["arch"]["space"] == run["baseline"]["arch"]["space"] == "mbconv"
    assert run["best"]["description"].startswith("16 c")  # the space's resolution is the images' 16 x 16
    assert run["baseline"]["description"].startswith("16 c16r6 | c16 k3e6r6 | /2 c24 k3e6r6 k3e6r6")  # MobileNetV2 blocks
    report = (Path(run["run_dir"]) / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| mobilenetv2-micro baseline | 16 c16r6 \\| c16"))
    header = next(line for line in report.splitlines() if line.startswith("| model | architecture |"))
    assert row.count(" | ") == header.count(" | ")  # the description's stage separators are escaped: the table keeps its cells


def test_the_estimates_match_tflite_micro_for_an_mbconv_network(run: dict) -> None:
    best = run["best"]
    measured = best["measured"]
    assert abs(measured["arena_bytes"] / best["peak_sram_bytes"] - 1) < 0.03
    assert abs(measured["file_bytes"] / best["flash_bytes"] - 1) < 0.03


def test_the_exported_model_is_native_on_the_npu_and_verify_reads_the_runs_images(run: dict) -> None:
    model = Path(run["run_dir"]) / "best" / "model_int8.tflite"
    audit = edgenas("audit", str(model), "--target", "npu-int8", "--json")
    assert audit.returncode == 0, audit.stderr
    verify = edgenas("verify", str(model), "--target", "npu-int8", "--json")
    assert verify.returncode == 0, verify.stderr
    result = json.loads(verify.stdout)
    assert result["clips"] == run["task"]["data"]["splits"]["test"]["total"] and result["fallback_operators"] == []


def test_a_host_search_whose_best_stays_partly_float_still_reports(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``host`` keeps hard-swish and squeeze-and-excitation, which TFLite leaves float: the TFLite
    Micro check is skipped with a warning, and the search's report is written all the same."""
    config = SearchConfig(
        task="images",
        data=grey_classes(tmp_path / "imgs", size=10, per_class=8),
        target="host",
        budget=3,
        epochs=1,
        out=tmp_path / "run",
    )
    with caplog.at_level("WARNING"):
        summary = run_search(config).summary
    assert (tmp_path / "run" / "report.json").exists() and summary["best"] is not None
    skipped = [r.getMessage() for r in caplog.records if "TFLite Micro verification skipped" in r.getMessage()]
    assert skipped and "not full-integer" in skipped[0] and "--target" in skipped[0]  # seed 0's best has hard-swish
    assert "measured" not in summary["best"]
