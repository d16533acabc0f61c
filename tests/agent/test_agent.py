"""The measurement agent as a client meets it: a real ``edgenas agent serve`` process on loopback.

Each attack of the issue is one test here against that process: no or a wrong token, an upload
over the limit, a file that is not a model or is cut short, path tricks in the file name, the
agent killed mid-measurement, and a fixed-count load test after which it still answers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from edgenas.agent.client import AgentClient, AgentError, Retry
from edgenas.cli.main import run
from tests.agent.conftest import TOKEN, onnx_model, start_agent, stop, token_file
from tests.cli.test_cli import assert_one_line_error, edgenas

FAST = {"repeats": 5, "warmup": 1}


def _client(agent, token: str = TOKEN, **kwargs) -> AgentClient:
    return AgentClient(agent.url, token, **kwargs)


def _post(agent, name: str, data: bytes, token: str | None = TOKEN, **fields: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    files = {"model": (name, data, "application/octet-stream")}
    return httpx.post(
        f"{agent.url}/measure", headers=headers, files=files, data={"repeats": "3", "warmup": "0", **fields}, timeout=60
    )


def _uploads(agent) -> list[Path]:
    """What the agent left of uploads in its temporary folder (LiteRT keeps a small session file of its own there)."""
    return [p for p in agent.tmpdir.iterdir() if p.name.startswith("edgenas-agent-") or p.suffix in (".onnx", ".tflite")]


def _still_serving(agent) -> None:
    assert agent.proc.poll() is None
    assert httpx.get(f"{agent.url}/info", headers=agent.headers(), timeout=10).status_code == 200


# -- what it does ----------------------------------------------------------------------------
def test_info_says_what_the_device_offers(agent):
    info = _client(agent).info()
    assert info.runtimes["onnxruntime"].startswith("onnxruntime ")
    assert info.device.hostname == socket.gethostname() and info.device.cpu_count >= 1 and info.device.cpu_model
    assert info.limits.max_upload_bytes == 2**20
    assert set(info.suffixes) == {".onnx", ".tflite"}


def test_measures_a_tiny_onnx_model_with_its_operators(agent, models):
    m = _client(agent).measure(models["onnx"], **FAST)
    lat = m.summary()
    assert m.repeats == 5 and m.warmup == 1 and m.threads == 1 and m.runtime == "onnxruntime"
    assert 0 < lat["min"] <= lat["median"] <= lat["max"] < 1000 and lat["iqr"] >= 0
    assert {op.op_type for op in m.ops} >= {"MatMul", "Relu"}
    assert m.input_shape == (1, 64) and m.model_bytes == models["onnx"].stat().st_size
    assert m.peak_rss_mb is not None and m.peak_rss_mb > 10
    assert m.runtime_version.startswith("onnxruntime ") and m.finished_at >= m.started_at
    assert m.device.hostname == socket.gethostname()


def test_measures_a_tiny_tflite_model(agent, models):
    m = _client(agent).measure(models["tflite"], **FAST)
    assert m.runtime == "litert" and m.runtime_version.startswith("ai-edge-litert ")
    assert m.repeats == 5 and 0 < m.summary()["median"] < 1000
    assert m.ops_note  # LiteRT's Python interpreter gives no per-operator times, and the answer says so


def test_cli_measure_and_info_print_json(agent, models, capsys):
    run(["agent", "measure", agent.url, str(models["onnx"]), "--token-file", str(agent.token_file), "--repeats", "3", "--json"])
    answer = json.loads(capsys.readouterr().out)
    assert answer["repeats"] == 3 and answer["latency_ms"]["median"] > 0 and answer["runtime"] == "onnxruntime"
    run(["agent", "info", agent.url, "--token-file", str(agent.token_file), "--json"])
    assert "onnxruntime" in json.loads(capsys.readouterr().out)["runtimes"]


def test_profile_measures_on_the_agent_with_its_bottlenecks(agent, models, capsys):
    flags = ["--agent", agent.url, "--agent-token-file", str(agent.token_file), "--repeats", "3", "--top", "2"]
    run(["profile", str(models["onnx"]), *flags, "--json"])
    answer = json.loads(capsys.readouterr().out)
    assert answer["repeats"] == 3 and answer["device"]["hostname"] and answer["runtime"] == "onnxruntime"
    run(["profile", str(models["onnx"]), *flags])
    printed = capsys.readouterr().out
    assert "measured on " in printed and "MatMul" in printed  # the device, and its slowest operator


def test_profile_agent_flags_go_together(models, capsys):
    with pytest.raises(SystemExit) as exit_:
        run(["profile", str(models["onnx"]), "--agent", "http://127.0.0.1:1"])
    assert exit_.value.code == 2 and "--agent URL and --agent-token-file F go together" in capsys.readouterr().err


def test_uploads_leave_nothing_behind(agent, models):
    _client(agent).measure(models["onnx"], repeats=1, warmup=0)
    assert _uploads(agent) == []  # the private folder is deleted after each measurement


# -- attacks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"}])
def test_no_or_wrong_token_is_401(agent, headers):
    r = httpx.get(f"{agent.url}/info", headers=headers, timeout=10)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "token" in r.json()["detail"]


def test_a_big_upload_without_token_is_refused_before_it_is_read(agent):
    r = _post(agent, "m.onnx", b"\0" * (3 * 2**20), token=None)
    assert r.status_code == 401  # not 413: nothing of the body is read for a client without the token


def test_cli_with_a_wrong_token_exits_2_with_one_line(agent, tmp_path):
    result = edgenas("agent", "info", agent.url, "--token-file", str(token_file(tmp_path, "not-the-token")))
    assert_one_line_error(result, "refused the token")


def test_an_upload_over_the_limit_is_413(agent, models):
    r = _post(agent, "big.onnx", b"\0" * (2 * 2**20))
    assert r.status_code == 413 and "1 MiB" in r.json()["detail"]
    big = onnx_model(models["folder"] / "big.onnx", width=600)  # 1.4 MB of weights
    with pytest.raises(AgentError, match="too large"):
        _client(agent).measure(big, repeats=1)
    _still_serving(agent)


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("notes.onnx", lambda m: b"this is not a model\n" * 10, "not an ONNX model"),
        ("cut.onnx", lambda m: m["onnx"].read_bytes()[: m["onnx"].stat().st_size // 2], "not an ONNX model"),
        ("notes.tflite", lambda m: b"hello world, not a flatbuffer", "not a TFLite model"),
        ("cut.tflite", lambda m: m["tflite"].read_bytes()[:200], "not a TFLite model"),
        ("empty.onnx", lambda m: b"", "empty"),
        ("model.pt", lambda m: b"PK\x03\x04 a zip of pickles", "only .onnx, .tflite models"),
        ("model", lambda m: b"x", "only .onnx, .tflite models"),
    ],
)
def test_a_file_that_is_not_a_model_is_400_with_the_reason(agent, models, name, make, reason):
    r = _post(agent, name, make(models))
    assert r.status_code == 400, r.text
    assert reason in r.json()["detail"] and str(agent.tmpdir) not in r.json()["detail"]
    _still_serving(agent)


@pytest.mark.parametrize(
    "fields", [{"repeats": "0"}, {"threads": "100000"}, {"repeats": "99999999"}, {"runtime": "litert"}, {"threads": "two"}]
)
def test_bad_counts_and_runtimes_are_400(agent, models, fields):
    r = _post(agent, "m.onnx", models["onnx"].read_bytes(), **fields)
    assert r.status_code == 400, r.text
    assert r.json()["detail"]


@pytest.mark.parametrize("name", ["../../escaped.onnx", "/tmp/escaped.onnx", "..\\..\\escaped.onnx", "a/../../escaped.onnx"])
def test_path_tricks_in_the_file_name_write_nothing_outside(agent, models, name):
    r = _post(agent, name, models["onnx"].read_bytes())
    assert r.status_code == 200, r.text  # the name is read for its suffix only
    root = agent.tmpdir.parent.parent  # the agent's folder: tmp/agent-tmp/inner is its TMPDIR
    assert [p.name for p in root.rglob("escaped*")] == []
    assert not Path("/tmp/escaped.onnx").exists()
    assert _uploads(agent) == []


def test_concurrent_measurements_never_overlap(agent, models):
    client = _client(agent)
    results = []

    def one() -> None:
        results.append(client.measure(models["onnx"], repeats=300, warmup=5))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 3
    spans = sorted((m.started_at, m.finished_at) for m in results)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))
    queue = httpx.get(f"{agent.url}/info", headers=agent.headers(), timeout=10).json()["queue"]
    assert queue["most_active"] == 1 and queue["active"] == 0


def test_load_then_still_answers_and_memory_has_not_grown(agent):
    """300 GET /info on one keep-alive connection after 30 to warm up (lazy imports, caches, the
    allocator's first arenas). Growth bound: 8 MiB, i.e. under 28 KiB kept per request; a leak of
    the response or the request state (a few KiB each) over 300 requests would still show, while
    the allocator's slack on a ~100 MiB process stays well under it."""
    with httpx.Client(headers=agent.headers(), timeout=10) as http:
        for _ in range(30):
            http.get(f"{agent.url}/info")
        before = agent.rss_kib()
        codes = [http.get(f"{agent.url}/info").status_code for _ in range(300)]
    after = agent.rss_kib()
    assert codes.count(200) == 300
    assert after - before < 8 * 1024, (before, after)
    _still_serving(agent)


# -- an agent that stops answering ------------------------------------------------------------
def test_agent_killed_mid_measurement_the_client_retries_then_fails_cleanly(tmp_path):
    slow = onnx_model(tmp_path / "slow.onnx", width=256, layers=20, batch=64)  # tens of ms per run
    agent = start_agent(tmp_path / "agent")
    client = _client(agent, retry=Retry(tries=3, first_wait_s=0.2, max_wait_s=0.5, total_s=20))
    outcome: list[BaseException] = []

    def measure() -> None:
        try:
            client.measure(slow, repeats=2000, warmup=0)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    worker = threading.Thread(target=measure)
    try:
        worker.start()
        deadline, running = time.monotonic() + 30, False
        while not running and time.monotonic() < deadline:  # wait until the measurement runs
            running = bool(httpx.get(f"{agent.url}/info", headers=agent.headers(), timeout=10).json()["queue"]["active"])
            time.sleep(0.05)
        assert running
        agent.proc.kill()
        worker.join(timeout=30)
    finally:
        stop(agent)
    assert not worker.is_alive() and len(outcome) == 1
    error = outcome[0]
    assert isinstance(error, AgentError)
    assert "after 3 tries" in str(error) and "\n" not in str(error)
    assert client.tries_made == 3


def test_cli_against_no_agent_exits_2_with_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    result = edgenas("agent", "info", f"http://127.0.0.1:{port}", "--token-file", str(token_file(tmp_path)), timeout=60)
    assert_one_line_error(result, "did not answer", "tries")
