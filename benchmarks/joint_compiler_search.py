"""Architecture and compiler choices searched together, against an architecture-only search, at
equal wall-clock, ranked by the latency of each front's networks once compiled *and tuned*.

Three steps, on this host, one thread:

1. **The choices change the build.** One small network is built with each compiler choice
   (``--compiler-choices`` values) and with TVM's defaults: the largest output difference from
   the default build and the latency of each.
2. **Two searches, the same seconds.** ``edgenas search --latency compiled --compiler tvm``
   with ``--time-limit T``, the same task, strategy, evaluator and seed: (a) the architecture
   alone (TVM's default build for every candidate), (b) with ``--compiler-choices``.
3. **Their fronts, tuned.** Every trial on each search's accuracy-latency front (validation
   accuracy up, its search-time compiled latency down) is compiled with its choices (defaults
   for (a)), MetaSchedule-tuned with a fixed budget from one database both share, and timed.

Reported (results/joint_compiler_search.{md,json}): the best validation accuracy of each search
under latency limits set on the tuned latencies (the 25th, 50th and 75th percentile of all tuned
front members), and how many of the architecture-only front stay on the front (i) of the union
of both fronts, by tuned latency, and (ii) of the architecture-only front re-ranked by tuned
latency. The task is a small synthetic image set (4 classes of noisy striped 16x16 images),
candidates scored by ``--evaluator`` (a zero-cost proxy by default, so the seconds go to the
compiler; ``train`` trains each for ``--epochs``), and "accuracy" above is that score.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/joint_compiler_search.py [--time-limit 180] [--tune-trials 8]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
CHOICES = "layout,fusion,opt-level"


def striped_images(root: Path, size: int = 16, per_class: int = 50) -> Path:
    """``root/<class>/<i>.png``: horizontal or vertical stripes, dark or light, under heavy noise (seeded)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    stripes = (np.arange(size) // 2 % 2).astype(float)
    for name, vertical, level in (("h-dark", False, 70), ("h-light", False, 150), ("v-dark", True, 70), ("v-light", True, 150)):
        (root / name).mkdir(parents=True, exist_ok=True)
        pattern = np.tile(stripes, (size, 1)) if vertical else np.tile(stripes[:, None], (1, size))
        for i in range(per_class):
            pixels = level + 50 * pattern + rng.normal(0, 45, (size, size))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L").save(root / name / f"{i}.png")
    return root


def check_choices(tune_trials: int) -> list[dict[str, Any]]:
    """Step 1: one network built with each choice value; output difference from the default build, latency."""
    import torch

    from edgenas.compile import tuning
    from edgenas.compile import tvm as backend
    from edgenas.compile.target import parse_target
    from edgenas.measure.ort import time_runs
    from edgenas.measure.pytorch import onnx_bytes
    from edgenas.spaces import MbconvSpace
    from edgenas.spaces.compiler import CHOICES as ALL

    space = MbconvSpace(num_classes=4, in_channels=1, resolutions=(16,), vocabulary="micro")
    arch = space.sample(np.random.default_rng(1))
    model = backend.fold_constants(onnx_bytes(space.build(arch).eval(), torch.zeros(1, *space.input_shape(arch))))
    feeds = backend.example_inputs(model)
    base = parse_target("llvm").with_cores(1)
    rows: list[dict[str, Any]] = []
    reference = None
    with tempfile.TemporaryDirectory(prefix="edgenas-choices-") as tmp:
        variants = [("default", {})] + [(f"{c.name}={v}", {c.name: v}) for c in ALL["tvm"] for v in c.values[1:]]
        for label, values in variants:
            build = backend.BuildOptions.of(values)
            spec = build.target(base)
            target = backend.make_target(spec)
            started = time.perf_counter()
            mod = backend.prepare(backend.import_onnx(backend.load_onnx(model), feeds, label), target, build)
            trials = int(values.get("trials", 0))
            if trials:  # a fresh database per budget: what the budget alone buys
                database, _ = tuning.tune(mod, target, Path(tmp) / label, trials, only_new=True)
                executable = tuning.build_tuned(database, mod, target)
            else:
                executable = backend.build_untuned(mod, target)
            library = backend.export(executable, Path(tmp) / f"{label}.so", spec)
            build_s = time.perf_counter() - started
            host = backend.HostModel(library, feeds, 1)
            output = host.output()
            latency = min(float(np.median(time_runs(host.run, 5, 30))) for _ in range(3))
            del host
            reference = output if reference is None else reference
            rows.append(
                {
                    "build": label,
                    "build_s": build_s,
                    "latency_ms": latency,
                    "max_abs_diff": float(np.abs(output - reference).max()),
                }
            )
            print(f"  {label:14s} {latency:.4f} ms  diff {rows[-1]['max_abs_diff']:.1e}  build {build_s:.1f} s", flush=True)
    return rows


def search(
    root: Path,
    data: Path | None,
    name: str,
    time_limit: float,
    seed: int,
    epochs: int,
    choices: str | None,
    evaluator: str,
    train_subset: int | None = None,
) -> dict[str, Any]:
    """Step 2: one search for ``time_limit`` seconds; its trials and how long it ran (``data`` None: keyword spotting)."""
    from edgenas.workflows.search import SearchConfig, run_search

    config = SearchConfig(
        task="images" if data is not None else "kws", data=data, evaluator=evaluator, strategy="nsga2", budget=1000,
        epochs=epochs, seed=seed, train_subset=train_subset,
        out=root / name, export=False, latency_ms=None, sram_kb=None, flash_kb=None, target="host",
        latency="compiled", compiler="tvm", compiler_choices=choices, time_limit_s=time_limit,
    )  # fmt: skip
    load = os.getloadavg()[0]
    started = time.perf_counter()
    outcome = run_search(config, status=lambda line: print(f"  [{name}] {line}", flush=True))
    wall = time.perf_counter() - started
    done = [t for t in outcome.trials if t.role == "search" and t.state.value == "complete"]
    return {"name": name, "wall_s": wall, "load_1min_start": load, "load_1min_end": os.getloadavg()[0],
            "trials": done, "run": root / name, "stop_reason": outcome.summary["search"]["stop_reason"]}  # fmt: skip


def front(points: list[tuple[Any, float, float]]) -> list[Any]:
    """The items not dominated in (accuracy up, latency down); ``points`` are ``(item, accuracy, latency)``."""
    return [item for item, acc, lat in points if not any((a >= acc and t <= lat) and (a > acc or t < lat) for _, a, t in points)]


def tune_front(result: dict[str, Any], folder: Path, trials: int) -> dict[str, float]:
    """Step 3: each front trial compiled with its choices, tuned with ``trials`` from the shared database, timed."""
    from edgenas.compile.search_latency import CompiledLatency, CompiledOptions
    from edgenas.spaces import space_from_config
    from edgenas.store import RunFolder

    with RunFolder(result["run"]).read_store() as store:
        space = space_from_config(store.read_config() or {})
    members = front([(t, t.accuracy, t.cost.latency_ms) for t in result["trials"]])
    result["front"] = members
    options = CompiledOptions("tvm", "llvm", trials, CHOICES if result["name"] == "joint" else None)
    meter = CompiledLatency(space, lambda arch: None, options, folder / f"tuned_{result['name']}.json", folder)  # type: ignore[arg-type,return-value]
    tuned = {}
    for trial in members:
        tuned[trial.arch.key()] = meter.latency_ms(trial.arch)
        print(f"  [{result['name']}] #{trial.number} score {trial.accuracy:.4g}: {trial.cost.latency_ms:.4f} ms default/chosen "
              f"build, {tuned[trial.arch.key()]:.4f} ms tuned", flush=True)  # fmt: skip
    result["describe"] = {t.arch.key(): space.describe(t.arch) for t in members}
    return tuned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=180.0, help="seconds each search may start candidates for")
    parser.add_argument("--tune-trials", type=int, default=8, help="MetaSchedule trials for each front member's new workloads")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--evaluator", default="zerocost:naswot", help="how candidates are scored (train: --epochs each)")
    parser.add_argument("--skip-check", action="store_true", help="leave step 1 out (keep the last run's table)")
    parser.add_argument("--task", choices=("images", "kws"), default="images", help="striped 16x16 images, or keyword spotting")
    parser.add_argument("--train-subset", type=int, default=None, help="kws: train each candidate on this many clips")
    parser.add_argument("--out", type=Path, default=None, help="results file stem (default: results/joint_compiler_search)")
    args = parser.parse_args()

    started = time.perf_counter()
    load_start = os.getloadavg()
    print("1. each compiler choice on one network (mbconv micro, 16x16, untrained)", flush=True)
    previous = RESULTS / "joint_compiler_search.json"
    if args.skip_check and previous.is_file():
        checks = json.loads(previous.read_text(encoding="utf-8")).get("choice_check", [])
    else:
        checks = [] if args.skip_check else check_choices(args.tune_trials)
    with tempfile.TemporaryDirectory(prefix="edgenas-joint-") as tmp:
        root = Path(tmp)
        data = striped_images(root / "images") if args.task == "images" else None
        results = []
        for name, choices in (("arch-only", None), ("joint", CHOICES)):
            print(f"2. {name} search, {args.time_limit:g} s", flush=True)
            results.append(
                search(root, data, name, args.time_limit, args.seed, args.epochs, choices, args.evaluator, args.train_subset)
            )
        print(f"3. the fronts compiled and tuned ({args.tune_trials} trials each, one database)", flush=True)
        tuned: dict[str, float] = {}
        tune_started = time.perf_counter()
        for result in results:
            tuned.update(tune_front(result, root / "tuned", args.tune_trials))
        tune_s = time.perf_counter() - tune_started
    arch_only, joint = results
    everyone = [(r["name"], t) for r in results for t in r["front"]]
    latencies = sorted(tuned[t.arch.key()] for _, t in everyone)
    limits = [float(np.percentile(latencies, q)) for q in (25, 50, 75)]

    def best_under(result: dict[str, Any], limit: float) -> float | None:
        ok = [t.accuracy for t in result["front"] if tuned[t.arch.key()] <= limit]
        return max(ok) if ok else None

    union_front = front([((n, t.arch.key()), t.accuracy, tuned[t.arch.key()]) for n, t in everyone])
    stay_union = sum(("arch-only", t.arch.key()) in union_front for t in arch_only["front"])
    reranked = front([(t.arch.key(), t.accuracy, tuned[t.arch.key()]) for t in arch_only["front"]])
    joint_in_union = sum(("joint", t.arch.key()) in union_front for t in joint["front"])

    def row(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "search": r["name"], "wall_s": r["wall_s"], "trials": len(r["trials"]), "front": len(r["front"]),
            "load_1min_start": r["load_1min_start"], "load_1min_end": r["load_1min_end"], "stop_reason": r["stop_reason"],
            "best_val_accuracy_under": {f"{lim:.4f}": best_under(r, lim) for lim in limits},
            "front_members": [
                {"number": t.number, "val_accuracy": t.accuracy, "search_latency_ms": t.cost.latency_ms,
                 "tuned_latency_ms": tuned[t.arch.key()], "description": r["describe"][t.arch.key()]}
                for t in r["front"]
            ],
        }  # fmt: skip

    summary = {
        "time_limit_s": args.time_limit, "tune_trials": args.tune_trials, "evaluator": args.evaluator, "seed": args.seed,
        "compiler_choices": CHOICES, "load_1min_at_start": load_start, "load_1min_at_end": os.getloadavg(),
        "cores": os.cpu_count(), "wall_s": time.perf_counter() - started, "tune_s": tune_s, "choice_check": checks,
        "searches": [row(r) for r in results], "latency_limits_ms": limits,
        "arch_only_front_on_union_front": stay_union, "arch_only_front_on_its_reranked_front": len(reranked),
        "joint_front_on_union_front": joint_in_union, "union_front": len(union_front),
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    stem = args.out or RESULTS / ("joint_compiler_search" if args.task == "images" else f"joint_compiler_search_{args.task}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")

    signal = "val acc" if args.evaluator == "train" else f"{args.evaluator} score"

    def acc(value: float | None) -> str:
        if value is None:
            return "none"
        return f"{100 * value:.1f} %" if args.evaluator == "train" else f"{value:.4g}"

    lines = [
        "# Joint architecture + compiler search against an architecture-only search (TVM, this host)",
        "",
        f"`benchmarks/joint_compiler_search.py --time-limit {args.time_limit:g} --tune-trials {args.tune_trials} "
        f"--epochs {args.epochs} --seed {args.seed} --task {args.task}"
        + (f" --train-subset {args.train_subset}" if args.train_subset else "")
        + f" --evaluator {args.evaluator}`: "
        + (
            "images task (4 classes of noisy striped 16x16 grey images, mbconv micro)"
            if args.task == "images"
            else "keyword spotting (the synthetic default data, kws space)"
        )
        + f", nsga2, candidates scored by `{args.evaluator}`, `--latency compiled --compiler tvm`, "
        f"one thread, {os.cpu_count()} cores shared with other work: load average (1 min) "
        f"{load_start[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end. Joint: `--compiler-choices {CHOICES}`.",
        "",
    ]
    if checks:
        lines += [
            "## 1. Each choice changes the build (one untrained network, 16x16; tuned builds from a fresh database)",
            "",
            "| build | latency ms | max abs diff vs default | build s |",
            "|---|---|---|---|",
            *(f"| {c['build']} | {c['latency_ms']:.4f} | {c['max_abs_diff']:.1e} | {c['build_s']:.1f} |" for c in checks),
            "",
        ]
    lines += [
        f"## 2-3. Equal wall-clock ({args.time_limit:g} s each), fronts tuned with {args.tune_trials} MetaSchedule trials "
        "per member (one shared database)",
        "",
        "Latency limits are the 25th, 50th and 75th percentiles of the tuned latencies of all front members.",
        "",
        "| search | wall s | trained | front | " + " | ".join(f"best {signal}, tuned <= {lim:.4f} ms" for lim in limits) + " |",
        "|---|---|---|---|" + "---|" * len(limits),
        *(
            f"| {r['name']} | {r['wall_s']:.0f} | {len(r['trials'])} | {len(r['front'])} | "
            + " | ".join(acc(best_under(r, lim)) for lim in limits)
            + " |"
            for r in results
        ),
        "",
        f"Of the architecture-only front's {len(arch_only['front'])} members, {stay_union} stay on the front of the union of "
        f"both fronts by tuned latency (which has {len(union_front)} members, {joint_in_union} from the joint search), and "
        f"{len(reranked)} on the architecture-only front re-ranked by tuned latency.",
        "",
        f"| search | # | {signal} | search-time ms | tuned ms | network and compiler choices |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['name']} | {t.number} | {acc(t.accuracy)} | {t.cost.latency_ms:.4f} | {tuned[t.arch.key()]:.4f} | "
            f"{r['describe'][t.arch.key()]} |"
            for r in results
            for t in sorted(r["front"], key=lambda t: tuned[t.arch.key()])
        ),
        "",
        f"Total {summary['wall_s']:.0f} s, of which tuning the fronts {tune_s:.0f} s.",
        "",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
