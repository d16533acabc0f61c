"""The run's single source of truth: one SQLite row per trial, written as each trial ends.

WAL journaling and a commit per row mean a process killed at any instant (SIGKILL included)
leaves every finished trial on disk; a trial that was RUNNING is simply run again on resume.
After each commit the WAL is checkpointed into ``trials.db`` itself, so the main file alone
holds every finished trial: a copy of ``trials.db`` without its ``-wal`` file (the file a person
copies) loses at most the trial being written at that instant.
Rows are JSON-encoded records, so the file stays readable with the ``sqlite3`` shell.

A store opened ``read_only`` (export, verify, reports of an archived run) writes nothing and
works on a read-only folder: SQLite's WAL mode otherwise needs to create files beside the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from edgenas.arch import Arch
from edgenas.errors import EdgenasError, InvalidInputError
from edgenas.trial import Cost, Metrics, Trial, TrialState

SCHEMA_VERSION = 3  # 2: trials.worker (where a candidate was evaluated); 3: trials.device (the torch device)
#: Columns added since version 1, with the version that added them: an older store opened to write
#: gains them (its old trials read None there); one opened read-only is read as it is.
_ADDED_COLUMNS = (("worker", 2), ("device", 3))

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
    worker TEXT,
    device TEXT
);
"""


class StoreWriteError(EdgenasError):
    """The store could not be written (disk full, read-only, an I/O error); what was committed is kept."""


class SqliteStore:
    """Trials of one search in one SQLite file (``":memory:"`` for tests and notebooks)."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        self._closers: list[Callable[[], None]] = []
        try:
            self._db = _connect_read_only(self.path) if read_only else sqlite3.connect(self.path)
            if read_only:
                tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                self._empty = not {"meta", "trials"} <= tables  # a store whose -wal held everything, say
                version = None if self._empty else self._get("schema_version")
            else:
                self._empty = False
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                version = self._get("schema_version")
        except sqlite3.DatabaseError as exc:
            if _is_write_failure(exc):
                raise _write_error(self.path, exc) from None
            raise InvalidInputError(f"{self.path} is not an edgenas trial store ({exc})") from None
        self._added = {name: name for name, _ in _ADDED_COLUMNS}  # what trials() selects for each
        if version is not None and (not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION):
            raise InvalidInputError(f"{self.path} has store schema {version}; this edgenas reads 1 to {SCHEMA_VERSION}")
        missing = [name for name, since in _ADDED_COLUMNS if isinstance(version, int) and version < since]
        if missing and read_only:  # read as it is: columns are not added to a store only read
            self._added.update({name: "NULL" for name in missing})
        elif missing:  # a store written before trials recorded these
            with self._writing():
                for name in missing:
                    self._db.execute(f"ALTER TABLE trials ADD COLUMN {name} TEXT")
            version = None
        if version is None and not read_only:
            self._put("schema_version", SCHEMA_VERSION)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One transaction, committed, then checkpointed into the main file (see the module docstring);
        a write the disk refuses is one clear error, and earlier commits stay."""
        if self.read_only:
            raise InvalidInputError(f"{self.path} was opened read-only")
        try:
            with self._db:
                yield
            if self.path != ":memory:":
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.OperationalError as exc:
            raise _write_error(self.path, exc) from None

    def hold_until_close(self, release: Callable[[], None]) -> None:
        """Call ``release()`` when the store closes (the run folder's lock lives as long as its store)."""
        self._closers.append(release)

    # -- run configuration ------------------------------------------------------------------
    def _get(self, key: str) -> object | None:
        if self._empty:
            return None
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _put(self, key: str, value: object) -> None:
        with self._writing():
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
        with self._writing():
            self._db.execute(_PUT, _row(trial))

    def put_many(self, trials: Sequence[Trial]) -> None:
        """Insert or replace several rows in one commit (a round's rows land together or not at all)."""
        if not trials:
            return
        with self._writing():
            self._db.executemany(_PUT, [_row(t) for t in trials])

    def round_sizes(self) -> list[int]:
        """How many candidates each round of a batched search asked, in order (empty: one per round)."""
        value = self._get("rounds")
        return [int(n) for n in value] if isinstance(value, list) else []

    def add_round(self, size: int) -> None:
        """Record the size of the round being asked (before it is evaluated: resume replays the same rounds)."""
        self._put("rounds", [*self.round_sizes(), int(size)])

    def delete(self, number: int) -> None:
        with self._writing():
            self._db.execute("DELETE FROM trials WHERE number = ?", (number,))

    def trials(self, role: str | None = None) -> list[Trial]:
        """Every stored trial (of one role, if given), by number."""
        if self._empty:
            return []
        columns = "number, role, space, genes, state, cost, metrics, error, violations, duration_s, " + ", ".join(
            self._added.values()
        )
        query = f"SELECT {columns} FROM trials"
        params: tuple[str, ...] = ()
        if role is not None:
            query += " WHERE role = ?"
            params = (role,)
        rows = self._db.execute(query + " ORDER BY number", params).fetchall()
        return [_trial_from_row(row) for row in rows]

    def close(self) -> None:
        try:
            self._db.close()
        finally:
            while self._closers:
                self._closers.pop()()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect_read_only(path: str) -> sqlite3.Connection:
    """A connection that writes nothing, also on a read-only folder.

    With a ``-wal`` file (a search running, or killed) SQLite reads it beside the store. Without
    one, a read-only connection would create ``-wal`` and ``-shm`` files and leave them behind: in
    a folder that can be written, a read-write connection that only reads closes cleanly instead;
    in one that cannot, the store is read as an immutable file (nothing else can be writing it).
    """
    where = Path(path)
    if not where.is_file():
        raise sqlite3.OperationalError("no such file")
    uri = "file:" + quote(str(where.resolve()))
    if Path(path + "-wal").exists():
        try:
            return sqlite3.connect(uri + "?mode=ro", uri=True)
        except sqlite3.OperationalError:
            raise sqlite3.OperationalError(
                f"its {where.name}-wal file holds trials that cannot be read in a read-only folder without "
                f"{where.name}-shm; copy the run folder somewhere writable"
            ) from None
    if os.access(where.parent, os.W_OK):
        db = sqlite3.connect(uri + "?mode=rw", uri=True)
        db.execute("PRAGMA query_only = 1")
        return db
    return sqlite3.connect(uri + "?immutable=1", uri=True)


