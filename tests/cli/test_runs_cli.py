"""``edgenas runs list|show|compare`` and ``edgenas report`` on run folders built directly (no
search is run): what each prints, that reading writes nothing, and that bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgenas.cli.main import run as edgenas_run
from edgenas.spaces import KwsSpace
from edgenas.store import RunFolder
from edgenas.trial import Cost, Metrics, Source, Trial, TrialState
from edgenas.workflows.runs import REBUILT_STOPPED, accuracy_latency_front

from .test_cli import assert_one_line_error, edgenas

LIMITS = {"latency_ms": 5.0, "sram_bytes": 204800, "flash_bytes": 1048576, "energy_mj": None}


def _cost(latency_ms: float, source: Source = "estimated") -> Cost:
    sources: dict[str, Source] = {"latency_ms": source, "peak_sram_bytes": "estimated", "flash_bytes": "estimated"}
    return Cost(macs=1000, params=100, peak_sram_bytes=20480, flash_bytes=40960, latency_ms=latency_ms, sources=sources)


def _run(
    folder: Path,
    points: tuple[tuple[float, float], ...] = ((0.6, 2.0), (0.7, 3.0), (0.65, 4.0)),
    task: str = "kws",
    strategy: str = "random",
    source: Source = "estimated",
) -> RunFolder:
    """A run folder whose store holds a config and one complete trial per (accuracy, latency ms),
    an infeasible one, and the baseline."""
    space = KwsSpace()
    rng = np.random.default_rng(0)
    run = RunFolder(folder)
    trials = [
        Trial(n, space.sample(rng), TrialState.COMPLETE, metrics=Metrics(acc), cost=_cost(ms, source))
        for n, (acc, ms) in enumerate(points)
    ]
    trials.append(Trial(len(points), space.sample(rng), TrialState.INFEASIBLE, cost=_cost(9.0), violations=("latency_ms 9 > 5",)))
    baseline = Trial(-1, space.sample(rng), TrialState.COMPLETE, metrics=Metrics(0.75), cost=_cost(19.0), role="baseline")
    with run.open_store() as store:
        store.write_config(
            {
                "identity": {"task": task, "strategy": strategy, "seed": 0, "epochs": 1},
                "space": "kws",
                "limits": LIMITS,
                "target": {"name": "cortex-m7", "runtime": "TFLite Micro"},
            }
        )
        store.put_many([*trials, baseline])
    return run


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``edgenas ARGS`` in this process: exit code, stdout, stderr."""
    code = 0
    try:
        edgenas_run(args)
    except SystemExit as stop:
        code = int(stop.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_reads_every_run_and_says_why_one_is_unreadable(tmp_path, capsys, monkeypatch):
    _run(tmp_path / "runs" / "a")
    _run(tmp_path / "runs" / "sweep" / "latency-3ms", ((0.5, 1.0),), strategy="evolution", source="measured")
    damaged = tmp_path / "runs" / "broken"
    damaged.mkdir()
    (damaged / "trials.db").write_bytes(b"not a database" * 200)
    before = _snapshot(tmp_path)
    code, out, _ = _cli(["runs", "list", str(tmp_path / "runs"), "--json"], capsys)
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)["runs"]}
    assert sorted(rows) == ["a", "broken", "sweep/latency-3ms"]  # named by their path under the folder
    a = rows["a"]
    assert (a["state"], a["task"], a["target"], a["strategy"]) == ("stopped", "kws", "cortex-m7", "random")
    assert a["limits"] == {"latency_ms": 5.0, "sram_kib": 200.0, "flash_kib": 1024.0}
    assert a["trials"]["complete"] == 3 and a["trials"]["all"] == 4
    assert a["best"]["val_accuracy"] == pytest.approx(0.7) and a["best"]["latency_ms"] == 3.0
    assert a["best"]["latency_source"] == "estimated" and a["best"]["peak_sram_kib"] == 20.0
    assert rows["sweep/latency-3ms"]["best"]["latency_source"] == "measured"
    assert rows["broken"]["state"] == "unreadable" and "trials.db" in rows["broken"]["error"]
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = _cli(["runs", "list", str(tmp_path / "runs")], capsys)
    assert code == 0
    line = next(line for line in out.splitlines() if "broken" in line)
    assert "unreadable" in line and "not an edgenas trial store" in line  # the row says why
    assert "70.0%" in out and "3.00 measured" not in out and "1.00 measured" in out  # sources differ: said in the cell
    assert _snapshot(tmp_path) == before  # listing wrote nothing


def test_show_gives_the_run_in_full(tmp_path, capsys, monkeypatch):
    run = _run(tmp_path / "a")
    code, out, _ = _cli(["runs", "show", str(run.path), "--json"], capsys)
    shown = json.loads(out)
    assert code == 0 and shown["state"] == "stopped" and shown["baseline"]["val_accuracy"] == pytest.approx(0.75)
    assert [r["number"] for r in shown["summary"]["pareto_front"]] == [1, 0]  # 0.65 @ 4 ms is dominated
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = _cli(["runs", "show", str(run.path)], capsys)
    for fragment in ("cortex-m7", "5 ms, 200 KiB SRAM, 1,024 KiB flash", "3 complete of 4", "70.0%", "3.00 ms (estimated)"):
        assert fragment in out, fragment
    assert "Pareto front (2)" in out and "latency_ms 19 > 5" not in out and "Wall time" in out


