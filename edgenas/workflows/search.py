"""``edgenas search`` as a function: assemble the doors from options, run, finalise, report.

The CLI only parses flags into a :class:`SearchConfig` and formats what :func:`run_search`
returns, so the same search runs from Python:

>>> from edgenas.workflows.search import SearchConfig, run_search    # doctest: +SKIP
>>> summary = run_search(SearchConfig(budget=8, epochs=2, out=Path("runs/quick")))
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgenas.errors import InvalidInputError, MissingDataError
from edgenas.experiment import Experiment, Progress, layers_cost
from edgenas.objectives import Limits
from edgenas.settings import shared_data_dir
from edgenas.spaces.task import BASELINES, TASK_SPACES, baseline_arch, space_flag, space_params
from edgenas.store import SqliteStore
from edgenas.strategies import STRATEGIES
from edgenas.tasks import TASKS
from edgenas.tasks.base import subset_train
from edgenas.trial import Trial, TrialState
from edgenas.workflows.prefilter import SUPERNET, parse_evaluator, prefilter

if TYPE_CHECKING:
    from edgenas.hardware import Target

log = logging.getLogger(__name__)

BASELINE = BASELINES["kws"]  # the kws reference (the differentiable search's); baseline_arch picks per space
BASELINE_NUMBER = -1
LATENCY_SOURCES = ("estimated", "measured")


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search; stored with the run so ``--resume`` can check it."""

    task: str = "kws"
    data: Path | None = None
    target: str = "cortex-m7"
    latency_ms: float | None = 5.0
    sram_kb: float | None = 200.0
    flash_kb: float | None = 1024.0
    strategy: str = "evolution"
    evaluator: str = "train"  # train, supernet, zerocost:<proxy>, prefilter:<proxy>[:<pool>] (edgenas/search_evaluators.py)
    budget: int = 60
    epochs: int = 8
    seed: int = 0
    out: Path = Path("runs/kws-cortex-m7")
    resume: bool = False
    max_trial_seconds: float | None = 600.0
    cache_dir: Path | None = None
    shared_data: Path | None = None  # real Speech Commands clips to report on (default: $EDGENAS_SHARED_DATA)
    export: bool = True
    latency: str = "estimated"  # or "measured": ONNX Runtime on this machine (edgenas.measure.loop), --target host
    latency_loss: str = "lagrangian"  # differentiable only: fbnet, proxyless or lagrangian
    sweep: tuple[float, ...] = ()  # differentiable only: latency limits (ms) to search one after another
    train_subset: int | None = None  # train every network on this many training examples (class-stratified)
    space: str = "auto"  # kws or mbconv; auto: kws for MFCC features, mbconv for images (edgenas/spaces/_for_task.py)
    time_limit_s: float | None = None  # no new candidate after this many seconds of this invocation (not in identity)

    def limits(self, target: Target | None = None) -> Limits:
        """The hard limits; with a target, capped at what the device physically has."""
        kib = 1024
        sram = None if self.sram_kb is None else int(self.sram_kb * kib)
        flash = None if self.flash_kb is None else int(self.flash_kb * kib)
        if target is not None:
            sram = target.sram_bytes if sram is None else min(sram, target.sram_bytes)
            flash = target.flash_bytes if flash is None else min(flash, target.flash_bytes)
        return Limits(latency_ms=self.latency_ms, sram_bytes=sram, flash_bytes=flash)

    def identity(self) -> dict[str, object]:
        """The options a resumed search must share with the original (the rest may change)."""
        keys = ("task", "data", "target", "latency_ms", "sram_kb", "flash_kb", "strategy", "epochs", "seed")
        keys += ("latency",) if self.latency != "estimated" else ()  # runs from before --latency stay resumable
        keys += ("evaluator",) if self.evaluator != "train" else ()  # likewise for --evaluator
        keys += ("space",) if self.space != "auto" else ()  # and --space
        keys += ("train_subset",) if self.train_subset is not None else ()  # and --train-subset (export --retrain reads it)
        return {k: (str(getattr(self, k)) if isinstance(getattr(self, k), Path) else getattr(self, k)) for k in keys}

    def validate(self) -> None:
        TASKS.get(self.task)  # unknown name -> "did you mean"
        if self.strategy != "differentiable":  # not an ask/tell strategy: edgenas/differentiable
            STRATEGIES.get(self.strategy)  # unknown name -> "did you mean"
        elif self.time_limit_s is not None:
            raise InvalidInputError("--time-limit applies to ask/tell strategies; --strategy differentiable runs its epochs")
        elif self.task != "kws" or self.space not in ("auto", "kws"):
            raise InvalidInputError(
                f"--strategy differentiable searches the kws space of the kws task; for --task {self.task} "
                f"--space {self.space} use an ask/tell strategy (evolution, random, local, rl, tpe, nsga2, predictor)"
            )
        if self.space not in TASK_SPACES:
            raise InvalidInputError(f"--space must be one of {', '.join(TASK_SPACES)}, got {self.space!r}")
        if self.latency not in LATENCY_SOURCES:
            raise InvalidInputError(f"--latency must be one of {', '.join(LATENCY_SOURCES)}, got {self.latency!r}")
        parse_evaluator(self.evaluator)  # unknown evaluator or proxy -> the accepted names
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise InvalidInputError(f"--time-limit must be a positive number of seconds, got {self.time_limit_s:g}")
        if self.budget < 1:
            raise InvalidInputError(f"--budget must be a positive number of candidates, got {self.budget}")
        if self.train_subset is not None and self.train_subset < 1:
            raise InvalidInputError(f"--train-subset must be a positive number of examples, got {self.train_subset}")
        if self.epochs < 1:
            raise InvalidInputError(f"--epochs must be at least 1, got {self.epochs}")
        if self.max_trial_seconds is not None and self.max_trial_seconds <= 0:
            raise InvalidInputError("the per-trial time limit must be positive")
        self.limits()  # positive limits


