"""Calibration of the Cortex-M latency models on MLPerf Tiny (issue 9).

Reads the shared CSVs from ``EDGENAS_SHARED_DATA`` (default ``<repo>/../shared/data``), never a
copy; tests that need them skip with a message when the folder is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgenas.errors import InvalidInputError, MissingDataError, UnknownNameError
from edgenas.hardware import latency_ms, load_target
from edgenas.hardware.calibrate import calibrate
from edgenas.hardware.check import check_targets, format_check
from edgenas.hardware.mlperf import BENCHMARKS, measured_rows, normalise_runtime_family, reference_models
from edgenas.ir import Layer, total_macs, total_params

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "edgenas" / "hardware" / "targets"


def _shared() -> Path:
    default = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    path = Path(os.environ.get("EDGENAS_SHARED_DATA", default))
    if not (path / "mcu" / "mlperf_tiny_results.csv").is_file():
        pytest.skip(f"shared data folder {path} has no mcu/mlperf_tiny_results.csv: set EDGENAS_SHARED_DATA to shared/data")
    return path


@pytest.fixture(scope="module")
def models() -> dict[str, list[Layer]]:
    return reference_models(_shared())


@pytest.fixture(scope="module")
def rows() -> list:
    return measured_rows(_shared())


@pytest.mark.parametrize(
    ("benchmark", "macs", "params"),
    [("kws", 2_656_768, 22_604), ("vww", 7_489_664, 210_850), ("ic", 12_501_632, 77_706), ("ad", 264_192, 265_864)],
)
def test_reference_models_match_the_model_file(models: dict[str, list[Layer]], benchmark: str, macs: int, params: int) -> None:
    assert (total_macs(models[benchmark]), total_params(models[benchmark])) == (macs, params)


def test_resnet_adds_read_the_skip_tensor(models: dict[str, list[Layer]]) -> None:
    ic = models["ic"]
    assert [layer.inputs for layer in ic if layer.op.value == "add"] == [(2, 0), (5, 6), (9, 10)]


def test_missing_data_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="reference_model_layers.csv.*EDGENAS_SHARED_DATA"):
        reference_models(tmp_path)
    with pytest.raises(MissingDataError, match="mlperf_tiny_results.csv"):
        measured_rows(tmp_path)


def test_measured_rows_are_normalised(rows: list) -> None:
    assert normalise_runtime_family("plumerai-inference-engine") == "plumerai"
    assert normalise_runtime_family("tflm+cmsis") == "tflm-cmsis-nn"
    ref = [r for r in rows if r.core == "cortex-m4" and r.runtime_family == "tflm-cmsis-nn" and r.benchmark == "kws"]
    assert len(ref) == 1 and ref[0].clock_hz == 120_000_000 and ref[0].latency_ms == pytest.approx(181.9174)
    assert ref[0].calibration_grade and ref[0].row_id.startswith("mlcommons/tiny_results_v0.5:")
    assert not any(r.calibration_grade for r in rows if r.accelerator or "float" in r.system)


@pytest.mark.parametrize(
    ("core", "family"),
    [("cortex-m7", "bosch-hale"), ("cortex-m7", "x-cube-ai"), ("cortex-m4", "plumerai"), ("cortex-m33", "bosch-hale")],
)
def test_pairs_that_meet_the_goals(models: dict[str, list[Layer]], rows: list, core: str, family: str) -> None:
    cal = calibrate(models, rows, core=core, runtime_family=family)
    assert set(cal.in_sample_error) == set(BENCHMARKS)
    assert cal.max_in_sample_error <= 0.10, cal.in_sample_error
    assert cal.max_lomo_error <= 0.25, cal.lomo_error


def test_stored_variants_equal_a_fresh_fit(models: dict[str, list[Layer]], rows: list) -> None:
    for full in ("cortex-m7:plumerai", "cortex-m7:x-cube-ai", "cortex-m4:tflm-cmsis-nn"):
        target = load_target(full)
        cal = calibrate(models, rows, core=target.name.split(":")[0], runtime_family=target.variant or "")
        assert set(target.latency_rows) == set(cal.row_ids)
        assert target.latency.conv_pointwise_cycles_per_mac == pytest.approx(
            cal.coefficients.conv_pointwise_cycles_per_mac, rel=0.01
        )
        assert target.latency.fc_cycles_per_mac == pytest.approx(cal.coefficients.fc_cycles_per_mac, rel=0.01)


@pytest.mark.parametrize("name", ["cortex-m7", "cortex-m7:plumerai", "cortex-m7:bosch-hale"])
def test_ds_cnn_on_cortex_m7_within_10_percent_of_measured(models: dict[str, list[Layer]], name: str) -> None:
    estimate = latency_ms(models["kws"], load_target(name))
    assert 0.9 * 17.7 <= estimate <= 1.1 * 19.6, estimate  # DISCO-F746NG, Plumerai / Bosch HALE: 17.7-19.6 ms


def test_variants_override_latency_only() -> None:
    base, xcube = load_target("cortex-m7"), load_target("cortex-m7:x-cube-ai")
    assert xcube.name == "cortex-m7:x-cube-ai" and xcube.variant == "x-cube-ai" and base.variant is None
    assert "x-cube-ai" in base.variants and "X-CUBE-AI" in xcube.runtime
    assert (xcube.memory, xcube.flash, xcube.clock_hz) == (base.memory, base.flash, base.clock_hz)
    assert xcube.latency != base.latency and xcube.latency_rows and "calibrate" in xcube.latency_source
    assert base.latency_source and len(base.latency_rows) == 20


def test_unknown_variant_is_a_clear_line() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_target("cortex-m7:tflm-cmsis-nn")
    message = str(info.value)
    assert "no MLPerf Tiny" in message and "'cortex-m7:x-cube-ai'" in message and "\n" not in message
    with pytest.raises(UnknownNameError, match="Did you mean 'x-cube-ai'"):
        load_target("cortex-m7:xcube-ai")
    with pytest.raises(InvalidInputError, match="empty runtime variant"):
        load_target("cortex-m7:")


def test_coefficients_without_a_source_are_rejected(tmp_path: Path) -> None:
    text = (BUILTIN_DIR / "cortex-m7.yaml").read_text()
    path = tmp_path / "nosource.yaml"
    path.write_text("\n".join(line for line in text.splitlines() if not line.startswith("  source:")))
    with pytest.raises(InvalidInputError) as info:
        load_target(path)
    assert str(path) in str(info.value) and "latency.source" in str(info.value)
    marker = "      source: 'fit by"
    path.write_text(text.replace(marker, "      sauce: 'fit by", 1))
    with pytest.raises(InvalidInputError, match=r"variants\..*latency"):
        load_target(path)


def test_check_reports_every_figure(models: dict[str, list[Layer]]) -> None:
    result = check_targets(_shared())
    assert json.loads(json.dumps(result)) == result
    names = [t["target"] for t in result["targets"]]
    assert "cortex-m7" in names and "cortex-m7:x-cube-ai" in names and "cortex-m4:tflm-cmsis-nn" in names
    m7 = next(t for t in result["targets"] if t["target"] == "cortex-m7:bosch-hale")
    assert len(m7["rows"]) == 16 and all(r["ratio"] > 0 for r in m7["rows"]) and m7["meets_goal"] is True
    assert {(p["core"], p["runtime_family"]) for p in result["pairs"]} >= {
        ("cortex-m33", "x-cube-ai"),
        ("cortex-m4", "tflm-cmsis-nn"),
    }
    text = format_check(result)
    assert "cortex-m7:plumerai" in text and ("MISS" in text) == (not result["ok"])


def test_leave_one_pair_out_chooses_without_the_pairs_own_rows(models: dict[str, list[Layer]], rows: list) -> None:
    from edgenas.hardware.calibrate import leave_one_pair_out

    choices = leave_one_pair_out(models, rows, output_cycles_grid=(8.0, 24.0), ridge_grid=(0.1,))
    assert len(choices) >= 10 and all(c.output_cycles in (8.0, 24.0) and c.ridge == 0.1 for c in choices)
    # The package default is what the other pairs choose, pair by pair.
    assert {c.output_cycles for c in choices} == {24.0}
    bosch_m7 = next(c for c in choices if (c.core, c.runtime_family) == ("cortex-m7", "bosch-hale"))
    assert bosch_m7.max_in_sample_error <= 0.10 and bosch_m7.max_lomo_error <= 0.25
