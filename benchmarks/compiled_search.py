"""A small ``edgenas search --latency compiled --compiler tvm`` on this host: what compiling every
candidate costs, and how much of its tuning the shared MetaSchedule database serves.

The task is ``images`` on a synthetic folder of grey 10x10 images in three classes (the mbconv
space's micro vocabulary); candidates are scored by the zero-cost ``params`` proxy, so the time
is the compiler's, not training's. Every candidate is compiled with TVM, tuned with
``--tune-trials-per-candidate`` trials for its workloads the database has no record of, and timed
here (one thread). Prints, and writes to results/compiled_search.{json,md}: the compile time per
candidate over the first and the last third of the search, and the share of tuning tasks whose
records an earlier candidate had made.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/compiled_search.py [--budget 8] [--trials 4] [--seed 0]

The run folder goes to a temporary folder (``--out`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def grey_images(root: Path, size: int = 10, per_class: int = 8) -> Path:
    """``root/{dark,mid,light}/<i>.png``: three classes of grey images told apart by brightness."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(("dark", "mid", "light")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(40 + 80 * c + rng.integers(-30, 30, (size, size)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "L").save(root / name / f"{i}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=8, help="candidates (the baseline is compiled too)")
    parser.add_argument("--trials", type=int, default=4, help="--tune-trials-per-candidate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep the run folder here")
    args = parser.parse_args()

    from edgenas.workflows.search import SearchConfig, run_search

    with tempfile.TemporaryDirectory(prefix="edgenas-compiled-search-") as tmp:
        out = args.out or Path(tmp) / "run"
        config = SearchConfig(
            task="images",
            data=grey_images(Path(tmp) / "images"),
            evaluator="zerocost:params",
            strategy="random",
            budget=args.budget,
            epochs=1,
            seed=args.seed,
            out=out,
            export=False,
            latency_ms=None,
            sram_kb=None,
            target="host",
            latency="compiled",
            compiler="tvm",
            tune_trials_per_candidate=args.trials,
        )
        started = time.perf_counter()
        summary = run_search(config, status=print).summary
        wall = time.perf_counter() - started
        records = json.loads((out / "compiled_latency.json").read_text())["latency_ms_by_arch"]
    compiled = summary["compiled"]
    rows = sorted(records.values(), key=lambda r: r["order"])
    result = {"budget": args.budget, "trials_per_candidate": args.trials, "seed": args.seed, "wall_s": wall,
              "compiled": compiled, "candidates": rows}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compiled_search.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    per, share = compiled["compile_s_per_candidate"], compiled.get("reused_share") or {}

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f} %"

    lines = [
        "# `search --latency compiled --compiler tvm`: compile time and tuning reuse over a search",
        "",
        f"`benchmarks/compiled_search.py --budget {args.budget} --trials {args.trials} --seed {args.seed}`: "
        f"images task (grey 10x10, mbconv micro), zero-cost `params` scores, one thread, search wall {wall:.0f} s.",
        "",
        "| # | compile s | tune s | tasks | reused | new records | latency ms (TVM, measured) |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['order']} | {r['compile_s']:.1f} | {r['tune_s']:.1f} | {int(r['tasks'])} | {int(r['reused_tasks'])} | "
            f"{int(r['new_records'])} | {r['latency_ms']:.3f} |"
            for r in rows
        ),
        "",
        f"Compile time a candidate: {per['all']:.1f} s on average, {per['first_third']:.1f} s over the first third, "
        f"{per['last_third']:.1f} s over the last. Tasks served by the shared database: {pct(share.get('all'))} "
        f"({pct(share.get('first_third'))} over the first third, {pct(share.get('last_third'))} over the last).",
        "",
    ]
    (RESULTS / "compiled_search.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