@dataclass
class SearchOutcome:
    """What ``run_search`` did: the summary (``report.json``) and where everything is."""

    summary: dict
    run_dir: Path
    trials: list[Trial] = field(default_factory=list)


def run_search(
    config: SearchConfig, progress: Callable[[Progress], None] | None = None, status: Callable[[str], None] | None = None
) -> SearchOutcome:
    """Run (or resume) a search and write the run folder; see ``docs/cli.md`` for its files."""
    from edgenas.evaluators.train import TrainEvaluator
    from edgenas.hardware import AnalyticalCostModel, load_target
    from edgenas.report import write_report
    from edgenas.spaces import filter_by_ops, space_for

    if config.strategy == "differentiable":  # a supernet, not an ask/tell strategy: its own loop
        from edgenas.workflows.differentiable import run_differentiable

        return run_differentiable(config, progress, status)
    say = status or (lambda message: log.info(message))
    config.validate()
    # --time-limit counts from here: data, the baseline and any supernet or pre-filter pool included
    deadline = None if config.time_limit_s is None else time.perf_counter() + config.time_limit_s
    target = load_target(config.target)
    limits = config.limits(target)
    if config.latency == "measured" and target.name.split(":")[0] != "host":
        raise InvalidInputError(f"--latency measured times candidates on this machine: use --target host, not {target.name}")
    if limits != config.limits():
        say(f"limits capped at what {target.name} has: {limits.sram_bytes:,} B SRAM, {limits.flash_bytes:,} B flash")
    out = config.out
    db_path = out / "trials.db"
    if db_path.exists() and not config.resume:
        raise InvalidInputError(f"{out} already holds a search: pass --resume to continue it, or choose another --out")
    if config.resume and not db_path.exists():
        raise InvalidInputError(f"--resume: {db_path} does not exist; start the search without --resume")
    if config.data is not None and not Path(config.data).is_dir():
        raise InvalidInputError(f"--data {config.data}: not a readable folder (expected one sub-folder per class)")

    say(f"preparing {config.task} data" if config.data is None else f"reading {config.data}")
    data = TASKS.create(config.task, data_dir=config.data, cache_dir=config.cache_dir, seed=config.seed)
    if config.train_subset is not None:
        data = subset_train(data, config.train_subset, config.seed)
    space = space_for(data, config.space)
    space, removed = filter_by_ops(space, target.native_ops, target.name)  # choices the target cannot run natively
    for message in removed:
        say(message)

    out.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(db_path)
    try:
        stored = store.read_config()
        identity = {**config.identity(), "data_sha1": data.fingerprint()}
        if stored is not None:
            changed = sorted(k for k in identity if stored.get("identity", {}).get(k) != identity[k])
            params = space_params(space)
            # another space, or the same space with other genes (another mbconv vocabulary, say)
            if stored.get("space", space.name) != space.name or stored.get("space_params") not in (None, params):
                flag = space_flag(stored)
                raise InvalidInputError(f"--resume: {out} searched the {flag} space; pass --space {flag} to continue it")
            if stored.get("space_params") == params:  # --space auto or its explicit value: same genes
                changed = [k for k in changed if k != "space"]
            if changed:
                what = ", ".join(
                    "data (features differ: regenerated cache or edited folder)" if k == "data_sha1" else k for k in changed
                )
                raise InvalidInputError(f"--resume: {out} was searched with different {what}; use the original options")
        else:
            store.write_config(
                {
                    "identity": identity,
                    "limits": limits.to_dict(),
                    "target": target.to_dict(),
                    "space": space.name,
                    "space_params": space_params(space),
                    "classes": list(data.classes),
                    "data": data.describe(),
                }
            )
        strategy = STRATEGIES.create(config.strategy, space=space, seed=config.seed)
        trainer = TrainEvaluator(space, data, epochs=config.epochs, seed=config.seed, max_seconds=config.max_trial_seconds)
        cost = layers_cost(space, AnalyticalCostModel(), target)
        if config.latency == "measured":
            from edgenas.measure.loop import CACHE_FILE, MeasuredLatency

            cost = MeasuredLatency(space, cost, out / CACHE_FILE)  # ONNX Runtime on this CPU, cached by arch
        evaluator, budget = trainer, config.budget
        spec = parse_evaluator(config.evaluator)
        if spec.kind == "supernet" or spec.proxy == SUPERNET:
            from edgenas.evaluators.supernet import supernet_evaluator  # kws or mbconv: the space's own supernet

            # The supernet keeps its own schedule (kws: 1 epoch + 80 fine-tuning steps per subnet ranked
            # best, benchmarks/results/supernet_kws.md); --epochs is the stand-alone training (finalists,
            # or prefilter:supernet's shortlist).
            evaluator = supernet_evaluator(space, data, seed=config.seed, cache=out / "supernet.pt", log=say)
        elif spec.kind != "train":
            from edgenas.evaluators.zerocost import ZeroCostEvaluator

            evaluator = ZeroCostEvaluator(space, data, proxy=spec.proxy or "", seed=config.seed)
        if spec.kind == "prefilter":
            strategy = prefilter(spec, space, strategy, evaluator, cost, limits, out / "prefilter.db", config.budget, say)
            evaluator, budget = trainer, min(config.budget, len(strategy.archs))
        experiment = Experiment(space, strategy, evaluator, cost, limits, store, budget=budget)
        if experiment.trials:
            say(f"resuming: {len(experiment.trials)} finished trials kept ({experiment.evaluated} evaluated)")

        baseline = next(iter(store.trials(role="baseline")), None)
        if baseline is None or baseline.state is TrialState.RUNNING:
            name, reference = baseline_arch(space)
            say(f"training the {name} baseline with the same recipe")
            baseline = experiment.assess(BASELINE_NUMBER, reference, role="baseline", enforce_limits=False)

        limit = "" if config.time_limit_s is None else f", or until {config.time_limit_s:g} s have passed"
        say(f"searching: {config.strategy}, {config.budget} candidates to train{limit}")
        experiment.run(progress, deadline=deadline)
        best = experiment.best()

        finalists = [t for t in (best, baseline) if t is not None and t.state is TrialState.COMPLETE]
        for trial in finalists:
            if "test_accuracy" in trial.metrics.extra:  # type: ignore[union-attr]
                continue  # finalised before a resume
            say(f"finalist {'baseline' if trial.role == 'baseline' else 'best'}: retraining, test accuracy, export")
            _finalise(trial, trainer, space, data, store, out, config)
        summary = write_report(store, out, stop_reason=experiment.stop_reason)
        return SearchOutcome(summary=summary, run_dir=out, trials=store.trials())
    finally:
        store.close()


