"""A small ``edgenas search --latency compiled --compiler tvm --feedback-rounds R`` on this host: does the
latency model that prices each round learn from the tuned finalists of the rounds before?

The task is ``images`` on a synthetic folder of grey 10x10 images in three classes (the mbconv
space's micro vocabulary, as ``compiled_search.py``); candidates are scored by the zero-cost
``params`` proxy, so the time is the compiler's. The budget runs in ``--rounds`` rounds; at the
end of each, ``--finalists`` finalists are compiled, tuned with ``--trials`` MetaSchedule trials
(one database for the search) and timed here, and the model is refit. Prints, and writes to
results/compiled_feedback.{json,md}: per round the model's error on its finalists before the refit
(what it had learnt from earlier rounds only), the raw analytical estimate's error on them, and the
error after the refit; then the two candidate models (``loglinear``, ``ratio``) compared by
leave-one-out on every tuned finalist.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/compiled_feedback.py [--budget 24] [--rounds 3] [--finalists 3] [--trials 16]

The run folder goes to a temporary folder (``--out`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from compiled_search import grey_images  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--finalists", type=int, default=3)
    parser.add_argument("--trials", type=int, default=16, help="--tune-trials-per-finalist")
    parser.add_argument("--strategy", default="random")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep the run folder here")
    args = parser.parse_args()

    from edgenas.compile.calibration import loo_errors
    from edgenas.workflows.search import SearchConfig, run_search

    with tempfile.TemporaryDirectory(prefix="edgenas-compiled-feedback-") as tmp:
        out = args.out or Path(tmp) / "run"
        config = SearchConfig(
            task="images", data=grey_images(Path(tmp) / "images"), evaluator="zerocost:params", strategy=args.strategy,
            budget=args.budget, epochs=1, seed=args.seed, out=out, export=False, latency_ms=None, sram_kb=None,
            target="host", latency="compiled", compiler="tvm", feedback_rounds=args.rounds,
            finalists_per_round=args.finalists, tune_trials_per_finalist=args.trials,
        )  # fmt: skip
        started = time.perf_counter()
        summary = run_search(config, status=print).summary
        wall = time.perf_counter() - started
        record = json.loads(next(out.glob("compiled/tvm/*/feedback.json")).read_text())
    points = record["points"]
    estimate = np.array([p["estimate_ms"] for p in points])
    tuned = np.array([p["tuned_ms"] for p in points])
    loo = {kind: float(loo_errors(estimate, tuned, kind).mean()) for kind in ("loglinear", "ratio")} if len(points) > 2 else {}
    result = {"args": vars(args) | {"out": str(args.out)}, "wall_s": wall, "rounds": record["rounds"], "points": points,
              "loo_error": loo, "best": summary["best"]}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compiled_feedback.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f} %"

    lines = [
        "# `search --latency compiled --compiler tvm --feedback-rounds`: the model's error round by round",
        "",
        f"`benchmarks/compiled_feedback.py --budget {args.budget} --rounds {args.rounds} --finalists {args.finalists} "
        f"--trials {args.trials} --strategy {args.strategy} --seed {args.seed}`: images task (grey 10x10, mbconv micro), "
        f"zero-cost `params` scores, one thread, search wall {wall:.0f} s.",
        "",
        "| round | priced by | finalists | estimate ms (mean) | tuned ms (mean) | model error before refit | "
        "estimate error | model error after refit | compile s | tuning s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in record["rounds"]:
        rows = r["finalists"]
        est = np.mean([f["estimate_ms"] for f in rows]) if rows else float("nan")
        tun = np.mean([f["tuned_ms"] for f in rows]) if rows else float("nan")
        lines.append(
            f"| {r['round']} | {r['priced_by']} | {len(rows)} | {est:.3f} | {tun:.3f} | {pct(r['error_before'])} | "
            f"{pct(r['estimate_error'])} | {pct(r['error_after'])} | {r['compile_s']:.1f} | {r['tune_s']:.1f} |"
        )
    lines += ["", f"Final model: {record['priced_by']} (slope {record['model']['slope']:.3f}, "
              f"offset {record['model']['offset']:.3f} in log ms, penalty {record['model']['penalty']:g})."]  # fmt: skip
    if loo:
        lines.append(
            f"Leave-one-out mean error over the {len(points)} tuned finalists: log-log calibration {pct(loo['loglinear'])}, "
            f"ratio only {pct(loo['ratio'])}; the raw estimate {pct(float(np.mean(np.abs(estimate - tuned) / tuned)))}."
        )
    lines.append("")
    (RESULTS / "compiled_feedback.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
