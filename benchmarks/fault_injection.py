"""Faults a search must survive: SIGKILL at random instants, a deleted ``-wal``, a full disk.

    python benchmarks/fault_injection.py [--points 20] [--seed 0] [--budget 4] [--epochs 1]
        [--fsize-kb 200] [--no-wal-case] [--no-disk-case] [--timeout 600]

A short search (``--task images`` on generated grey images, ``npu-int8``, random strategy) runs
once uninterrupted as the reference. Then, each in a fresh run folder:

- ``kill``: the search is SIGKILLed at a random instant of the reference's duration (seeded), so
  the kills fall during data preparation, training, the store's writes and the export alike;
- ``wal``: the search is SIGKILLed once it has stored trials, and ``trials.db-wal`` and
  ``trials.db-shm`` are deleted (a copy of ``trials.db`` alone);
- ``disk``: the search runs under ``RLIMIT_FSIZE`` (``--fsize-kb``; no file may grow past it, the
  kernel answering EFBIG as a full disk answers ENOSPC; a size-limited tmpfs would need root),
  so the model export fails; it must exit 2 with one line and no traceback.

Each is then continued as the messages say, with ``--resume`` (or started again when no store
was created). The table counts, per case, the trials lost (reference trials not stored
identically at the end: architecture, state, validation accuracy; goal 0) and whether the run
needed a manual step (a recovery that failed or anything beyond ``--resume``; goal 0).
Exit status 1 if any trial was lost or any run needed a manual step.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgenas.store import SqliteStore
from edgenas.trial import Trial, TrialState


def search_command(out: Path, options: list[str], *extra: str) -> list[str]:
    """``edgenas search`` in a fresh interpreter, with ``options`` and ``extra`` flags."""
    return [sys.executable, "-m", "edgenas.cli", "search", *options, "--out", str(out), "--json", *extra]


def stored(db: Path) -> list[Trial]:
    """The trials in a store (read-only: never disturbs a search writing it); [] when absent or unreadable."""
    if not db.exists():
        return []
    try:
        with SqliteStore(db, read_only=True) as store:
            return store.trials()
    except Exception:  # noqa: BLE001 - a store caught mid-creation reads as empty
        return []


def finished(db: Path) -> int:
    """Finished (not RUNNING) search trials in a store."""
    return sum(t.state is not TrialState.RUNNING and t.role == "search" for t in stored(db))


def lost_trials(reference: list[Trial], got: list[Trial]) -> int:
    """Reference trials not stored identically (number, architecture, state, validation accuracy)."""
    have = {(t.number, t.role): t for t in got}
    lost = 0
    for r in reference:
        g = have.get((r.number, r.role))
        lost += g is None or (r.arch, r.state, r.accuracy) != (g.arch, g.state, g.accuracy)
    return lost


def grey_images(root: Path) -> Path:
    """Three classes of 10 px grey images told apart by brightness (the task's smallest data)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(("dark", "mid", "light")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(8):
            pixels = np.clip(40 + 80 * c + rng.integers(-30, 30, (10, 10)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "L").save(root / name / f"{i}.png")
    return root


@dataclass
class Case:
    name: str
    at: str = ""  # when the fault came
    phase: str = ""  # the search's last status line then
    kept: int = 0  # finished trials in the store after the fault
    fault_rc: int | None = None
    recovery: str = ""
    recovery_rc: int | None = None
    lost: int = 0
    manual: str = ""  # why a person would have had to step in ("" = nothing)


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:60] if lines else "(nothing printed)"


def _run(cmd: list[str], err: Path, timeout: float, fsize: int | None = None) -> subprocess.Popen:
    def limits() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    with err.open("w") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=handle, preexec_fn=limits)


def _recover(case: Case, out: Path, options: list[str], reference: list[Trial], work: Path, timeout: float) -> None:
    """Continue as the messages say: --resume where a store exists, else start again; then count."""
    resume = (out / "trials.db").exists()
    case.recovery = "--resume" if resume else "start again"
    err = work / f"{case.name}-recover.err"
    proc = _run(search_command(out, options, *(["--resume"] if resume else [])), err, timeout)
    try:
        case.recovery_rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        case.recovery_rc = proc.wait()
    text = err.read_text(errors="replace")
    if case.recovery_rc != 0:
        case.manual = f"recovery exit {case.recovery_rc}: {_last_line(err)}"
    elif "Traceback" in text:
        case.manual = "traceback during recovery"
    case.lost = lost_trials(reference, stored(out / "trials.db"))


def kill_case(name: str, out: Path, options: list[str], at_s: float, reference: list[Trial], work: Path, timeout: float) -> Case:
    case = Case(name, at=f"{at_s:.1f} s")
    err = work / f"{name}.err"
    proc = _run(search_command(out, options), err, timeout)
    deadline = time.perf_counter() + at_s
    while time.perf_counter() < deadline and proc.poll() is None:
        time.sleep(0.02)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    case.fault_rc = proc.wait()
    case.phase = "finished before the kill" if case.fault_rc == 0 else _last_line(err)
    case.kept = finished(out / "trials.db")
    _recover(case, out, options, reference, work, timeout)
    return case