def test_compare_tables_the_runs_and_plots_their_fronts(tmp_path, capsys, monkeypatch):
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b", ((0.8, 4.5),), strategy="evolution")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = _cli(["runs", "compare", str(a.path), str(b.path)], capsys)
    assert code == 0 and (tmp_path / "compare.png").stat().st_size > 1000  # the default: here
    assert "plot: compare.png" in out and "random" in out and "evolution" in out and "note:" not in out
    plot = tmp_path / "plots" / "fronts.png"
    code, out, _ = _cli(["runs", "compare", str(a.path), str(b.path), "--plot", str(plot), "--json"], capsys)
    answer = json.loads(out)
    assert code == 0 and plot.is_file() and answer["plot"] == str(plot) and answer["notes"] == []
    fronts = {r["name"]: [(p["latency_ms"], p["val_accuracy"]) for p in r["front"]] for r in answer["runs"]}
    assert fronts == {"a": [(2.0, 0.6), (3.0, 0.7)], "b": [(4.5, 0.8)]}


def test_compare_says_when_tasks_differ(tmp_path, capsys):
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b", task="fashion-mnist")
    code, out, _ = _cli(["runs", "compare", str(a.path), str(b.path), "--plot", str(tmp_path / "c.png"), "--json"], capsys)
    assert code == 0
    (note,) = json.loads(out)["notes"]
    assert "different tasks" in note and "fashion-mnist" in note and "not comparable" in note


def test_compare_keeps_an_unreadable_run_as_a_column_saying_why(tmp_path, capsys, monkeypatch):
    a, b = _run(tmp_path / "a"), _run(tmp_path / "b")
    damaged = tmp_path / "broken"
    damaged.mkdir()
    (damaged / "trials.db").write_bytes(b"not a database" * 200)
    monkeypatch.setenv("COLUMNS", "200")
    args = ["runs", "compare", str(a.path), str(damaged), str(b.path), "--plot", str(tmp_path / "c.png")]
    code, out, _ = _cli(args, capsys)
    assert code == 0 and (tmp_path / "c.png").is_file()
    assert "unreadable" in out and "note: broken is unreadable" in out


def test_the_accuracy_latency_front_keeps_only_points_that_buy_accuracy() -> None:
    summary = {
        "pareto_front": [
            {"number": 0, "latency_ms": 3.0, "accuracy": 0.7},
            {"number": 1, "latency_ms": 1.0, "accuracy": 0.5},
            {"number": 2, "latency_ms": 3.0, "accuracy": 0.6},  # on the 3-objective front by its SRAM only
            {"number": 3, "latency_ms": 2.0, "accuracy": 0.5},
            {"number": 4, "latency_ms": 0.5, "proxy": "synflow", "proxy_score": 9.0},  # a proxy score is no accuracy
        ]
    }
    assert accuracy_latency_front(summary) == [(1.0, 0.5, 1), (3.0, 0.7, 0)]


def test_report_rebuilds_the_files_from_the_store(tmp_path, capsys):
    run = _run(tmp_path / "a")
    store_before = run.store_path.read_bytes()
    code, out, _ = _cli(["report", str(run.path), "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["best"]["number"] == 1
    assert json.loads(run.report_json.read_text()) == summary
    assert "# edgenas search: kws on cortex-m7" in run.report_md.read_text() and run.pareto_png.stat().st_size > 1000
    assert run.store_path.read_bytes() == store_before  # the store is only read
    report = run.report_md.read_text()  # where the best model's estimated latency goes, kernel by kernel
    assert "## Where the best model's estimated latency goes (cortex-m7)" in report and "arm_fully_connected_s8" in report
    assert summary["best_operators"]["latency_source"] == "estimated"
    # the search had stopped before its own report: rebuilt, the run still says so
    assert summary["search"]["stop_reason"] == REBUILT_STOPPED
    code, out, _ = _cli(["runs", "list", str(run.path), "--json"], capsys)
    assert json.loads(out)["runs"][0]["state"] == "stopped"


def test_report_keeps_a_finished_search_s_stop_reason(tmp_path, capsys):
    run = _run(tmp_path / "a")
    run.report_json.write_text(json.dumps({"search": {"stop_reason": "budget of 3 evaluated candidates reached"}}))
    code, out, _ = _cli(["report", str(run.path), "--json"], capsys)
    assert code == 0 and json.loads(out)["search"]["stop_reason"] == "budget of 3 evaluated candidates reached"
    code, out, _ = _cli(["runs", "show", str(run.path), "--json"], capsys)
    assert json.loads(out)["state"] == "finished"


def test_report_refuses_a_run_a_search_holds(tmp_path, capsys):
    run = _run(tmp_path / "a")
    lock = run.lock()
    try:
        code, _, err = _cli(["report", str(run.path)], capsys)
    finally:
        lock.release()
    assert code == 2 and "a search is running there" in err and not run.report_json.exists()


def test_bad_input_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(edgenas("runs", "list", str(tmp_path / "empty")), "no search runs under")  # as a user meets it
    damaged = tmp_path / "broken"
    damaged.mkdir()
    (damaged / "trials.db").write_bytes(b"not a database" * 200)
    assert_one_line_error(edgenas("report", str(damaged)), "not an edgenas trial store")
    a = _run(tmp_path / "a")
    for args, fragment in [
        (["runs", "list", str(tmp_path / "absent")], "not a folder"),
        (["runs", "show", str(damaged)], "unreadable"),
        (["runs", "show", str(tmp_path / "empty")], "not a search run folder"),
        (["report", str(tmp_path / "empty")], "not a search run folder"),
        (["runs", "compare", str(a.path), str(a.path)], "at least two"),
        (["runs", "compare", str(a.path), str(tmp_path / "empty")], "not a search run folder"),
        (["runs", "compare", str(a.path), str(damaged), "--plot", str(tmp_path)], "--plot"),
    ]:
        code, out, err = _cli(args, capsys)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and out == "" and lines[0].startswith("error:"), (args, err)
        assert fragment in " ".join(lines) and "Traceback" not in err, (args, err)
