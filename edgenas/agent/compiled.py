"""TVM libraries built here, timed on the device an agent runs on: ``edgenas compile --agent``
and ``search --latency compiled --agent``.

Cross-compiling is the point of a compiler for edge devices: the host builds an AArch64 library
it cannot run. An agent started on the device with ``--runtimes tvm --allow-native-code`` loads
it and times it with the protocol of ``edgenas profile``; the figures come back labelled with the
device they were measured on (``compile.json`` beside the host's figures; the search's cache and
report name the device).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgenas.agent.client import AgentClient, AgentError, library_inputs
from edgenas.agent.protocol import AgentInfo, AgentMeasurement, TensorSpec
from edgenas.compile.base import CompileResult
from edgenas.compile.search_latency import RemoteTimer
from edgenas.errors import InvalidInputError


def check_agent_runs_tvm(client: AgentClient) -> AgentInfo:
    """Ask the agent what it offers before minutes of building: it must offer the ``tvm`` runtime."""
    info = client.info()
    if "tvm" not in info.runtimes:
        raise AgentError(
            f"the agent at {client.url} offers {', '.join(info.runtimes)}, not tvm: start it on the device with "
            "'edgenas agent serve --runtimes tvm --allow-native-code' (and pip install 'edgenas[tvm]' there)"
        )
    return info


def check_builds_for_agent(target: str, info: AgentInfo, flag: str = "--compile-target") -> None:
    """Refuse, before anything is built, a TVM target whose libraries the agent's device cannot load."""
    import platform

    from edgenas.agent.native import elf_machine_of
    from edgenas.compile.target import parse_target

    spec = parse_target(target)
    built_for = (spec.triple or platform.machine()).split("-")[0].lower()
    device = info.device.machine.lower()
    if (elf_machine_of(built_for) or built_for) != (elf_machine_of(device) or device):
        raise InvalidInputError(
            f"{flag} {target!r} builds for {built_for}, but the agent's device ({info.device.hostname}) is {device}: "
            f"give a target for it, e.g. 'llvm -mtriple={device}-linux-gnu'"
        )


def agent_timer(client: AgentClient, info: AgentInfo) -> RemoteTimer:
    """How ``--latency compiled --agent`` times a candidate's library: uploaded, run by the agent's ``tvm`` runtime."""

    def time_library(library: Path, feeds: dict[str, np.ndarray], threads: int, warmup: int, repeats: int) -> tuple[float, ...]:
        inputs = {name: TensorSpec(tuple(int(d) for d in x.shape), x.dtype.name) for name, x in feeds.items()}
        answer = client.measure(library, runtime="tvm", threads=threads, warmup=warmup, repeats=repeats, inputs=inputs)
        return answer.times_ms

    return RemoteTimer(f"{info.device.hostname} ({info.device.cpu_model})", time_library)


def measure_on_agent(
    result: CompileResult,
    client: AgentClient,
    info: AgentInfo,
    *,
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    progress: Callable[[str], None] | None = None,
) -> CompileResult:
    """Time every library of ``result`` on the agent's device; the result with them under ``extra["agent"]``."""
    say = progress or (lambda _message: None)
    inputs = library_inputs(result.libraries["untuned"])
    device = info.device
    measured: dict[str, AgentMeasurement] = {}
    for name, library in result.libraries.items():
        say(f"measuring the {name} build on {device.hostname} ({device.machine}) through the agent at {client.url}")
        measured[name] = client.measure(library, runtime="tvm", threads=threads, warmup=warmup, repeats=repeats, inputs=inputs)
    where = f"measured on {device.hostname} ({device.machine}, {device.cpu_model}) by the agent at {client.url}"
    agent: dict[str, Any] = {
        "url": client.url,
        "runtime": info.runtimes["tvm"],
        "device": device.to_dict(),
        "builds": {name: m.to_dict() for name, m in measured.items()},
    }
    untuned, tuned = measured.get("untuned"), measured.get("tuned")
    if untuned is not None and tuned is not None:
        agent["speedup"] = untuned.summary()["median"] / max(tuned.summary()["median"], 1e-12)
    note = result.note if result.ran_here else f"built here, {where}"
    updated = replace(result, note=note, extra={**result.extra, "agent": agent})
    (result.out / "compile.json").write_text(json.dumps(updated.to_dict(), indent=2) + "\n", encoding="utf-8")
    return updated
