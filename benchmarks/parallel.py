"""One keyword-spotting search, evaluated in one process, in two local workers, and on Ray.

    python benchmarks/parallel.py [--budget 16] [--epochs 2] [--batch 4] [--seed 0] [--out DIR] [--ray] [--ray-cluster]

Each configuration is the same ``edgenas search`` (a fresh process, one torch thread per training,
``--batch`` candidates asked per round), so the trials they store must be identical: the table
says whether they are, and the wall-clock time of the whole command and of its search stage
(candidate training only; the baseline and the finalists are trained in the driver in every
configuration). ``--ray`` adds the search through a local Ray instance; ``--ray-cluster`` starts a
two-node Ray cluster on this machine (``ray start``, ``RAY_AUTH_MODE=disabled``), runs the search
on it and kills the second node mid-search: the search must complete with every trial final.
Exit status 1 if any configuration stored other trials than the first.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgenas.store import SqliteStore
from edgenas.trial import TrialState


def search(out: Path, args: argparse.Namespace, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "edgenas.cli", "search", "--budget", str(args.budget), "--epochs", str(args.epochs),
           "--seed", str(args.seed), "--batch", str(args.batch), "--threads-per-trial", "1", "--out", str(out),
           "--json", *extra]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def trials(folder: Path) -> list[tuple]:
    with SqliteStore(folder / "trials.db") as store:
        return [(t.number, t.role, t.arch.genes, t.state.value, t.accuracy) for t in store.trials()]


def run(name: str, out: Path, args: argparse.Namespace, *extra: str, during=None) -> dict:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    proc = search(out, args, *extra)
    if during is not None:
        during(proc, out)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{name}: edgenas search exited {proc.returncode}\n{stderr[-3000:]}")
    summary = json.loads(stdout)
    done = trials(out)
    return {
        "name": name,
        "wall_s": wall,
        "search_s": summary["timing"]["stages_s"].get("search", float("nan")),
        "trained": sum(1 for t in done if t[1] == "search" and t[3] in ("complete", "fail")),
        "workers": sorted({w for w in _workers(out) if w}),
        "trials": done,
        "final": all(t[3] != TrialState.RUNNING.value for t in done),
    }


def _workers(folder: Path) -> list[str | None]:
    with SqliteStore(folder / "trials.db") as store:
        return [t.worker.split("-")[0] if t.worker else None for t in store.trials()]


def ray_cluster(root: Path) -> tuple[str, dict[str, str]]:
    """A head node and a second node on this machine; returns the address and the environment."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    port = "6390"
    ray = str(Path(sys.executable).with_name("ray"))
    subprocess.run([ray, "start", "--head", "--port", port, "--num-cpus", "1", "--include-dashboard", "false",
                    "--node-ip-address", "127.0.0.1", "--temp-dir", str(root / "head")], check=True, env=env,
                   capture_output=True)  # fmt: skip
    subprocess.run([ray, "start", "--address", f"127.0.0.1:{port}", "--num-cpus", "1", "--node-ip-address", "127.0.0.1",
                    "--temp-dir", str(root / "head")], check=True, env=env, capture_output=True)  # fmt: skip
    return f"127.0.0.1:{port}", env


def kill_second_node(after_trials: int):  # type: ignore[no-untyped-def]
    """Once ``after_trials`` trials are stored, SIGKILL the raylet of the node that is not the head."""

    def during(proc: subprocess.Popen, out: Path) -> None:
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            if (out / "trials.db").exists() and len([t for t in trials(out) if t[3] != "running"]) >= after_trials:
                break
            time.sleep(0.5)
        ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()
        raylets = [int(line.split()[0]) for line in ps if "raylet/raylet" in line]
        for pid in sorted(raylets)[1:]:  # the later raylet: the second node
            os.kill(pid, signal.SIGKILL)
        print(f"killed {len(raylets[1:])} raylet(s) of the second node after {after_trials} trials", file=sys.stderr)

    return during


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--ray", action="store_true", help="also through a local Ray instance")
    parser.add_argument("--ray-cluster", action="store_true", help="also on a two-node Ray cluster, one node killed")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="edgenas-parallel-"))
    rows = [
        run("1 process", root / "serial", args),
        run("2 local workers", root / "workers2", args, "--workers", "2"),
    ]
    if args.ray:
        rows.append(run("local Ray instance", root / "ray", args, "--executor", "ray"))
    if args.ray_cluster:
        address, _ = ray_cluster(root)
        os.environ["RAY_AUTH_MODE"] = "disabled"
        try:
            rows.append(run("2-node Ray, node 2 killed", root / "cluster", args, "--executor", "ray", "--ray-address", address,
                            during=kill_second_node(after_trials=6)))  # fmt: skip
        finally:
            subprocess.run([str(Path(sys.executable).with_name("ray")), "stop", "--force"], capture_output=True)
    reference = rows[0]
    print(f"KWS search: --budget {args.budget} --epochs {args.epochs} --batch {args.batch} --threads-per-trial 1, "
          f"seed {args.seed}; {os.cpu_count()} cores")  # fmt: skip
    print()
    head = ("configuration", "wall s", "search stage s", "speed-up (search)", "trained", "evaluated on", "same trials", "final")
    print("| " + " | ".join(head) + " |")
    print("|---|---:|---:|---:|---:|---|---|---|")
    same = True
    for row in rows:
        identical = row["trials"] == reference["trials"]
        same &= identical or row["name"].startswith("2-node")
        speedup = reference["search_s"] / row["search_s"]
        print(
            f"| {row['name']} | {row['wall_s']:.0f} | {row['search_s']:.0f} | {speedup:.2f}x | {row['trained']} | "
            f"{', '.join(row['workers'])} | {'yes' if identical else 'NO'} | {'yes' if row['final'] else 'NO'} |"
        )
    print(f"\nrun folders: {root}")
    return 0 if same and all(r["final"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
