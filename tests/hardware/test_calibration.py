"""Calibration of the Cortex-M latency models on MLPerf Tiny (issue 9).

Reads the shared CSVs from ``EDGENAS_SHARED_DATA`` (default ``<repo>/../shared/data``), never a
copy; tests that need them skip with a message when the folder is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgenas.errors import InvalidInputError, MissingDataError, UnknownNameError
from edgenas.hardware import latency_ms, load_target
from edgenas.hardware.calibrate import (
    DEFAULT_RIDGE,
    PRIOR,
    calibrate,
    cross_pair_deviations,
    leave_one_pair_out,
    median_cycles,
    select_rows,
)
from edgenas.hardware.check import check_targets, format_check
from edgenas.hardware.mlperf import BENCHMARKS, measured_rows, normalise_runtime_family, reference_models
from edgenas.ir import Layer, total_macs, total_params
from edgenas.settings import shared_data_dir

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "edgenas" / "hardware" / "targets"


def _shared() -> Path:
    path = shared_data_dir()
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
    [
        ("cortex-m7", "bosch-hale"),
        ("cortex-m4", "microtvm-cmsis-nn"),
        ("cortex-m0plus", "bosch-hale"),
        ("cortex-m33", "bosch-hale"),
    ],
)
def test_pairs_that_meet_the_goals(models: dict[str, list[Layer]], rows: list, core: str, family: str) -> None:
    cal = calibrate(models, rows, core=core, runtime_family=family)
    assert set(cal.in_sample_error) == set(BENCHMARKS)
    assert cal.max_in_sample_error <= 0.10, cal.in_sample_error
    assert cal.max_lomo_error <= 0.25, cal.lomo_error


@pytest.mark.parametrize(("core", "family"), [("cortex-m7", "x-cube-ai"), ("cortex-m4", "plumerai"), ("cortex-m7", "bosch-hale")])
def test_newest_engine_rows_are_one_round_covering_every_model(rows: list, core: str, family: str) -> None:
    every = select_rows(rows, core, [family], rounds="all")
    newest = select_rows(rows, core, [family])
    covering = [rd for rd in {r.round for r in every} if {r.benchmark for r in every if r.round == rd} == set(BENCHMARKS)]
    assert {r.round for r in newest} == {max(covering, key=lambda rd: tuple(map(int, rd[1:].split("."))))}
    assert set(newest) == {r for r in every if r.round in {n.round for n in newest}}


def test_lomo_never_sees_the_left_out_model(models: dict[str, list[Layer]], rows: list) -> None:
    # Removing the left-out model's rows from every *other* pair must not change the LOMO figure:
    # the cross-pair centre of a left-out model is fitted without it everywhere.
    core, family = "cortex-m7", "plumerai"
    full = calibrate(models, rows, core=core, runtime_family=family)
    for left_out in BENCHMARKS:
        blind = [r for r in rows if r.benchmark != left_out or (r.core, r.runtime_family) == (core, family)]
        again = calibrate(models, blind, core=core, runtime_family=family)
        assert again.lomo_error[left_out] == pytest.approx(full.lomo_error[left_out], rel=1e-6)
    assert full.centre is not None and set(full.centre) == {"conv", "depthwise", "fc", "output"}


def test_centre_is_the_mean_of_the_other_pairs(models: dict[str, list[Layer]], rows: list) -> None:
    table = cross_pair_deviations(models, rows)
    cal = calibrate(models, rows, core="cortex-m4", runtime_family="x-cube-ai", table=table)
    others = [entry[None] for pair, entry in table.items() if pair != ("cortex-m4", "x-cube-ai")]
    assert cal.centre == pytest.approx({k: sum(d[k] for d in others) / len(others) for k in cal.centre})
    unpooled = calibrate(models, rows, core="cortex-m4", runtime_family="x-cube-ai", pooled=False)
    assert unpooled.centre is None and unpooled.measured_cycles == cal.measured_cycles


def test_misses_are_reported_not_hidden(models: dict[str, list[Layer]], rows: list) -> None:
    # The newest Plumerai engine on the Cortex-M7 misses the in-sample goal on DS-CNN: the variant's
    # estimate differs from its measured rows by exactly the error its file and --check report.
    target = load_target("cortex-m7:plumerai")
    measured = median_cycles(select_rows(rows, "cortex-m7", ["plumerai"]))["kws"]
    error = latency_ms(models["kws"], target) * 1e-3 * target.clock_hz / measured - 1.0
    cal = calibrate(models, rows, core="cortex-m7", runtime_family="plumerai")
    assert error == pytest.approx(cal.in_sample_error["kws"], abs=0.01)
    row = next(p for p in check_targets(_shared())["pairs"] if (p["core"], p["runtime_family"]) == ("cortex-m7", "plumerai"))
    assert row["in_sample_error"]["kws"] == pytest.approx(error, abs=0.01)
    assert row["meets_goal"] is (cal.max_in_sample_error <= 0.10 and cal.max_lomo_error <= 0.25)


def test_stored_variants_equal_a_fresh_fit(models: dict[str, list[Layer]], rows: list) -> None:
    for full in ("cortex-m7:plumerai", "cortex-m7:x-cube-ai", "cortex-m33:bosch-hale"):
        target = load_target(full)
        cal = calibrate(models, rows, core=target.name.split(":")[0], runtime_family=target.variant or "")
        assert set(target.latency_rows) == set(cal.row_ids)
        assert target.latency.conv_pointwise_cycles_per_mac == pytest.approx(
            cal.coefficients.conv_pointwise_cycles_per_mac, rel=0.01
        )
        assert target.latency.fc_cycles_per_mac == pytest.approx(cal.coefficients.fc_cycles_per_mac, rel=0.01)


@pytest.mark.parametrize("name", ["cortex-m7:bosch-hale"])
def test_ds_cnn_on_cortex_m7_within_10_percent_of_measured(models: dict[str, list[Layer]], name: str) -> None:
    estimate = latency_ms(models["kws"], load_target(name))
    assert 0.9 * 17.7 <= estimate <= 1.1 * 19.6, estimate  # DISCO-F746NG, Plumerai / Bosch HALE: 17.7-19.6 ms


def test_variants_override_latency_only() -> None:
    base, xcube = load_target("cortex-m7"), load_target("cortex-m7:x-cube-ai")
    assert xcube.name == "cortex-m7:x-cube-ai" and xcube.variant == "x-cube-ai" and base.variant is None
    assert "x-cube-ai" in base.variants and "X-CUBE-AI" in xcube.runtime
    assert (xcube.memory, xcube.flash, xcube.clock_hz) == (base.memory, base.flash, base.clock_hz)
    assert xcube.latency != base.latency and xcube.latency_rows and "calibrate" in xcube.latency_source
    assert base.latency_source and base.latency_rows == () and base.kernel_latency is not None  # TFLite Micro: no M7 row
    assert xcube.kernel_latency is None


def test_unknown_variant_is_a_clear_line() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_target("cortex-m7:tflm-cmsis-nn")
    message = str(info.value)
    assert "base latency block is TensorFlow Lite Micro" in message and "'cortex-m7:x-cube-ai'" in message and "\n" not in message
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
    assert "cortex-m7" in names and "cortex-m7:x-cube-ai" in names and "cortex-m33:bosch-hale" in names
    m7_tflm = next(t for t in result["targets"] if t["target"] == "cortex-m7")
    assert m7_tflm["latency_model"] == "kernels" and m7_tflm["rows"] == [] and m7_tflm["meets_goal"] is None
    fits = {k["core"]: k for k in result["tflm_kernel_fits"]}
    assert set(fits) == {"cortex-m4", "cortex-m33", "cortex-m85"} and fits["cortex-m85"]["meets_goal"] is None
    m33 = next(t for t in result["targets"] if t["target"] == "cortex-m33")
    assert m33["in_sample_error"] == pytest.approx(
        fits["cortex-m33"]["in_sample_error"], abs=1e-3
    )  # the file = the fit (4 digits)
    m7 = next(t for t in result["targets"] if t["target"] == "cortex-m7:bosch-hale")
    assert len(m7["rows"]) == len(load_target("cortex-m7:bosch-hale").latency_rows) == 8
    assert all(r["ratio"] > 0 for r in m7["rows"]) and m7["meets_goal"] is True and {r["round"] for r in m7["rows"]} == {"v1.2"}
    assert {(p["core"], p["runtime_family"]) for p in result["pairs"]} >= {
        ("cortex-m33", "x-cube-ai"),
        ("cortex-m4", "tflm-cmsis-nn"),
    }
    text = format_check(result)
    assert "cortex-m7:plumerai" in text and ("MISS" in text) == (not result["ok"])


def test_leave_one_pair_out_chooses_without_the_pairs_own_rows(models: dict[str, list[Layer]], rows: list) -> None:
    grid_out, grid_ridge = (20.0, PRIOR.conv_cycles_per_output), (DEFAULT_RIDGE, 0.1)
    choices, best = leave_one_pair_out(models, rows, output_cycles_grid=grid_out, ridge_grid=grid_ridge)
    assert len(choices) >= 10 and all(c.output_cycles in grid_out and c.ridge in grid_ridge for c in choices)
    # The package defaults are the grid point that fits all pairs best.
    assert best == (PRIOR.conv_cycles_per_output, DEFAULT_RIDGE)
    bosch_m7 = next(c for c in choices if (c.core, c.runtime_family) == ("cortex-m7", "bosch-hale"))
    assert bosch_m7.max_in_sample_error <= 0.10 and bosch_m7.max_lomo_error <= 0.25
