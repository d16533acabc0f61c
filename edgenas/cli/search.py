"""``edgenas search``: options from the flags and a ``--config`` YAML file, the search, the summary.

Every option can come from ``--config FILE`` (keys as the flags, ``budget: 20`` or
``latency-ms: 3``); a flag typed on the command line overrides the file, and a flag not typed
leaves the file's value (or :class:`~edgenas.workflows.config.SearchConfig`'s default, which is
what ``--help`` shows). The resolved configuration is written to ``RUN/config.yaml``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from edgenas.cli.console import Interrupted, SearchProgress, json_option, lazy_help, print_json, problem, stdout_console
from edgenas.errors import DeviceUnavailableError
from edgenas.files import OutputError
from edgenas.workflows.config import OPTION_NAMES, SearchConfig, build_config, config_fields, read_config_file

#: SearchConfig's defaults: what a flag neither typed nor in --config means (and what --help shows).
DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(SearchConfig)}
#: The search's parameter names (as ``ctx.params`` has them) -> SearchConfig fields.
FIELD_OF_PARAM = {OPTION_NAMES.get(name, name): name for name in config_fields()}


def _task_help() -> str:
    from edgenas.tasks import TASKS

    return f"Task: {TASKS.help()}. See docs/tasks.md."


def _space_help() -> str:
    from edgenas.spaces import SPACES

    return f"Search space: auto (the task's: kws for audio, mbconv for images), {SPACES.help()}. See docs/spaces.md."


def _strategy_help() -> str:
    from edgenas.workflows.parts import strategy_help

    return f"Search strategy: {strategy_help()}."


def _evaluator_help() -> str:
    from edgenas.workflows.parts import evaluator_help

    return f"How candidates are scored: {evaluator_help()}. See docs/evaluators.md."


def _target_help() -> str:
    from edgenas.hardware import target_names

    return (
        f"Target device: a registered one ({', '.join(target_names())}; see `edgenas targets`), a runtime variant "
        "name:variant (e.g. cortex-m4:tflm-cmsis-nn), or the path of a target YAML file (docs/targets.md)."
    )


def _latency_loss_help() -> str:
    from edgenas.supernets.differentiable.losses import LOSSES

    return f"Differentiable only: the latency loss, one of {', '.join(LOSSES)} (docs/differentiable.md)."


def _latency_help() -> str:
    from edgenas.workflows.config import LATENCY_SOURCES

    return (
        f"Where latency comes from: {' or '.join(LATENCY_SOURCES)} (measured: timed here by ONNX Runtime; compiled: "
        "each candidate built by --compiler and timed here, docs/compile.md; both --target host)."
    )


@lazy_help(
    task=_task_help,
    space=_space_help,
    strategy=_strategy_help,
    evaluator=_evaluator_help,
    target=_target_help,
    latency_loss=_latency_loss_help,
    latency=_latency_help,
)
def search(
    ctx: typer.Context,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="YAML file of search options, keys as the flags without dashes (e.g. 'budget: 20', 'latency-ms: 3'); "
            "flags typed on the command line override it.",
        ),
    ] = None,
    task: Annotated[str, typer.Option(help="Task.")] = DEFAULTS["task"],
    data: Annotated[
        Path | None,
        typer.Option(
            help="Your data: kws, one folder of WAVs per word (Speech Commands layout; default synthetic speech); "
            "images, one folder of images per class; fashion-mnist, a folder of its IDX files."
        ),
    ] = DEFAULTS["data"],
    keywords: Annotated[
        str | None,
        typer.Option(
            help="kws: the words to spot, comma-separated (e.g. lights,music,stop); other word folders of --data become "
            "_unknown_, and the synthetic default speaks these words. 'all': every word folder of --data is a class.",
            show_default="the ten Speech Commands keywords",
        ),
    ] = None,
    clip_seconds: Annotated[
        float | None, typer.Option(help="kws: length of a clip, s (recordings are centre-cropped or padded).", show_default="1")
    ] = None,
    sample_rate: Annotated[
        int | None,
        typer.Option(
            help="kws: the front end's sample rate, Hz (e.g. 8000; recordings at another rate are resampled).",
            show_default="16000",
        ),
    ] = None,
    window_ms: Annotated[float | None, typer.Option(help="kws: MFCC analysis window, ms.", show_default="40")] = None,
    hop_ms: Annotated[float | None, typer.Option(help="kws: step between windows, ms.", show_default="20")] = None,
    n_mfcc: Annotated[
        int | None, typer.Option(help="kws: MFCCs per frame (at most the 40 mel bands).", show_default="10")
    ] = None,
    scenes: Annotated[
        int | None,
        typer.Option(help="detection: synthetic scenes to draw (without --data; split 70/15/15).", show_default="2000"),
    ] = None,
    image_size: Annotated[
        int | None,
        typer.Option(help="detection: side of the square images, pixels (drawn at, or --data resized to).", show_default="96"),
    ] = None,
    target: Annotated[str, typer.Option(help="Target device.")] = DEFAULTS["target"],
    latency_ms: Annotated[float, typer.Option(help="Latency limit, ms (estimated on the target).")] = DEFAULTS["latency_ms"],
    latency: Annotated[str, typer.Option(help="Where latency comes from.")] = DEFAULTS["latency"],
    fps: Annotated[
        float | None,
        typer.Option(
            help="Frames per second to sustain: a latency limit of 1000/FPS ms (the tighter one with --latency-ms, which "
            "is then only a limit if typed) and the duty cycle of the reported average power (docs/targets.md)."
        ),
    ] = DEFAULTS["fps"],
    energy_mj: Annotated[
        float | None,
        typer.Option(help="Limit on the estimated energy per inference, mJ (targets with an energy model: docs/targets.md)."),
    ] = DEFAULTS["energy_mj"],
    objectives: Annotated[
        str | None,
        typer.Option(
            help="What nsga2 optimises: accuracy,latency (its default), accuracy,energy or accuracy,latency,energy; other "
            "strategies rank by accuracy under the limits. The report gives the accuracy-energy front and its hypervolume.",
            show_default="the strategy's own",
        ),
    ] = DEFAULTS["objectives"],
    population: Annotated[
        int | None,
        typer.Option(
            help="Candidates per population of evolution and nsga2 (default 16 and 20): fewer reach later generations "
            "within a small budget, when each candidate trains for minutes.",
            show_default="the strategy's own",
        ),
    ] = DEFAULTS["population"],
    agent: Annotated[
        str | None,
        typer.Option(help="--latency measured on the device of 'edgenas agent serve' at this URL (docs/agent.md)."),
    ] = DEFAULTS["agent"],
    agent_token_file: Annotated[
        Path | None, typer.Option(help="The token file of --agent (the agent's own, chmod 600).")
    ] = DEFAULTS["agent_token_file"],
    agent_runtime: Annotated[
        str,
        typer.Option(
            help="What times candidates on --agent's device: onnxruntime (ONNX), litert (int8 TFLite, XNNPACK) "
            "or litert-no-xnnpack (int8 TFLite, built-in kernels; litert needs edgenas[tflite] here and there)."
        ),
    ] = DEFAULTS["agent_runtime"],
    predictor: Annotated[
        Path | None, typer.Option(help="--latency predicted: rank by this latency predictor (edgenas predictor fit).")
    ] = DEFAULTS["predictor"],
    compiler: Annotated[
        str | None, typer.Option(help="--latency compiled: the compiler that builds each candidate: tvm (the tvm extra).")
    ] = DEFAULTS["compiler"],
    compile_target: Annotated[
        str, typer.Option(help="--latency compiled: the compiler's target on this host, e.g. 'llvm -mcpu=skylake'.")
    ] = DEFAULTS["compile_target"],
    tune_trials_per_candidate: Annotated[
        int,
        typer.Option(
            help="--latency compiled: MetaSchedule trials for each candidate's new workloads, from one tuning database "
            "the search shares (0: TVM's default schedules)."
        ),
    ] = DEFAULTS["tune_trials_per_candidate"],
    compiler_choices: Annotated[
        str | None,
        typer.Option(
            help="--latency compiled: compiler settings searched beside the architecture, comma-separated: layout "
            "(NCHW/NHWC), fusion (on/off), opt-level (LLVM 3/2/1), trials (0/8/32 per candidate); docs/compile.md."
        ),
    ] = DEFAULTS["compiler_choices"],
    feedback_rounds: Annotated[
        int | None,
        typer.Option(
            help="--latency compiled: split the budget into R rounds priced by a latency model (no compile per candidate); "
            "each round's finalists are compiled and tuned, and their latencies refit the model (docs/compile.md)."
        ),
    ] = DEFAULTS["feedback_rounds"],
    finalists_per_round: Annotated[
        int, typer.Option(help="--feedback-rounds: finalists compiled and tuned at the end of each round.")
    ] = DEFAULTS["finalists_per_round"],
    tune_trials_per_finalist: Annotated[
        int, typer.Option(help="--feedback-rounds: MetaSchedule trials for each finalist's new workloads (shared database).")
    ] = DEFAULTS["tune_trials_per_finalist"],
    sram_kb: Annotated[float, typer.Option(help="Peak SRAM limit, KiB (tensor arena).")] = DEFAULTS["sram_kb"],
    flash_kb: Annotated[float, typer.Option(help="Flash limit, KiB (model size).")] = DEFAULTS["flash_kb"],
    space: Annotated[str, typer.Option(help="Search space.")] = DEFAULTS["space"],
    strategy: Annotated[str, typer.Option(help="Search strategy.")] = DEFAULTS["strategy"],
    evaluator: Annotated[str, typer.Option(help="How candidates are scored.")] = DEFAULTS["evaluator"],
    budget: Annotated[
        int, typer.Option(help="Candidates to train (infeasible ones are not trained and do not count).")
    ] = DEFAULTS["budget"],
    epochs: Annotated[int, typer.Option(help="Training epochs per candidate.")] = DEFAULTS["epochs"],
    train_subset: Annotated[
        int | None, typer.Option(help="Train on this many training examples (class-stratified; val and test stay whole).")
    ] = DEFAULTS["train_subset"],
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same search.")] = DEFAULTS["seed"],
    out: Annotated[
        str | None,  # a str, not a Path: Path("") is ".", and an empty --out must be refused, not searched into
        typer.Option(
            metavar="PATH", help="Run folder (trials.db, config.yaml, report, best model).", show_default="runs/<task>-<target>"
        ),
    ] = DEFAULTS["out"],
    resume: Annotated[bool, typer.Option(help="Continue the search stored in --out.")] = DEFAULTS["resume"],
    max_trial_seconds: Annotated[float, typer.Option(help="Wall-clock limit per candidate's training, s.")] = DEFAULTS[
        "max_trial_seconds"
    ],
    time_limit: Annotated[
        float | None,
        typer.Option(
            help="Start no new candidate after this many seconds (this invocation; the finalists are still retrained). "
            "The seed fixes the candidates' order; the limit decides where it ends."
        ),
    ] = DEFAULTS["time_limit_s"],
    workers: Annotated[
        int, typer.Option(help="Local worker processes evaluating candidates in parallel (the trials do not depend on it).")
    ] = DEFAULTS["workers"],
    batch: Annotated[
        int,
        typer.Option(help="Candidates asked per round before any is told: give workers that many to run at once."),
    ] = DEFAULTS["batch"],
    threads_per_trial: Annotated[
        int | None,
        typer.Option(help="Torch threads per training (default: the cores divided among the workers). Part of the run."),
    ] = DEFAULTS["threads_per_trial"],
    executor: Annotated[
        str, typer.Option(help="local (this process, or --workers processes) or ray (each candidate a Ray task; edgenas[ray]).")
    ] = DEFAULTS["executor"],
    ray_address: Annotated[
        str | None, typer.Option(help="Ray: a running cluster's host:port (default: a local Ray instance for the search).")
    ] = DEFAULTS["ray_address"],
    cpus_per_trial: Annotated[float, typer.Option(help="Ray: CPUs of one candidate's task.")] = DEFAULTS["cpus_per_trial"],
    gpus_per_trial: Annotated[float, typer.Option(help="Ray: GPUs of one candidate's task (fractions allowed).")] = DEFAULTS[
        "gpus_per_trial"
    ],
    device: Annotated[
        str,
        typer.Option(help="Torch device of every training: auto (a GPU when there is one), cpu, cuda, cuda:N or mps."),
    ] = DEFAULTS["device"],
    amp: Annotated[bool, typer.Option(help="Mixed precision training on CUDA.")] = DEFAULTS["amp"],
    qat: Annotated[
        bool,
        typer.Option(
            help="Finalists: quantization-aware training (PT2E), int8 accuracy on TFLite Micro beside post-training "
            "quantization's; edgenas[tflite]."
        ),
    ] = DEFAULTS["qat"],
    log: Annotated[
        str | None,
        typer.Option(
            help="Mirror each trial to trackers: tensorboard (RUN/tensorboard/), mlflow (RUN/mlflow.db, or "
            "MLFLOW_TRACKING_URI), comma-separated; edgenas[track]."
        ),
    ] = DEFAULTS["log"],
    as_json: Annotated[bool, json_option("Print the summary as one JSON object on stdout.")] = False,
    latency_loss: Annotated[str, typer.Option(help="Differentiable only: the latency loss.")] = DEFAULTS["latency_loss"],
    sweep: Annotated[
        str | None, typer.Option(help="Differentiable only: latency limits in ms, e.g. 2,3,5,8 (one run each).")
    ] = None,
) -> None:
    """Find the most accurate network that meets the target's limits."""
    config = resolve_config(ctx, config_file)  # a bad --config file fails before the search's imports
    from edgenas.workflows.search import run_search

    display = SearchProgress(config.budget)
    try:
        outcome = run_search(config, display.trial, display.status)
    except KeyboardInterrupt:
        raise Interrupted(_interrupted(config)) from None
    except OutputError as exc:  # a full disk mid-run: what was finished is in the store
        from edgenas.store import RunFolder

        if not RunFolder(config.run_dir).holds_search():
            raise
        raise OutputError(f"{exc}; the finished trials are kept in {config.run_dir}: --resume continues") from None
    except DeviceUnavailableError as exc:  # the measuring device stopped answering mid-search
        from edgenas.store import RunFolder

        if not RunFolder(config.run_dir).holds_search():
            raise
        kept = f"the finished trials are kept in {config.run_dir}: --resume continues once the device answers"
        raise DeviceUnavailableError(f"{exc}; {kept}") from None
    finally:
        display.close()
    summary = outcome.summary
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary)
    if summary["best"] is None:
        from edgenas.experiment import TIME_LIMIT_REACHED

        reason = summary["search"]["stop_reason"]
        if reason.startswith(TIME_LIMIT_REACHED):  # none trained in time: not the limits' fault
            problem("no candidate was trained:", f"{reason}; raise --time-limit (or --resume with a larger one)")
        else:
            problem("no candidate met the limits:", reason)
        raise typer.Exit(1)


