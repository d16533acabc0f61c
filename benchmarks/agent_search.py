"""A keyword-spotting search whose latencies an agent measures, against the same models timed directly.

    python benchmarks/agent_search.py [--budget 12] [--epochs 1] [--train-subset 800] [--seed 0]
        [--runtime onnxruntime|litert|litert-no-xnnpack]

Starts ``edgenas agent serve`` as its own process pinned to one core (``taskset -c 1``, loopback),
runs ``edgenas search --latency measured --agent URL`` pinned to the other core (``taskset -c 0``),
then stops the agent and times every candidate it measured directly, in this process pinned to the
agent's core, with the same protocol (the same runtime on the same export: ONNX, or int8 TFLite for
LiteRT; 1 thread, 10 warm-up runs, 50 timed, median).
Prints one row per candidate (agent ms, direct ms, ratio) and the summary: median and spread of the
ratio, Spearman's rank correlation. Both are measurements on this machine; the agent adds an HTTP
upload and a fresh runtime session per candidate, not to the timed runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from local_agent import local_agent, pinned
from scipy.stats import spearmanr

from edgenas.agent.loop import export_candidate
from edgenas.measure import measure_model
from edgenas.spaces import space_from_config
from edgenas.store import SqliteStore
from edgenas.trial import TrialState


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-subset", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runtime", default="onnxruntime", help="--agent-runtime of the search")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="edgenas-agent-search-"))
    with local_agent(folder, core=1) as agent:
        run = folder / "run"
        start = time.perf_counter()
        search = subprocess.run(
            [*pinned(0), sys.executable, "-m", "edgenas.cli", "search", "--budget", str(args.budget), "--epochs",
             str(args.epochs), "--train-subset", str(args.train_subset), "--seed", str(args.seed), "--latency", "measured",
             "--agent", agent.url, "--agent-token-file", str(agent.token_file), "--agent-runtime", args.runtime,
             "--out", str(run), "--json"],
            capture_output=True, text=True,
        )  # fmt: skip
        search_s = time.perf_counter() - start
        if search.returncode != 0:
            sys.exit(f"the search failed ({search.returncode}): {search.stderr.strip().splitlines()[-1:]}")

    cache = json.loads((run / "measured_latency.json").read_text())
    by_key = cache["latency_ms_by_arch"]
    with SqliteStore(run / "trials.db", read_only=True) as store:
        config = store.read_config() or {}
        archs = {t.arch.key(): t.arch for t in store.trials() if t.state is not TrialState.INFEASIBLE}
    space = space_from_config(config)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the core the agent ran on
    rows = []
    for key, record in by_key.items():
        if key in archs:
            with tempfile.TemporaryDirectory() as tmp:
                model = export_candidate(space, archs[key], args.runtime, Path(tmp))
                direct = measure_model(model, args.runtime, threads=1, warmup=10, repeats=50, per_op=False)
            rows.append((key, float(record["latency_ms"]), float(np.median(direct.times_ms))))
    agent_ms = np.array([r[1] for r in rows])
    direct_ms = np.array([r[2] for r in rows])
    ratio = agent_ms / direct_ms
    print(f"KWS search, --budget {args.budget} --epochs {args.epochs} --train-subset {args.train_subset} --seed {args.seed} "
          f"--agent-runtime {args.runtime}: "
          f"{search_s:.0f} s; measured by {cache['backend']}")  # fmt: skip
    print()
    print("| candidate | agent ms | direct ms | agent / direct |")
    print("|---|---:|---:|---:|")
    for (key, a, d), r in zip(rows, ratio, strict=True):
        print(f"| {key[:40]} | {a:.3f} | {d:.3f} | {r:.3f} |")
    rho = spearmanr(agent_ms, direct_ms).statistic if len(rows) > 2 else float("nan")
    print()
    print(
        f"{len(rows)} candidates measured; agent/direct ratio median {np.median(ratio):.3f} "
        f"(min {ratio.min():.3f}, max {ratio.max():.3f}); Spearman {rho:.3f}"
    )


if __name__ == "__main__":
    main()