def _finalise(trial: Trial, evaluator, space, data, store: SqliteStore, run_dir: Path, config: SearchConfig) -> None:
    """Retrain a finalist (deterministic: same weights), score it on test and real speech, export it."""
    import torch

    from edgenas.evaluators.train import accuracy
    from edgenas.export.checkpoint import save_checkpoint
    from edgenas.export.onnx import export_onnx, onnx_max_abs_diff

    trained = evaluator.train(trial.arch)
    extra = dict(trial.metrics.extra)  # type: ignore[union-attr]
    extra["test_accuracy"] = evaluator.test_accuracy(trained.module)
    extra["retrain_val_accuracy"] = trained.metrics.accuracy
    real = _real_speech_split(config, data)
    if real is not None:
        extra["real_speech_accuracy"] = accuracy(trained.module, real)
        extra["real_speech_clips"] = float(len(real.y))
    if trial.role == "search" and config.export:
        folder = run_dir / "best"
        params, mean, std = space_params(space), data.feature_mean, data.feature_std
        save_checkpoint(folder / "model.pt", trained.module, trial.arch, params, data.classes, mean, std)
        example = torch.from_numpy(data.val.x[:8].copy())
        export_onnx(trained.module, example, folder / "model.onnx")
        extra["onnx_max_abs_diff"] = onnx_max_abs_diff(trained.module, folder / "model.onnx", example)
        extra.update(_verify_on_tflm(trained.module, trial, data, folder))
    store.put(dataclasses.replace(trial, metrics=dataclasses.replace(trial.metrics, extra=extra)))  # type: ignore[arg-type]


