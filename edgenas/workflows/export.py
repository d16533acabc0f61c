"""``edgenas export`` and ``edgenas verify`` as functions: which weights a run's trial has, each
export format, and what a ``.tflite`` is checked against (the run's data and target).

Which weights ``edgenas export RUN --trial ID`` exports, and how it gets them:

A search keeps the weights of its best model only (``RUN/best/model.pt``): every other trial
stored its genotype, cost and validation accuracy, not its weights. Training is deterministic
per architecture (seeded by ``Arch.key()``), so any *completed* trial can be trained again with
the run's recipe (epochs, seed, data) and gives the weights the search scored; that costs a
training run, so it happens only when asked (``--retrain``). Infeasible and failed trials were
never trained: there is nothing to export. Retrained weights are kept in ``RUN/trials/<ID>/``,
so a second export of the same trial does not train again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgenas.errors import InvalidInputError
from edgenas.files import OutputError, atomic_path, check_writable
from edgenas.store import RunFolder
from edgenas.trial import Trial, TrialState

if TYPE_CHECKING:
    from edgenas.hardware import Target

#: ``edgenas export --format``: fp32 ONNX, int8 QDQ ONNX, full-integer int8 TFLite, C source for TFLite Micro,
#: and that C source with what a firmware needs around it (front end in C, labels, resolver, example).
FORMATS = ("onnx", "onnx-int8", "tflite-int8", "c", "firmware")
#: The formats written into a folder rather than a file.
FOLDER_FORMATS = ("c", "firmware")


@dataclass(frozen=True)
class TrialWeights:
    """Where the weights of the requested trial are, and the folder its exports go to."""

    trial: str  # "best", "baseline" or the trial number
    checkpoint: Path
    folder: Path
    retrained: bool = False
    retrain_val_accuracy: float | None = None
    stored_val_accuracy: float | None = None


def _find(trials: list[Trial], trial_id: str) -> Trial:
    if trial_id == "baseline":
        found = [t for t in trials if t.role == "baseline"]
    else:
        try:
            number = int(trial_id)
        except ValueError:
            raise InvalidInputError(f"--trial {trial_id!r}: expected 'best', 'baseline' or a trial number") from None
        found = [t for t in trials if t.number == number and t.role == "search"]
    if not found:
        numbers = [t.number for t in trials if t.role == "search"]
        span = f"{min(numbers)}..{max(numbers)}" if numbers else "none"
        raise InvalidInputError(f"--trial {trial_id}: no such trial in this run (search trials: {span})")
    return found[0]


def weights_for_trial(
    run_dir: Path,
    config: dict[str, Any],
    trial_id: str,
    *,
    retrain: bool = False,
    say: Callable[[str], None] | None = None,
    device: str = "auto",
) -> TrialWeights:
    """The checkpoint for ``trial_id`` in ``run_dir``, retraining it if asked (see the module docstring)."""
    run = RunFolder(run_dir)
    best = run.best_checkpoint
    if trial_id == "best":
        if not best.is_file():
            raise InvalidInputError(f"{best} not found: the search exports its best model when it finishes")
        return TrialWeights("best", best, best.parent)
    from edgenas.export.checkpoint import load_checkpoint

    with run.read_store() as store:  # read-only: an archived, read-only run folder exports too
        trial = _find(store.trials(), trial_id)
    if trial.state is not TrialState.COMPLETE:
        why = f"it broke {', '.join(trial.violations)}" if trial.violations else (trial.error or trial.state.value)
        raise InvalidInputError(f"--trial {trial_id} is {trial.state.value} ({why}): it was never trained, nothing to export")
    if best.is_file() and load_checkpoint(best).arch == trial.arch:
        return TrialWeights(trial_id, best, best.parent)
    folder = run.trial_dir(trial_id)
    if (folder / best.name).is_file():
        return TrialWeights(trial_id, folder / best.name, folder)
    identity = config.get("identity", {})
    epochs = int(identity.get("epochs", 8))
    if not retrain:
        raise InvalidInputError(
            f"--trial {trial_id} has no stored weights (a search keeps only its best model's): pass --retrain to "
            f"train it again with the run's recipe ({epochs} epochs, deterministic, so the weights the search scored)"
        )
    return _retrain(run_dir, config, trial, trial_id, folder, say or (lambda message: None), device)


#: What ``edgenas export`` says of a detection run: the search itself writes what there is.
DETECTION_EXPORT = (
    "a detection run's files are written by its search: best/model.pt, best/model.onnx and best/model_int8.tflite "
    "(scored by mAP on LiteRT and TFLite Micro in report.md); edgenas export of detection runs (other trials, "
    "C arrays, --retrain) is not available yet"
)


def run_task_data(identity: dict[str, Any], data: str | Path | None = None):
    """A run's task data as its search saw it (``--task``, ``--data``, ``--seed``, ``--train-subset``
    and the task's options from the stored identity); ``data`` overrides the folder. Without a run
    (empty identity): kws."""
    from edgenas.tasks import load_task
    from edgenas.tasks.base import subset_train

    folder = identity.get("data") if data is None else data
    if folder in ("None", ""):
        folder = None
    if folder is not None and not Path(folder).is_dir():
        raise InvalidInputError(f"data folder {folder} not found (expected one sub-folder per word or class)")
    seed = int(identity.get("seed", 0))
    task, options = str(identity.get("task", "kws")), identity.get("task_options")
    loaded = load_task(task, Path(folder) if folder is not None else None, seed=seed, options=options)
    if identity.get("train_subset") is not None:
        loaded = subset_train(loaded, int(identity["train_subset"]), seed)
    return loaded


def _retrain(
    run_dir: Path, config: dict[str, Any], trial: Trial, trial_id: str, folder: Path, say: Callable[[str], None], device: str
) -> TrialWeights:
    from edgenas.evaluators.train import TrainEvaluator
    from edgenas.executors import torch_threads
    from edgenas.export.checkpoint import save_checkpoint
    from edgenas.spaces import space_for, space_from_config

    identity = config.get("identity", {})
    data_dir = identity.get("data")
    if data_dir not in (None, "None") and not Path(data_dir).is_dir():
        raise InvalidInputError(f"--retrain: the run's data folder {data_dir} is gone; the trial cannot be trained again")
    seed = int(identity.get("seed", 0))
    data = run_task_data(identity)
    if identity.get("data_sha1") and data.fingerprint() != identity["data_sha1"]:
        raise InvalidInputError("--retrain: the data differ from the search's (regenerated cache or edited folder)")
    # the stored genes' space; runs from before it was stored: the space --space chose then
    space = space_from_config(config) if config.get("space_params") else space_for(data, str(identity.get("space", "auto")))
    epochs = int(identity.get("epochs", 8))
    say(f"retraining trial {trial_id} ({space.describe(trial.arch)}): {epochs} epochs")
    training = config.get("training", {})  # threads and AMP as the search trained (the same numerics)
    evaluator = TrainEvaluator(space, data, epochs=epochs, seed=seed, device=device, amp=bool(training.get("amp", False)))
    with torch_threads(training.get("threads")):
        trained = evaluator.train(trial.arch)
    path = folder / RunFolder(run_dir).best_checkpoint.name
    with atomic_path(path) as staged:  # a kill or a full disk never leaves half a checkpoint
        save_checkpoint(
            staged, trained.module.cpu(), trial.arch, space.params(), data.classes, data.feature_mean, data.feature_std
        )
    stored = trial.metrics.accuracy if trial.metrics is not None else None
    return TrialWeights(trial_id, path, folder, True, trained.metrics.accuracy, stored)


# -- export ---------------------------------------------------------------------------------------
@dataclass
class ExportOutcome:
    """What ``edgenas export`` wrote: ``result`` (its JSON object) and ``problems``, each a line
    saying why the model fails the run's target (does not fit, runs an operator in fallback)."""

    result: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def run_target(config: dict[str, Any], say: Callable[[str], None] | None = None) -> Target | None:
    """The run's target, to check an export against (None, with a note, when it cannot be loaded)."""
    from edgenas.hardware.target import load_target

    name = config.get("identity", {}).get("target")
    if not name:
        return None
    try:
        return load_target(name)
    except InvalidInputError as exc:
        (say or (lambda message: None))(f"fit and operator checks skipped: the run's target cannot be loaded ({exc})")
        return None


