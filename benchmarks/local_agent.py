"""An ``edgenas agent serve`` of the benchmarks' own: started on loopback (pinned to one core where
the machine has two or more and ``taskset`` exists), waited for, and stopped afterwards."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class LocalAgent:
    url: str
    token_file: Path


def pinned(core: int) -> list[str]:
    """``taskset -c CORE`` to prefix a command with, or nothing where pinning is not possible."""
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_agent(folder: Path, core: int = 1, timeout_s: float = 30.0) -> Iterator[LocalAgent]:
    """A running agent (its token in ``folder``, mode 600) for the block; stopped when it ends."""
    token = folder / "token"
    token.write_text("benchmark-token-" + os.urandom(16).hex() + "\n")
    token.chmod(0o600)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        *pinned(core),
        sys.executable,
        "-m",
        "edgenas.cli",
        "agent",
        "serve",
        "--token-file",
        str(token),
        "--port",
        str(port),
    ]
    agent = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or agent.poll() is not None:
                    sys.exit(f"the agent did not start on {url}")
                time.sleep(0.1)
        yield LocalAgent(url, token)
    finally:
        agent.terminate()
        agent.wait(timeout=30)
