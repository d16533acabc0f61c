"""Trackers: each trial's figures and the run's parameters, written where users already look.

``edgenas search --log tensorboard,mlflow`` sends every trial as it is told to TensorBoard event
files (``RUN/tensorboard/``) and to an MLflow run (a local SQLite store, ``RUN/mlflow.db``, or the
server ``MLFLOW_TRACKING_URI`` names). The run folder's store stays the record: trackers are a
view, so a tracker that fails (a full disk, a server gone) logs one warning and is dropped, and
the search goes on. A resumed search continues the same MLflow run and the same TensorBoard
folder, its trials at their own step numbers, so nothing is logged twice.

Both are optional extras (``pip install 'edgenas[track]'``), imported only when asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgenas.errors import InvalidInputError, MissingExtraError
from edgenas.trial import Trial

if TYPE_CHECKING:
    from edgenas.experiment import Progress

log = logging.getLogger(__name__)

#: The trackers ``--log`` accepts.
TRACKERS = ("tensorboard", "mlflow")
#: The MLflow experiment every edgenas run is logged under (one MLflow run per run folder).
MLFLOW_EXPERIMENT = "edgenas"
#: The tag that ties an MLflow run to its run folder (a resume finds the run it continues by it).
RUN_DIR_TAG = "edgenas.run_dir"


def parse_trackers(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"tensorboard,mlflow"`` (or a list) as a checked tuple; an unknown name is one line."""
    if text is None:
        return ()
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    for name in names:
        if name not in TRACKERS:
            raise InvalidInputError(f"--log {name!r}: accepted trackers are {', '.join(TRACKERS)}")
    return tuple(dict.fromkeys(names))


def trial_figures(trial: Trial) -> dict[str, float]:
    """The numbers of one trial, named with their units (what both trackers log at the trial's step)."""
    out: dict[str, float] = {}
    if trial.accuracy is not None:
        out["accuracy"] = float(trial.accuracy)
    cost = trial.cost
    if cost is not None:
        for name in ("latency_ms", "peak_sram_bytes", "flash_bytes", "macs", "params", "energy_mj"):
            value = getattr(cost, name, None)
            if isinstance(value, int | float):
                out[name] = float(value)
    out["feasible"] = 0.0 if trial.violations else 1.0
    out["wall_s"] = float(trial.duration_s)
    return out


class Tracker(Protocol):
    """Where a search's trials are mirrored."""

    name: str

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_trial(self, trial: Trial, best: Trial | None) -> None: ...

    def close(self) -> None: ...


class TensorBoardTracker:
    """Scalars per trial under ``folder`` (``trial/<figure>`` at the trial's number, ``best/accuracy``)."""

    name = "tensorboard"

    def __init__(self, folder: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MissingExtraError("--log tensorboard needs TensorBoard: pip install 'edgenas[track]'") from None
        self.folder = Path(folder)
        self.writer = SummaryWriter(log_dir=str(self.folder))

    def log_params(self, params: Mapping[str, Any]) -> None:
        lines = "\n".join(f"| {k} | {v} |" for k, v in sorted(params.items()))
        self.writer.add_text("run/parameters", "| parameter | value |\n|---|---|\n" + lines, 0)

    def log_trial(self, trial: Trial, best: Trial | None) -> None:
        step = trial.number
        for name, value in trial_figures(trial).items():
            self.writer.add_scalar(f"trial/{name}", value, step)
        if best is not None and best.accuracy is not None:
            self.writer.add_scalar("best/accuracy", float(best.accuracy), step)
        self.writer.flush()  # visible while the search runs

    def close(self) -> None:
        self.writer.close()


class MlflowTracker:
    """One MLflow run per run folder: the parameters, each trial's figures at its number, tags."""

    name = "mlflow"

    def __init__(self, run_dir: Path, uri: str | None = None) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise MissingExtraError("--log mlflow needs MLflow: pip install 'edgenas[track]'") from None
        self.uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(run_dir).resolve() / 'mlflow.db'}"
        with _quiet("mlflow", "alembic"):
            self.client = MlflowClient(tracking_uri=self.uri)
            experiment = self.client.get_experiment_by_name(MLFLOW_EXPERIMENT)
            experiment_id = (
                experiment.experiment_id if experiment is not None else self.client.create_experiment(MLFLOW_EXPERIMENT)
            )
            where = str(Path(run_dir).resolve())
            found = self.client.search_runs([experiment_id], filter_string=f"tags.`{RUN_DIR_TAG}` = '{_quote(where)}'")
            if found:
                self.run_id = found[0].info.run_id  # a resume: the same MLflow run, its trials at their numbers
                self.client.update_run(self.run_id, status="RUNNING")
            else:
                run = self.client.create_run(experiment_id, tags={RUN_DIR_TAG: where}, run_name=Path(run_dir).name)
                self.run_id = run.info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        logged = self.client.get_run(self.run_id).data.params
        for key, value in sorted(params.items()):
            text = str(value)[:500]
            if key not in logged:  # MLflow refuses to change a parameter: a resume logs only new ones
                self.client.log_param(self.run_id, key, text)

    def log_trial(self, trial: Trial, best: Trial | None) -> None:
        figures = trial_figures(trial)
        if best is not None and best.accuracy is not None:
            figures["best_accuracy"] = float(best.accuracy)
        for name, value in figures.items():
            self.client.log_metric(self.run_id, name, value, step=trial.number)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """MLflow and alembic announce their database set-up at INFO: not the user's business."""
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


class Trackers:
    """The trackers of one search, each guarded: the first failure of one logs a warning and drops it."""

    def __init__(self, trackers: Sequence[Tracker]) -> None:
        self.trackers = list(trackers)

    @classmethod
    def open(cls, names: Sequence[str], run_dir: Path) -> Trackers:
        made: list[Tracker] = []
        for name in names:
            made.append(TensorBoardTracker(Path(run_dir) / "tensorboard") if name == "tensorboard" else MlflowTracker(run_dir))
        return cls(made)

    def _each(self, what: str, *args: Any) -> None:
        for tracker in list(self.trackers):
            try:
                getattr(tracker, what)(*args)
            except Exception as exc:  # a tracker is a view: its failure must not stop the search
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                log.warning("--log %s stopped: %s (the search goes on; its store keeps every trial)", tracker.name, first)
                self.trackers.remove(tracker)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._each("log_params", params)

    def log_trial(self, trial: Trial, best: Trial | None) -> None:
        self._each("log_trial", trial, best)

    def close(self) -> None:
        self._each("close")
        self.trackers = []

    def watch(self, progress: Callable[[Progress], None] | None) -> Callable[[Progress], None] | None:
        """``progress``, with each trial it is told also sent to the trackers (``progress`` itself when there are none)."""
        if not self.trackers:
            return progress

        def told(update: Progress) -> None:
            self.log_trial(update.trial, update.best)
            if progress is not None:
                progress(update)

        return told
