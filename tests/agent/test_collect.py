"""``edgenas predictor collect``: a latency table measured by a real agent process, spread over the
space's MACs, read as is by ``predictor fit``, continued (never re-measured) by the same command,
and refused or stopped with one line when it cannot go on."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.conftest import Agent, free_port, start_agent, stop, token_file
from tests.cli.test_cli import assert_one_line_error, edgenas

pytest.importorskip("fastapi")

FAST = ("--repeats", "3", "--warmup", "1")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    agent = start_agent(tmp_path_factory.mktemp("collect-agent"))
    yield agent
    stop(agent)


def _collect(agent: Agent, out: Path, n: int, *flags: str, url: str | None = None):  # type: ignore[no-untyped-def]
    return edgenas(
        "predictor", "collect", "--agent", url or agent.url, "--token-file", str(agent.token_file), "--space", "nb201",
        "--n", str(n), "--out", str(out), "--device-name", "dev", *FAST, *flags,
    )  # fmt: skip


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_collect_spreads_over_macs_and_predictor_fit_reads_the_table(running: Agent, tmp_path: Path) -> None:
    from edgenas.spaces import SPACES
    from edgenas.workflows.collect import plan

    out = tmp_path / "table.csv"
    r = _collect(running, out, 6, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["measured"] == 6 and summary["rows"] == 6 and summary["device"] == "dev"
    rows = _rows(out)
    assert len(rows) == 6 and all(float(row["dev"]) > 0 for row in rows)
    macs = [int(row["macs"]) for row in rows]
    _, (pool_lo, pool_hi), _ = plan(SPACES.create("nb201"), 6, 0)
    assert min(macs) == pool_lo and max(macs) == pool_hi  # both ends of the pool are measured
    assert len(set(macs)) >= 4  # and more than the ends: spread over the range

    fit = edgenas(
        "predictor", "fit", "--space", "nb201", "--latency-table", str(out), "--device", "dev", "--train-size", "4",
        "--kind", "lut", "--out", str(tmp_path / "p.json"), "--json",
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    assert json.loads(fit.stdout)["held_out"]["n"] == 2


def test_a_larger_n_continues_the_table_and_a_complete_one_needs_no_agent(running: Agent, tmp_path: Path) -> None:
    out = tmp_path / "table.csv"
    first = _collect(running, out, 3)
    assert first.returncode == 0, first.stderr
    three = out.read_text()
    second = _collect(running, out, 6, "--json")
    assert second.returncode == 0, second.stderr
    done = json.loads(second.stdout)
    assert done["measured"] == 3 and done["kept"] == 3
    six = out.read_text()
    assert six.startswith(three) and len(_rows(out)) == 6  # the first three rows kept as they were

    nobody = f"http://127.0.0.1:{free_port()}"  # every row is there: the agent is never asked
    again = _collect(running, out, 6, "--json", url=nobody)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["measured"] == 0 and out.read_text() == six


def test_an_agent_that_stops_answering_keeps_the_rows_and_says_how_to_continue(tmp_path: Path) -> None:
    agent = start_agent(tmp_path / "agent")
    out = tmp_path / "table.csv"
    try:
        assert _collect(agent, out, 2).returncode == 0
    finally:
        stop(agent)
    r = _collect(agent, out, 4)
    assert_one_line_error(r, "2 of 4 rows are kept", str(out), "run the same command again to continue")
    assert len(_rows(out)) == 2


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--seed", "1"], "another space or seed"),
        (["--device-name", "other"], "holds latencies of device 'dev'"),
    ],
)
def test_a_table_of_other_options_is_refused(running: Agent, tmp_path: Path, flags: list[str], fragment: str) -> None:
    out = tmp_path / "table.csv"
    assert _collect(running, out, 2).returncode == 0
    before = out.read_text()
    assert_one_line_error(_collect(running, out, 3, *flags), fragment)
    assert out.read_text() == before


def test_another_space_and_a_foreign_file_are_refused(running: Agent, tmp_path: Path) -> None:
    out = tmp_path / "table.csv"
    assert _collect(running, out, 2).returncode == 0
    r = edgenas(
        "predictor", "collect", "--agent", running.url, "--token-file", str(running.token_file), "--space", "kws",
        "--n", "3", "--out", str(out), "--device-name", "dev", *FAST,
    )  # fmt: skip
    assert_one_line_error(r, "another space or seed")
    foreign = tmp_path / "mine.csv"
    foreign.write_text("name,value\na,1\n")
    assert_one_line_error(_collect(running, foreign, 2), "not a table written by `edgenas predictor collect`")


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--n", "0"], "--n must be at least 1"),
        (["--space", "nosuch"], "nosuch"),
        (["--token-file", "{tmp}/absent"], "--token-file"),
        (["--device-name", "lat_std"], "not a latency"),
        (["--repeats", "0"], "--repeats must be between"),
        (["--runtime", "tensorrt"], "--runtime must be one of onnxruntime, litert, litert-no-xnnpack"),
    ],
)
def test_bad_flags_are_one_line_before_anything_is_measured(tmp_path: Path, flags: list[str], fragment: str) -> None:
    tokens = token_file(tmp_path)
    out = tmp_path / "table.csv"
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: a check that needed the agent would fail otherwise
    base = {"--agent": url, "--token-file": str(tokens), "--space": "nb201", "--n": "3", "--out": str(out)}
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        base[flag] = value.replace("{tmp}", str(tmp_path))
    r = edgenas("predictor", "collect", *[x for kv in base.items() for x in kv])
    assert_one_line_error(r, fragment)
    assert not out.exists()


def test_collect_with_litert_times_int8_tflite_in_a_column_named_for_the_runtime(running: Agent, tmp_path: Path) -> None:
    pytest.importorskip("litert_torch")
    import socket

    from edgenas.workflows.collect import device_column

    out = tmp_path / "table.csv"
    r = edgenas(
        "predictor", "collect", "--agent", running.url, "--token-file", str(running.token_file), "--space", "kws",
        "--n", "2", "--out", str(out), "--runtime", "litert-no-xnnpack", *FAST, "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    column = json.loads(r.stdout)["device"]
    assert column == device_column(socket.gethostname(), "litert-no-xnnpack") and column.endswith("_litert_no_xnnpack")
    assert [float(row[column]) > 0 for row in _rows(out)] == [True, True]
