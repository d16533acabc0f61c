"""TVM (untuned, and MetaSchedule-tuned at two budgets) against ONNX Runtime and LiteRT, same models, same host.

Models: the default search's best keyword-spotting model (the ``kws`` space's genes below, 12
classes, 49x10 MFCC; or ``--run RUN`` for a run's best model), and MobileNetV2 at 28 pixels
(1 channel, 10 classes) and 224 pixels (3 channels, 1000 classes). Weights are the random
initialisation: latency does not depend on them. Every figure is a measurement on this host,
one thread, batch 1, with the ``edgenas profile`` protocol (warm-up, timed runs, median).

TVM runs the fp32 ONNX export; ONNX Runtime the same file and its int8 QDQ quantization; LiteRT
the fp32 and int8 ``.tflite`` of the same network (``edgenas.workflows.zoo.measure_model``).
TVM also gets the int8 QDQ ONNX: its front end imports QuantizeLinear/DequantizeLinear, and the
table says what that build does (TVM 0.27 keeps the QDQ pairs as float arithmetic on CPU; it has
no int8 kernel selection for them).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/tvm_vs_runtimes.py [--tune-trials 32,128] [--models kws,mbv2-28,mbv2-224]

Writes results/tvm_vs_runtimes.json and results/tvm_vs_runtimes.md; the libraries and databases
go to a temporary folder (``--work`` keeps them).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
#: The default search's best keyword-spotting model, as genes of the ``kws`` space.
KWS_GENES = (1, 3, 0, 0, 2, 2, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
MODELS = ("kws", "mbv2-28", "mbv2-224")


def build_model(name: str, run: Path | None) -> tuple[Any, tuple[int, ...], str]:
    """``(eval-mode module, input shape without batch, description)``."""
    if name == "kws":
        if run is not None:
            from edgenas.measure.pytorch import load_module

            module, example = load_module(run / "best" / "model.pt")
            return module, tuple(example.shape[1:]), f"best model of {run}"
        from edgenas.spaces import KwsSpace

        space = KwsSpace()
        arch = space.arch(KWS_GENES)
        return space.build(arch).eval(), (1, *space.input_shape), f"kws {space.describe(arch)}"
    from edgenas.spaces.mbconv import MbconvSpace

    size = int(name.split("-")[1])
    space = MbconvSpace(num_classes=10 if size == 28 else 1000, in_channels=1 if size == 28 else 3, resolutions=(size,))
    _, arch = space.reference()
    return space.build(arch).eval(), space.input_shape(arch), f"MobileNetV2 {size}x{size}"


def tvm_rows(onnx_path: Path, budgets: list[int], work: Path, counts: dict[str, int], say) -> dict[str, Any]:
    """Untuned, then tuned at each budget (a fresh database per budget), timed here."""
    from edgenas.compile import tuning
    from edgenas.compile import tvm as backend
    from edgenas.compile.target import parse_target
    from edgenas.errors import EdgenasError

    spec = parse_target("llvm").with_cores(counts["threads"])
    target = backend.make_target(spec)
    model = backend.load_onnx(onnx_path)
    feeds = backend.example_inputs(onnx_path)
    try:
        mod = backend.prepare(backend.import_onnx(model, feeds, onnx_path.name), target)
    except EdgenasError as exc:
        return {"error": str(exc)}
    out: dict[str, Any] = {}
    started = time.perf_counter()
    library = backend.export(backend.build_untuned(mod, target), work / "untuned.so", spec)
    build_s = time.perf_counter() - started
    m, _ = backend.measure(library, feeds, backend="tvm-untuned", per_function=False, **counts)
    out["untuned"] = {"latency_ms": m.median_ms, "latency_iqr_ms": m.iqr_ms, "build_s": build_s}
    say(f"  TVM untuned {m.median_ms:.3f} ms")
    for budget in budgets:
        database, outcome = tuning.tune(mod, target, work / f"tuning-{budget}", budget, threads=counts["threads"])
        library = backend.export(tuning.build_tuned(database, mod, target), work / f"tuned-{budget}.so", spec)
        m, _ = backend.measure(library, feeds, backend="tvm-tuned", per_function=False, **counts)
        out[f"tuned_{budget}"] = {"latency_ms": m.median_ms, "latency_iqr_ms": m.iqr_ms, **outcome.to_dict()}
        out[f"tuned_{budget}"].pop("database")
        say(f"  TVM tuned ({budget} trials, {outcome.seconds:.0f} s) {m.median_ms:.3f} ms")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune-trials", default="32,128", help="two (or more) comma-separated tuning budgets")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--run", type=Path, default=None, help="take the kws model from this run folder's best/model.pt")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    budgets = [int(b) for b in args.tune_trials.split(",") if b.strip()]
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    counts = {"threads": 1, "warmup": args.warmup, "repeats": args.repeats}
    started = time.time()
    work = args.work or Path(tempfile.mkdtemp(prefix="edgenas-tvm-bench-"))

    from edgenas.measure import host_info
    from edgenas.workflows.zoo import measure_model

    def say(message: str) -> None:
        print(message, flush=True)

    rows: dict[str, Any] = {}
    for name in names:
        module, shape, description = build_model(name, args.run)
        say(f"{name}: {description}, input {shape}")
        folder = work / name
        stem = folder / name
        row: dict[str, Any] = {"description": description, "input_shape": list(shape)}
        row["onnxruntime"] = measure_model(module, shape, stem, backend="onnxruntime", precisions=("fp32", "int8"), **counts)
        ort = row["onnxruntime"]
        say(f"  ONNX Runtime fp32 {ort['fp32']['latency_ms']:.3f} ms, int8 {ort['int8']['latency_ms']:.3f} ms")
        try:
            row["litert"] = measure_model(module, shape, stem, backend="litert", precisions=("fp32", "int8"), **counts)
            say(f"  LiteRT fp32 {row['litert']['fp32']['latency_ms']:.3f} ms, int8 {row['litert']['int8']['latency_ms']:.3f} ms")
        except Exception as exc:  # a converter failure is a finding: recorded, the table goes on
            row["litert"] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
        row["tvm"] = tvm_rows(stem.with_name(name + ".fp32.onnx"), budgets, folder / "tvm", counts, say)
        row["tvm_int8_qdq"] = tvm_rows(stem.with_name(name + ".int8.onnx"), [], folder / "tvm-int8", counts, say)
        rows[name] = row

    host = host_info()
    summary = {
        "kind": "measured",
        "threads": 1,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "tune_trials": budgets,
        "host": host,
        "minutes": (time.time() - started) / 60,
        "models": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tvm_vs_runtimes.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (args.out / "tvm_vs_runtimes.md").write_text(markdown(summary, args), encoding="utf-8")
    print(markdown(summary, args))


def _ms(entry: Any, key: str = "latency_ms") -> str:
    return f"{entry[key]:.3f}" if isinstance(entry, dict) and key in entry else "n/a"


def markdown(s: dict[str, Any], args: argparse.Namespace) -> str:
    budgets = s["tune_trials"]
    load = ", ".join(f"{v:.2f}" for v in s["host"]["load_avg_1_5_15"])
    head = [
        "model",
        "TVM untuned",
        *(f"TVM tuned {b}" for b in budgets),
        "ORT fp32",
        "LiteRT fp32",
        "ORT int8",
        "LiteRT int8",
        "TVM int8 QDQ (untuned)",
    ]
    lines = [
        "# TVM against the runtimes: median ms, one thread, batch 1",
        "",
        f"Command: `PYTHONPATH=$PWD .venv/bin/python benchmarks/tvm_vs_runtimes.py --tune-trials {','.join(map(str, budgets))} "
        f"--models {args.models} --repeats {s['repeats']} --warmup {s['warmup']}` ({s['minutes']:.1f} min).",
        "",
        f"**Measured on a shared 2-core VM** ({s['host']['processor']}, {s['host']['cpu_count']} CPUs; load average at the "
        f"end {load}): other agents' processes were running, so figures are noisier and higher than on an idle machine. "
        f"apache-tvm 0.27.0.post1, target `llvm` (host CPU, `num-cores` 1), TVM's thread pool at 1 thread; ONNX Runtime "
        "CPU provider, 1 intra-op thread; LiteRT with its default XNNPACK delegate, 1 thread. Random weights and inputs.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name, row in s["models"].items():
        tvm, q = row["tvm"], row["tvm_int8_qdq"]
        ort, lite = row["onnxruntime"], row["litert"]
        cells = [
            f"{name} ({row['description']})",
            _ms(tvm.get("untuned")),
            *(_ms(tvm.get(f"tuned_{b}")) for b in budgets),
            _ms(ort.get("fp32")),
            _ms(lite.get("fp32")) if "error" not in lite else "failed",
            _ms(ort.get("int8")),
            _ms(lite.get("int8")) if "error" not in lite else "failed",
            _ms(q.get("untuned")) if "error" not in q else "cannot import",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "TVM int8 QDQ: TVM 0.27's ONNX front end imports QuantizeLinear/DequantizeLinear as Relax `quantize` / "
        "`dequantize` around float32 convolutions and matmuls, so that build computes in float (no int8 kernels): "
        "TVM cannot take the int8 model as int8 on CPU.",
        "",
        "Tuning (MetaSchedule, budget shared evenly by the model's tasks; a fresh database per budget):",
        "",
    ]
    lines += ["| model | budget | tasks | records | tuning s |", "|---|---|---|---|---|"]
    for name, row in s["models"].items():
        for b in budgets:
            t = row["tvm"].get(f"tuned_{b}")
            if t:
                lines.append(f"| {name} | {b} | {t['tasks']} | {t['records']} | {t['seconds']:.0f} |")
    notes = [
        f"- {name}: {part}: {row[part]['error']}"
        for name, row in s["models"].items()
        for part in ("litert", "tvm", "tvm_int8_qdq")
        if isinstance(row.get(part), dict) and "error" in row[part]
    ]
    if notes:
        lines += ["", "Failures:", "", *notes]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
