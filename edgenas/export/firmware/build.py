"""Build and run a bundle's front-end check: on this machine with the host C compiler, and for the
Cortex-M7 with ``arm-none-eabi-gcc``, run in QEMU's ``mps2-an500`` board over semihosting.

What the board build measures comes from the toolchain itself: the front end's code and table
size from ``arm-none-eabi-size`` on its two objects, and its stack from GCC's own per-function
figures (``-fstack-usage``) summed along the deepest call chain of its call graph
(``-fcallgraph-info=su``). Library functions (``logf``, ``rintf``) have no figure there and are
named as such.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgenas.errors import InvalidInputError
from edgenas.export.firmware.frontend import training_front_end
from edgenas.tasks.audio import FrontEnd

ARM_CC = "arm-none-eabi-gcc"
ARM_SIZE = "arm-none-eabi-size"
QEMU = "qemu-system-arm"
#: The Cortex-M7 with its double-precision FPU (as on STM32F7/H7), hard-float calling convention.
M7_FLAGS = ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb", "-O2")
ARM_PACKAGES = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
FRONTEND_SOURCES = ("frontend.c", "frontend_tables.c")
_CHECK_SOURCES = ("model_settings.c", "check/frontend_check.c")
#: The entry point whose deepest call chain is the front end's stack.
STACK_ROOT = "edgenas_fe_clip"


@dataclass(frozen=True)
class CheckRun:
    """What a front-end check computed: per clip the float32 MFCCs and the model's int8 input."""

    features: np.ndarray  # (clips, frames, mfcc) float32
    quantised: np.ndarray  # (clips, frames, mfcc) int8
    console: str


@dataclass(frozen=True)
class ArmBuild:
    """The front-end check built for the Cortex-M7, and what the front end itself costs there."""

    elf: Path
    code_bytes: int  # .text of the front end's objects: instructions
    table_bytes: int  # .rodata of frontend_tables.o: the constant tables (flash)
    ram_bytes: int  # .data + .bss of the front end's objects (0: the caller owns the work area)
    work_bytes: int  # sizeof(edgenas_fe_work): the caller's scratch
    stack_bytes: int  # deepest chain from edgenas_fe_clip, library calls not counted
    stack_chain: tuple[str, ...]
    unmeasured: tuple[str, ...]  # functions on the chains without a stack figure (library code)


def require(tool: str, install: str) -> str:
    """The path of ``tool``, or a one-line error saying which Debian packages provide it."""
    path = shutil.which(tool)
    if path is None:
        raise InvalidInputError(f"{tool} not found: the firmware front-end check needs it ({install})")
    return path


def _run(command: list[str], cwd: Path, timeout: float, what: str) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            command, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise InvalidInputError(f"{what} did not finish in {timeout:.0f} s") from None
    if done.returncode != 0:
        first = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[0]
        raise InvalidInputError(f"{what} failed: {first[:200]}")
    return done


def build_host(bundle: Path, out: Path, compiler: str = "cc") -> Path:
    """The front-end check compiled for this machine (C99, -O2, warnings are errors)."""
    cc = require(compiler, "apt-get install gcc")
    out.mkdir(parents=True, exist_ok=True)
    exe = out / "frontend_check"
    sources = [*FRONTEND_SOURCES, *_CHECK_SOURCES, "check/io_host.c"]
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I.", "-Icheck"]
    _run([cc, *flags, *sources, "-lm", "-o", str(exe.resolve())], bundle, 120, "the host build of the front end")
    return exe


