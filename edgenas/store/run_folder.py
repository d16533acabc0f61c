"""The run folder: every file a search writes, by name, in one place.

A search, its resume, the report, ``export``, ``verify`` and the benchmarks all read and write the
same folder; :class:`RunFolder` is the only code that knows what its files are called, so a new
file (or a renamed one) is one change here. The layout::

    RUN/
      trials.db               the store: configuration + one row per trial (SQLite, WAL)
      search.lock             held by the search writing the folder (its pid; see edgenas.store.lock)
      config.yaml             the resolved configuration of the last invocation (readable copy)
      report.json report.md pareto.png
      best/                   model.pt (checkpoint), model.onnx, model_int8.tflite, c/ (C source)
      trials/<ID>/            weights of another trial, trained again on request (export --retrain)
      prefilter.db            the pre-filter's proxy-scored pool (--evaluator prefilter:...)
      supernet.pt             the weight-sharing supernet's weights (--evaluator supernet)
      measured_latency.json   latencies measured on this machine or an agent's device (--latency measured)
      compiled_latency.json   latencies of the candidates' TVM builds, and their compile figures (--latency compiled)
      compiled/tvm/<target>/  TVM's files: tuning/ (the MetaSchedule database), edgenas compile's libraries,
                              feedback.json + feedback_latency.json (--feedback-rounds: the rounds, the finalists' tuned builds)
      latency_predictor.json  the latency predictor the search ranked by (--latency predicted)
      differentiable.json     what a differentiable search derived, and how
      latency-<T>ms/          one run folder per limit of a differentiable --sweep
      sweep.json sweep.md sweep_pareto.png
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgenas.errors import InvalidInputError
from edgenas.store._sqlite import SqliteStore
from edgenas.store.lock import RunLock


@dataclass(frozen=True)
class RunFolder:
    """The files of one search run under ``path``."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # -- the store ------------------------------------------------------------------------
    @property
    def store_path(self) -> Path:
        return self.path / "trials.db"

    def holds_search(self) -> bool:
        """Whether a search was started here (its store exists)."""
        return self.store_path.is_file()

    @property
    def wal_path(self) -> Path:
        """SQLite's write-ahead log beside the store (a killed search leaves it)."""
        return self.path / f"{self.store_path.name}-wal"

    @property
    def lock_file(self) -> Path:
        return self.path / "search.lock"

    def open_store(self, *, exclusive: bool = False) -> SqliteStore:
        """The run's store, created (with the folder) when absent.

        ``exclusive``: first take the folder's lock (:class:`RunFolderBusy` when another search
        holds it), held until the store is closed or the process ends.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.lock() if exclusive else None
        try:
            store = SqliteStore(self.store_path)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        if lock is not None:
            store.hold_until_close(lock.release)
        return store

    def read_store(self) -> SqliteStore:
        """The run's store, read-only (works on an archived, read-only folder; writes nothing)."""
        return SqliteStore(self.require().store_path, read_only=True)

    def lock(self) -> RunLock:
        """Take the folder's exclusive lock (see :mod:`edgenas.store.lock`); the folder must exist."""
        return RunLock.acquire(self.lock_file, self.path)

    def check_unlocked(self) -> None:
        """Raise :class:`RunFolderBusy` if another process holds the folder now (nothing is kept or created)."""
        if self.lock_file.is_file() and os.access(self.path, os.W_OK):
            self.lock().release()

    def require(self) -> RunFolder:
        """This folder, or a clear error when it holds no search."""
        if not self.path.is_dir() or not self.holds_search():
            raise InvalidInputError(
                f"{self.path}: not a search run folder (no {self.store_path.name}); pass the --out folder of `edgenas search`"
            )
        return self

    def read_config(self) -> dict[str, Any]:
        """The configuration stored when the search started (an error when there is none)."""
        with self.read_store() as store:
            config = store.read_config()
        if not config:
            raise InvalidInputError(f"{self.store_path} holds no search configuration")
        return config

    # -- files beside the store -----------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    @property
    def report_json(self) -> Path:
        return self.path / "report.json"

    @property
    def report_md(self) -> Path:
        return self.path / "report.md"

    @property
    def pareto_png(self) -> Path:
        return self.path / "pareto.png"

    @property
    def best_dir(self) -> Path:
        return self.path / "best"

    @property
    def best_checkpoint(self) -> Path:
        return self.best_dir / "model.pt"

    @property
    def best_onnx(self) -> Path:
        return self.best_dir / "model.onnx"

    @property
    def best_int8_tflite(self) -> Path:
        return self.best_dir / "model_int8.tflite"

    def trial_dir(self, trial_id: str) -> Path:
        """Where the weights and exports of a trial other than the best go."""
        return self.path / "trials" / trial_id

    @property
    def prefilter_store(self) -> Path:
        return self.path / "prefilter.db"

    @property
    def supernet_weights(self) -> Path:
        return self.path / "supernet.pt"

    @property
    def measured_latency(self) -> Path:
        return self.path / "measured_latency.json"

    @property
    def compiled_latency(self) -> Path:
        """Latencies of the candidates as a compiler built them, with each compile's figures (``--latency compiled``)."""
        return self.path / "compiled_latency.json"

    @property
    def compiled_feedback(self) -> Path | None:
        """The feedback loop's rounds (``--feedback-rounds``), beside the compiler's tuning database; None without one."""
        found = sorted(self.path.glob("compiled/*/*/feedback.json"))
        return found[0] if found else None

    @property
    def latency_predictor(self) -> Path:
        """A copy of the latency predictor the search ranked by (``--latency predicted``)."""
        return self.path / "latency_predictor.json"

    @property
    def differentiable_json(self) -> Path:
        return self.path / "differentiable.json"

    def sweep_run(self, latency_ms: float) -> RunFolder:
        """The run folder of one limit of a differentiable ``--sweep``."""
        return RunFolder(self.path / f"latency-{latency_ms:g}ms")

    @property
    def sweep_json(self) -> Path:
        return self.path / "sweep.json"

    @property
    def sweep_md(self) -> Path:
        return self.path / "sweep.md"

    @property
    def sweep_pareto_png(self) -> Path:
        return self.path / "sweep_pareto.png"

    # -- finding a run --------------------------------------------------------------------
    @classmethod
    def of_model(cls, model: Path) -> RunFolder | None:
        """The run a model file inside it belongs to (``RUN/best/model.pt``, ``RUN/best/c/...``,
        ``RUN/trials/7/model.pt``), or None."""
        for parent in Path(model).resolve().parents[:3]:
            if cls(parent).holds_search():
                return cls(parent)
        return None