def export_trial(
    run_dir: Path,
    trial: str = "best",
    fmt: str = "tflite-int8",
    out: Path | None = None,
    *,
    retrain: bool = False,
    calibration_clips: int = 400,
    say: Callable[[str], None] | None = None,
    device: str = "auto",
) -> ExportOutcome:
    """Export ``trial`` of the run in ``run_dir`` as ``fmt`` (one of :data:`FORMATS`) to ``out``
    (default: beside its weights, ``RUN/best/`` or ``RUN/trials/ID/``).

    int8 TFLite and C exports are checked against the run's target: the arena measured by TFLite
    Micro against its SRAM, the file against its flash, every operator against its native list;
    a model that fails is still written, and ``problems`` says why.
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown --format {fmt!r}. Accepted: {', '.join(FORMATS)}.")
    if calibration_clips < 1:
        raise InvalidInputError(f"--calibration-clips must be at least 1 training clip, got {calibration_clips}")
    run_dir = Path(run_dir)
    config = RunFolder(run_dir).read_config()
    if config.get("identity", {}).get("task") == "detection":
        raise InvalidInputError(DETECTION_EXPORT)
    check_export_destination(RunFolder(run_dir), trial, fmt, out, retrain=retrain)
    from edgenas.export.checkpoint import load_checkpoint

    weights = weights_for_trial(run_dir, config, trial, retrain=retrain, say=say, device=device)
    ck = load_checkpoint(weights.checkpoint)
    if fmt == "firmware":  # before the conversion: a model the C front end cannot feed is refused at once
        from edgenas.export.firmware.bundle import check_checkpoint

        front = _run_front_end(config)
        check_checkpoint(ck.classes, ck.feature_mean, ck.feature_std, config.get("data", {}).get("input_shape"), front)
    result: dict[str, Any] = {"format": fmt, "trial": trial, "checkpoint": str(weights.checkpoint)}
    if weights.retrained:
        result.update(retrain_val_accuracy=weights.retrain_val_accuracy, search_val_accuracy=weights.stored_val_accuracy)
    problems: list[str] = []
    identity = config.get("identity", {})
    if fmt == "onnx":
        import torch

        from edgenas.export.onnx import export_onnx, onnx_max_abs_diff

        shape = config.get("data", {}).get("input_shape") or [49, 10]
        example = torch.zeros((2, *shape), dtype=torch.float32)
        path = export_onnx(ck.module, example, out or weights.folder / "model.onnx")
        result.update(
            path=str(path), size_bytes=path.stat().st_size, onnx_max_abs_diff=onnx_max_abs_diff(ck.module, path, example)
        )
    elif fmt == "onnx-int8":
        from edgenas.export.onnx_int8 import quantize_onnx_int8

        data = run_task_data(identity)
        info = quantize_onnx_int8(
            ck.module,
            data.train.x,
            data.test.x[:500],
            out or weights.folder / "model_int8.onnx",
            max_calibration_clips=calibration_clips,
        )
        result.update(
            path=info.path,
            size_bytes=info.size_bytes,
            fp32_size_bytes=info.fp32_size_bytes,
            int8_fp32_argmax_agreement=info.argmax_agreement,
            check_clips=info.clips,
        )
    else:
        problems = _export_tflite(ck.module, config, weights, fmt, out, calibration_clips, result, say)
        if fmt == "firmware":
            _write_firmware(Path(result["path"]), ck, result, say, _run_front_end(config))
    return ExportOutcome(result, problems)


def _run_front_end(config: dict[str, Any]) -> Any:
    """The audio front end the run's features were made with (its task options; the default without)."""
    from edgenas.tasks import task_front_end

    identity = config.get("identity", {})
    return task_front_end(str(identity.get("task", "kws")), identity.get("task_options"))


