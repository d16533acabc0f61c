"""The agent's parts without a process: the token file, the protocol's checks, the rate limit, the guard."""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from edgenas.agent.auth import MIN_SERVER_TOKEN_CHARS, read_token_file
from edgenas.agent.protocol import AgentMeasurement, DeviceInfo, ProtocolError, cpu_frequencies_mhz, temperature_c
from edgenas.errors import InvalidInputError, MissingExtraError
from tests.agent.conftest import TOKEN, token_file
from tests.cli.test_cli import assert_one_line_error, edgenas

pytest.importorskip("fastapi")


# -- the token file ------------------------------------------------------------------------------
def test_a_private_token_file_is_read(tmp_path):
    assert read_token_file(token_file(tmp_path)) == TOKEN


@pytest.mark.parametrize(
    ("content", "mode", "fragment"),
    [
        (None, 0o600, "no such file"),
        ("", 0o600, "empty"),
        ("   \n", 0o600, "empty"),
        (TOKEN, 0o644, "readable by other users (mode 644); run 'chmod 600"),
        (TOKEN, 0o640, "readable by other users"),
        ("two words", 0o600, "one word"),
    ],
)
def test_a_bad_token_file_is_one_clear_line(tmp_path, content, mode, fragment):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
        path.chmod(mode)
    with pytest.raises(InvalidInputError, match="--token-file") as caught:
        read_token_file(path)
    assert fragment in str(caught.value)
    if content and content.strip():
        assert content.strip() not in str(caught.value)  # the secret is never echoed


def test_the_server_wants_a_long_token(tmp_path):
    with pytest.raises(InvalidInputError, match=f"at least {MIN_SERVER_TOKEN_CHARS}"):
        read_token_file(token_file(tmp_path, "short"), min_chars=MIN_SERVER_TOKEN_CHARS)


def test_serve_refuses_a_world_readable_token_file(tmp_path):
    result = edgenas("agent", "serve", "--token-file", str(token_file(tmp_path, mode=0o644)), "--port", "0")
    assert_one_line_error(result, "readable by other users", "chmod 600")


# -- the protocol: a client does not trust the answer blindly ------------------------------------
def _answer() -> dict:
    device = DeviceInfo(hostname="pi", machine="aarch64", cpu_model="Cortex-A72", cpu_count=4, load_avg=(0.1, 0.2, 0.3))
    m = AgentMeasurement(
        runtime="litert", runtime_version="ai-edge-litert 2.3.0", threads=1, warmup=2, times_ms=(1.0, 2.0, 3.0), device=device
    )
    return json.loads(json.dumps(m.to_dict()))


def test_a_measurement_round_trips():
    m = AgentMeasurement.from_dict(_answer())
    assert m.summary()["median"] == 2.0 and m.device.cpu_count == 4 and m.repeats == 3


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.pop("times_ms"), "'times_ms' is missing"),
        (lambda d: d.update(times_ms=[1.0, -2.0, 3.0]), "not a finite number"),
        (lambda d: d.update(times_ms=[]), "no timed run"),
        (lambda d: d.update(repeats=4), "does not match"),
        (lambda d: d.update(threads="1"), "has type str"),
        (lambda d: d.update(threads=True), "boolean"),
        (lambda d: d.update(protocol=2), "protocol 2"),
        (lambda d: d.update(started_at=10.0, finished_at=5.0), "finished before it started"),
        (lambda d: d["device"].update(cpu_count=0), "cpu_count"),
        (lambda d: d.update(runtime="x" * 100), "characters long"),
        (lambda d: d.update(operators=[{"name": "a"}]), "'op_type' is missing"),
    ],
)
def test_a_malformed_answer_is_refused(change, fragment):
    d = _answer()
    change(d)
    with pytest.raises(ProtocolError, match="the agent") as caught:
        AgentMeasurement.from_dict(d)
    assert fragment in str(caught.value)


def test_more_runs_than_asked_is_refused():
    with pytest.raises(ProtocolError, match="entries"):
        AgentMeasurement.from_dict(_answer(), max_runs=2)


def test_device_readings_from_sys(tmp_path):
    for i, khz in ((0, 1_500_000), (1, 600_000)):
        folder = tmp_path / "cpu" / f"cpu{i}" / "cpufreq"
        folder.mkdir(parents=True)
        (folder / "scaling_cur_freq").write_text(f"{khz}\n")
    for i, milli in ((0, 48_500), (1, "garbage")):
        zone = tmp_path / "thermal" / f"thermal_zone{i}"
        zone.mkdir(parents=True)
        (zone / "temp").write_text(f"{milli}\n")
    assert cpu_frequencies_mhz(tmp_path / "cpu") == (1500.0, 600.0)
    assert temperature_c(tmp_path / "thermal") == 48.5
    assert cpu_frequencies_mhz(tmp_path / "none") == () and temperature_c(tmp_path / "none") is None


# -- the guard, in process --------------------------------------------------------------------------
def test_the_rate_limit_answers_429_with_retry_after():
    from fastapi.testclient import TestClient

    from edgenas.agent.protocol import Limits
    from edgenas.agent.server import AgentSettings, create_app

    app = create_app(AgentSettings(token=TOKEN, limits=Limits(rate_limit_per_minute=3)))
    with TestClient(app) as http:
        codes = [http.get("/info", headers={"Authorization": f"Bearer {TOKEN}"}).status_code for _ in range(5)]
        refused = http.get("/health")
    assert codes == [200, 200, 200, 429, 429]
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


def test_the_rate_limiter_refills():
    from edgenas.agent.server import RateLimiter

    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.allow("a") == 0 for _ in range(60))
    assert limiter.allow("a") > 0 and limiter.allow("b") == 0  # per address
    now[0] += 1.0  # one request per second comes back
    assert limiter.allow("a") == 0 and limiter.allow("a") > 0


@pytest.mark.parametrize("module", ["httpx", "uvicorn"])
def test_without_the_extra_the_error_names_it(monkeypatch, module):
    from edgenas.agent.auth import require

    monkeypatch.setitem(sys.modules, module, None)  # what an environment without the extra looks like to import
    with pytest.raises(MissingExtraError, match=r"pip install 'edgenas\[agent\]'"):
        require(module)


def test_the_server_module_without_fastapi_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)
    monkeypatch.delitem(sys.modules, "edgenas.agent.server", raising=False)
    with pytest.raises(MissingExtraError, match=r"edgenas\[agent\]"):
        importlib.import_module("edgenas.agent.server")
    monkeypatch.delitem(sys.modules, "edgenas.agent.server", raising=False)  # the next import gets the real one
