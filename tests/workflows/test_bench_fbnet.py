"""The fbnet space, its HW-NAS-Bench LUT cost, the capacity proxy's exact optimum and ``edgenas bench --space fbnet``."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from edgenas.errors import InvalidInputError
from edgenas.evaluators.fbnet_proxy import FbnetCapacityEvaluator, block_macs, exact_optimum
from edgenas.hardware.fbnet_lut import FbnetLutCost
from edgenas.ir import Op, total_macs, total_params
from edgenas.spaces import SPACES
from edgenas.spaces.fbnet import BLOCKS, FbnetSpace
from edgenas.spaces.nn.blocks import fold_batchnorm
from edgenas.testing import check_space
from edgenas.workflows.bench import BenchConfig, run_bench


def test_contract_and_skeleton() -> None:
    space = SPACES.create("fbnet")
    check_space(space)
    assert len(BLOCKS) == 22 and len(space.decisions()) == 22 and all(len(d.choices) == 9 for d in space.decisions())
    layers = space.layers(space.arch([0] * 22))
    assert layers[0].out_shape == (32, 32, 16) and layers[-1].out_shape == (100,)
    assert layers[-2].op is Op.GLOBAL_AVGPOOL and layers[-2].in_shape == (4, 4, 1504)
    # a residual ADD on the 16 shape-keeping layers: 1 + 3 in each of the five 4-layer stages
    assert sum(layer.op is Op.ADD for layer in layers) == 16
    for k, layer in enumerate(layers):
        assert layer.inputs is not None and all(-1 <= p < k for p in layer.inputs)


@pytest.mark.parametrize("shift", [0, 4])
def test_macs_and_params_equal_the_torch_module(shift: int) -> None:
    """Every op, skips included both where they keep the shape (identity) and where they change it (1x1 conv)."""
    space = FbnetSpace()
    arch = space.arch([(i + shift) % 9 for i in range(22)])
    model = fold_batchnorm(space.build(arch).eval())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(torch.randn(1, 3, 32, 32))
    layers = space.layers(arch)
    assert out.shape == (1, 100)
    assert counter.get_total_flops() == 2 * total_macs(layers)  # 2 flops per MAC
    assert sum(p.numel() for p in model.parameters()) == total_params(layers)


def test_ops_strings_of_the_table_all_parse(fbnet_csv: Path) -> None:
    space = FbnetSpace()
    with fbnet_csv.open(newline="") as f:
        strings = [row["ops"] for row in csv.DictReader(f)]
    assert len(strings) == 5000
    assert [space.ops_string(space.from_string(s)) for s in strings] == strings
    with pytest.raises(InvalidInputError, match="FBNet ops string"):
        space.from_string("0-1-9")


def test_lut_sums_give_the_known_figures(lut_json: Path) -> None:
    space = FbnetSpace()
    arch = space.arch([0] * 22)
    cost = FbnetLutCost(lut_json, "edgegpu_latency", "fpga_energy", key=space.lut_keys)(arch)
    assert cost.latency_ms == pytest.approx(15.804523, abs=1e-6)
    assert cost.energy_mj == pytest.approx(75.17664, abs=1e-6)
    assert cost.sources == {"latency_ms": "measured", "energy_mj": "measured"}
    with pytest.raises(InvalidInputError, match="Did you mean 'pixel3_latency'"):
        FbnetLutCost(lut_json, "pixel_latency", key=space.lut_keys)(arch)


def test_lut_sums_equal_measured_pixel3_latency(lut_json: Path, fbnet_csv: Path) -> None:
    space = FbnetSpace()
    cost = FbnetLutCost(lut_json, "pixel3_latency", key=space.lut_keys)
    with fbnet_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows[::25]:  # 200 rows
        assert cost(space.from_string(row["ops"])).latency_ms == pytest.approx(float(row["pixel3"]), rel=1e-6)


def test_missing_lut_names_itself(tmp_path: Path) -> None:
    space = FbnetSpace()
    with pytest.raises(InvalidInputError, match="EDGENAS_SHARED_DATA"):
        FbnetLutCost(tmp_path / "fbnet_lut.json", key=space.lut_keys)(space.arch([0] * 22))


def test_exact_optimum_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    score, cost = rng.integers(0, 100, (6, 4)).astype(float), rng.random((6, 4))
    for limit in (2.0, 2.5, 3.0, None):
        feasible = [
            (sum(score[i, g] for i, g in enumerate(genes)), genes)
            for genes in itertools.product(range(4), repeat=6)
            if limit is None or sum(cost[i, g] for i, g in enumerate(genes)) <= limit
        ]
        best = exact_optimum(score, cost, limit)
        assert best.score == max(feasible)[0]
        assert sum(cost[i, g] for i, g in enumerate(best.genes)) <= (limit or np.inf)
    with pytest.raises(InvalidInputError, match="no architecture meets"):
        exact_optimum(score, cost, 1e-6)


def test_capacity_is_additive_per_block() -> None:
    space = FbnetSpace()
    table, fixed = block_macs(space)
    evaluator = FbnetCapacityEvaluator(space)
    assert evaluator.evaluate(space.arch([7] * 22)).accuracy == 1.0  # k5_e6 everywhere is the largest network
    for _ in range(5):
        arch = space.sample(np.random.default_rng(_))
        assert total_macs(space.layers(arch)) == fixed + sum(table[i, g] for i, g in enumerate(arch.genes))


def test_bench_fbnet_runs_and_no_strategy_beats_the_optimum(tmp_path: Path, lut_json: Path) -> None:
    config = BenchConfig(space="fbnet", device="pixel3", latency_ms=15.0, strategies=("random", "local"), queries=40, seeds=2)
    summary = run_bench(BenchConfig(**{**config.__dict__, "out": tmp_path, "shared_data": lut_json.parents[1]}))
    assert summary["objective"] == "capacity" and summary["dataset"] == "cifar100"
    assert summary["optimum"]["latency_ms"] <= 15.0
    for result in summary["strategies"].values():
        assert all(r["mean"] >= -1e-12 for r in result["regret"].values())  # regret is never negative: the optimum is exact
    assert (tmp_path / "bench.md").read_text().startswith("# fbnet / cifar100 / pixel3")
    with pytest.raises(InvalidInputError, match="Accepted: edgegpu"):
        BenchConfig(space="fbnet", device="gold_6226").validate()


def test_exact_optimum_front_is_the_brute_force_pareto_front() -> None:
    rng = np.random.default_rng(2)
    score, cost = rng.integers(0, 50, (5, 3)).astype(float), rng.random((5, 3))
    points = [
        (sum(cost[i, g] for i, g in enumerate(genes)), sum(score[i, g] for i, g in enumerate(genes)))
        for genes in itertools.product(range(3), repeat=5)
    ]
    front = sorted({(c, s) for c, s in points if not any(c2 <= c and s2 >= s and (c2, s2) != (c, s) for c2, s2 in points)})
    best = exact_optimum(score, cost, None, fixed_cost=1.0)
    assert best.front_score is not None and best.front_cost is not None
    assert best.front_score.tolist() == [s for _, s in front]
    assert np.allclose(best.front_cost, [c + 1.0 for c, _ in front])


def test_bench_fbnet_energy_limit_and_hypervolume(tmp_path: Path, lut_json: Path) -> None:
    shared = lut_json.parents[1]
    summary = run_bench(
        BenchConfig(
            space="fbnet",
            device="fpga",
            energy_mj=140.0,
            strategies=("random",),
            queries=30,
            seeds=1,
            out=tmp_path,
            shared_data=shared,
        )
    )
    assert "energy <= 140 mJ" in (tmp_path / "bench.md").read_text()
    assert all(r["mean"] >= -1e-12 for r in summary["strategies"]["random"]["regret"].values())
    assert summary["optimum"]["energy_mj"] <= 140.0
    multi = run_bench(
        BenchConfig(
            space="fbnet",
            device="fpga",
            latency_ms=22.0,
            objectives=("accuracy", "latency"),
            strategies=("random",),
            queries=30,
            seeds=2,
            out=tmp_path / "mo",
            shared_data=shared,
        )
    )
    ratios = [v["mean"] for v in multi["strategies"]["random"]["hypervolume_ratio"].values()]
    assert all(0 < r <= 1 for r in ratios) and ratios == sorted(ratios)  # a found front never beats the exact one
    with pytest.raises(InvalidInputError, match="no energy for pixel3"):
        BenchConfig(space="fbnet", device="pixel3", energy_mj=1.0).validate()
    with pytest.raises(InvalidInputError, match="not both"):
        BenchConfig(space="fbnet", device="fpga", energy_mj=1.0, latency_ms=5.0).validate()
