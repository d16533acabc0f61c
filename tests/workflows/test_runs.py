"""Runs found under a folder and read as they are: running (lock held), finished, stopped, or
unreadable with the reason, without writing a byte to any of them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgenas.errors import InvalidInputError
from edgenas.spaces import KwsSpace
from edgenas.store import RunFolder
from edgenas.store.lock import is_held
from edgenas.trial import Metrics, Trial, TrialState
from edgenas.workflows.runs import find_runs, read_run, read_runs


def _run(folder: Path, accuracies: tuple[float, ...] = (0.5, 0.7)) -> RunFolder:
    space = KwsSpace()
    rng = np.random.default_rng(0)
    run = RunFolder(folder)
    with run.open_store() as store:
        store.write_config({"identity": {"task": "kws", "strategy": "random", "seed": 0}, "space": "kws"})
        store.put_many([Trial(n, space.sample(rng), TrialState.COMPLETE, metrics=Metrics(a)) for n, a in enumerate(accuracies)])
    return run


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file's size and time (SQLite may open and remove its -shm beside a store it only reads)."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_a_held_lock_is_seen_without_being_taken(tmp_path: Path) -> None:
    run = _run(tmp_path / "run")
    assert not is_held(run.lock_file)  # no lock file at all
    lock = run.lock()
    try:
        before = run.lock_file.read_bytes()
        assert is_held(run.lock_file) and read_run(run).state == "running"
        assert run.lock_file.read_bytes() == before  # the holder's pid is left as it was
    finally:
        lock.release()
    assert not is_held(run.lock_file)


def test_runs_are_found_and_their_state_read_without_writing(tmp_path: Path) -> None:
    stopped = _run(tmp_path / "runs" / "a")
    finished = _run(tmp_path / "runs" / "b", (0.6,))
    finished.report_json.write_text("{}")
    (tmp_path / "runs" / "notes").mkdir()
    before = _snapshot(tmp_path)
    overviews = read_runs(tmp_path / "runs")
    assert [(o.name, o.state) for o in overviews] == [("a", "stopped"), ("b", "finished")]
    assert overviews[0].summary["search"]["trials"] == {"complete": 2}
    assert overviews[0].summary["best"]["accuracy"] == pytest.approx(0.7)
    assert _snapshot(tmp_path) == before
    assert [r.path for r in find_runs(stopped.path)] == [stopped.path]  # a run folder itself


def test_a_damaged_store_is_unreadable_and_the_others_are_still_read(tmp_path: Path) -> None:
    _run(tmp_path / "a")
    damaged = tmp_path / "b"
    damaged.mkdir()
    (damaged / "trials.db").write_bytes(b"not a database, but named like one" * 100)
    overviews = {o.name: o for o in read_runs(tmp_path)}
    assert overviews["a"].state == "stopped"
    assert overviews["b"].state == "unreadable" and "trials.db" in (overviews["b"].error or "")


def test_a_folder_that_is_not_one_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a folder"):
        find_runs(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="not a folder"):
        find_runs(tmp_path / "file")
    assert find_runs(tmp_path) == []
    assert os.listdir(tmp_path) == ["file"]