_WRITE_FAILURES = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")


def _is_write_failure(exc: sqlite3.Error) -> bool:
    name = str(getattr(exc, "sqlite_errorname", ""))
    return any(name.startswith(prefix) for prefix in _WRITE_FAILURES)


def _write_error(path: str, exc: sqlite3.Error) -> StoreWriteError:
    """A failed write to the store as one line: why, and that what was committed before is kept."""
    name = str(getattr(exc, "sqlite_errorname", ""))
    if name.startswith("SQLITE_FULL"):
        why = "no space left on the device"
    elif name.startswith("SQLITE_READONLY") or name.startswith("SQLITE_CANTOPEN"):
        why = "the folder or the file cannot be written (read-only?)"
    elif name.startswith("SQLITE_IOERR"):
        why = "an input/output error (disk full, or a file size limit?)"
    else:
        why = str(exc)
    return StoreWriteError(
        f"cannot write {path}: {why}; the trials stored before are kept (free some space or fix the folder, then --resume)"
    )


#: A ``trials`` row as ``trials()`` selects it.
_Row = tuple[int, str, str, str, str, str | None, str | None, str | None, str, float, str | None, str | None]


def _trial_from_row(row: _Row) -> Trial:
    number, role, space, genes, state, cost, metrics, error, violations, duration_s, worker, device = row
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
        device=device,
    )


_PUT = (
    "INSERT OR REPLACE INTO trials (number, role, space, genes, arch_key, state, cost, metrics,"
    " error, violations, duration_s, worker, device) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
        trial.device,
    )
