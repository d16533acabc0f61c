"""The run's single source of truth: one SQLite row per trial, written as each trial ends.

WAL journaling and a commit per row mean a process killed at any instant (SIGKILL included)
leaves every finished trial on disk; a trial that was RUNNING is simply run again on resume.
Rows are JSON-encoded records, so the file stays readable with the ``sqlite3`` shell.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.trial import Cost, Metrics, Trial, TrialState

SCHEMA_VERSION = 1

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
    written_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
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
        row = (
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
        )
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO trials (number, role, space, genes, arch_key, state, cost, metrics,"
                " error, violations, duration_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

    def delete(self, number: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM trials WHERE number = ?", (number,))

    def trials(self, role: str | None = None) -> list[Trial]:
        """Every stored trial (of one role, if given), by number."""
        query = "SELECT number, role, space, genes, state, cost, metrics, error, violations, duration_s FROM trials"
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
_Row = tuple[int, str, str, str, str, str | None, str | None, str | None, str, float]


def _trial_from_row(row: _Row) -> Trial:
    number, role, space, genes, state, cost, metrics, error, violations, duration_s = row
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
    )
