"""The ``raspi4`` target: a Raspberry Pi 4 whose latency coefficients are fitted to HW-NAS-Bench.

The fit (``benchmarks/fit_host_target.py --data nb201``) uses 1,000 NAS-Bench-201 cells of a seeded
split; here a fixed sample of the *other* cells checks that the shipped coefficients beat a
MACs-only line fitted on the same train cells. The measurements are read from the shared data
folder (``EDGENAS_SHARED_DATA``, default ``<repo>/../shared/data``), never copied here; the test
that needs them skips with a message if absent.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from edgenas.hardware import builtin_targets, latency_ms, load_target
from edgenas.ir import total_macs
from edgenas.spaces.nb201 import Nb201Space, active_edges

YAML_PATH = Path(__file__).resolve().parents[2] / "edgenas" / "hardware" / "targets" / "raspi4.yaml"
TRAIN = 1000  # the fit's train split: the first TRAIN cells of the seed-0 permutation (see the target file)
SAMPLE = 600  # held-out cells scored here (fixed seed): enough for a stable MAPE, fast


def _shared_data() -> Path:
    default = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return Path(os.environ.get("EDGENAS_SHARED_DATA", default))


def test_raspi4_is_a_builtin_target_and_loads() -> None:
    assert "raspi4" in builtin_targets()
    target = load_target("raspi4")
    assert target.name == "raspi4"
    assert target.clock_hz == 1_500_000_000
    assert target.sram_bytes >= 4 * 1024**3 and target.flash_bytes >= target.sram_bytes
    # a CPU runtime: every IR op runs natively (the loader already refuses an op without its kernel)
    assert {"conv2d", "depthwise_conv2d", "fully_connected", "avg_pool2d", "mean", "add", "softmax"} <= target.native_ops
    assert target.native_ops_source


def test_raspi4_coefficients_carry_their_sources() -> None:
    target = load_target("raspi4")
    assert "nb201_latency_ms.csv" in target.latency_source and "raspi4" in target.latency_source
    data = yaml.safe_load(YAML_PATH.read_text(encoding="utf-8"))
    fit = data["latency"]["fit"]
    assert {"split", "held_out", "command"} <= set(fit)
    assert set(fit["held_out"]) == {"fitted", "macs_only"}
    # every coefficient line says where its figure comes from: a fit, a derivation or an explicit assumption
    text = YAML_PATH.read_text(encoding="utf-8").split("\nmemory:")[0]
    latency_block = text.split("\nlatency:\n", 1)[1]
    keys = [*data["latency"]["cycles_per_mac"], *data["latency"]["cycles_per_element"]]
    keys += ["conv_cycles_per_output", "fc_cycles_per_output", "op_overhead_cycles"]
    for key in keys:
        line = re.search(rf"^\s+{key}:.*$", latency_block, re.MULTILINE)
        assert line is not None, key
        comment = line.group(0).partition("#")[2]
        assert re.search(r"\bfit\b|\bderived\b|ASSUMED", comment), f"{key}: no source in {line.group(0)!r}"


def test_fitted_raspi4_beats_macs_only_on_held_out_cells() -> None:
    path = _shared_data() / "benchmarks" / "nb201_latency_ms.csv"
    if not path.is_file():
        pytest.skip(f"shared data file {path} is absent: set EDGENAS_SHARED_DATA to the shared/data folder")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [(r["arch"], float(r["raspi4"])) for r in csv.DictReader(handle)]
    space = Nb201Space()
    archs = [space.from_string(arch) for arch, _ in rows]
    live = np.flatnonzero([bool(active_edges(a.genes)) for a in archs])  # as the fit: unreachable outputs left out
    order = live[np.random.default_rng(0).permutation(len(live))]
    train = order[:TRAIN]
    held_out = np.random.default_rng(1).choice(order[TRAIN:], SAMPLE, replace=False)
    ms = np.array([m for _, m in rows])

    def macs(idx: np.ndarray) -> np.ndarray:
        return np.array([float(total_macs(space.layers(archs[i]))) for i in idx])

    slope, intercept = np.polyfit(macs(train), ms[train], 1, w=1.0 / ms[train])  # the fit's loss: relative
    baseline = intercept + slope * macs(held_out)
    target = load_target("raspi4")
    fitted = np.array([latency_ms(space.layers(archs[i]), target) for i in held_out])
    true = ms[held_out]

    def mape(pred: np.ndarray) -> float:
        return float(np.mean(np.abs(pred - true) / true))

    def within(pred: np.ndarray, tol: float) -> float:
        return float(np.mean(np.abs(pred - true) / true <= tol))

    assert mape(fitted) < mape(baseline)
    assert within(fitted, 0.2) > within(baseline, 0.2)
    assert stats.spearmanr(fitted, true).statistic > stats.spearmanr(baseline, true).statistic
    assert stats.kendalltau(fitted, true).statistic > stats.kendalltau(baseline, true).statistic
