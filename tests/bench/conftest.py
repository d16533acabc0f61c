from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _table(name: str) -> Path:
    path = Path(os.environ.get("EDGENAS_SHARED_DATA", REPO.parent / "shared" / "data")) / "benchmarks" / name
    if not path.is_file():
        pytest.skip(f"benchmark table {path} not found (set EDGENAS_SHARED_DATA to the shared data folder)")
    return path


@pytest.fixture
def accuracy_csv() -> Path:
    return _table("nb201_accuracy.csv")


@pytest.fixture
def latency_csv() -> Path:
    return _table("nb201_latency_ms.csv")


@pytest.fixture
def lut_json() -> Path:
    return _table("fbnet_lut.json")


@pytest.fixture
def fbnet_csv() -> Path:
    return _table("fbnet_cifar100_latency_ms.csv")
