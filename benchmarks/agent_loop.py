"""The hardware-in-the-loop cycle on one agent: collect, fit, search with the predictor, measure the finalists.

    python benchmarks/agent_loop.py [--n 80] [--train-size 60] [--budget 12] [--latency-ms 0.045]

Starts ``edgenas agent serve`` pinned to core 1 (loopback), then, pinned to core 0:
``edgenas predictor collect`` measures ``--n`` kws architectures spread over MACs on the agent,
``edgenas predictor fit`` fits an lgbm predictor on ``--train-size`` of them (held-out metrics on
the rest), and ``edgenas search --latency predicted --predictor P.json --agent URL`` ranks a KWS
search by the predictor under ``--latency-ms`` and has its finalists measured on the agent. Prints
the predictor's held-out error and, for each finalist, the predicted against the measured latency.
Every latency here is this machine's (the agent runs on it), in ms per inference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local_agent import local_agent, pinned


def _edgenas(*args: str) -> dict:
    done = subprocess.run([*pinned(0), sys.executable, "-m", "edgenas.cli", *args, "--json"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"edgenas {args[0]} failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=80)
    parser.add_argument("--train-size", type=int, default=60)
    parser.add_argument("--budget", type=int, default=12)
    parser.add_argument("--latency-ms", type=float, default=0.045)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="edgenas-agent-loop-"))
    with local_agent(folder, core=1) as agent:
        url, token = agent.url, agent.token_file
        table, predictor, run = folder / "kws_vm.csv", folder / "p.json", folder / "run"
        start = time.perf_counter()
        _edgenas("predictor", "collect", "--agent", url, "--token-file", str(token), "--space", "kws", "--n", str(args.n),
                 "--out", str(table), "--device-name", "vm")  # fmt: skip
        collect_s = time.perf_counter() - start
        fitted = _edgenas("predictor", "fit", "--space", "kws", "--latency-table", str(table), "--device", "vm",
                          "--train-size", str(args.train_size), "--kind", "lgbm", "--out", str(predictor))  # fmt: skip
        start = time.perf_counter()
        summary = _edgenas("search", "--budget", str(args.budget), "--epochs", "1", "--train-subset", "800",
                           "--latency-ms", str(args.latency_ms), "--latency", "predicted", "--predictor", str(predictor),
                           "--agent", url, "--agent-token-file", str(token), "--out", str(run))  # fmt: skip
        search_s = time.perf_counter() - start

    held = fitted["held_out"]
    print(f"collect: {args.n} kws architectures measured on the agent in {collect_s:.0f} s")
    print(
        f"fit: lgbm on {args.train_size}, held out {held['n']}: MAPE {100 * held['mape']:.1f} %, "
        f"within 10 % {100 * held['within_10pct']:.0f} %, Spearman {held['spearman']:.3f}"
    )
    print(f"search: --budget {args.budget} --latency-ms {args.latency_ms} ranked by the predictor, {search_s:.0f} s")
    print()
    print("| finalist | predicted ms | measured on the agent ms | error |")
    print("|---|---:|---:|---:|")
    for name in ("best", "baseline"):
        record = summary.get(name)
        if record and record.get("device_latency_ms"):
            predicted, measured = record["latency_ms"], record["device_latency_ms"]
            print(f"| {name} | {predicted:.4f} | {measured:.4f} | {100 * (predicted - measured) / measured:+.1f} % |")


if __name__ == "__main__":
    main()
