"""Runs as a collection: find the search runs under a folder and say what each is, without writing.

``edgenas runs list``, ``runs show``, ``runs compare`` and the dashboard all start here. Everything
is read from the run folders as they are, while searches may be writing them: the store opened
read-only, the run lock probed without being taken (:func:`edgenas.store.lock.is_held`). A folder
whose store cannot be read is reported as ``unreadable`` with the reason, and the others are
still listed: one damaged run must not hide the rest.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgenas.errors import EdgenasError, InvalidInputError
from edgenas.store import RunFolder
from edgenas.store.lock import is_held

#: How deep under the folder given runs are looked for (runs/<name>/, and a sweep's latency-<T>ms/).
MAX_DEPTH = 3
#: Most run folders one listing reads (a home folder passed by mistake must not be walked for minutes).
MAX_RUNS = 1000
#: What a run is doing: a search holds it, it ended with its report, it stopped before (killed,
#: interrupted, out of time: ``--resume`` continues it), or its store cannot be read.
STATES = ("running", "finished", "stopped", "unreadable")


@dataclass(frozen=True)
class RunOverview:
    """One run folder at a glance: what it searched, how far it got, its best trial so far."""

    path: Path
    state: str
    summary: dict[str, Any] = field(default_factory=dict)  # build_summary's dict (empty when unreadable)
    error: str | None = None  # why the run could not be read

    @property
    def name(self) -> str:
        return self.path.name

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.name, "state": self.state, "error": self.error, "summary": self.summary}


def find_runs(root: Path, max_depth: int = MAX_DEPTH) -> list[RunFolder]:
    """The search run folders at or under ``root`` (sorted by path), ``root`` itself included.

    Raises ``InvalidInputError`` when ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError(f"{root}: not a folder (pass a run folder or a folder of runs, e.g. runs/)")
    found = sorted(_walk(root, max_depth), key=lambda run: str(run.path))
    return found[:MAX_RUNS]


def _walk(folder: Path, depth: int) -> Iterator[RunFolder]:
    run = RunFolder(folder)
    if run.holds_search():
        yield run
    if depth <= 0:
        return
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    except OSError:  # a folder we may not read: skipped, like `find` does
        return
    for child in children:
        yield from _walk(child, depth - 1)


def run_state(run: RunFolder) -> str:
    """``running`` while a search holds the folder, ``finished`` once its report is written after
    its last trial, else ``stopped`` (``--resume`` continues it)."""
    if is_held(run.lock_file):
        return "running"
    report = run.report_json
    if report.is_file() and report.stat().st_mtime >= _last_write(run):
        return "finished"
    return "stopped"


def _last_write(run: RunFolder) -> float:
    """When the store last changed (the store or its write-ahead log, whichever is newer)."""
    times = [p.stat().st_mtime for p in (run.store_path, run.wal_path) if p.is_file()]
    return max(times, default=0.0) - 1.0  # a report written in the same second as the last trial still counts


def read_run(run: RunFolder) -> RunOverview:
    """The overview of one run; a store that cannot be read gives ``unreadable`` with the reason."""
    from edgenas.report.summary import build_summary

    state = run_state(run)
    try:
        with run.read_store() as store:
            summary = build_summary(store, run.path)
    except (sqlite3.Error, EdgenasError, ValueError, KeyError, TypeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return RunOverview(run.path, "unreadable", error=f"{run.store_path}: {reason}")
    return RunOverview(run.path, state, summary)


def read_runs(root: Path) -> list[RunOverview]:
    """Every run under ``root``, each read on its own (a damaged one is ``unreadable``, the rest are read)."""
    return [read_run(run) for run in find_runs(root)]
