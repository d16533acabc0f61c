"""The energy model: every built-in target has one with sources; energy grows with MACs and latency;
the schema refuses an unsourced coefficient; the average power follows the duty cycle."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from edgenas.errors import InvalidInputError
from edgenas.hardware import AnalyticalCostModel
from edgenas.hardware.energy import average_power_mw, energy_mj, energy_terms, frame_period_ms, network_energy_mj
from edgenas.hardware.target import _TARGETS_DIR, ENERGY_COEFFICIENTS, builtin_targets, load_target
from edgenas.ir import Layer, Op


def _conv(channels: int, size: int = 8, dtype: str = "int8") -> Layer:
    return Layer(Op.CONV2D, (size, size, channels), (size, size, channels), kernel=(3, 3), stride=(1, 1), dtype=dtype)


@pytest.mark.parametrize("name", builtin_targets())
def test_every_builtin_target_has_an_energy_model_with_sources(name: str) -> None:
    energy = load_target(name).energy
    assert energy is not None
    assert [n for n, _ in energy.sources] == list(ENERGY_COEFFICIENTS)
    assert all(len(source) > 20 for _, source in energy.sources)
    assert all(getattr(energy, n) > 0 for n in ENERGY_COEFFICIENTS)


def test_the_cortex_m7_static_power_names_its_mlperf_rows() -> None:
    energy = load_target("cortex-m7").energy
    assert energy is not None and "NUCLEO-H7A3ZI-Q" in energy.source("static_mw")


def test_energy_grows_with_macs_and_with_latency() -> None:
    coeffs = load_target("npu-int8").energy
    assert coeffs is not None
    small, large = [_conv(8)], [_conv(16)]
    assert network_energy_mj(large, 1.0, coeffs) > network_energy_mj(small, 1.0, coeffs)
    assert network_energy_mj(small, 2.0, coeffs) > network_energy_mj(small, 1.0, coeffs)
    terms = energy_terms(small)
    assert terms.int8_macs == small[0].macs and terms.float_macs == 0
    assert terms.sram_bytes == 2 * 8 * 8 * 8 and terms.flash_bytes == 3 * 3 * 8 * 8 + 4 * 8
    floaty = energy_terms([_conv(8, dtype="float32")])
    assert floaty.float_macs == small[0].macs and floaty.sram_bytes == 4 * terms.sram_bytes
    # pJ x count and mW x ms in mJ
    only_static = dataclasses.replace(coeffs, int8_mac_pj=1e-12, sram_byte_pj=1e-12, flash_byte_pj=1e-12)
    assert energy_mj(terms, 10.0, only_static) == pytest.approx(coeffs.static_mw * 10.0 * 1e-3, rel=1e-6)


def test_the_cost_model_labels_energy_estimated() -> None:
    cost = AnalyticalCostModel().estimate([_conv(8)], load_target("cortex-m4"))
    assert cost.energy_mj is not None and cost.energy_mj > 0 and cost.sources["energy_mj"] == "estimated"


def test_average_power_follows_the_duty_cycle() -> None:
    # 1 mJ per inference at 10 FPS, 20 ms each: 10 mW of inference + 80 % of the second idle at 5 mW
    assert average_power_mw(1.0, 20.0, 10.0, 5.0) == pytest.approx(10.0 + 5.0 * 0.8)
    assert average_power_mw(1.0, 200.0, 10.0, 5.0) == pytest.approx(10.0)  # never idle
    assert frame_period_ms(30.0) == pytest.approx(33.333, rel=1e-4)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidInputError, match="--fps"):
            frame_period_ms(bad)


def _target_file(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load((_TARGETS_DIR / "cortex-m4.yaml").read_text())
    edit(data)
    path = tmp_path / "board.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_schema_rejects_a_coefficient_without_a_source(tmp_path: Path) -> None:
    path = _target_file(tmp_path, lambda d: d["energy"]["static_mw"].pop("source"))
    with pytest.raises(InvalidInputError, match=r"energy\.static_mw\.source"):
        load_target(path)


def test_the_schema_rejects_a_non_positive_coefficient(tmp_path: Path) -> None:
    path = _target_file(tmp_path, lambda d: d["energy"]["int8_mac_pj"].update(value=0))
    with pytest.raises(InvalidInputError, match=r"energy\.int8_mac_pj\.value"):
        load_target(path)


def test_a_target_without_an_energy_block_has_no_energy(tmp_path: Path) -> None:
    path = _target_file(tmp_path, lambda d: d.pop("energy"))
    target = load_target(path)
    assert target.energy is None
    assert AnalyticalCostModel().estimate([_conv(8)], target).energy_mj is None
