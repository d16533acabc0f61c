"""Run folders built straight into a store (no search), and a real dashboard process on a free loopback port."""

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

from edgenas.spaces import KwsSpace
from edgenas.store import RunFolder
from edgenas.trial import Cost, Metrics, Trial, TrialState

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("jinja2")

TOKEN = "dashboard-token-0123456789"
LIMITS = {"latency_ms": 5.0, "sram_bytes": 204800, "flash_bytes": 1048576, "energy_mj": None}


def cost(latency_ms: float, sram: int = 20_000, source: str = "estimated") -> Cost:
    sources = {k: "estimated" for k in ("macs", "params", "peak_sram_bytes", "flash_bytes")} | {"latency_ms": source}
    return Cost(macs=100_000, params=5_000, peak_sram_bytes=sram, flash_bytes=40_000, latency_ms=latency_ms, sources=sources)


def trial(number: int, accuracy: float | None = 0.5, latency_ms: float = 2.0, **extra: float) -> Trial:
    """A search trial: complete with ``accuracy``, or infeasible (never trained) when ``accuracy`` is None."""
    arch = KwsSpace().sample(np.random.default_rng(number))
    if accuracy is None:
        return Trial(number, arch, TrialState.INFEASIBLE, cost=cost(latency_ms), violations=(f"latency_ms {latency_ms} > 5",))
    metrics = Metrics(accuracy, extra=extra)
    return Trial(
        number, arch, TrialState.COMPLETE, cost=cost(latency_ms), metrics=metrics, duration_s=1.5, worker="main", device="cpu"
    )


def make_run(folder: Path, trials: list[Trial]) -> RunFolder:
    run = RunFolder(folder)
    with run.open_store() as store:
        store.write_config(
            {
                "identity": {"task": "kws", "strategy": "random", "seed": 0, "target": "cortex-m7"},
                "space": "kws",
                "limits": LIMITS,
            }
        )
        store.put_many(trials)
    return run


def add_trial(run: RunFolder, t: Trial) -> None:
    """Land one more trial in a run, as a search does (its own connection, committed)."""
    with run.open_store() as store:
        store.put(t)


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file's size, time and bytes (SQLite may open and remove its -shm beside a store it only reads)."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dashboard:
    """A running ``edgenas dashboard``: its URL and process."""

    url: str
    proc: subprocess.Popen


def start_dashboard(runs_dir: Path, *flags: str, timeout: float = 30.0) -> Dashboard:
    """Start ``edgenas dashboard`` as its own process and wait until ``/health`` answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgenas.cli", "dashboard", str(runs_dir), "--port", str(port), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the dashboard exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return Dashboard(url, proc)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the dashboard did not start in time")


def stop(dashboard: Dashboard) -> None:
    if dashboard.proc.poll() is None:
        dashboard.proc.terminate()
        try:
            dashboard.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            dashboard.proc.kill()
            dashboard.proc.wait()
    if dashboard.proc.stderr:
        dashboard.proc.stderr.close()


@pytest.fixture
def dashboard_of() -> Iterator:
    """Start dashboards on folders; every one is stopped after the test."""
    started: list[Dashboard] = []

    def start(runs_dir: Path, *flags: str) -> Dashboard:
        started.append(start_dashboard(runs_dir, *flags))
        return started[-1]

    yield start
    for d in started:
        stop(d)
