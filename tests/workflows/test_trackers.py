"""``--log tensorboard,mlflow``: every trial told is read back from the TensorBoard event files and
the MLflow store with its figures at its number; a resume continues the same MLflow run; a tracker
that fails is dropped with a warning and the search goes on."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from edgenas.errors import InvalidInputError
from edgenas.trackers import Trackers, parse_trackers
from tests.cli.images import grey_classes


def _config(tmp_path: Path, log: str, budget: int = 3):  # type: ignore[no-untyped-def]
    from edgenas.workflows.config import SearchConfig

    return SearchConfig(
        task="images", data=grey_classes(tmp_path / "imgs"), strategy="random", budget=budget, epochs=1,
        out=tmp_path / "run", export=False, latency_ms=None, sram_kb=None, flash_kb=None, log=log,
    )  # fmt: skip


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_parse_trackers_checks_every_name() -> None:
    assert parse_trackers("tensorboard, mlflow,tensorboard") == ("tensorboard", "mlflow")
    assert parse_trackers(None) == () and parse_trackers("") == ()
    with pytest.raises(InvalidInputError, match="--log 'wandb': accepted trackers are tensorboard, mlflow"):
        parse_trackers("tensorboard,wandb")


def test_every_trial_is_read_back_from_tensorboard_and_mlflow_and_a_resume_continues(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    mlflow = pytest.importorskip("mlflow")
    from edgenas.workflows.search import run_search

    config = _config(tmp_path, "tensorboard,mlflow")
    outcome = run_search(config)
    told = sorted((t for t in outcome.trials if t.role == "search"), key=lambda t: t.number)
    trained = {t.number: t.accuracy for t in told if t.accuracy is not None}
    assert trained

    scalars = _scalars(tmp_path / "run" / "tensorboard")
    assert {step for step, _ in scalars["trial/latency_ms"]} == {t.number for t in told}
    assert {s: pytest.approx(v, abs=1e-6) for s, v in scalars["trial/accuracy"]} == trained

    client = mlflow.tracking.MlflowClient(f"sqlite:///{(tmp_path / 'run' / 'mlflow.db').resolve()}")
    (run,) = client.search_runs([client.get_experiment_by_name("edgenas").experiment_id])
    assert run.data.params["strategy"] == "random" and run.data.params["seed"] == "0"
    assert run.info.status == "FINISHED"
    history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "accuracy")}
    assert history == pytest.approx(trained)

    resumed = run_search(dataclasses.replace(config, budget=5, resume=True))
    (again,) = client.search_runs([client.get_experiment_by_name("edgenas").experiment_id])
    assert again.info.run_id == run.info.run_id  # the same MLflow run, continued
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "latency_ms")]
    assert len(steps) == len(set(steps)) == len([t for t in resumed.trials if t.role == "search"])  # nothing twice


class _Broken:
    name = "broken"

    def log_params(self, params: object) -> None:
        pass

    def log_trial(self, trial: object, best: object) -> None:
        raise OSError("No space left on device")

    def close(self) -> None:
        raise AssertionError("a dropped tracker is not closed")


def test_a_failing_tracker_is_dropped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    trackers = Trackers([_Broken()])
    with caplog.at_level(logging.WARNING, logger="edgenas.trackers"):
        trackers.log_trial(object(), None)  # type: ignore[arg-type]
        trackers.log_trial(object(), None)  # type: ignore[arg-type]
    assert trackers.trackers == []
    assert [r.getMessage() for r in caplog.records] == [
        "--log broken stopped: No space left on device (the search goes on; its store keeps every trial)"
    ]
    trackers.close()


def test_an_unknown_tracker_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    from tests.cli.test_cli import assert_one_line_error, edgenas

    r = edgenas("search", "--log", "wandb", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert_one_line_error(r, "--log 'wandb': accepted trackers are tensorboard, mlflow")
    assert not (tmp_path / "run").exists()