def _write_firmware(
    model_path: Path, ck: Any, result: dict[str, Any], say: Callable[[str], None] | None, front: Any = None
) -> None:
    """The firmware bundle beside the C array, and its front end checked on the host when a C
    compiler is there (the Cortex-M7 check is ``make frontend-qemu`` in the bundle)."""
    import shutil
    import tempfile

    from edgenas.export.firmware import write_firmware_bundle
    from edgenas.export.firmware.build import build_host, run_host
    from edgenas.export.tflite import inspect_tflite

    model_bytes = model_path.read_bytes()
    bundle = write_firmware_bundle(
        model_path.parent, model_bytes, inspect_tflite(model_bytes), ck.classes, ck.feature_mean, ck.feature_std, front=front
    )
    result.update(firmware_dir=str(bundle.folder), labels=list(bundle.classes), resolver_operators=list(bundle.operators))
    if shutil.which("cc") is None:
        (say or (lambda message: None))("front end not checked: no C compiler (cc) on this machine")
        return
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="edgenas-frontend-") as scratch:
        exe = build_host(bundle.folder, Path(scratch) / "build")
        expected = np.fromfile(bundle.folder / "check" / "expected.bin", dtype="<f4")
        clips = np.fromfile(bundle.folder / "check" / "clips.bin", dtype="<i2").reshape(bundle.check_clips, -1)
        run = run_host(exe, clips, Path(scratch) / "run", expected, front=front)
    result["frontend_host_max_abs_diff"] = float(np.abs(run.features.ravel() - expected).max())


