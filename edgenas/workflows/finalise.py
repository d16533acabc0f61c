"""What happens to a search's finalists (its best trial and the baseline) after the search.

Each is trained again with the search's recipe (deterministic: the same weights the search
scored, and the report says whether the validation accuracy was reproduced), scored on the
held-out test split and on any extra held-out set the task offers (real speech for the synthetic
keyword-spotting default); the best is then exported (checkpoint, ONNX checked against PyTorch
with ONNX Runtime) and converted to full-integer int8 TFLite and run in the TFLite Micro
interpreter, which measures the arena and the file the estimates stand beside. With ``--qat``
each finalist is also fine-tuned with fake quantization and measured the same way, so the report
can set quantization-aware training against post-training quantization. Every way of searching
(ask/tell strategies, the pre-filter, the differentiable search) ends here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgenas.experiment import Experiment
from edgenas.files import atomic_path
from edgenas.store import RunFolder, SqliteStore
from edgenas.tasks import TaskData, extra_test_splits
from edgenas.trial import Trial, TrialState
from edgenas.workflows.config import SearchConfig
from edgenas.workflows.prepare import Prepared, Stopwatch

log = logging.getLogger(__name__)

#: The reference network trained beside a search is stored with this trial number.
BASELINE_NUMBER = -1
#: The quantization-aware int8 model, beside post-training quantization's ``model_int8.tflite``.
QAT_TFLITE_NAME = "model_int8_qat.tflite"


def finalise(
    trial: Trial, trainer: Any, space: Any, data: TaskData, store: SqliteStore, run: RunFolder, config: SearchConfig
) -> Trial:
    """Retrain a finalist, score it on test (and the task's extra sets), export the best; store and return it."""
    import torch

    from edgenas.evaluators.train import accuracy
    from edgenas.export.checkpoint import save_checkpoint
    from edgenas.export.onnx import export_onnx, onnx_max_abs_diff

    assert trial.metrics is not None
    trained = trainer.train(trial.arch)
    extra = dict(trial.metrics.extra)
    extra["test_accuracy"] = trainer.test_accuracy(trained.module)
    if config.agent is not None and config.latency == "predicted":  # the prediction, checked on the device
        extra["device_latency_ms"] = _measured_on_agent(trial, space, run, config)
    extra["retrain_val_accuracy"] = trained.metrics.accuracy
    user_data = config.data is not None
    for name, split in extra_test_splits(
        config.task, data, user_data=user_data, seed=config.seed, shared_data=config.shared_data
    ).items():
        extra[f"{name}_accuracy"] = accuracy(trained.module, split.x, split.y)
        extra[f"{name}_clips"] = float(len(split.y))
    if getattr(data, "task", "") == "detection":  # boxes, scored by mAP: the detection evaluator tests and exports
        exported = run if trial.role == "search" and config.export else None
        extra.update(trainer.finalist_extra(trained.module, trial.arch, exported))
        if exported is not None and run.best_int8_tflite.exists():
            extra.update(_audit_int8(run.best_int8_tflite, config.target))
    elif trial.role == "search" and config.export:
        module = trained.module.cpu()  # exported from the CPU, whichever device trained it
        params, mean, std = space.params(), data.feature_mean, data.feature_std
        with atomic_path(run.best_checkpoint) as staged:  # a kill or a full disk never leaves half a checkpoint
            save_checkpoint(staged, module, trial.arch, params, data.classes, mean, std)
        example = torch.from_numpy(data.val.x[:8].copy())
        export_onnx(module, example, run.best_onnx)
        extra["onnx_max_abs_diff"] = onnx_max_abs_diff(module, run.best_onnx, example)
        extra.update(_verify_on_tflm(module, data, run.best_int8_tflite))
    if config.qat:
        extra.update(_quantization_aware(trained.module.cpu(), trial, data, run, config, extra))
    final = dataclasses.replace(trial, metrics=dataclasses.replace(trial.metrics, extra=extra))
    store.put(final)
    return final


def _measured_on_agent(trial: Trial, space: Any, run: RunFolder, config: SearchConfig) -> float:
    """A finalist's latency measured on the agent's device (cached in the run folder like a
    ``--latency measured`` search's, so a resume does not measure it again)."""
    from edgenas.agent.auth import read_token_file
    from edgenas.agent.client import AgentClient
    from edgenas.agent.loop import AgentLatency

    assert config.agent is not None and config.agent_token_file is not None  # SearchConfig.validate
    assert trial.cost is not None  # a finalist was priced
    cost = trial.cost
    client = AgentClient(config.agent, read_token_file(config.agent_token_file))
    meter = AgentLatency(space, lambda arch: cost, client, run.measured_latency, runtime=config.agent_runtime)
    return meter.latency_ms(trial.arch)


def _verify_on_tflm(module: Any, data: TaskData, path: Path) -> dict[str, float]:
    """int8 TFLite of the best model, run on the real TFLite Micro interpreter: the measured arena,
    file size and int8 accuracy that stand beside the estimates in the report. Skipped, with a log
    line, where the ``tflite`` extra is not installed, or where the model does not quantize to
    full int8: a target without a microcontroller's operator filter (``host``) may search blocks
    (hard-swish, squeeze-and-excitation) that stay float in TFLite, and the search's results must
    not be lost for a check the target does not need."""
    from edgenas.errors import MissingExtraError, UnsupportedOpError

    try:
        from edgenas.export.tflite import convert_int8
        from edgenas.export.verify import verify_tflite

        convert_int8(module, data.train.x, path)
        result = verify_tflite(path, data.test.x, data.test.y, fp32_model=module)
    except MissingExtraError as exc:
        log.warning("TFLite Micro verification skipped: %s", exc)
        return {}
    except UnsupportedOpError as exc:
        hint = "a microcontroller or NPU --target searches full-int8 networks only"
        log.warning("TFLite Micro verification skipped: %s (%s)", exc, hint)
        return {}
    out = {
        "tflm_arena_bytes": float(result.arena_bytes),
        "tflite_file_bytes": float(result.flash_bytes),
        "tflm_argmax_agreement_litert": result.argmax_agreement,
    }
    if result.tflm_accuracy is not None:
        out["tflm_int8_test_accuracy"] = result.tflm_accuracy
    return out


def _audit_int8(path: Path, target_name: str) -> dict[str, float]:
    """The int8 file's operators against the target's native list: how many fall back (0: every
    operator runs natively, as the space's operator filter promised); the names are logged."""
    from edgenas.export.audit import audit_model
    from edgenas.hardware import load_target

    result = audit_model(path, load_target(target_name))
    if result.fallback:
        names = ", ".join(sorted({op.requirement for op in result.fallback}))
        log.warning("%s: %s would not run natively on %s", path.name, names, target_name)
    return {"int8_fallback_operators": float(len(result.fallback))}


def _quantization_aware(
    module: Any, trial: Trial, data: TaskData, run: RunFolder, config: SearchConfig, extra: dict[str, float]
) -> dict[str, float]:
    """``--qat``: the finalist fine-tuned with fake quantization, converted to int8 and run on
    TFLite Micro, its figures under ``*_qat`` names beside post-training quantization's.

    The best model's post-training figures are already there when it was exported; for the
    baseline (or a run with ``export: false``) they are measured here too, so every finalist has both
    sides of the comparison. Files: ``best/model_int8_qat.tflite``, and the baseline's pair in
    ``trials/baseline/``; with ``export: false`` they are measured and not kept.
    """
    import tempfile
    import time

    from edgenas.errors import MissingExtraError
    from edgenas.evaluators.train import accuracy

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        kept = run.best_dir if trial.role == "search" else run.trial_dir("baseline")
        folder = kept if config.export else Path(tmp)
        out: dict[str, float] = {}
        if "tflm_int8_test_accuracy" not in extra:
            out.update(_verify_on_tflm(module, data, folder / run.best_int8_tflite.name))
        try:
            from edgenas.export.qat import QatSettings, convert_qat_int8, train_qat
            from edgenas.export.verify import verify_tflite

            qat = train_qat(module, data.train.x, data.train.y, QatSettings(seed=config.seed))
            path = folder / QAT_TFLITE_NAME
            convert_qat_int8(qat, path)
            result = verify_tflite(path, data.test.x, data.test.y)
            fake_quant = accuracy(qat.module, data.test.x, data.test.y)  # what QAT trained, in PyTorch
        except MissingExtraError as exc:
            log.warning("quantization-aware training skipped: %s", exc)
            return out
    out.update(
        {
            "tflm_arena_bytes_qat": float(result.arena_bytes),
            "tflite_file_bytes_qat": float(result.flash_bytes),
            "tflm_argmax_agreement_litert_qat": result.argmax_agreement,
            "qat_s": time.perf_counter() - start,
        }
    )
    if result.tflm_accuracy is not None:
        out["tflm_int8_test_accuracy_qat"] = result.tflm_accuracy
    out["qat_fake_quant_test_accuracy"] = fake_quant
    return out


def train_baseline(experiment: Experiment, store: SqliteStore, say: Callable[[str], None], watch: Stopwatch) -> Trial | None:
    """The space's reference network, trained with the search's recipe whatever its cost (once per run)."""
    baseline = next(iter(store.trials(role="baseline")), None)
    if baseline is not None and baseline.state is not TrialState.RUNNING:
        return baseline
    reference = experiment.space.reference()
    if reference is None:
        return None
    name, arch = reference
    say(f"training the {name} baseline with the same recipe")
    with watch.stage("baseline"):
        return experiment.assess(BASELINE_NUMBER, arch, role="baseline", enforce_limits=False)


def finalise_all(
    finalists: tuple[Trial | None, ...],
    trainer: object,
    prepared: Prepared,
    store: SqliteStore,
    say: Callable[[str], None],
    watch: Stopwatch,
) -> list[Trial]:
    """Finalise each completed finalist not finalised before (a resumed run keeps what it did)."""
    done = []
    with watch.stage("finalise"):
        for trial in finalists:
            if trial is None or trial.state is not TrialState.COMPLETE or trial.metrics is None:
                continue
            if "test_accuracy" in trial.metrics.extra:  # finalised before a resume
                done.append(trial)
                continue
            qat = ", quantization-aware training" if prepared.config.qat else ""
            say(f"finalist {'baseline' if trial.role == 'baseline' else 'best'}: retraining, test accuracy, export{qat}")
            done.append(finalise(trial, trainer, prepared.space, prepared.data, store, prepared.run, prepared.config))
    return done
