"""Compiled libraries on the agent: checked as the device's own shared objects, then timed in a child process.

A TVM library is machine code, so the agent runs one only where its owner allowed it
(``serve --runtimes tvm --allow-native-code``) and never in its own process:

- a library that crashes (a segfault in its constructors or kernels) ends the child, and the
  client gets a ``400`` saying so while the agent keeps serving;
- a process cannot safely unload a shared object, so each upload's library leaves with its child
  instead of piling up in the agent;
- TVM's thread pool is sized per process, so one request's ``threads`` never leaks into the next;
- the child's peak resident memory is the runtime, the library and its buffers, with nothing of
  the agent's own mixed in.

Before any of that, the file's ELF header must say it is a shared object built for this machine:
a library cross-compiled for another architecture is refused with both names, in one line.

The child is ``python -m edgenas.agent.native JOB RESULT``: the job and its result are JSON files
in the request's private folder, so nothing the library prints on stdout can be mistaken for the
answer.
"""

from __future__ import annotations

import json
import platform
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgenas.agent.protocol import TensorSpec, inputs_to_dict
from edgenas.errors import EdgenasError, InvalidInputError
from edgenas.measure.base import Measurement, OpTime

#: How long one library may take to load, run its warm-up and timed runs, and be profiled.
NATIVE_TIMEOUT_S = 600.0
#: ELF ``e_machine`` codes of the architectures edgenas cross-compiles for, and their usual names.
ELF_MACHINES = {3: "x86 (32-bit)", 40: "arm (32-bit)", 62: "x86_64", 183: "aarch64", 243: "riscv"}
_ET_DYN = 3


def elf_machine_of(arch: str) -> int | None:
    """The ELF ``e_machine`` code of an architecture as ``platform.machine()`` or a target triple's
    first part names it (``aarch64``, ``armv7l``, ``arm``, ``thumbv7em``, ``x86_64``); ``None``: unknown."""
    name = arch.lower()
    if name in ("aarch64", "arm64"):
        return 183
    if name.startswith(("arm", "thumb")):
        return 40
    if name in ("x86_64", "amd64"):
        return 62
    if name in ("i386", "i486", "i586", "i686", "x86"):
        return 3
    if name.startswith("riscv"):
        return 243
    return None


def check_library(path: Path, machine: str | None = None) -> None:
    """Refuse a file that is not an ELF shared object this device can load (one line, before it is opened)."""
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        raise InvalidInputError("the upload is not a compiled library (no ELF header): send the .so that edgenas compile wrote")
    bits = {1: 32, 2: 64}.get(head[4])
    order = {1: "<", 2: ">"}.get(head[5])
    if bits is None or order is None:
        raise InvalidInputError("the upload's ELF header is damaged (unknown class or byte order)")
    e_type, e_machine = struct.unpack(f"{order}HH", head[16:20])
    if e_type != _ET_DYN:
        raise InvalidInputError("the upload is an ELF file but not a shared library: send the .so edgenas compile wrote")
    here = (machine or platform.machine()).lower()
    built_for = ELF_MACHINES.get(e_machine, f"ELF machine {e_machine}")
    wanted = elf_machine_of(here)
    host_bits = struct.calcsize("P") * 8
    if wanted is not None and (e_machine != wanted or (machine is None and bits != host_bits)):
        raise InvalidInputError(
            f"the library was built for {built_for} ({bits}-bit); this device is {here}: "
            f"compile it with a --target for this device (docs/compile.md)"
        )


def measure_library(
    path: Path,
    inputs: dict[str, TensorSpec],
    *,
    threads: int,
    warmup: int,
    repeats: int,
    timeout_s: float = NATIVE_TIMEOUT_S,
) -> tuple[Measurement, float | None]:
    """Time a TVM library in a child process (see the module docstring); ``(measurement, peak RSS MiB)``.

    Any way the child ends without an answer (a crash, a timeout, an error) is one
    :class:`InvalidInputError` saying which; the uploaded file's folder is the caller's to remove.
    """
    job = path.with_name("job.json")
    result = path.with_name("result.json")
    job.write_text(
        json.dumps(
            {"library": str(path), "inputs": inputs_to_dict(inputs), "threads": threads, "warmup": warmup, "repeats": repeats}
        ),
        encoding="utf-8",
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "edgenas.agent.native", str(job), str(result)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise InvalidInputError(f"the library did not finish its runs within {timeout_s:g} s; it was stopped") from None
    if done.returncode < 0:
        name = _signal_name(-done.returncode)
        raise InvalidInputError(f"the library crashed the TVM runtime ({name}); the agent is unharmed")
    try:
        answer = json.loads(result.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1][:200]
        raise InvalidInputError(f"the TVM runtime ended without an answer (exit {done.returncode}: {last})") from None
    if not answer.get("ok"):
        raise InvalidInputError(str(answer.get("error", "the TVM runtime failed on this library"))[:400])
    return _measurement(answer), answer.get("peak_rss_mb")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _measurement(d: dict[str, Any]) -> Measurement:
    return Measurement(
        backend="tvm",
        model="uploaded library",
        threads=int(d["threads"]),
        warmup=int(d["warmup"]),
        times_ms=tuple(float(t) for t in d["times_ms"]),
        ops=tuple(OpTime(str(o[0]), str(o[1]), float(o[2]), float(o[3])) for o in d["ops"]),
        ops_note=d.get("ops_note"),
        input_shape=tuple(int(x) for x in d["input_shape"]),
        cpu_times_ms=tuple(float(t) for t in d["cpu_times_ms"]),
    )


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    """In the child: load the library into a Relax VM, time it with the protocol of ``edgenas profile``."""
    from edgenas.agent.protocol import parse_inputs
    from edgenas.compile.tvm import measure
    from edgenas.measure.base import random_feeds

    specs = parse_inputs(job["inputs"])
    feeds = random_feeds({name: (s.shape, s.dtype) for name, s in specs.items()}, 0, "the library")
    m, _ = measure(
        Path(job["library"]),
        feeds,
        backend="tvm",
        threads=int(job["threads"]),
        warmup=int(job["warmup"]),
        repeats=int(job["repeats"]),
        label="uploaded library",
    )
    return {
        "ok": True,
        "threads": m.threads,
        "warmup": m.warmup,
        "times_ms": list(m.times_ms),
        "cpu_times_ms": list(m.cpu_times_ms),
        "ops": [[o.name, o.op_type, o.ms_per_run, o.calls_per_run] for o in m.ops],
        "ops_note": m.ops_note,
        "input_shape": list(m.input_shape),
        "peak_rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (``VmHWM``), MiB; ``None`` where the system does not say."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return None


def main(argv: list[str]) -> int:
    job_path, result_path = Path(argv[0]), Path(argv[1])
    try:
        answer = _run_job(json.loads(job_path.read_text(encoding="utf-8")))
    except EdgenasError as exc:
        answer = {"ok": False, "error": " ".join(str(exc).split())}
    except Exception as exc:  # TVM's own errors: a library that loads but does not run on these inputs
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        reason = (lines[-1] if lines else type(exc).__name__)[:200]
        answer = {"ok": False, "error": f"the TVM runtime failed on this library ({reason})"}
    result_path.write_text(json.dumps(answer), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
