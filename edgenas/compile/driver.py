"""``edgenas compile``: one model, one target, an untuned and a tuned build, measured here.

Reads an ``.onnx`` file, an edgenas checkpoint ``.pt`` (exported to ONNX in memory, as
``edgenas profile`` does) or a run folder (its ``best/model.onnx``, else ``best/model.pt``).
Writes ``untuned.so``, ``tuned.so``, the MetaSchedule database (``tuning/``), ``inputs.json``
(the libraries' input names, shapes and types, which a library does not declare: an agent needs
them to run one) and ``compile.json`` into ``--out`` or ``<RUN>/compiled/tvm/<target>/`` (for a model file, the
``compiled/tvm/<target>/`` folder beside it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgenas.compile.base import DEFAULT_TUNE_TRIALS, CompileResult, TuningOutcome
from edgenas.compile.target import parse_target
from edgenas.errors import InvalidInputError
from edgenas.measure.base import check_counts, check_readable

COMPILERS = ("tvm",)


def resolve_model(path: Path) -> tuple[Path, bytes | Path, Path]:
    """``(what to name it by, the ONNX model as a file or bytes, the folder compiled/ goes into)``."""
    path = Path(path)
    if path.is_dir():
        best = path / "best"
        for name in ("model.onnx", "model.pt"):
            if (best / name).is_file():
                return _model_file(best / name, path)
        raise InvalidInputError(f"{path}: a run folder holds best/model.onnx or best/model.pt; this one has neither")
    return _model_file(path, path.parent)


def _model_file(path: Path, home: Path) -> tuple[Path, bytes | Path, Path]:
    suffix = path.suffix.lower()
    if suffix not in (".onnx", ".pt"):
        raise InvalidInputError(f"{path}: edgenas compile reads an .onnx file, an edgenas .pt checkpoint or a run folder")
    check_readable(path)
    if suffix == ".pt":
        from edgenas.compile.tvm import fold_constants
        from edgenas.measure.pytorch import load_module, onnx_bytes

        module, example = load_module(path)
        return path, fold_constants(onnx_bytes(module, example)), home  # constant pads, as a search candidate's
    return path, path, home


def write_inputs(path: Path, feeds: dict[str, np.ndarray]) -> Path:
    """``inputs.json``: each input's shape and NumPy type, as :func:`edgenas.agent.protocol.parse_inputs` reads them."""
    specs = {name: {"shape": [int(d) for d in x.shape], "dtype": x.dtype.name} for name, x in feeds.items()}
    path.write_text(json.dumps(specs, indent=2) + "\n", encoding="utf-8")
    return path


def compile_model(
    model: Path,
    *,
    compiler: str = "tvm",
    target: str = "llvm",
    tune_trials: int | None = None,
    tune: bool = True,
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    out: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> CompileResult:
    """Compile ``model`` for ``target``, untuned and tuned, and measure both here (host targets).

    ``tune_trials`` defaults to :data:`DEFAULT_TUNE_TRIALS` on the host. A cross target (another
    architecture's ``-mtriple``) is built untuned only: MetaSchedule would have to time its
    candidates on the device itself, so a budget for one is refused.
    """
    say = progress or (lambda _message: None)
    if compiler not in COMPILERS:
        raise InvalidInputError(f"--compiler {compiler!r}: edgenas compile knows {', '.join(COMPILERS)}")
    check_counts(repeats, warmup, threads)
    spec = parse_target(target)
    from edgenas.compile import tuning
    from edgenas.compile import tvm as backend

    if tune_trials is not None:
        tuning.check_trials(tune_trials)
        if not tune:
            raise InvalidInputError("--tune-trials and --no-tune contradict each other: leave one out")
        if spec.is_cross:
            raise InvalidInputError(
                f"--target {target!r} is another machine: tuning needs to time candidates on it; leave --tune-trials out "
                "(the untuned library is built)"
            )
    trials = None if not tune or spec.is_cross else (tune_trials or DEFAULT_TUNE_TRIALS)
    label, source, home = resolve_model(model)
    backend.require_tvm()
    folder = out or home / "compiled" / "tvm" / spec.slug  # named for the target as written
    if spec.is_cross:
        from edgenas.compile.target import cross_compiler

        cross_compiler(spec)  # before minutes of building, not after
    else:
        spec = spec.with_cores(threads)
    tvm_target = backend.make_target(spec)
    onnx_model = backend.load_onnx(source)
    feeds = backend.example_inputs(source)
    say(f"importing {label} into TVM Relax")
    mod = backend.prepare(backend.import_onnx(onnx_model, feeds, str(label)), tvm_target)
    say(f"building untuned for {spec.text}")
    libraries = {"untuned": backend.export(backend.build_untuned(mod, tvm_target), folder / "untuned.so", spec)}
    write_inputs(folder / "inputs.json", feeds)
    outcome: TuningOutcome | None = None
    if trials is not None:
        say(f"tuning with MetaSchedule: {trials} trials (database: {folder / 'tuning'})")
        database, outcome = tuning.tune(mod, tvm_target, folder / "tuning", trials, threads=threads)
        say(f"tuned in {outcome.seconds:.1f} s ({outcome.new_records} new records, {outcome.records} in the database)")
        libraries["tuned"] = backend.export(tuning.build_tuned(database, mod, tvm_target), folder / "tuned.so", spec)
    result = CompileResult(
        model=str(label),
        compiler=backend.tvm_version(),
        target=str(tvm_target),
        out=folder,
        libraries=libraries,
        tuning=outcome,
    )
    if spec.is_cross:
        result = replace(result, ran_here=False, note=f"built, not run: no {spec.triple} device here (run it with an agent)")
    else:
        say(f"measuring the untuned build ({warmup} warm-up, {repeats} timed runs, {threads} thread(s))")
        untuned, untuned_out = backend.measure(
            libraries["untuned"],
            feeds,
            backend="tvm-untuned",
            label=f"{label} (TVM untuned)",
            threads=threads,
            warmup=warmup,
            repeats=repeats,
        )
        result = replace(result, untuned=untuned)
        if "tuned" in libraries:
            say("measuring the tuned build")
            tuned, tuned_out = backend.measure(
                libraries["tuned"],
                feeds,
                backend="tvm-tuned",
                label=f"{label} (TVM tuned)",
                threads=threads,
                warmup=warmup,
                repeats=repeats,
            )
            diff = float(np.max(np.abs(tuned_out.astype(np.float64) - untuned_out.astype(np.float64))))
            result = replace(result, tuned=tuned, max_abs_diff=diff)
    (folder / "compile.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return result