def build_m7(bundle: Path, out: Path, front: FrontEnd | None = None) -> ArmBuild:
    """The front-end check for the Cortex-M7 of QEMU's mps2-an500, with the front end's size and stack."""
    cc = require(ARM_CC, ARM_PACKAGES)
    size = require(ARM_SIZE, ARM_PACKAGES)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    flags = ["-std=c99", *M7_FLAGS, "-ffunction-sections", "-Wall", "-Wextra", "-Werror", "-I.", "-Icheck"]
    objects = []
    for source in FRONTEND_SOURCES:  # compiled alone: their sizes and stack figures are the front end's
        obj = out / (Path(source).stem + ".o")
        _run(
            [cc, *flags, "-fstack-usage", "-fcallgraph-info=su", "-c", source, "-o", str(obj)],
            bundle,
            120,
            f"{ARM_CC} on {source}",
        )
        objects.append(obj)
    elf = out / "frontend_check.elf"
    sources = [*_CHECK_SOURCES, "check/io_semihost.c", "check/startup_mps2.c"]
    link = ["-nostartfiles", "--specs=nosys.specs", "-Tcheck/mps2_an500.ld", "-Wl,--gc-sections"]
    _run([cc, *flags, *sources, *map(str, objects), *link, "-lm", "-o", str(elf)], bundle, 120, f"{ARM_CC} (link)")
    sections = _section_sizes(size, objects, bundle)
    graph = _call_graph(out)
    chain, depth, unmeasured = _deepest(graph, STACK_ROOT)
    front = training_front_end(front)
    work = 4 * (front.fft_points + front.fft_points // 2 + 1 + front.mel_bands)
    return ArmBuild(
        elf=elf,
        code_bytes=sections["text"],
        table_bytes=sections["rodata"],
        ram_bytes=sections["data"] + sections["bss"],
        work_bytes=work,
        stack_bytes=depth,
        stack_chain=chain,
        unmeasured=unmeasured,
    )


def _section_sizes(size_tool: str, objects: list[Path], cwd: Path) -> dict[str, int]:
    """Bytes per kind of section over ``objects`` (``size -A``: code, constant tables, data, bss)."""
    totals = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for obj in objects:
        listing = _run([size_tool, "-A", str(obj)], cwd, 30, ARM_SIZE).stdout
        for line in listing.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
                kind = parts[0].split(".")[1]
                if kind in totals:
                    totals[kind] += int(parts[1])
    return totals


_NODE = re.compile(r'node:\s*\{\s*title:\s*"([^"]+)"\s*label:\s*"([^"]*)"')
_EDGE = re.compile(r'edge:\s*\{\s*sourcename:\s*"([^"]+)"\s*targetname:\s*"([^"]+)"')
_BYTES = re.compile(r"(\d+) bytes \((static|dynamic|bounded)")


@dataclass(frozen=True)
class _Graph:
    stack: dict[str, int | None]  # None: no figure (a function defined elsewhere)
    calls: dict[str, list[str]]


def _call_graph(folder: Path) -> _Graph:
    """The call graph and per-function stack that ``-fcallgraph-info=su`` wrote (``*.ci``)."""
    stack: dict[str, int | None] = {}
    calls: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.ci")):
        text = path.read_text()
        for title, label in _NODE.findall(text):
            found = _BYTES.search(label)
            name = title.split(":")[-1]
            if found or name not in stack:
                stack[name] = int(found.group(1)) if found else None
        for source, target in _EDGE.findall(text):
            calls.setdefault(source.split(":")[-1], []).append(target.split(":")[-1])
    if not stack:
        raise InvalidInputError(f"{ARM_CC} wrote no call graph (-fcallgraph-info needs GCC 10 or later)")
    return _Graph(stack, calls)


def _deepest(graph: _Graph, root: str) -> tuple[tuple[str, ...], int, tuple[str, ...]]:
    """The call chain from ``root`` with the largest summed stack (the graph is acyclic here)."""
    unmeasured: set[str] = set()

    def walk(name: str, seen: frozenset[str]) -> tuple[int, tuple[str, ...]]:
        own = graph.stack.get(name)
        if own is None:
            unmeasured.add(name)
        best: tuple[int, tuple[str, ...]] = (0, ())
        for callee in graph.calls.get(name, []):
            if callee not in seen:
                best = max(best, walk(callee, seen | {callee}))
        return (own or 0) + best[0], (name, *best[1])

    if root not in graph.stack:
        raise InvalidInputError(f"the call graph has no {root}")
    depth, chain = walk(root, frozenset({root}))
    return chain, depth, tuple(sorted(unmeasured))


def run_host(
    exe: Path, clips: np.ndarray, workdir: Path, expected: np.ndarray | None = None, front: FrontEnd | None = None
) -> CheckRun:
    """Run the host build on ``clips`` (int16, (N, clip samples)); ``front``: the bundle's (default: training's default)."""
    return _run_check([str(exe.resolve())], clips, workdir, expected, 120, "the front-end check", front)


def run_qemu(
    elf: Path,
    clips: np.ndarray,
    workdir: Path,
    expected: np.ndarray | None = None,
    timeout: float = 600,
    front: FrontEnd | None = None,
) -> CheckRun:
    """Run the Cortex-M7 build in QEMU's mps2-an500 board; files go through semihosting."""
    qemu = require(QEMU, "apt-get install qemu-system-arm")
    command = [qemu, "-M", "mps2-an500", "-nographic", "-semihosting-config", "enable=on,target=native"]
    return _run_check([*command, "-kernel", str(elf.resolve())], clips, workdir, expected, timeout, "QEMU (mps2-an500)", front)


def _run_check(
    command: list[str],
    clips: np.ndarray,
    workdir: Path,
    expected: np.ndarray | None,
    timeout: float,
    what: str,
    front: FrontEnd | None = None,
) -> CheckRun:
    front = training_front_end(front)
    clips = np.asarray(clips, dtype=np.int16)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "clips.bin").write_bytes(clips.astype("<i2").tobytes())
    reference = workdir / "expected.bin"
    if expected is not None:
        reference.write_bytes(np.asarray(expected, dtype="<f4").tobytes())
    elif reference.exists():
        reference.unlink()
    done = _run(command, workdir, timeout, what)
    per_clip = front.frames * front.mfcc
    record = np.dtype([("features", "<f4", (front.frames, front.mfcc)), ("quantised", "i1", (front.frames, front.mfcc))])
    raw = (workdir / "features.bin").read_bytes()
    if len(raw) != len(clips) * per_clip * 5:
        raise InvalidInputError(f"{what} wrote {len(raw)} B of features for {len(clips)} clips")
    records = np.frombuffer(raw, dtype=record)
    return CheckRun(records["features"].astype(np.float32), records["quantised"].astype(np.int8), done.stdout)
