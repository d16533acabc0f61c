"""A real agent process on a free loopback port, started once per module, and tiny models to send it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

TOKEN = "test-token-0123456789abcdef"


@dataclass
class Agent:
    """A running ``edgenas agent serve``: its URL, process, token file and the temporary folder it writes under."""

    url: str
    proc: subprocess.Popen
    token_file: Path
    tmpdir: Path

    def headers(self, token: str = TOKEN) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token_file(folder: Path, token: str = TOKEN, mode: int = 0o600) -> Path:
    path = folder / "token"
    path.write_text(token + "\n")
    path.chmod(mode)
    return path


def start_agent(folder: Path, *flags: str, timeout: float = 30.0) -> Agent:
    """Start ``edgenas agent serve`` as its own process and wait until ``/health`` answers."""
    folder.mkdir(parents=True, exist_ok=True)
    tmpdir = folder / "agent-tmp" / "inner"
    tmpdir.mkdir(parents=True)
    tokens = token_file(folder)
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgenas.cli", "agent", "serve", "--token-file", str(tokens), "--port", str(port), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the agent exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return Agent(url, proc, tokens, tmpdir)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the agent did not start in time")


def stop(agent: Agent) -> None:
    if agent.proc.poll() is None:
        agent.proc.terminate()
        try:
            agent.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            agent.proc.kill()
            agent.proc.wait()
    if agent.proc.stderr:
        agent.proc.stderr.close()


def onnx_model(path: Path, width: int = 64, layers: int = 1, batch: int = 1) -> Path:
    """A self-contained ONNX graph: ``layers`` MatMul+Relu with one shared ``width``-square weight."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((width, width)).astype(np.float32), "W")
    nodes, last = [], "X"
    for i in range(layers):
        nodes += [helper.make_node("MatMul", [last, "W"], [f"m{i}"]), helper.make_node("Relu", [f"m{i}"], [f"r{i}"])]
        last = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [batch, width])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, [batch, width])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def tflite_model() -> Path:
    tflm = pytest.importorskip("tflite_micro")
    path = Path(tflm.__file__).parent / "python" / "tflite_micro" / "sine_float.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not shipped with this tflite_micro")
    return path


@pytest.fixture(scope="module")
def agent(tmp_path_factory) -> Iterator[Agent]:
    """One agent for the module: 1 MiB uploads, a rate limit high enough for the load test."""
    running = start_agent(tmp_path_factory.mktemp("agent"), "--max-upload-mb", "1", "--rate-limit", "5000")
    yield running
    stop(running)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {"onnx": onnx_model(folder / "tiny.onnx"), "tflite": tflite_model(), "folder": folder}
