"""What defines a search (:class:`SearchConfig`), and where its options come from: Python, the
command line, or a YAML file (``edgenas search --config search.yaml``, flags overriding it).

The configuration is a pydantic dataclass: the types of every option are checked when it is
built (from Python, the YAML file or the flags alike), and :meth:`SearchConfig.validate` checks
what needs the registries (names of tasks, spaces, strategies, evaluators) before any work.
The resolved configuration of each invocation is written into the run folder
(``config.yaml``), so what ran is on record beside its trials.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ConfigDict, ValidationError, field_validator
from pydantic.dataclasses import dataclass

from edgenas._yaml import safe_load
from edgenas.errors import InvalidInputError
from edgenas.objectives import Limits

if TYPE_CHECKING:
    from edgenas.hardware import Target
    from edgenas.trial import Trial

#: ``--latency``: the analytical estimate, a measurement on this machine (``--target host``) or an
#: agent's device, a learned prediction, or a measurement of the candidate's compiler build here.
LATENCY_SOURCES = ("estimated", "measured", "predicted", "compiled")
#: ``--executor``: where candidates are evaluated.
EXECUTORS = ("local", "ray")
#: ``--objectives``: what a multi-objective strategy (nsga2) optimises; accuracy is maximised, the rest minimised.
OBJECTIVES = ("accuracy,latency", "accuracy,energy", "accuracy,latency,energy")
#: Where runs go when ``--out`` is not given: ``runs/<task>-<target>``.
RUNS_DIR = Path("runs")


@dataclass(frozen=True, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class SearchConfig:
    """Everything that defines a search; stored with the run so ``--resume`` can check it.

    Every field is an ``edgenas search`` option of the same name (``time_limit_s`` is
    ``--time-limit``); docs/cli.md describes them.
    """

    task: str = "kws"
    data: Path | None = None
    target: str = "cortex-m7"
    latency_ms: float | None = 5.0
    fps: float | None = None  # frames per second: a latency limit of 1000/fps ms and the duty cycle of the average power
    energy_mj: float | None = None  # limit on the estimated energy per inference (targets with an energy model)
    objectives: str | None = None  # OBJECTIVES; None: the strategy's own (nsga2: accuracy,latency)
    population: int | None = None  # evolution and nsga2: candidates per population (None: the strategy's default)
    sram_kb: float | None = 200.0
    flash_kb: float | None = 1024.0
    strategy: str = "evolution"
    evaluator: str = "train"  # train, supernet, zerocost:<proxy>, prefilter:<proxy>[:<pool>] (EVALUATORS, workflows/parts.py)
    budget: int = 60
    epochs: int = 8
    seed: int = 0
    out: Path | None = None  # default: runs/<task>-<target>
    resume: bool = False
    max_trial_seconds: float | None = 600.0
    cache_dir: Path | None = None
    shared_data: Path | None = None  # real Speech Commands clips to report on (default: edgenas.settings)
    export: bool = True
    latency: str = "estimated"  # or "measured": ONNX Runtime on this machine (--target host) or on an --agent's device
    agent: str | None = None  # --latency measured on the device of an `edgenas agent serve` at this URL
    agent_token_file: Path | None = None  # the agent's token (a private file)
    agent_runtime: str = "onnxruntime"  # on the agent: onnxruntime (ONNX), litert[-no-xnnpack] (int8 TFLite)
    predictor: Path | None = None  # --latency predicted: a latency predictor file (edgenas predictor fit)
    compiler: str | None = None  # --latency compiled: the compiler that builds each candidate (tvm)
    compile_target: str = "llvm"  # --latency compiled: the compiler's target (this host's CPU)
    tune_trials_per_candidate: int = 0  # --latency compiled: MetaSchedule trials per candidate (0: default schedules)
    compiler_choices: str | None = None  # --latency compiled: compiler settings searched beside the architecture (layout,...)
    feedback_rounds: int | None = None  # --latency compiled: price by a model the tuned finalists refit, in this many rounds
    finalists_per_round: int = 3  # --feedback-rounds: finalists compiled and tuned at the end of each round
    tune_trials_per_finalist: int = 32  # --feedback-rounds: MetaSchedule trials of each finalist's new workloads
    latency_loss: str = "lagrangian"  # differentiable only: fbnet, proxyless, lagrangian or band
    sweep: tuple[float, ...] = ()  # differentiable only: latency limits (ms) to search one after another
    train_subset: int | None = None  # train every network on this many training examples (class-stratified)
    space: str = "auto"  # a registered space, or auto: kws for MFCC features, mbconv for images (spaces/task.py)
    time_limit_s: float | None = None  # no new candidate after this many seconds of this invocation (not in identity)
    workers: int = 1  # local worker processes evaluating candidates (not in identity: the trials do not depend on it)
    batch: int = 1  # candidates asked per round, before any is told
    threads_per_trial: int | None = None  # torch threads of one evaluation (default: today's, or the cores / workers)
    executor: str = "local"  # local (this process, or --workers processes) or ray (each candidate a Ray task)
    ray_address: str | None = None  # ray: a running cluster's host:port (default: a local instance for the search)
    cpus_per_trial: float = 1.0  # ray: CPUs of one candidate's task
    gpus_per_trial: float = 0.0  # ray: GPUs of one candidate's task (fractions allowed)
    device: str = "auto"  # torch device of every training: auto (a GPU when there is one), cpu, cuda, cuda:N, mps
    amp: bool = False  # mixed precision on CUDA
    qat: bool = False  # finalists: quantization-aware training, int8 on TFLite Micro beside post-training quantization
    log: str | None = None  # trackers mirroring each trial: tensorboard, mlflow (comma-separated; not in identity)
    # the task's own options (edgenas.tasks.TASK_OPTIONS; kws: --keywords, --sample-rate, ...), by name; the task checks them
    task_options: dict[str, Any] = dataclasses.field(default_factory=dict)

    @field_validator("out", "data", "cache_dir", "shared_data", "agent_token_file", "predictor", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        """An empty path would silently mean the current folder: refused (``--out ''`` is a slip, not a choice)."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("an empty path; name a folder")
        return value

    @field_validator("objectives", "compiler_choices", mode="before")
    @classmethod
    def _objectives(cls, value: Any) -> Any:
        """``accuracy, energy`` or a list as ``accuracy,energy``: one spelling, so a resume compares like with like."""
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        if isinstance(value, str):
            value = ",".join(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @field_validator("task_options", mode="before")
    @classmethod
    def _task_options(cls, value: Any) -> Any:
        """Names as the flags without dashes (``sample-rate`` or ``sample_rate``), lists for sequences,
        and ``--keywords a,b`` as the list it means: one spelling per choice, so a resume compares like with like."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError("expected a mapping of task options, e.g. {keywords: [yes, no], sample_rate: 8000}")
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key).replace("-", "_")
            if isinstance(item, (tuple, list)):
                item = list(item)
            elif name == "keywords" and isinstance(item, str) and item.strip().lower() != "all":
                item = item.split(",")
            out[name] = item
        return out

    def __post_init__(self) -> None:
        if self.out is None:
            object.__setattr__(self, "out", default_out(self.task, self.target))

    @property
    def threads(self) -> int | None:
        """Torch threads of every training of the search (None: torch's default, the classic one-process run).

        With workers, each one gets the cores divided among them, and the finalists are retrained
        with as many, so the retrained model reproduces the search's accuracy.
        """
        if self.threads_per_trial is not None:
            return self.threads_per_trial
        if self.executor == "ray":
            return max(1, int(self.cpus_per_trial))
        if self.workers > 1:
            from edgenas.executors.local import default_threads

            return default_threads(self.workers)
        return None

    @property
    def run_dir(self) -> Path:
        """The run folder (``out``, resolved)."""
        assert self.out is not None
        return self.out

    def limits(self, target: Target | None = None) -> Limits:
        """The hard limits; with a target, capped at what the device physically has."""
        kib = 1024
        sram = None if self.sram_kb is None else int(self.sram_kb * kib)
        flash = None if self.flash_kb is None else int(self.flash_kb * kib)
        if target is not None:
            sram = target.sram_bytes if sram is None else min(sram, target.sram_bytes)
            flash = target.flash_bytes if flash is None else min(flash, target.flash_bytes)
        return Limits(latency_ms=self.latency_limit_ms, sram_bytes=sram, flash_bytes=flash, energy_mj=self.energy_mj)

    @property
    def latency_limit_ms(self) -> float | None:
        """``--latency-ms`` and the frame period of ``--fps``, the tighter of the two."""
        from edgenas.hardware.energy import frame_period_ms

        limits = [v for v in (self.latency_ms, None if self.fps is None else frame_period_ms(self.fps)) if v is not None]
        return min(limits) if limits else None

    @property
    def uses_energy(self) -> bool:
        """Whether the search limits or optimises the estimated energy (the target needs an energy model)."""
        return self.energy_mj is not None or "energy" in (self.objectives or "")

    def _check_energy(self) -> None:
        """``--fps``, ``--energy-mj`` and ``--objectives``: ranges, and an energy model on the target."""
        from edgenas.hardware.energy import check_fps

        if self.fps is not None:
            check_fps(self.fps)
        if self.energy_mj is not None and not (self.energy_mj > 0 and math.isfinite(self.energy_mj)):
            raise InvalidInputError(f"--energy-mj must be a positive number of mJ per inference, got {self.energy_mj:g}")
        if self.objectives is not None and self.objectives not in OBJECTIVES:
            raise InvalidInputError(f"--objectives {self.objectives}: accepted are {' or '.join(OBJECTIVES)}")
        if not self.uses_energy:
            return
        flag = "--energy-mj" if self.energy_mj is not None else f"--objectives {self.objectives}"
        if self.latency != "estimated":
            raise InvalidInputError(
                f"{flag} prices the estimated latency: use --latency estimated (a {self.latency} latency has no energy figure)"
            )
        from edgenas.hardware.target import builtin_targets, load_target

        if load_target(self.target).energy is None:
            with_model = [n for n in builtin_targets() if load_target(n).energy is not None]
            raise InvalidInputError(
                f"{flag}: target {self.target!r} has no energy model (an `energy:` block, docs/targets.md); "
                f"targets with one: {', '.join(with_model)}"
            )

    def _check_agent(self) -> None:
        """``--agent`` goes with ``--latency measured`` and a token file that can be read (the agent
        itself is asked what it is when the search starts)."""
        from edgenas.agent.protocol import MODEL_RUNTIMES

        if self.agent_runtime not in MODEL_RUNTIMES:
            raise InvalidInputError(f"--agent-runtime must be one of {', '.join(MODEL_RUNTIMES)}, got {self.agent_runtime!r}")
        if self.agent is None:
            if self.agent_token_file is not None:
                raise InvalidInputError("--agent-token-file goes with --agent URL")
            if self.agent_runtime != "onnxruntime":
                raise InvalidInputError("--agent-runtime goes with --agent URL")
            return
        if self.latency == "estimated":
            raise InvalidInputError(
                "--agent measures latency on a device: add --latency measured (every candidate) or --latency predicted "
                "--predictor P.json (the finalists, beside the prediction)"
            )
        if not self.agent.startswith(("http://", "https://")):
            raise InvalidInputError(f"--agent {self.agent!r}: expected the agent's URL, e.g. http://192.168.1.20:8765")
        if self.agent_token_file is None:
            raise InvalidInputError("--agent needs --agent-token-file F (the token the agent was started with)")
        from edgenas.agent.auth import read_token_file

        read_token_file(self.agent_token_file)

    def _check_compiled(self) -> None:
        """``--latency compiled`` with ``--compiler tvm`` installed, a budget of 0 or more, and
        ``--target host`` with a host ``--compile-target`` (or ``--agent`` on the device the
        ``--compile-target`` builds for); the compiler's flags go with it only."""
        if self.latency != "compiled":
            if self.compiler_choices is not None:
                raise InvalidInputError("--compiler-choices goes with --latency compiled --compiler tvm")
            if self.compiler is not None or self.compile_target != "llvm" or self.tune_trials_per_candidate != 0:
                raise InvalidInputError("--compiler, --compile-target and --tune-trials-per-candidate go with --latency compiled")
            self._check_feedback()
            return
        from edgenas.compile.search_latency import CompiledOptions

        CompiledOptions.of(self).check()
        if self.compiler_choices is not None and self.feedback_rounds is not None:
            raise InvalidInputError("--compiler-choices compiles every candidate with its choices: drop --feedback-rounds")
        self._check_feedback()
        if self.agent is not None:  # built here, timed on the agent's device: --target prices its memory
            if self.feedback_rounds is not None:
                raise InvalidInputError("--feedback-rounds tunes the finalists on this machine: drop it with --agent")
            if self.agent_runtime != "onnxruntime":
                raise InvalidInputError(
                    "--latency compiled times TVM libraries with the tvm runtime of the agent: drop --agent-runtime"
                )
            return
        from edgenas.hardware.target import load_target

        if load_target(self.target).name.split(":")[0] != "host":
            raise InvalidInputError(
                f"--latency compiled times each candidate's TVM build on this machine: use --target host, not {self.target} "
                "(or --agent URL of an agent on the target device, which times the builds there)"
            )

    def _check_feedback(self) -> None:
        """``--feedback-rounds`` with ``--latency compiled --compiler tvm`` and an ask/tell loop to split;
        its two companions go with it only."""
        if self.feedback_rounds is None:
            if self.finalists_per_round != 3 or self.tune_trials_per_finalist != 32:
                raise InvalidInputError("--finalists-per-round and --tune-trials-per-finalist go with --feedback-rounds R")
            return
        if self.latency != "compiled" or self.compiler is None:
            raise InvalidInputError(
                "--feedback-rounds tunes each round's finalists with a compiler: add --latency compiled --compiler tvm"
            )
        if self.tune_trials_per_candidate != 0:
            raise InvalidInputError(
                "--feedback-rounds compiles the finalists only (--tune-trials-per-finalist); drop --tune-trials-per-candidate"
            )
        from edgenas.workflows.parts import DIFFERENTIABLE, PREFILTER, parse_evaluator

        if self.strategy == DIFFERENTIABLE or parse_evaluator(self.evaluator).kind == PREFILTER:
            raise InvalidInputError(
                "--feedback-rounds splits the ask/tell loop into rounds: use an ask/tell --strategy without --evaluator prefilter"
            )
        from edgenas.compile.feedback import FeedbackOptions

        options = FeedbackOptions.of(self)
        assert options is not None
        options.check()

    def with_target_agent(self) -> SearchConfig:
        """This config, measuring on the target's own agent where its file names one and no
        ``--agent`` was given (a search with ``--latency estimated`` never asks a device)."""
        if self.agent is not None or self.latency in ("estimated", "compiled"):
            return self
        from edgenas.hardware.target import load_target

        endpoint = load_target(self.target).agent
        if endpoint is None:
            return self
        runtime = endpoint.runtime if self.agent_runtime == "onnxruntime" else self.agent_runtime
        return dataclasses.replace(self, agent=endpoint.url, agent_token_file=Path(endpoint.token_file), agent_runtime=runtime)

    def identity(self) -> dict[str, object]:
        """The options a resumed search must share with the original (the rest may change)."""
        keys: tuple[str, ...] = ("task", "data", "target", "latency_ms", "sram_kb", "flash_kb", "strategy", "epochs", "seed")
        keys += ("latency",) if self.latency != "estimated" else ()  # runs from before --latency stay resumable
        keys += ("agent",) if self.agent is not None else ()  # measured on one device: resumed on the same
        keys += ("agent_runtime",) if self.agent_runtime != "onnxruntime" else ()  # by one runtime
        keys += ("predictor",) if self.predictor is not None else ()  # ranked by one predictor: resumed with it
        if self.latency == "compiled":  # compiled one way: resumed the same way
            keys += ("compiler", "compile_target", "tune_trials_per_candidate")
            keys += ("compiler_choices",) if self.compiler_choices is not None else ()
            keys += ("feedback_rounds", "finalists_per_round", "tune_trials_per_finalist") if self.feedback_rounds else ()
        keys += ("evaluator",) if self.evaluator != "train" else ()  # likewise for --evaluator
        keys += ("space",) if self.space != "auto" else ()  # and --space
        keys += ("train_subset",) if self.train_subset is not None else ()  # and --train-subset (export --retrain reads it)
        keys += ("batch",) if self.batch != 1 else ()  # the rounds the strategy was asked in
        keys += ("threads_per_trial",) if self.threads_per_trial is not None else ()  # the training's numerics
        keys += ("device",) if self.device not in ("auto", "cpu") else ()  # likewise
        keys += ("amp",) if self.amp else ()
        keys += ("qat",) if self.qat else ()
        keys += ("task_options",) if self.task_options else ()  # the words and the front end the data were made with
        keys += tuple(k for k in ("fps", "energy_mj", "objectives") if getattr(self, k) is not None)  # limits, objectives
        keys += ("population",) if self.population is not None else ()  # the strategy's generations
        return {k: (str(getattr(self, k)) if isinstance(getattr(self, k), Path) else getattr(self, k)) for k in keys}

    def validate(self) -> None:
        """Check every name against its registry and every number's range: one clear error, before any work."""
        from edgenas.spaces.task import check_space_name
        from edgenas.tasks import TASKS
        from edgenas.workflows.parts import DIFFERENTIABLE, check_strategy, parse_evaluator, strategy_names

        TASKS.get(self.task)  # unknown name -> "did you mean"
        from edgenas.tasks import check_task_options

        check_task_options(self.task, self.task_options)  # a bad word list or front end: one line, before any work
        check_strategy(self.strategy)
        if self.population is not None:
            from edgenas.workflows.parts import check_population

            check_population(self.strategy, self.population)
        if self.strategy == DIFFERENTIABLE:
            if self.time_limit_s is not None:
                raise InvalidInputError("--time-limit applies to ask/tell strategies; --strategy differentiable runs its epochs")
            if self.task != "kws" or self.space not in ("auto", "kws"):
                others = ", ".join(n for n in strategy_names() if n != DIFFERENTIABLE)
                raise InvalidInputError(
                    f"--strategy differentiable searches the kws space of the kws task; for --task {self.task} "
                    f"--space {self.space} use an ask/tell strategy ({others})"
                )
        check_space_name(self.space)
        if self.latency not in LATENCY_SOURCES:
            raise InvalidInputError(f"--latency must be one of {', '.join(LATENCY_SOURCES)}, got {self.latency!r}")
        parse_evaluator(self.evaluator)  # unknown evaluator or proxy -> the accepted names
        self._check_energy()
        self._check_agent()
        self._check_compiled()
        if self.qat:
            from edgenas.export.qat import require_qat_extra

            require_qat_extra("--qat")  # without the tflite extra: one line, before any training
        from edgenas.trackers import parse_trackers

        if parse_trackers(self.log) and self.strategy == DIFFERENTIABLE:
            raise InvalidInputError(
                "--log mirrors the trials of ask/tell strategies; --strategy differentiable trains one supernet"
            )
        if (self.latency == "predicted") != (self.predictor is not None):
            raise InvalidInputError("--latency predicted and --predictor P.json go together (written by edgenas predictor fit)")
        if self.predictor is not None:
            from edgenas.hardware.latency import load

            load(self.predictor)  # a missing or damaged file: one line before anything starts
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise InvalidInputError(f"--time-limit must be a positive number of seconds, got {self.time_limit_s:g}")
        if self.budget < 1:
            raise InvalidInputError(f"--budget must be a positive number of candidates, got {self.budget}")
        if self.seed < 0:
            raise InvalidInputError(f"--seed must be 0 or more, got {self.seed}")
        if self.train_subset is not None and self.train_subset < 1:
            raise InvalidInputError(f"--train-subset must be a positive number of examples, got {self.train_subset}")
        if self.epochs < 1:
            raise InvalidInputError(f"--epochs must be at least 1, got {self.epochs}")
        for name in ("workers", "batch", "threads_per_trial"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidInputError(f"{option_name(name)} must be at least 1, got {value}")
        if (self.workers > 1 or self.executor != "local") and self.strategy == DIFFERENTIABLE:
            raise InvalidInputError(
                "--workers and --executor apply to ask/tell strategies; --strategy differentiable trains one supernet"
            )
        from edgenas.devices import check_device_name, resolve_device

        check_device_name(self.device)
        if self.executor == "local" and self.device != "auto":
            resolve_device(self.device)  # --device cuda where there is none: one line, before anything starts
        if self.executor not in EXECUTORS:
            raise InvalidInputError(f"--executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.executor != "ray" and (self.ray_address is not None or self.gpus_per_trial or self.cpus_per_trial != 1.0):
            raise InvalidInputError("--ray-address, --cpus-per-trial and --gpus-per-trial go with --executor ray")
        if self.executor == "ray":
            if self.workers > 1:
                raise InvalidInputError(
                    "--workers is for --executor local; on Ray the cluster's resources set how many run at once"
                )
            from edgenas.executors.cluster import RayExecutor, check_counts, check_reachable

            RayExecutor.check_installed()
            check_counts(self.cpus_per_trial, self.gpus_per_trial)
            if self.ray_address is not None:
                check_reachable(self.ray_address)
        if self.max_trial_seconds is not None and self.max_trial_seconds <= 0:
            raise InvalidInputError("the per-trial time limit must be positive")
        if any(not (v > 0 and math.isfinite(v)) for v in self.sweep):
            raise InvalidInputError("--sweep: every latency limit must be a positive number of ms")
        for name in ("latency_ms", "sram_kb", "flash_kb"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value * 1024)):
                raise InvalidInputError(f"{option_name(name)} must be a positive, finite number, got {value:g}")
        self.limits()

    def to_yaml(self) -> str:
        """The resolved configuration as YAML (what ``config.yaml`` in the run folder holds)."""
        values = {OPTION_NAMES.get(k, k): _plain(v) for k, v in dataclasses.asdict(self).items()}
        return yaml.safe_dump(values, sort_keys=False)


def default_out(task: str, target: str) -> Path:
    """``runs/<task>-<target>``; a target file is named by its stem, a runtime variant joins with '-'."""
    name = Path(target).stem if target.endswith((".yaml", ".yml")) else target
    return RUNS_DIR / f"{task}-{name.replace(':', '-')}"


#: Config keys whose command-line option has another name.
OPTION_NAMES = {"time_limit_s": "time_limit"}
_FIELD_NAMES = {v: k for k, v in OPTION_NAMES.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def config_fields() -> list[str]:
    """The configuration's fields, in order."""
    return [f.name for f in dataclasses.fields(SearchConfig)]


def option_name(field: str) -> str:
    """The command-line option of a field: ``time_limit_s`` -> ``--time-limit``."""
    return "--" + OPTION_NAMES.get(field, field).replace("_", "-")


def read_config_file(path: Path) -> dict[str, Any]:
    """The options of a ``--config`` YAML file, by field name; unknown keys and bad YAML are clear errors.

    Keys are the command-line options without the dashes, in either spelling (``latency-ms`` or
    ``latency_ms``); ``--config`` and ``--json`` themselves are not options of a search. A run's
    ``config.yaml`` is such a file: ``--config RUN/config.yaml --resume`` continues that run.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"--config {path}: no such file")
    try:
        raw = safe_load(path.read_text(encoding="utf-8"))  # no aliases: a file cannot expand itself
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"--config {path} is not valid YAML ({first})") from None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidInputError(f"--config {path}: expected a mapping of options (e.g. 'budget: 20'), got {type(raw).__name__}")
    from edgenas.tasks import TASK_OPTIONS

    fields = config_fields()
    task_options = {name for names in TASK_OPTIONS.values() for name in names}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        name = _FIELD_NAMES.get(name, name)
        if name in task_options:  # a task's option as a flag (keywords: yes,no) joins the others
            out.setdefault("task_options", {})[name] = value
            continue
        if name == "task_options" and isinstance(value, Mapping):
            out["task_options"] = {**dict(value), **out.get("task_options", {})}
            continue
        if name not in fields:
            options = sorted(
                [*(OPTION_NAMES.get(f, f).replace("_", "-") for f in fields), *(o.replace("_", "-") for o in task_options)]
            )
            close = difflib.get_close_matches(str(key).replace("_", "-"), options, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InvalidInputError(f"--config {path}: unknown option {key!r}.{hint} Options: {', '.join(options)}.")
        out[name] = tuple(value) if name == "sweep" and isinstance(value, list) else value
    return out


def build_config(values: Mapping[str, Any], where: str = "the options") -> SearchConfig:
    """A :class:`SearchConfig` from option values, a type error becoming one clear line."""
    try:
        return SearchConfig(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error.get("loc") else "?"
        value = error.get("input")
        message = str(error["msg"]).removeprefix("Value error, ")  # a validator's own words, as they are
        raise InvalidInputError(f"{where}: {option_name(field)} {value!r}: {message}") from None


@dataclasses.dataclass
class SearchOutcome:
    """What ``run_search`` did: the summary (``report.json``) and where everything is."""

    summary: dict[str, Any]
    run_dir: Path
    trials: list[Trial] = dataclasses.field(default_factory=list)