def wal_case(out: Path, options: list[str], reference: list[Trial], work: Path, timeout: float) -> Case:
    """SIGKILL once two search trials are stored, then delete the WAL (a copy of trials.db alone)."""
    case = Case("wal", at="after 2 trials")
    err = work / "wal.err"
    proc = _run(search_command(out, options), err, timeout)
    while finished(out / "trials.db") < 2 and proc.poll() is None:
        time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    case.fault_rc = proc.wait()
    case.phase = _last_line(err)
    for suffix in ("-wal", "-shm"):
        (out / f"trials.db{suffix}").unlink(missing_ok=True)
    case.kept = finished(out / "trials.db")
    _recover(case, out, options, reference, work, timeout)
    return case


def disk_case(out: Path, options: list[str], fsize: int, reference: list[Trial], work: Path, timeout: float) -> Case:
    """The search under a file size limit: the export cannot be written; one line, exit 2, nothing truncated."""
    case = Case("disk", at=f"RLIMIT_FSIZE {fsize // 1024} KiB")
    err = work / "disk.err"
    proc = _run(search_command(out, options), err, timeout, fsize=fsize)
    case.fault_rc = proc.wait(timeout=timeout)
    text = err.read_text(errors="replace")
    case.phase = _last_line(err)
    case.kept = finished(out / "trials.db")
    problems = []
    if case.fault_rc != 2:
        problems.append(f"exit {case.fault_rc}, not 2")
    if "Traceback" in text:
        problems.append("traceback")
    if len([line for line in text.splitlines() if line.startswith("error:")]) != 1:
        problems.append("not one error line")
    truncated = [p.name for p in (out / "best").glob("*") if p.is_file() and p.stat().st_size >= fsize]
    if truncated:
        problems.append(f"files cut at the limit: {', '.join(truncated)}")
    _recover(case, out, options, reference, work, timeout)
    if problems:
        case.manual = "; ".join([*problems, case.manual] if case.manual else problems)
    return case


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20, help="random SIGKILL instants")
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill instants and the search")
    parser.add_argument("--budget", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--fsize-kb", type=int, default=200, help="the disk case's file size limit (below the model's size)")
    parser.add_argument("--no-wal-case", action="store_true")
    parser.add_argument("--no-disk-case", action="store_true")
    parser.add_argument("--timeout", type=float, default=600, help="seconds any one search may take")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="edgenas-faults-") as tmp:
        work = Path(tmp)
        data = grey_images(work / "imgs")
        options = [
            "--task", "images", "--data", str(data), "--target", "npu-int8", "--strategy", "random",
            "--budget", str(args.budget), "--epochs", str(args.epochs), "--seed", str(args.seed),
            "--latency-ms", "1000", "--sram-kb", "100000", "--flash-kb", "100000",
        ]  # fmt: skip
        t0 = time.perf_counter()
        proc = _run(search_command(work / "reference", options), work / "reference.err", args.timeout)
        if proc.wait(timeout=args.timeout) != 0:
            print(f"the reference search failed: {_last_line(work / 'reference.err')}")
            return 1
        reference_s = time.perf_counter() - t0
        reference = stored(work / "reference" / "trials.db")
        rng = random.Random(args.seed)
        instants = sorted(rng.uniform(0.3, reference_s) for _ in range(args.points))
        cases = [
            kill_case(f"kill-{i}", work / f"kill-{i}", options, at, reference, work, args.timeout)
            for i, at in enumerate(instants)
        ]
        if not args.no_wal_case:
            cases.append(wal_case(work / "wal", options, reference, work, args.timeout))
        if not args.no_disk_case:
            cases.append(disk_case(work / "disk", options, args.fsize_kb * 1024, reference, work, args.timeout))

    print(f"reference search: {reference_s:.0f} s, {len(reference)} trials (search and baseline); seed {args.seed}")
    print(
        f"{'case':8} {'fault':>20} {'exit':>5} {'kept':>4}  {'phase at the fault':60} {'recovery':11} {'exit':>4} "
        f"{'lost':>4}  manual step"
    )
    for c in cases:
        print(
            f"{c.name:8} {c.at:>20} {c.fault_rc!s:>5} {c.kept:>4}  {c.phase:60} {c.recovery:11} {c.recovery_rc!s:>4} "
            f"{c.lost:>4}  {c.manual or 'none'}"
        )
    lost = sum(c.lost for c in cases)
    manual = sum(bool(c.manual) for c in cases)
    print(f"cases: {len(cases)}; trials lost: {lost} (goal 0); runs needing a manual step: {manual} (goal 0)")
    return 0 if lost == 0 and manual == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
