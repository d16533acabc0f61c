"""The store: older stores (version 1: before trials recorded their worker; 2: their device) are read
and upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edgenas.arch import Arch
from edgenas.store import RunFolder, SqliteStore
from edgenas.trial import Metrics, Trial, TrialState

VERSION_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (number INTEGER PRIMARY KEY, role TEXT NOT NULL, space TEXT NOT NULL, genes TEXT NOT NULL,
    arch_key TEXT NOT NULL, state TEXT NOT NULL, cost TEXT, metrics TEXT, error TEXT, violations TEXT NOT NULL,
    duration_s REAL NOT NULL, written_at TEXT NOT NULL DEFAULT 'then');
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO trials (number, role, space, genes, arch_key, state, cost, metrics, error, violations, duration_s)
    VALUES (0, 'search', 'toy', '[1, 2]', 'k', 'complete', NULL, '{"accuracy": 0.5, "extra": {}}', NULL, '[]', 1.5);
"""


def test_a_version_1_store_is_upgraded_and_keeps_its_trials(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_1)
    with SqliteStore(path) as store:
        (trial,) = store.trials()
        assert trial.arch.genes == (1, 2)
        assert trial.accuracy == 0.5 and trial.worker is None
        store.put(Trial(1, Arch("toy", (0, 0)), TrialState.COMPLETE, metrics=Metrics(0.7), worker="local-12"))
    with SqliteStore(path) as store:
        assert [t.worker for t in store.trials()] == [None, "local-12"]
        assert store._get("schema_version") == 3


def test_a_version_2_store_gains_the_device_and_keeps_its_workers(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_1.replace("'then');", "'then', worker TEXT);").replace("'1');", "'2');"))
        db.execute("UPDATE trials SET worker = 'local-7'")
    with SqliteStore(path, read_only=True) as store:  # read as it is
        assert [(t.worker, t.device) for t in store.trials()] == [("local-7", None)]
    with SqliteStore(path) as store:
        store.put(Trial(1, Arch("toy", (0, 0)), TrialState.COMPLETE, metrics=Metrics(0.7), worker="main", device="cuda:0"))
    with SqliteStore(path) as store:
        assert [(t.worker, t.device) for t in store.trials()] == [("local-7", None), ("main", "cuda:0")]


def test_rounds_and_invocations_are_kept_beside_the_trials(tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    with run.open_store() as store:
        store.add_round(4)
        store.add_round(3)
        store.add_invocation({"wall_s": 2.0, "stages_s": {"search": 1.5}})
        store.put_many([Trial(n, Arch("toy", (n,)), TrialState.INFEASIBLE) for n in range(3)])
    with SqliteStore(run.store_path) as store:
        assert store.round_sizes() == [4, 3] and store.invocations()[0]["wall_s"] == 2.0
        assert [t.number for t in store.trials()] == [0, 1, 2]
    assert RunFolder.of_model(run.best_checkpoint) == run
