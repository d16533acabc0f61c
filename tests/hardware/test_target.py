"""Targets: built-ins load and validate; bad files and names fail with actionable messages."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from edgenas.errors import InvalidInputError, UnknownNameError
from edgenas.hardware import Target, builtin_targets, load_target
from edgenas.ir import Op

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "edgenas" / "hardware" / "targets"


def test_builtin_targets_are_listed() -> None:
    names = builtin_targets()
    assert names == sorted(names) and {"cortex-m33", "cortex-m4", "cortex-m7", "host", "npu-int8"} <= set(names)


@pytest.mark.parametrize(
    ("name", "clock_hz", "sram_bytes", "flash_bytes"),
    [("cortex-m7", 216_000_000, 320 * 1024, 1024 * 1024), ("cortex-m4", 120_000_000, 640 * 1024, 2 * 1024 * 1024)],
)
def test_builtin_target_fields(name: str, clock_hz: int, sram_bytes: int, flash_bytes: int) -> None:
    target = load_target(name)
    assert isinstance(target, Target)
    assert (target.name, target.clock_hz, target.sram_bytes, target.flash_bytes) == (
        name,
        clock_hz,
        sram_bytes,
        flash_bytes,
    )
    assert target.ops == frozenset(Op)  # CMSIS-NN / TFLM int8 kernels cover every IR op
    assert target.kernels == "cmsis-nn"
    assert "tflite micro" in target.runtime.lower() and "cmsis-nn" in target.runtime.lower()
    lat = target.latency
    # depthwise and FC are memory-bound: dearer per MAC than 1x1 conv
    assert lat.conv_depthwise_cycles_per_mac > lat.conv_pointwise_cycles_per_mac
    assert lat.fc_cycles_per_mac > lat.conv_pointwise_cycles_per_mac
    assert target.active_power_mw is None  # no sourced power figure: energy is not estimated


def test_target_is_frozen_hashable_and_json_able() -> None:
    target = load_target("cortex-m7")
    with pytest.raises(dataclasses.FrozenInstanceError):
        target.clock_hz = 1  # type: ignore[misc]
    assert hash(target) == hash(load_target("cortex-m7"))
    data = json.loads(json.dumps(target.to_dict()))
    assert data["name"] == "cortex-m7"
    assert "conv2d" in data["ops"]
    assert data["latency"]["conv_depthwise_cycles_per_mac"] == target.latency.conv_depthwise_cycles_per_mac


def test_every_builtin_coefficient_line_has_a_source_comment() -> None:
    for path in BUILTIN_DIR.glob("*.yaml"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.startswith("anchor:"):
                break  # the validation anchor names measured rows, it holds no coefficient
            if ":" not in line or line.lstrip().startswith("#"):
                continue
            value = line.split(":", 1)[1].split("#")[0].strip()
            try:
                float(value)
            except ValueError:
                continue
            assert "#" in line, f"{path.name}:{number} has a coefficient without a source: {line!r}"


def test_unknown_name_suggests_a_builtin() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_target("cortex-m8")
    message = str(info.value)
    assert "did you mean 'cortex-m" in message.lower()
    assert "cortex-m4" in message and "cortex-m7" in message


def test_load_by_path(tmp_path: Path) -> None:
    path = tmp_path / "board.yaml"
    path.write_text((BUILTIN_DIR / "cortex-m7.yaml").read_text().replace("name: cortex-m7", "name: my-board"))
    assert load_target(path).name == "my-board"
    assert load_target(str(path)).name == "my-board"


def _write_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = (BUILTIN_DIR / "cortex-m7.yaml").read_text()
    assert old in text
    path = tmp_path / "variant.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("clock_hz: 216000000", "", "clock_hz"),  # missing
        ("tensor_record_bytes: 24", "tensor_record_bytes: -24", "memory.tensor_record_bytes"),  # negative
        (
            "fully_connected: {per_unit: ",
            "fully_connected: {per_unit: -",
            "latency.kernels.instructions.fully_connected.per_unit",
        ),
        ("      mean: {per_unit:", "      meam: {per_unit:", "latency.kernels.instructions"),  # wrong key
        ("    cycles_per_instruction: ", "    cycles_per_instruction: 0 #", "latency.kernels.cycles_per_instruction"),
        ("add, reshape, softmax, pad,", "add, reshape, softmax, gru,", "ops"),  # unknown op
        ("kernels: cmsis-nn", "kernels: tinyengine", "kernels"),
        ("sram_bytes: 327680", "sram_bytes: lots", "sram_bytes"),
    ],
)
def test_bad_field_names_file_and_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    path = _write_variant(tmp_path, old, new)
    with pytest.raises(InvalidInputError) as info:
        load_target(path)
    message = str(info.value)
    assert str(path) in message
    assert field in message
    assert "\n" not in message


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\nclock_hz: 1\n")
    with pytest.raises(InvalidInputError, match="broken.yaml.*malformed YAML"):
        load_target(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(InvalidInputError, match="mapping"):
        load_target(path)


def test_missing_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_target(tmp_path / "nope.yaml")
