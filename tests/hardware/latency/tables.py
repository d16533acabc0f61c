"""Small latency tables with a known answer, and a slice of the shared NB201 table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from edgenas.settings import shared_data_dir
from edgenas.spaces import KwsSpace
from edgenas.spaces.nb201 import OPS, Nb201Space

#: Synthetic per-edge op costs (ms) of device "a"; device "b" is 3x slower with a per-network overhead.
OP_MS = {"none": 0.0, "skip_connect": 0.05, "nor_conv_1x1": 0.4, "nor_conv_3x3": 1.1, "avg_pool_3x3": 0.3}


def synthetic_nb201_rows(n: int, seed: int = 0) -> list[dict[str, object]]:
    """``n`` distinct NB201 cells priced by an additive per-edge table ("a"), a scaled copy ("b") and a noisy one ("c")."""
    space, rng = Nb201Space(), np.random.default_rng(seed)
    archs = {}
    while len(archs) < n:
        arch = space.sample(rng)
        archs[arch.genes] = arch
    rows = []
    for arch in archs.values():
        a = 2.0 + sum(OP_MS[OPS[g]] for g in arch.genes)
        rows.append({"arch": space.arch_string(arch), "a": a, "b": 3.0 * a + 0.5, "c": a * float(rng.lognormal(0, 0.02))})
    return rows


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def nb201_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "nb201_small.csv", synthetic_nb201_rows(120))


@pytest.fixture
def kws_csv(tmp_path: Path) -> Path:
    """The host table's layout: ``arch`` = Arch.key(), ``genotype`` = JSON genes, metadata, one latency column."""
    space, rng = KwsSpace(), np.random.default_rng(1)
    rows = []
    for _ in range(40):
        arch = space.sample(rng)
        macs = sum(layer.macs for layer in space.layers(arch))
        rows.append(
            {
                "arch": arch.key(),
                "genotype": json.dumps(list(arch.genes)),
                "macs": macs,
                "params": 1,
                "host_ort_1t_ms": 0.05 + macs * 2e-8,
                "iqr_ms": 0.001,
            }
        )
    return write_csv(tmp_path / "kws.csv", rows)


@pytest.fixture
def shared_nb201_csv() -> Path:
    path = shared_data_dir() / "benchmarks" / "nb201_latency_ms.csv"
    if not path.is_file():
        pytest.skip(f"benchmark table {path} not found (set EDGENAS_SHARED_DATA to the shared data folder)")
    return path
