"""The dashboard's API and pages in process (FastAPI's TestClient), and its command's bad input as
one line: runs listed with their state, every trial with its cost sources, a damaged run shown as
unreadable beside the others, nothing written to a run, the token asked for, a port in use refused."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edgenas.dashboard.app import COOKIE, DashboardSettings, create_app, listen
from edgenas.dashboard.views import best_so_far, estimated_vs_measured
from edgenas.errors import InvalidInputError

from .conftest import TOKEN, add_trial, make_run, snapshot, trial

testclient = pytest.importorskip("fastapi.testclient")


def client(root: Path, token: str | None = None):
    return testclient.TestClient(create_app(DashboardSettings(root, token)))


def test_an_empty_folder_says_there_are_no_runs_yet(tmp_path: Path) -> None:
    page = client(tmp_path).get("/")
    assert page.status_code == 200
    assert "No runs yet under" in page.text and str(tmp_path) in page.text
    assert client(tmp_path).get("/api/runs").json()["runs"] == []


def test_runs_are_listed_with_state_and_each_trial_with_its_cost_sources(tmp_path: Path) -> None:
    make_run(tmp_path / "a", [trial(0, 0.5), trial(1, None, 7.0), trial(2, 0.7, 3.0)])
    c = client(tmp_path)
    (listed,) = c.get("/api/runs").json()["runs"]
    assert (listed["name"], listed["state"], listed["trials"]) == ("a", "stopped", {"complete": 2, "infeasible": 1})
    assert listed["best"]["number"] == 2
    assert 'href="/run/a"' in c.get("/").text
    run = c.get("/api/runs/a").json()
    rows = run["trial_rows"]
    assert [r["number"] for r in rows] == [0, 1, 2]
    assert rows[1]["state"] == "infeasible" and rows[1]["violations"] == ["latency_ms 7.0 > 5"]
    assert rows[0]["sources"]["latency_ms"] == "estimated" and rows[0]["worker"] == "main" and rows[0]["device"] == "cpu"
    assert {"latency_ms", "peak_sram_bytes", "flash_bytes", "macs", "params", "wall_s"} <= set(rows[0])
    assert run["limits"]["latency_ms"] == 5.0 and run["limits"]["sram_bytes"] == 204800
    assert [p["best"] for p in run["best_so_far"]] == [0.5, 0.7]
    assert run["pareto_png"] is False and run["profile_note"].startswith("estimated by the target's analytical model")
    profile = run["profile"]  # the best model's estimated latency, operator by operator, with its kernel
    assert profile["target"] == "cortex-m7" and profile["latency_source"] == "estimated"
    assert [op["name"] for op in profile["operators"]][-2:] == ["pool", "fc"]
    assert profile["operators"][-1]["kernel"] == "arm_fully_connected_s8"
    assert sum(op["share"] for op in profile["operators"]) == pytest.approx(1.0)
    page = c.get("/run/a")
    assert page.status_code == 200 and 'id="trial-count">3<' in page.text


def test_a_damaged_run_is_unreadable_with_its_reason_and_the_rest_is_served(tmp_path: Path) -> None:
    make_run(tmp_path / "good", [trial(0)])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "trials.db").write_bytes(b"not a database, but named like one" * 100)
    c = client(tmp_path)
    runs = {r["name"]: r for r in c.get("/api/runs").json()["runs"]}
    assert runs["good"]["state"] == "stopped"
    assert runs["bad"]["state"] == "unreadable" and "trials.db" in runs["bad"]["error"]
    bad = c.get("/api/runs/bad").json()
    assert bad["state"] == "unreadable" and bad["error"]
    page = c.get("/run/bad")
    assert page.status_code == 200 and "cannot be read" in page.text and "not an edgenas trial store" in page.text


def test_serving_a_run_writes_nothing_to_it(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs" / "a", [trial(0, 0.6, device_latency_ms=2.4)])
    run.pareto_png.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (run.path / "best").mkdir()
    (run.path / "best" / "model.onnx").write_bytes(b"onnx")
    before = snapshot(tmp_path)
    c = client(tmp_path / "runs")
    for path in ("/", "/api/runs", "/run/a", "/api/runs/a", "/api/runs/a?since=x", "/files/pareto/a"):
        assert c.get(path).status_code == 200, path
    assert c.get("/files/pareto/a").content == run.pareto_png.read_bytes()
    assert snapshot(tmp_path) == before


def test_a_poll_answers_unchanged_until_a_trial_lands(tmp_path: Path) -> None:
    run = make_run(tmp_path / "a", [trial(0)])
    c = client(tmp_path)
    first = c.get("/api/runs/a").json()
    assert c.get("/api/runs/a", params={"since": first["signature"]}).json() == {
        "unchanged": True,
        "signature": first["signature"],
    }
    add_trial(run, trial(1, 0.9))
    after = c.get("/api/runs/a", params={"since": first["signature"]}).json()
    assert len(after["trial_rows"]) == 2 and after["best"]["number"] == 1


def test_only_runs_found_under_the_folder_are_served(tmp_path: Path) -> None:
    make_run(tmp_path / "runs" / "a", [trial(0)])
    make_run(tmp_path / "outside", [trial(0)])
    c = client(tmp_path / "runs")
    for path in ("/api/runs/../outside", "/api/runs/%2E%2E/outside", "/api/runs/b", "/files/pareto/a", "/run/zzz"):
        assert c.get(path).status_code == 404, path
    assert "no run named" in c.get("/api/runs/b").json()["detail"]


def test_a_run_folder_itself_and_the_runs_inside_it_keep_apart_names(tmp_path: Path) -> None:
    make_run(tmp_path / "sweep", [trial(0)])
    make_run(tmp_path / "sweep" / "latency-2ms", [trial(0), trial(1)])
    names = [r["name"] for r in client(tmp_path / "sweep").get("/api/runs").json()["runs"]]
    assert names == ["sweep", "sweep/latency-2ms"]
    assert len(client(tmp_path / "sweep").get("/api/runs/sweep/latency-2ms").json()["trial_rows"]) == 2


def test_with_a_token_every_request_needs_it(tmp_path: Path) -> None:
    make_run(tmp_path / "a", [trial(0)])
    c = client(tmp_path, TOKEN)
    assert c.get("/health").status_code == 200
    for path in ("/", "/api/runs", "/run/a", "/static/dashboard.js", "/vendor/plotly.min.js"):
        assert c.get(path).status_code == 401, path
    assert c.get("/api/runs", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    assert c.get("/api/runs", params={"token": "wrong"}).status_code == 401
    assert c.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    once = c.get("/run/a", params={"token": TOKEN}, follow_redirects=False)
    assert once.status_code == 303 and once.headers["location"] == "/run/a"  # the token leaves the address bar
    assert TOKEN not in once.headers["set-cookie"] and "httponly" in once.headers["set-cookie"].lower()
    assert c.cookies.get(COOKIE)
    assert c.get("/run/a").status_code == 200 and c.get("/api/runs/a").status_code == 200  # the cookie carries it


def test_the_figures_held_both_ways_are_paired() -> None:
    rows = [
        {
            "number": 3,
            "role": "search",
            "state": "complete",
            "accuracy": 0.8,
            "latency_ms": 2.0,
            "peak_sram_bytes": 100,
            "flash_bytes": 50,
            "sources": {"latency_ms": "predicted"},
            "device_latency_ms": 2.5,
            "measured": {"arena_bytes": 90, "file_bytes": 60},
        },
        {"number": 1, "role": "search", "state": "complete", "accuracy": 0.9},
        {"number": 0, "role": "search", "state": "complete", "accuracy": 0.6},
        {"number": 2, "role": "search", "state": "infeasible"},
        {"number": -1, "role": "baseline", "state": "complete", "accuracy": 0.95},
    ]
    pairs = estimated_vs_measured(rows)
    assert [(p["figure"], p["source"], p["estimate"], p["measured"]) for p in pairs] == [
        ("latency_ms", "predicted", 2.0, 2.5), ("peak_sram_bytes", "estimated", 100, 90), ("flash_bytes", "estimated", 50, 60)
    ]  # fmt: skip
    assert [(p["number"], p["best"]) for p in best_so_far(rows)] == [(0, 0.6), (1, 0.9), (3, 0.9)]


def _dashboard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgenas.cli", "dashboard", *args], capture_output=True, text=True, timeout=60)


def _one_line(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    _one_line(_dashboard(str(tmp_path / "absent")), "not a folder")
    _one_line(_dashboard(str(tmp_path), "--host", "0.0.0.0", "--port", "0"), "--token-file")
    loose = tmp_path / "token"
    loose.write_text(TOKEN)
    loose.chmod(0o644)
    _one_line(_dashboard(str(tmp_path), "--host", "0.0.0.0", "--token-file", str(loose)), "chmod 600")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        _one_line(_dashboard(str(tmp_path), "--port", str(port)), f"--port {port}: already in use")


def test_listen_refuses_a_port_out_of_range() -> None:
    with pytest.raises(InvalidInputError, match="--port"):
        listen("127.0.0.1", 70000)