def check_export_destination(run: RunFolder, trial: str, fmt: str, out: Path | None, *, retrain: bool = False) -> None:
    """Refuse, before loading or training anything, an export that could not be written: ``--out``
    unwritable, or (without ``--out``) a run folder that cannot be written, such as an archived one."""
    if retrain and trial != "best":  # retrained weights are kept in the run folder, whatever --out says
        check_writable(run.trial_dir(trial), "--retrain", folder=True)
    if out is not None:
        check_writable(out, "--out", folder=fmt in FOLDER_FORMATS)
        return
    folder = run.best_dir if trial == "best" else run.trial_dir(trial)
    try:
        check_writable(folder, "--out", folder=True)
    except OutputError as exc:
        raise OutputError(f"{exc}; the export goes into the run folder unless --out names another place") from None


def _export_tflite(
    module: Any,
    config: dict[str, Any],
    weights: TrialWeights,
    fmt: str,
    out: Path | None,
    calibration_clips: int,
    result: dict[str, Any],
    say: Callable[[str], None] | None,
) -> list[str]:
    """int8 TFLite (and for ``c`` its C array), measured by TFLite Micro and checked against the run's target."""
    from edgenas.export.tflite import convert_int8
    from edgenas.export.verify import min_arena_bytes

    data = run_task_data(config.get("identity", {}))
    path = (
        (out or weights.folder / "model_int8.tflite")
        if fmt == "tflite-int8"
        else (out or weights.folder / fmt) / "model_int8.tflite"
    )
    info = convert_int8(module, data.train.x, path, max_calibration_clips=calibration_clips)
    arena = min_arena_bytes(path.read_bytes())
    result.update(path=str(path), size_bytes=info.size_bytes, operators=info.operator_counts, arena_bytes=arena)
    if fmt in FOLDER_FORMATS:
        from edgenas.export.c_array import write_c_array

        files = write_c_array(path.read_bytes(), path.parent, arena_bytes=arena)
        result.update(header=str(files.header), source=str(files.source))
    board = run_target(config, say)
    if board is None:
        return []
    from edgenas.export.audit import audit_model

    report = audit_model(path, board)
    fits = arena <= board.sram_bytes and info.size_bytes <= board.flash_bytes
    result.update(
        target=board.name,
        target_sram_bytes=board.sram_bytes,
        target_flash_bytes=board.flash_bytes,
        fits=fits,
        fallback_operators=sorted({op.requirement for op in report.fallback}),
    )
    problems = []
    if not fits:
        problems.append(
            f"does not fit {board.name}: arena {arena:,} B (TFLite Micro, host) of {board.sram_bytes:,} B SRAM, "
            f"model {info.size_bytes:,} B of {board.flash_bytes:,} B flash"
        )
    if report.fallback:
        problems.append(f"{board.name} does not run natively: {', '.join(result['fallback_operators'])}")
    return problems


# -- verify ---------------------------------------------------------------------------------------
@dataclass
class VerifyOutcome:
    """What ``edgenas verify`` measured: ``payload`` (its JSON object), whether the model fits the
    target, and the operators it would run in fallback."""

    payload: dict[str, Any]
    fits: bool
    fallback: list[str]
    target: Target


