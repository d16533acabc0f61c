"""The run's single source of truth: one SQLite row per trial, written as each trial ends.

WAL journaling and a commit per row mean a process killed at any instant (SIGKILL included)
leaves every finished trial on disk; a trial that was RUNNING is simply run again on resume.
Rows are JSON-encoded records, so the file stays readable with the ``sqlite3`` shell.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.trial import Cost, Metrics, Trial, TrialState

SCHEMA_VERSION = 2  # 2: trials.worker (where a candidate was evaluated); a version-1 store gains the column

#: A JSON object read back from the store (its values are whatever JSON held).
JsonObject = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY,
    role TEXT NOT NULL,
    space TEXT NOT NULL,
    genes TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    state TEXT NOT NULL,
    cost TEXT,
    metrics TEXT,
    error TEXT,
    violations TEXT NOT NULL,
    duration_s REAL NOT NULL,
    written_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    worker TEXT
);
"""


class SqliteStore:
    """Trials of one search in one SQLite file (``":memory:"`` for tests and notebooks)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            version = self._get("schema_version")
        except sqlite3.DatabaseError as exc:
            raise InvalidInputError(f"{self.path} is not an edgenas trial store ({exc})") from None
        if version == 1:  # a store written before trials recorded their worker
            with self._db:
                self._db.execute("ALTER TABLE trials ADD COLUMN worker TEXT")
            version = None
        if version is None:
            self._put("schema_version", SCHEMA_VERSION)
        elif version != SCHEMA_VERSION:
            raise InvalidInputError(f"{self.path} has store schema {version}; this edgenas reads {SCHEMA_VERSION}")

    # -- run configuration ------------------------------------------------------------------
    def _get(self, key: str) -> object | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _put(self, key: str, value: object) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, sort_keys=True)))

    def add_invocation(self, record: Mapping[str, object]) -> None:
        """Append one invocation's record (wall time, stage times) to the run's."""
        self._put("invocations", [*self.invocations(), dict(record)])

    def invocations(self) -> list[JsonObject]:
        """Every recorded invocation of the run (a resumed run has several), oldest first."""
        value = self._get("invocations")
        return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []

    def read_config(self) -> JsonObject | None:
        """The configuration the search was started with (None for a new store)."""
        config = self._get("config")
        assert config is None or isinstance(config, dict)
        return config

    def write_config(self, config: Mapping[str, object]) -> None:
        self._put("config", dict(config))

    # -- trials -------------------------------------------------------------------------------
    def put(self, trial: Trial) -> None:
        """Insert or replace the row of ``trial.number`` and commit (durable on return)."""
        with self._db:
            self._db.execute(_PUT, _row(trial))

    def put_many(self, trials: Sequence[Trial]) -> None:
        """Insert or replace several rows in one commit (a round's rows land together or not at all)."""
        if not trials:
            return
        with self._db:
            self._db.executemany(_PUT, [_row(t) for t in trials])

    def round_sizes(self) -> list[int]:
        """How many candidates each round of a batched search asked, in order (empty: one per round)."""
        value = self._get("rounds")
        return [int(n) for n in value] if isinstance(value, list) else []

    def add_round(self, size: int) -> None:
        """Record the size of the round being asked (before it is evaluated: resume replays the same rounds)."""
        self._put("rounds", [*self.round_sizes(), int(size)])

    def delete(self, number: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM trials WHERE number = ?", (number,))

    def trials(self, role: str | None = None) -> list[Trial]:
        """Every stored trial (of one role, if given), by number."""
        query = "SELECT number, role, space, genes, state, cost, metrics, error, violations, duration_s, worker FROM trials"
        params: tuple[str, ...] = ()
        if role is not None:
            query += " WHERE role = ?"
            params = (role,)
        rows = self._db.execute(query + " ORDER BY number", params).fetchall()
        return [_trial_from_row(row) for row in rows]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: A ``trials`` row as ``trials()`` selects it.
_Row = tuple[int, str, str, str, str, str | None, str | None, str | None, str, float, str | None]


def _trial_from_row(row: _Row) -> Trial:
    number, role, space, genes, state, cost, metrics, error, violations, duration_s, worker = row
    return Trial(
        number=number,
        arch=Arch(space, tuple(json.loads(genes))),
        state=TrialState(state),
        cost=None if cost is None else Cost.from_dict(json.loads(cost)),
        metrics=None if metrics is None else Metrics.from_dict(json.loads(metrics)),
        error=error,
        violations=tuple(json.loads(violations)),
        duration_s=duration_s,
        role=role,
        worker=worker,
    )


_PUT = (
    "INSERT OR REPLACE INTO trials (number, role, space, genes, arch_key, state, cost, metrics,"
    " error, violations, duration_s, worker) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _row(trial: Trial) -> tuple[Any, ...]:
    """A trial as the columns of its row (records as JSON)."""
    return (
        trial.number,
        trial.role,
        trial.arch.space,
        json.dumps(list(trial.arch.genes)),
        trial.arch.key(),
        trial.state.value,
        None if trial.cost is None else json.dumps(trial.cost.to_dict()),
        None if trial.metrics is None else json.dumps(trial.metrics.to_dict()),
        trial.error,
        json.dumps(list(trial.violations)),
        trial.duration_s,
        trial.worker,
    )
