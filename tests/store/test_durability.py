"""The store under stress: read without writing (a read-only, archived run folder), a disk that
refuses a write (one clear error, earlier trials kept), and the checkpoint that keeps
``trials.db`` complete on its own."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.store import RunFolder, SqliteStore, StoreWriteError
from edgenas.trial import Metrics, Trial, TrialState


def _trial(n: int) -> Trial:
    return Trial(n, Arch("kws", (n,)), TrialState.COMPLETE, metrics=Metrics(0.5))


def _finished_run(folder: Path) -> RunFolder:
    run = RunFolder(folder)
    with run.open_store() as store:
        store.write_config({"identity": {"task": "kws"}})
        store.put_many([_trial(0), _trial(1)])
    return run


def test_every_commit_reaches_the_main_file(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "trials.db")
    store.write_config({"identity": {}})
    store.put(_trial(0))
    alone = tmp_path / "alone.db"
    shutil.copyfile(tmp_path / "trials.db", alone)  # while the store is open: its WAL not copied
    with SqliteStore(alone, read_only=True) as copy:
        assert [t.number for t in copy.trials()] == [0] and copy.read_config() == {"identity": {}}
    store.close()


def test_reading_a_store_writes_nothing_beside_it(tmp_path: Path) -> None:
    run = _finished_run(tmp_path / "run")
    before = sorted(p.name for p in run.path.iterdir())
    assert before == ["trials.db"]  # closed cleanly: no -wal, no -shm
    with run.read_store() as store:
        assert len(store.trials()) == 2
        with pytest.raises(InvalidInputError, match="opened read-only"):
            store.put(_trial(2))
    assert run.read_config() == {"identity": {"task": "kws"}}
    assert sorted(p.name for p in run.path.iterdir()) == before


def test_a_store_in_a_folder_that_cannot_be_written_is_read_as_it_is(tmp_path: Path, monkeypatch) -> None:
    """Root writes anywhere, so the read-only folder is what ``os.access`` says."""
    import edgenas.store._sqlite as module

    run = _finished_run(tmp_path / "run")
    monkeypatch.setattr(module.os, "access", lambda path, mode: False)
    with run.read_store() as store:
        assert len(store.trials()) == 2
    assert sorted(p.name for p in run.path.iterdir()) == ["trials.db"]


def test_a_store_whose_wal_held_everything_reads_as_empty(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "trials.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    with SqliteStore(tmp_path / "trials.db", read_only=True) as store:
        assert store.read_config() is None and store.trials() == []


def test_a_version_1_store_is_read_without_being_upgraded(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "trials.db")
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE trials (number INTEGER PRIMARY KEY, role TEXT NOT NULL, space TEXT NOT NULL, genes TEXT NOT NULL,"
        " arch_key TEXT NOT NULL, state TEXT NOT NULL, cost TEXT, metrics TEXT, error TEXT, violations TEXT NOT NULL,"
        " duration_s REAL NOT NULL, written_at TEXT);"
        "INSERT INTO meta VALUES ('schema_version', '1');"
        "INSERT INTO trials VALUES (0, 'search', 'kws', '[0]', 'k', 'complete', NULL, NULL, NULL, '[]', 1.0, NULL);"
    )
    db.commit()
    db.close()
    with SqliteStore(tmp_path / "trials.db", read_only=True) as store:
        assert [(t.number, t.worker) for t in store.trials()] == [(0, None)]


def test_a_full_disk_is_one_clear_error_and_the_trials_before_it_stay(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "trials.db")
    store.put(_trial(0))
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own 'database or disk is full'
    big = Trial(1, Arch("kws", tuple(range(5000))), TrialState.COMPLETE, metrics=Metrics(0.5))
    with pytest.raises(StoreWriteError, match="no space left on the device; the trials stored before are kept"):
        store.put(big)
    store.close()
    with SqliteStore(tmp_path / "trials.db", read_only=True) as again:
        assert [t.number for t in again.trials()] == [0]


def test_a_store_that_is_not_one_is_still_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "trials.db").write_bytes(b"not sqlite at all" * 100)
    for read_only in (False, True):
        with pytest.raises(InvalidInputError, match="is not an edgenas trial store"):
            SqliteStore(tmp_path / "trials.db", read_only=read_only)


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs a mount namespace (unshare -m) for a truly read-only folder")
def test_a_run_folder_on_a_read_only_mount_can_be_read(tmp_path: Path) -> None:
    import sys

    run = _finished_run(tmp_path / "run")
    killed = tmp_path / "killed"  # a writer that died: -wal and -shm beside the store
    code = (
        "import os\nfrom edgenas.arch import Arch\nfrom edgenas.store import SqliteStore\n"
        "from edgenas.trial import Metrics, Trial, TrialState\n"
        f"os.makedirs({str(killed)!r})\nstore = SqliteStore({str(killed / 'trials.db')!r})\n"
        "store.put(Trial(0, Arch('kws', (0,)), TrialState.COMPLETE, metrics=Metrics(0.5)))\nos._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    reader = (
        "import sys\nfrom edgenas.store import SqliteStore\n"
        "print(*[len(SqliteStore(p, read_only=True).trials()) for p in sys.argv[1:]])\n"
    )
    script = (
        f'mount --bind -o ro "{tmp_path}" "{tmp_path}" && "{sys.executable}" -c "$0" "{run.store_path}" "{killed / "trials.db"}"'
    )
    result = subprocess.run(["unshare", "-m", "sh", "-c", script, reader], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "1"]