def verify_model(model: Path, target: str = "cortex-m7", data: Path | None = None, clips: int = 500) -> VerifyOutcome:
    """Run a ``.tflite`` in TFLite Micro against ``target``: minimum arena, flash, int8 against fp32
    accuracy on test clips, native operators.

    A model inside a run folder (``RUN/best/model_int8.tflite``, ``RUN/trials/ID/...``) is tested
    on the run's own data (its task, folder and seed; ``data`` overrides the folder), and the
    checkpoint beside it gives the fp32 accuracy and the estimates; elsewhere: kws data.
    """
    from edgenas.export.audit import audit_model
    from edgenas.export.tflite import inspect_tflite
    from edgenas.export.verify import read_model_bytes, verify_tflite
    from edgenas.hardware.target import load_target
    from edgenas.workflows.pricing import price_tflite

    if clips < 1:
        raise InvalidInputError(f"--clips must be at least 1 test clip, got {clips}")
    model = Path(model)
    info = inspect_tflite(read_model_bytes(model))  # a corrupt file fails here, before anything is loaded
    board = load_target(target)
    fallback = sorted({op.requirement for op in audit_model(model, board).fallback})
    run = RunFolder.of_model(model)
    identity: dict[str, Any] = run.read_config().get("identity", {}) if run is not None else {}
    if identity.get("task") == "detection" or len(info.outputs) > 1:
        raise InvalidInputError(
            f"{model.name} is a detector ({len(info.outputs)} output map(s)): edgenas verify scores classifiers on clips; "
            "a detection search scores its int8 file by mAP on LiteRT and TFLite Micro when it finalises (report.md)"
        )
    fp32, estimates = _beside_checkpoint(model, board)
    test = run_task_data(identity, data).test
    result = verify_tflite(
        model,
        test.x[:clips],
        test.y[:clips],
        fp32_model=fp32,
        estimated_peak_sram_bytes=estimates.get("estimated_peak_sram_bytes"),
        estimated_flash_bytes=estimates.get("estimated_flash_bytes"),
        target_name=board.name,
        target_sram_bytes=board.sram_bytes,
        target_flash_bytes=board.flash_bytes,
    )
    payload = {**result.to_dict(), **estimates, "operator_counts": info.operator_counts, "fallback_operators": fallback}
    priced = price_tflite(read_model_bytes(model), board)  # the file's own operators
    payload["priced_operators"] = priced.to_dict()
    payload["estimated_code_bytes"] = priced.code_bytes  # the kernels those operators link: flash beside the file
    payload["flash_needed_bytes"] = result.flash_bytes + priced.code_bytes
    payload["fits"] = bool(result.fits) and payload["flash_needed_bytes"] <= board.flash_bytes
    assert result.fits is not None  # a target was given, so the fit was checked
    return VerifyOutcome(payload, payload["fits"], fallback, board)


def _beside_checkpoint(model: Path, board: Target) -> tuple[Any, dict[str, Any]]:
    """The fp32 module of the checkpoint beside ``model`` (``model.pt`` in its folder or the one
    above) and the analytical estimates for it on ``board``; (None, {}) when there is none."""
    name = RunFolder(model.parent).best_checkpoint.name
    beside = [folder / name for folder in model.resolve().parents[:2]]
    checkpoint_path = next((path for path in beside if path.is_file()), None)
    if checkpoint_path is None:
        return None, {}
    from edgenas.export.checkpoint import load_checkpoint
    from edgenas.hardware.analytical import flash_bytes, latency_ms, peak_sram_bytes

    ck = load_checkpoint(checkpoint_path)
    layers = ck.space.layers(ck.arch)
    no_scratch = dataclasses.replace(board, memory=dataclasses.replace(board.memory, include_scratch=False))
    return ck.module, {
        "estimated_peak_sram_bytes": peak_sram_bytes(layers, board),
        "estimated_flash_bytes": flash_bytes(layers, board),
        "estimated_peak_sram_no_scratch_bytes": peak_sram_bytes(layers, no_scratch),
        "estimated_latency_ms": latency_ms(layers, board),
    }