def _interrupted(config: SearchConfig) -> str:
    """What Ctrl-C leaves: the finished trials in the run folder, which --resume continues."""
    from edgenas.errors import EdgenasError
    from edgenas.store import RunFolder
    from edgenas.trial import TrialState

    run = RunFolder(config.run_dir)
    if not run.holds_search():
        return f"stopped before the search began; nothing to resume in {config.run_dir}"
    try:
        with run.read_store() as store:
            kept = sum(t.state is not TrialState.RUNNING for t in store.trials(role="search"))
    except EdgenasError:  # the count is a courtesy: the line says how to go on regardless
        return f"finished trials are kept in {config.run_dir}; continue with the same options and --resume"
    trials = "1 finished trial is" if kept == 1 else f"{kept} finished trials are"
    return f"{trials} kept in {config.run_dir}; continue with the same options and --resume"


def _typed(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave ``name`` (on the command line, or through an environment variable)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def resolve_config(ctx: typer.Context, config_file: Path | None) -> SearchConfig:
    """The ``--config`` file's options, overridden by the flags typed, as a checked SearchConfig."""
    from edgenas.tasks import TASK_OPTIONS
    from edgenas.workflows.differentiable import parse_sweep

    task_params = {name for names in TASK_OPTIONS.values() for name in names}  # flags that are a task's own options

    values: dict[str, Any] = read_config_file(config_file) if config_file is not None else {}
    if isinstance(values.get("sweep"), str):  # "2,3,5" in the file as on the command line
        values["sweep"] = parse_sweep(values["sweep"])
    for param, value in ctx.params.items():
        if param in task_params and _typed(ctx, param):  # typed flags override the file's task options
            values["task_options"] = {**dict(values.get("task_options") or {}), param: value}
            continue
        field = FIELD_OF_PARAM.get(param)
        if field is None or not _typed(ctx, param):
            continue
        values[field] = parse_sweep(value) if field == "sweep" else value
    if values.get("fps") is not None and "latency_ms" not in values:  # --fps alone: its frame period is the limit
        values["latency_ms"] = None
    return build_config(values, where=f"--config {config_file}" if config_file is not None else "the options")


def _latency_source(summary: dict) -> str:
    return (summary["best"] or {}).get("sources", {}).get("latency_ms", "estimated")


def _print_summary(summary: dict) -> None:
    from rich.table import Table

    from edgenas.report.markdown import limits_text

    table = Table(
        title=f"limits: {limits_text(summary['constraints'])}",
        caption=f"latency {_latency_source(summary)}; SRAM and flash estimated; accuracies measured",
    )
    for column in ("model", "val acc", "test acc", "latency ms", "peak SRAM B", "flash B", "MACs"):
        table.add_column(column, justify="left" if column == "model" else "right")

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}%"

    for name in ("best", "baseline"):
        rec = summary[name]
        if rec is not None:
            table.add_row(
                name,
                pct(rec.get("accuracy")),
                pct(rec.get("test_accuracy")),
                f"{rec['latency_ms']:.2f}",
                f"{rec['peak_sram_bytes']:,}",
                f"{rec['flash_bytes']:,}",
                f"{rec['macs']:,}",
            )
    console = stdout_console()
    console.print(table)
    for line in [*_energy_lines(summary.get("energy")), *_compiled_line(summary.get("compiled"))]:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    for name in ("best", "baseline"):
        if summary[name] is not None:
            console.print(f"{name}: {summary[name]['description']}", highlight=False, markup=False, soft_wrap=True)
    folder = f"run folder: {summary['run_dir']} (config.yaml, report.md, report.json, pareto.png, trials.db, best/)"
    console.print(folder, highlight=False, markup=False, soft_wrap=True)


