"""Kill a search with SIGKILL mid-way, resume it, and compare with a search never killed.

    python benchmarks/kill_resume.py [--budget 10] [--epochs 2] [--kill-after 5] [--seed 0] [--data DIR]

Runs ``edgenas search`` three times in fresh processes (reference; killed; ``--resume``) in a
temporary folder and prints, per trial, whether the resumed search stored the same architecture,
state and validation accuracy as the reference. Exit status 1 if anything differs.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fault_injection import finished  # the benchmarks' shared helpers (run from the repository root)

from edgenas.store import SqliteStore
from edgenas.trial import TrialState


def search(out: Path, args: argparse.Namespace, *extra: str) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "edgenas.cli",
        "search",
        "--budget",
        str(args.budget),
        "--epochs",
        str(args.epochs),
        "--seed",
        str(args.seed),
        "--out",
        str(out),
        "--json",
        *extra,
    ]
    if args.data:
        cmd += ["--data", args.data]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--kill-after", type=int, default=5, help="finished search trials before the SIGKILL")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        reference, killed = Path(tmp) / "reference", Path(tmp) / "killed"
        t0 = time.perf_counter()
        search(reference, args).wait()
        reference_s = time.perf_counter() - t0

        proc = search(killed, args)
        while finished(killed / "trials.db") < args.kill_after and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with SqliteStore(killed / "trials.db", read_only=True) as store:
            at_kill = store.trials(role="search")
        kept = sum(t.state is not TrialState.RUNNING for t in at_kill)
        running = [t.number for t in at_kill if t.state is TrialState.RUNNING]
        search(killed, args, "--resume").wait()

        with SqliteStore(reference / "trials.db", read_only=True) as a, SqliteStore(killed / "trials.db", read_only=True) as b:
            ref, got = a.trials(), b.trials()
    print(
        f"reference search: {reference_s:.0f} s; SIGKILL after {kept} finished search trials "
        f"(running at the kill: {running or 'none'})"
    )
    print(f"{'trial':>6} {'state':>11} {'val acc':>8}  same arch/state/accuracy after resume")
    same_all = len(ref) == len(got)
    for r, g in zip(ref, got, strict=False):
        same = (r.number, r.arch, r.state, r.accuracy) == (g.number, g.arch, g.state, g.accuracy)
        same_all &= same
        acc = "" if r.accuracy is None else f"{100 * r.accuracy:.2f}%"
        print(f"{r.number:>6} {r.state.value:>11} {acc:>8}  {'yes' if same else 'NO'}")
    print(f"trials: reference {len(ref)}, resumed {len(got)}; identical: {'yes' if same_all else 'NO'}")
    return 0 if same_all else 1


if __name__ == "__main__":
    sys.exit(main())
