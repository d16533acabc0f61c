"""A run folder is written by one search at a time, and a resume never silently starts over:
the lock names the process holding the folder (and dies with it), a store that lost its ``-wal``
file is refused, and a changed option is named rather than what follows from it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgenas.errors import InvalidInputError
from edgenas.files import OutputError
from edgenas.spaces import SPACES
from edgenas.store import RunFolder, RunFolderBusy
from edgenas.trial import Metrics, Trial, TrialState
from edgenas.workflows.config import SearchConfig
from edgenas.workflows.prepare import _check_resume, check_run_folder, open_run, prepare


def _images(root: Path) -> Path:
    """Three classes of 8 px grey images, 6 each: the smallest data ``prepare`` accepts."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("dark", "mid", "light")):
        (root / name).mkdir(parents=True)
        for i in range(6):
            pixels = np.clip(40 + 80 * c + rng.integers(-20, 20, (8, 8)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "L").save(root / name / f"{i}.png")
    return root


def _config(tmp_path: Path, **changes) -> SearchConfig:
    values = dict(task="images", data=tmp_path / "imgs", target="npu-int8", strategy="random", budget=2, epochs=1)
    values.update(out=tmp_path / "run", export=False, latency_ms=1000.0, sram_kb=1e5, flash_kb=1e5)
    values.update(changes)
    return SearchConfig(**values)


@pytest.fixture
def prepared(tmp_path: Path):
    _images(tmp_path / "imgs")
    return prepare(_config(tmp_path), lambda message: None)


def _holder(folder: Path) -> subprocess.Popen:
    """Another process that holds ``folder``'s lock until killed (it prints 'held' once it has it)."""
    code = (
        "import sys, time\nfrom edgenas.store import RunFolder\n"
        f"store = RunFolder({str(folder)!r}).open_store(exclusive=True)\nprint('held', flush=True)\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


# -- the lock ------------------------------------------------------------------------------------
def test_a_second_search_is_refused_naming_the_process_and_a_killed_holder_frees_the_folder(tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    holder = _holder(run.path)
    try:
        for resume in (False, True):  # not "pass --resume", whatever the flags
            with pytest.raises(RunFolderBusy, match=f"in use by another edgenas search \\(process {holder.pid}\\)"):
                check_run_folder(run, resume=resume)
        with pytest.raises(RunFolderBusy, match=str(holder.pid)):
            run.open_store(exclusive=True)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    check_run_folder(run, resume=True)  # the dead holder's lock went with it: --resume works
    store = run.open_store(exclusive=True)
    with pytest.raises(RunFolderBusy, match=str(os.getpid())):  # held by this process now
        run.lock()
    store.close()
    run.lock().release()  # closing the store released it


def test_open_run_holds_the_lock_and_refuses_a_store_another_search_created_meanwhile(prepared) -> None:
    store = open_run(prepared)
    try:
        with pytest.raises(RunFolderBusy):
            open_run(prepared)
    finally:
        store.close()
    with pytest.raises(InvalidInputError, match="already holds a search: pass --resume"):
        open_run(prepared)  # a search that checked the folder before the first one created its store


def test_the_cli_tells_a_concurrent_search_which_process_holds_the_folder(tmp_path: Path, capsys) -> None:
    from edgenas.cli import run as edgenas

    holder = _holder(tmp_path / "run")
    try:
        with pytest.raises(SystemExit) as exit_info:
            edgenas(["search", "--out", str(tmp_path / "run"), "--budget", "1"])
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"process {holder.pid}" in err and "--resume:" not in err, err


def test_an_unwritable_out_is_refused_before_any_data_is_prepared(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="a file, not a folder"):
        check_run_folder(RunFolder(tmp_path / "file"), resume=False)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_run_folder(RunFolder(tmp_path / "file" / "run"), resume=False)


# -- nothing lost on resume -------------------------------------------------------------------------
def test_a_store_copied_without_its_wal_keeps_the_trials_of_a_killed_writer(tmp_path: Path) -> None:
    """The writer dies without closing (as SIGKILL leaves it); trials.db alone still has its trials."""
    code = (
        "import os\nfrom edgenas.arch import Arch\nfrom edgenas.store import SqliteStore\n"
        "from edgenas.trial import Metrics, Trial, TrialState\n"
        f"store = SqliteStore({str(tmp_path / 'trials.db')!r})\nstore.write_config({{'identity': {{}}}})\n"
        "for n in range(3):\n"
        "    store.put(Trial(n, Arch('kws', (n,)), TrialState.COMPLETE, metrics=Metrics(0.5)))\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "trials.db-wal").exists()  # killed: the WAL is still there
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "trials.db").write_bytes((tmp_path / "trials.db").read_bytes())  # the file the docs name, alone
    from edgenas.store import SqliteStore

    with SqliteStore(copy / "trials.db", read_only=True) as store:
        assert [t.number for t in store.trials()] == [0, 1, 2] and store.read_config() == {"identity": {}}


def _lose_the_wal(run: RunFolder) -> None:
    """What a copy of trials.db taken before its WAL was checkpointed holds: a WAL-mode file, no tables."""
    for path in (run.store_path, run.wal_path, run.path / "trials.db-shm"):
        path.unlink(missing_ok=True)
    db = sqlite3.connect(run.store_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.close()


def test_a_resume_whose_store_lost_its_wal_is_refused_not_started_over(prepared) -> None:
    import dataclasses

    store = open_run(prepared)
    store.close()
    run = prepared.run
    _lose_the_wal(run)
    resumed = dataclasses.replace(prepared, config=dataclasses.replace(prepared.config, resume=True))
    with pytest.raises(
        InvalidInputError, match="holds no search configuration, but config.yaml shows.*trials.db-wal, which is missing"
    ):
        open_run(resumed)


def test_a_resume_whose_store_has_no_trials_but_a_report_counting_some_is_refused(prepared) -> None:
    import dataclasses

    store = open_run(prepared)
    store.close()
    run = prepared.run
    run.report_json.write_text(json.dumps({"search": {"trials": {"complete": 2}}}))
    resumed = dataclasses.replace(prepared, config=dataclasses.replace(prepared.config, resume=True))
    with pytest.raises(InvalidInputError, match="holds no trials, but the report or best/ shows"):
        open_run(resumed)
    run.report_json.unlink()  # nothing says there were trials: a search killed in its first trial resumes
    open_run(resumed).close()


def test_a_resume_with_its_trials_opens(prepared) -> None:
    import dataclasses

    store = open_run(prepared)
    arch = prepared.space.reference()[1]
    store.put(Trial(0, arch, TrialState.COMPLETE, metrics=Metrics(0.5)))
    store.close()
    prepared.run.report_json.write_text(json.dumps({"search": {"trials": {"complete": 1}}}))
    resumed = dataclasses.replace(prepared, config=dataclasses.replace(prepared.config, resume=True))
    with open_run(resumed) as store:
        assert len(store.trials()) == 1


# -- what a refused resume says ------------------------------------------------------------------------
def _stored(space, **identity) -> dict:
    return {
        "identity": {"task": "kws", "seed": 0, "data_sha1": "a", **identity},
        "space": space.name,
        "space_params": space.params(),
    }


def test_a_changed_seed_is_named_not_blamed_on_a_regenerated_cache(tmp_path: Path) -> None:
    kws = SPACES.create("kws")
    with pytest.raises(InvalidInputError) as info:
        _check_resume(tmp_path, _stored(kws), {"task": "kws", "seed": 1, "data_sha1": "b"}, kws)
    assert "--seed was 0, now 1" in str(info.value) and "regenerated cache" not in str(info.value)
    with pytest.raises(InvalidInputError, match="regenerated cache"):  # the same options, other data: the cache
        _check_resume(tmp_path, _stored(kws), {"task": "kws", "seed": 0, "data_sha1": "b"}, kws)


def test_a_changed_task_is_named_not_answered_with_a_space(tmp_path: Path) -> None:
    kws, mbconv = SPACES.create("kws"), SPACES.create("mbconv", num_classes=10)
    with pytest.raises(InvalidInputError) as info:
        _check_resume(tmp_path, _stored(kws), {"task": "fashion-mnist", "seed": 0, "data_sha1": "b"}, mbconv)
    message = str(info.value)
    assert "--task was 'kws', now 'fashion-mnist'" in message and "--space kws" not in message, message
    with pytest.raises(InvalidInputError, match="pass --space kws"):  # the same task in another space: the hint fits
        _check_resume(tmp_path, _stored(kws), {"task": "kws", "seed": 0, "data_sha1": "a"}, mbconv)
