from __future__ import annotations

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
