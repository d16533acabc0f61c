"""A target file is data from elsewhere: crafted ones are refused quickly, in one line naming the file."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from edgenas._yaml import MAX_DEPTH, AliasRefused, safe_load
from edgenas.errors import InvalidInputError
from edgenas.hardware.target import _TARGETS_DIR, MAX_TARGET_BYTES, load_target

BUILTIN = (_TARGETS_DIR / "cortex-m4.yaml").read_text(encoding="utf-8")


def _target(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "board.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    levels = ['l0: &l0 ["x","x","x","x","x","x","x","x","x","x"]']
    levels += [f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 6)]
    bomb = "\n".join(levels) + "\nops: [" + ",".join(["*l5"] * 10) + "]\n"  # 10^7 items in 600 bytes
    start = time.perf_counter()
    with pytest.raises(InvalidInputError, match=r"board\.yaml at line 2: an alias \(\*l0\) is not accepted"):
        load_target(_target(tmp_path, bomb))
    assert time.perf_counter() - start < 1.0


def test_an_anchor_without_alias_is_plain_data() -> None:
    assert safe_load("a: &x [1, 2]\nb: 3\n") == {"a": [1, 2], "b": 3}


def test_deep_nesting_is_a_yaml_error_not_a_stack_overflow(tmp_path: Path) -> None:
    with pytest.raises(yaml.YAMLError, match="nested more than"):
        safe_load("a: " + "[" * 100_000)
    assert safe_load("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(InvalidInputError, match=r"board\.yaml.*nested more than"):
        load_target(_target(tmp_path, "ops: " + "[" * 10_000))


def test_the_alias_error_is_a_yaml_error() -> None:
    with pytest.raises(AliasRefused):
        safe_load("a: &x 1\nb: *x\n")
    assert issubclass(AliasRefused, yaml.YAMLError)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN"])
@pytest.mark.parametrize("key", ["cycles_per_instruction", "invoke_overhead_instructions", "conv_cycles_per_output"])
def test_a_non_finite_coefficient_is_refused(tmp_path: Path, key: str, value: str) -> None:
    text, count = re.subn(rf"(\n\s+{key}:)\s*[0-9.]+", rf"\1 {value}", BUILTIN, count=1)
    assert count == 1
    with pytest.raises(InvalidInputError, match=rf"board\.yaml: field (variants\.[a-z-]+\.)?latency\..*{key}.*finite"):
        load_target(_target(tmp_path, text))


def test_a_target_file_that_is_not_utf8_is_one_error(tmp_path: Path) -> None:
    text = BUILTIN.encode().replace(b"description: ", b"description: \xff\xfe ", 1)
    with pytest.raises(InvalidInputError, match=r"board\.yaml is not UTF-8 text"):
        load_target(_target(tmp_path, text))


def test_an_oversized_target_file_is_refused_unread(tmp_path: Path) -> None:
    path = _target(tmp_path, "")
    with path.open("wb") as f:
        f.truncate(MAX_TARGET_BYTES + 1)  # sparse: nothing to read if the size is checked first
    with pytest.raises(InvalidInputError, match=r"board\.yaml is .* larger than"):
        load_target(path)


def test_the_builtins_still_load() -> None:
    assert load_target("cortex-m4").latency.conv_pointwise_cycles_per_mac > 0
