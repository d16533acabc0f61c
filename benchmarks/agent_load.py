"""Does the measurement agent stay up and lean under a burst of requests on loopback?

Starts ``edgenas agent serve`` as its own process (loopback, no rate limit, so every request is
served), sends a fixed number of requests from ``--clients`` threads, each on its own keep-alive
connection (``GET /info`` by default; ``--measure-every K`` makes every K-th one a ``POST
/measure`` of a tiny ONNX model, 5 runs), then checks that the agent still answers and reads its
resident memory (``VmRSS``) before and after.

    python benchmarks/agent_load.py [--requests 1000 --clients 4 --measure-every 0] [--json]

Prints one table: requests, errors, wall time, requests/s, p50/p99 latency, RSS before/after.
Measured on this machine; the figures depend on the host and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

TOKEN = "benchmark-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _tiny_onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((64, 64), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 64])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--measure-every", type=int, default=0, help="every K-th request a POST /measure (0: none)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        token = Path(folder) / "token"
        token.write_text(TOKEN)
        token.chmod(0o600)
        model = _tiny_onnx(Path(folder) / "tiny.onnx")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "edgenas.cli", "agent", "serve", "--token-file", str(token), "--port", str(port)]
        proc = subprocess.Popen([*command, "--rate-limit", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("the agent did not start") from None
                    time.sleep(0.1)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(headers=headers, timeout=30) as http:  # warm up: lazy imports, first arenas
                for _ in range(20):
                    http.get(f"{url}/info")
            rss_before = _rss_kib(proc.pid)
            latencies: list[float] = []
            errors: list[str] = []
            lock = threading.Lock()
            counter = iter(range(args.requests))
            data = model.read_bytes()

            def worker() -> None:
                with httpx.Client(headers=headers, timeout=60) as http:
                    for i in counter:
                        t0 = time.perf_counter()
                        try:
                            if args.measure_every and i % args.measure_every == 0:
                                r = http.post(
                                    f"{url}/measure",
                                    files={"model": ("m.onnx", data)},
                                    data={"repeats": "5", "warmup": "1"},
                                )
                            else:
                                r = http.get(f"{url}/info")
                            ok = r.status_code == 200
                            what = f"HTTP {r.status_code}"
                        except httpx.HTTPError as exc:
                            ok, what = False, type(exc).__name__
                        dt = (time.perf_counter() - t0) * 1000
                        with lock:
                            latencies.append(dt)
                            if not ok:
                                errors.append(what)

            start = time.perf_counter()
            threads = [threading.Thread(target=worker) for _ in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - start
            rss_after = _rss_kib(proc.pid)
            still = httpx.get(f"{url}/info", headers=headers, timeout=10).status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    lat = np.asarray(latencies)
    row = {
        "requests": len(latencies),
        "clients": args.clients,
        "measure_every": args.measure_every,
        "errors": len(errors),
        "wall_s": wall,
        "requests_per_s": len(latencies) / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "max_ms": float(lat.max()),
        "rss_before_mib": rss_before / 1024,
        "rss_after_mib": rss_after / 1024,
        "still_answers": still,
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(row))
        return
    columns = ("requests", "clients", "errors", "wall s", "req/s", "p50 ms", "p99 ms", "max ms")
    print("| " + " | ".join(columns) + " | RSS before MiB | RSS after MiB | still answers |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    print(
        f"| {row['requests']} | {row['clients']} | {row['errors']} | {row['wall_s']:.2f} | {row['requests_per_s']:.0f} | "
        f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['max_ms']:.2f} | {row['rss_before_mib']:.1f} | "
        f"{row['rss_after_mib']:.1f} | {'yes' if still else 'no'} |"
    )
    if errors:
        print("errors:", ", ".join(sorted(set(errors))))


if __name__ == "__main__":
    main()