def _verify_on_tflm(module, trial: Trial, data, folder: Path) -> dict[str, float]:
    """int8 TFLite of the best model, run on the real TFLite Micro interpreter: the measured arena,
    file size and int8 accuracy that stand beside the estimates in the report. Skipped, with a log
    line, where the ``tflite`` extra is not installed."""
    from edgenas.errors import MissingExtraError

    try:
        from edgenas.export.tflite import convert_int8
        from edgenas.export.verify import verify_tflite

        path = folder / "model_int8.tflite"
        convert_int8(module, data.train.x, path)
        result = verify_tflite(path, data.test.x, data.test.y, fp32_model=module)
    except MissingExtraError as exc:
        log.warning("TFLite Micro verification skipped: %s", exc)
        return {}
    out = {
        "tflm_arena_bytes": float(result.arena_bytes),
        "tflite_file_bytes": float(result.flash_bytes),
        "tflm_argmax_agreement_litert": result.argmax_agreement,
    }
    if result.tflm_accuracy is not None:
        out["tflm_int8_test_accuracy"] = result.tflm_accuracy
    return out


def _real_speech_split(config: SearchConfig, data):
    """Real Speech Commands clips of our keywords, featurised with *this* run's statistics.

    Only for the synthetic default: it answers "does a model trained on synthetic speech
    recognise real voices?". None (with a log line) when the shared sample is absent.
    """
    if config.task != "kws" or config.data is not None:
        return None
    folder = shared_data_dir(config.shared_data) / "kws" / "speech_commands_v0.01_sample"
    if not folder.is_dir():
        log.warning("real-speech check skipped: %s not found (set EDGENAS_SHARED_DATA)", folder)
        return None
    import numpy as np

    from edgenas.tasks.base import Split
    from edgenas.tasks.kws import KEYWORDS, load_speech_commands

    try:
        real = load_speech_commands(folder, seed=config.seed)
    except MissingDataError as exc:
        log.warning("real-speech check skipped: %s", exc)
        return None
    if set(real.classes) - set(data.classes) or data.feature_mean.shape != real.feature_mean.shape:
        log.warning("real-speech check skipped: the task's classes or features are not Speech Commands'")
        return None
    xs, ys = [], []
    for split in (real.train, real.val, real.test):  # every clip: none of them was trained on
        raw = split.x * real.feature_std + real.feature_mean
        xs.append(((raw - data.feature_mean) / data.feature_std).astype(np.float32))
        ys.append(np.array([data.classes.index(real.classes[int(i)]) for i in split.y], dtype=np.int64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    keep = np.isin(y, [data.classes.index(k) for k in KEYWORDS])
    return Split(x=x[keep], y=y[keep])
