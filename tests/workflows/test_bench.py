from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from edgenas.cli.bench import bench
from edgenas.errors import InvalidInputError, MissingDataError, UnknownNameError
from edgenas.trial import Metrics, Trial, TrialState
from edgenas.workflows.bench import BenchConfig, best_curve, constrained_optimum, run_bench


def test_best_curve_counts_evaluated_candidates_only() -> None:
    from edgenas.arch import Arch

    a = Arch("x", (0,))
    trials = [
        Trial(0, a, TrialState.INFEASIBLE),
        Trial(1, a, TrialState.FAIL),
        Trial(2, a, TrialState.COMPLETE, metrics=Metrics(0.5)),
        Trial(3, a, TrialState.COMPLETE, metrics=Metrics(0.4)),
    ]
    curve = best_curve(trials)
    assert len(curve) == 3 and math.isnan(curve[0]) and curve[1:] == (0.5, 0.5)


def test_constrained_optimum() -> None:
    assert constrained_optimum({"a": 0.9, "b": 0.8}, {"a": 5.0, "b": 1.0}, 2.0) == ("b", 0.8, 1)
    assert constrained_optimum({"a": 0.9, "b": 0.8}, {"a": 5.0, "b": 1.0}, None) == ("a", 0.9, 2)
    with pytest.raises(InvalidInputError, match="fastest 1 ms"):
        constrained_optimum({"a": 0.9}, {"a": 1.0}, 0.5)


def test_run_bench_writes_its_outputs(tmp_path: Path, accuracy_csv: Path, latency_csv: Path) -> None:
    config = BenchConfig(latency_ms=10.0, strategies=("random", "evolution", "local"), queries=60, seeds=2, out=tmp_path)
    summary = run_bench(config)
    assert summary["optimum"]["accuracy"] == pytest.approx(0.93625, abs=1e-6)  # pixel3 <= 10 ms on cifar10
    for name, result in summary["strategies"].items():
        assert set(result["regret"]) == {"25", "50", "60"}, name
        regrets = [result["regret"][b]["mean"] for b in ("25", "50", "60")]
        assert all(r >= 0 for r in regrets) and regrets == sorted(regrets, reverse=True)
        assert 0 <= result["found_optimum_share"] <= 1
    assert json.loads((tmp_path / "bench.json").read_text())["optimum"] == summary["optimum"]
    assert "| local |" in (tmp_path / "bench.md").read_text()
    assert (tmp_path / "regret.png").stat().st_size > 0


def test_unconstrained_optimum_is_the_known_one(tmp_path: Path, accuracy_csv: Path, latency_csv: Path) -> None:
    summary = run_bench(BenchConfig(dataset="cifar100", strategies=("random",), queries=5, seeds=1, out=tmp_path))
    assert summary["optimum"]["accuracy"] == pytest.approx(0.735133, abs=1e-6)


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'evolution'"):
        BenchConfig(strategies=("evolutoin",)).validate()
    with pytest.raises(InvalidInputError, match="--queries"):
        BenchConfig(queries=0).validate()
    with pytest.raises(InvalidInputError, match="no accuracy table"):
        BenchConfig(space="kws").validate()
    with pytest.raises(MissingDataError, match=r"none\.csv.*EDGENAS_SHARED_DATA.*--accuracy-table"):
        run_bench(BenchConfig(latency_table=tmp_path / "none.csv", accuracy_table=tmp_path / "none.csv", out=tmp_path))


def test_cli_json(tmp_path: Path, accuracy_csv: Path, latency_csv: Path) -> None:
    app = typer.Typer()
    app.command()(bench)
    args = [
        "--latency-ms",
        "5",
        "--strategies",
        "random,local",
        "--queries",
        "25",
        "--seeds",
        "2",
        "--out",
        str(tmp_path),
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["strategies"]) == {"random", "local"} and summary["latency_ms"] == 5.0


def test_hypervolume_ratio_of_nb201_fronts(tmp_path: Path, accuracy_csv: Path, latency_csv: Path) -> None:
    config = BenchConfig(
        latency_ms=8.0, objectives=("accuracy", "latency"), strategies=("random", "nsga2"), queries=40, seeds=2, out=tmp_path
    )
    summary = run_bench(config)
    assert summary["true_front"]["size"] >= 2 and summary["true_front"]["reference"][1] == 8.0
    for result in summary["strategies"].values():
        ratios = [result["hypervolume_ratio"][b]["mean"] for b in ("25", "40")]
        assert 0 < ratios[0] <= ratios[1] <= 1
    assert "HV ratio @40" in (tmp_path / "bench.md").read_text()
    with pytest.raises(InvalidInputError, match="--objectives"):
        BenchConfig(objectives=("latency",)).validate()
    with pytest.raises(InvalidInputError, match="no energy"):
        BenchConfig(energy_mj=1.0).validate()


def test_jobs_change_wall_time_only(tmp_path: Path, accuracy_csv: Path, latency_csv: Path) -> None:
    base = {"latency_ms": 8.0, "strategies": ("random", "evolution"), "queries": 30, "seeds": 3}
    one = run_bench(BenchConfig(**base, out=tmp_path / "one"))
    two = run_bench(BenchConfig(**base, jobs=2, out=tmp_path / "two"))
    for name in base["strategies"]:
        assert one["strategies"][name]["regret"] == two["strategies"][name]["regret"]
        assert one["strategies"][name]["found_optimum_share"] == two["strategies"][name]["found_optimum_share"]
    with pytest.raises(InvalidInputError, match="--jobs"):
        BenchConfig(jobs=0).validate()
