"""Settings: the shared data and the cache are found from the environment or the package, never
from the current directory, and a missing file is named with the setting that supplies it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgenas import settings
from edgenas.errors import MissingDataError


def test_default_cache_dir_honours_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDGENAS_CACHE", str(tmp_path))
    assert settings.cache_dir() == tmp_path
    monkeypatch.delenv("EDGENAS_CACHE")
    assert settings.cache_dir() == Path.home() / ".cache" / "edgenas"


def test_shared_data_comes_from_the_argument_the_environment_or_the_package(monkeypatch, tmp_path: Path) -> None:
    assert settings.shared_data_dir(tmp_path) == tmp_path
    monkeypatch.setenv("EDGENAS_SHARED_DATA", str(tmp_path / "env"))
    assert settings.shared_data_dir() == tmp_path / "env"
    monkeypatch.delenv("EDGENAS_SHARED_DATA")
    # the package's own default: shared/data beside the checkout the package lives in
    checkout = Path(settings.__file__).resolve().parents[1]
    assert settings.shared_data_dir() == checkout.parent / "shared" / "data"


def test_the_default_does_not_depend_on_the_current_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EDGENAS_SHARED_DATA"}
    code = "from edgenas.settings import shared_data_dir; print(shared_data_dir())"
    here = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    assert here.stdout.strip() == str(settings.package_shared_data())


def test_a_missing_shared_file_names_itself_and_the_setting(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDGENAS_SHARED_DATA", str(tmp_path))
    with pytest.raises(MissingDataError, match=r"mcu/nope\.csv not found: pass --table PATH, or set EDGENAS_SHARED_DATA"):
        settings.shared_file("mcu/nope.csv", flag="--table")
    (tmp_path / "mcu").mkdir()
    (tmp_path / "mcu" / "here.csv").write_text("x\n")
    assert settings.shared_file("mcu/here.csv") == tmp_path / "mcu" / "here.csv"