def _compiled_line(compiled: dict | None) -> list[str]:
    """``--latency compiled``: compile time per candidate over the search, and the tuning records reused."""
    if not compiled:
        return []
    per = compiled["compile_s_per_candidate"]
    line = (
        f"compiled {compiled['candidates']} candidates ({compiled['compiler']}, {compiled['compile_target']}): "
        f"{per['first_third']:.2f} s a candidate over the first third, {per['last_third']:.2f} s over the last"
    )
    share = compiled.get("reused_share")
    if share and share.get("all") is not None:
        line += (
            f"; tuning records reused for {compiled['reused_tasks']} of {compiled['tasks']} tasks ({100 * share['all']:.1f} %, "
            f"{100 * (share['last_third'] or 0):.1f} % over the last third)"
        )
    return [line]


def _energy_lines(energy: dict | None) -> list[str]:
    """The best model's estimated energy and average power, and the accuracy-energy front's hypervolume."""
    if not energy or energy.get("best") is None:
        return []
    best, fps = energy["best"], energy.get("fps")
    power = f", average power {best['average_power_mw']:.3g} mW at {fps:g} FPS" if fps is not None else ""
    lines = [f"best: energy {best['energy_mj']:.4g} mJ per inference{power} (estimated)"]
    hv = energy.get("hypervolume")
    if hv is not None:
        lines.append(
            f"front ({', '.join(energy['front_objectives'])}): {len(energy['front'])} models, hypervolume "
            f"{hv['value']:.4g} ({hv['of']}, reference {hv['reference'][0]:g}, {hv['reference'][1]:.4g} mJ)"
        )
    return lines
