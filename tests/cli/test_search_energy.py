"""``edgenas search --fps / --energy-mj / --objectives``: the limits they set, the energy report,
nsga2 on accuracy and energy, and the bad inputs (one line, exit 2)."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import pytest
import yaml

from edgenas.errors import InvalidInputError
from edgenas.hardware.target import _TARGETS_DIR
from edgenas.workflows.search import SearchConfig, run_search

from .images import grey_classes
from .test_cli import assert_one_line_error, edgenas


def test_fps_zero_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(edgenas("search", "--fps", "0", "--out", str(tmp_path / "r")), "--fps", "positive")


def test_energy_limit_on_a_target_without_an_energy_model_names_those_with_one(tmp_path: Path) -> None:
    data = yaml.safe_load((_TARGETS_DIR / "cortex-m4.yaml").read_text())
    data.pop("energy")
    board = tmp_path / "board.yaml"
    board.write_text(yaml.safe_dump(data))
    r = edgenas("search", "--target", str(board), "--energy-mj", "1", "--out", str(tmp_path / "r"))
    assert_one_line_error(r, "--energy-mj", "no energy model", "cortex-m7", "npu-int8")


def test_unknown_objectives_are_one_line(tmp_path: Path) -> None:
    r = edgenas("search", "--objectives", "accuracy,size", "--out", str(tmp_path / "r"))
    assert_one_line_error(r, "--objectives accuracy,size", "accuracy,energy")


def test_fps_sets_the_latency_limit_the_tighter_one_winning() -> None:
    assert SearchConfig(latency_ms=None, fps=30).limits().latency_ms == pytest.approx(1000 / 30)
    assert SearchConfig(latency_ms=5.0, fps=30).limits().latency_ms == 5.0
    assert SearchConfig(latency_ms=50.0, fps=30, energy_mj=2.0).limits().energy_mj == 2.0
    assert SearchConfig(objectives=" Accuracy, energy ").objectives == "accuracy,energy"
    with pytest.raises(InvalidInputError, match="--latency estimated"):
        SearchConfig(energy_mj=1.0, latency="measured", target="host").validate()


def _config(tmp_path: Path, **options: object) -> SearchConfig:
    base = SearchConfig(
        task="images",
        data=grey_classes(tmp_path / "imgs"),
        evaluator="zerocost:params",
        strategy="nsga2",
        budget=4,
        epochs=1,
        out=tmp_path / "run",
        export=False,
        latency_ms=None,
        sram_kb=None,
        target="npu-int8",
    )
    return dataclasses.replace(base, **options)


def test_an_accuracy_energy_search_reports_the_front_power_and_hypervolume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgenas.report as report

    axes: list[str] = []
    real_plot = report.plot_pareto

    def plot(*args: object, x: str = "latency", **kwargs: object) -> Path:
        axes.append(x)
        return real_plot(*args, x=x, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(report, "plot_pareto", plot)
    summary = run_search(_config(tmp_path, fps=30.0, objectives="accuracy,energy")).summary
    assert axes and set(axes) == {"energy"}  # pareto.png draws the front that was searched for
    assert (tmp_path / "run" / "pareto.png").stat().st_size > 1000
    assert summary["constraints"]["latency_ms"] == pytest.approx(1000 / 30)
    energy = summary["energy"]
    assert energy["source"] == "estimated" and energy["fps"] == 30.0
    assert energy["front_objectives"] == ["accuracy", "energy"] and energy["front"]
    assert energy["hypervolume"]["value"] > 0
    best = energy["best"]
    assert best["energy_mj"] > 0
    # P = E x fps + idle x (1 - latency x fps)
    idle = energy["idle_mw"]
    expected = best["energy_mj"] * 30 + idle * (1 - best["latency_ms"] * 30 / 1000)
    assert best["average_power_mw"] == pytest.approx(expected)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Energy and power" in report and "average power at 30 FPS" in report
    stored = json.loads((tmp_path / "run" / "report.json").read_text())
    assert stored["energy"]["hypervolume"]["value"] == energy["hypervolume"]["value"]
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["fps"] == 30.0 and config["objectives"] == "accuracy,energy"
    # resuming with other objectives is refused like any other changed option
    with pytest.raises(InvalidInputError, match="--objectives"):
        run_search(_config(tmp_path, fps=30.0, objectives="accuracy,latency,energy", resume=True))


def test_nsga2_tells_optuna_the_objectives_asked_for() -> None:
    from edgenas.arch import Arch
    from edgenas.strategies.optuna import Nsga2Strategy
    from edgenas.trial import Cost, Trial, TrialState

    cost = Cost(macs=1, params=1, peak_sram_bytes=1, flash_bytes=1, latency_ms=2.0, energy_mj=0.5)
    trial = Trial(0, Arch("x", (0,)), TrialState.COMPLETE, cost=cost)
    three = Nsga2Strategy(space=None, objectives=("accuracy", "latency", "energy"))  # type: ignore[arg-type]
    assert three.directions == ("maximize", "minimize", "minimize")
    assert three._values(trial, 0.9) == [0.9, 2.0, 0.5]
    assert Nsga2Strategy(space=None)._values(trial, 0.9) == [0.9, 2.0]  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="objectives"):
        Nsga2Strategy(space=None, objectives=("energy",))  # type: ignore[arg-type]


def test_population_reaches_the_strategy_and_the_run_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgenas.strategies.optuna import Nsga2Strategy

    sizes: list[int] = []
    real_init = Nsga2Strategy.__init__

    @functools.wraps(real_init)  # the signature stays the strategy's: --population is checked against it
    def init(self: Nsga2Strategy, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        sizes.append(self.population_size)

    monkeypatch.setattr(Nsga2Strategy, "__init__", init)
    summary = run_search(_config(tmp_path, fps=30.0, objectives="accuracy,energy", population=2, budget=5)).summary
    assert sizes == [2] and summary["search"]["trials"]["complete"] == 5
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["population"] == 2
    with pytest.raises(InvalidInputError, match="--population"):  # a resume with another population is refused
        run_search(_config(tmp_path, fps=30.0, objectives="accuracy,energy", population=4, budget=6, resume=True))


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--population", "1", "--strategy", "nsga2"], "from 2 to 100,000"),
        (["--population", "8", "--strategy", "random"], "--strategy random keeps none"),
        (["--population", "3", "--strategy", "evolution"], "tournament of 4"),
    ],
)
def test_bad_population_is_one_line(tmp_path: Path, flags: list[str], fragment: str) -> None:
    assert_one_line_error(edgenas("search", *flags, "--out", str(tmp_path / "r")), "--population", fragment)
