"""``edgenas search --strategy differentiable``: the supernet search re-entering the normal doors.

What it derives is costed by the normal analytical model, checked against the limits, trained
from scratch by the normal :class:`~edgenas.evaluators.train.TrainEvaluator`, stored as a trial
and finalised (test accuracy, export) exactly like the best trial of any other search, so
``report``/``export`` read the run folder unchanged. Trial 0 is the derived model; when the
argmax broke a limit, trial 0 is that argmax (stored INFEASIBLE, not trained) and trial 1 its
greedy repair (``extra.repaired = 1``).

``--sweep 2,3,5,8`` searches each latency limit in ``<out>/latency-<T>ms/`` (one ordinary run
folder each, sharing the warmed-up supernet and the baseline) and writes ``<out>/sweep.json``,
``sweep.md`` and ``sweep_pareto.png`` (accuracy against estimated latency of the derived models).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import resource
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.evaluators import EvaluatorContext
from edgenas.experiment import Experiment, Progress
from edgenas.files import write_text
from edgenas.report import plot_pareto, write_report
from edgenas.spaces import KwsSpace
from edgenas.store import RunFolder
from edgenas.strategies.queue import QueueStrategy
from edgenas.trial import Metrics, Trial, TrialState
from edgenas.workflows.config import SearchConfig, SearchOutcome
from edgenas.workflows.finalise import finalise_all, train_baseline
from edgenas.workflows.parts import make_cost, make_evaluator, parse_evaluator
from edgenas.workflows.prepare import Stopwatch, check_run_folder, open_run, prepare, record_invocation

if TYPE_CHECKING:
    from edgenas.supernets.differentiable.search import DerivedArch

log = logging.getLogger(__name__)


def parse_sweep(text: str | None) -> tuple[float, ...]:
    """``"2,3,5,8"`` -> ``(2.0, 3.0, 5.0, 8.0)``; empty or None -> ``()``."""
    if not text:
        return ()
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InvalidInputError(f"--sweep {text!r}: expected latency limits in ms separated by commas, e.g. 2,3,5,8") from None
    if not values or any(not (v > 0 and math.isfinite(v)) for v in values):
        raise InvalidInputError(f"--sweep {text!r}: every latency limit must be a positive number of ms")
    return values


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (``getrusage``: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


class _WithExtra:
    """An evaluator that adds the differentiable search's record to the derived trial's metrics."""

    def __init__(self, evaluator: Any, arch: Arch, extra: dict[str, float]) -> None:
        self.evaluator, self.arch, self.extra = evaluator, arch, extra
        self.name = getattr(evaluator, "name", "train")

    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        metrics = self.evaluator.evaluate(arch, budget=budget)
        return Metrics(metrics.accuracy, {**metrics.extra, **self.extra}) if arch == self.arch else metrics


def run_differentiable(
    config: SearchConfig, progress: Callable[[Progress], None] | None = None, status: Callable[[str], None] | None = None
) -> SearchOutcome:
    """Run a differentiable search (or a ``--sweep`` of them) for a :class:`SearchConfig`."""
    from edgenas.supernets.differentiable.losses import ArchLoss
    from edgenas.supernets.differentiable.search import DifferentiableSearch

    say = status or (lambda message: log.info(message))
    config.validate()
    ArchLoss(kind=config.latency_loss)  # an unknown --latency-loss fails before any work
    if config.resume:
        raise InvalidInputError("--resume is not supported with --strategy differentiable: start it again with another --out")
    if config.sweep:
        limits_ms = tuple(config.sweep)
    elif config.latency_ms is not None:
        limits_ms = (float(config.latency_ms),)
    else:
        raise InvalidInputError("--strategy differentiable needs a latency limit (--latency-ms or --sweep)")
    top = RunFolder(config.run_dir)
    runs = [top.sweep_run(t) for t in limits_ms] if config.sweep else [top]
    for run in runs:
        check_run_folder(run, resume=False)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    prepared = prepare(config, say)
    space, data, target = prepared.space, prepared.data, prepared.target
    # validate() admitted the kws space only; its target-filtered view acts as one
    search = DifferentiableSearch(
        cast(KwsSpace, space), data, target, epochs=config.epochs, seed=config.seed, device=config.device
    )
    say("building the per-choice cost tables from the layer IR")
    t0 = time.perf_counter()
    search.table  # noqa: B018  (built once, shared by every limit)
    table_s = time.perf_counter() - t0
    w0, c0 = time.perf_counter(), time.process_time()
    search.warmup(say)
    warmup_s, warmup_cpu_s = time.perf_counter() - w0, time.process_time() - c0

    baseline: Trial | None = None
    rows, summaries, derived_trials = [], [], []
    for latency_limit, run in zip(limits_ms, runs, strict=True):
        sub = dataclasses.replace(config, latency_ms=latency_limit, out=run.path, sweep=())
        here = dataclasses.replace(prepared, config=sub, limits=sub.limits(target))
        watch = Stopwatch()
        store = open_run(here, extra_identity={"latency_loss": sub.latency_loss})
        try:
            context = EvaluatorContext(space, data, seed=sub.seed, epochs=sub.epochs, max_trial_seconds=sub.max_trial_seconds)
            trainer = make_evaluator(parse_evaluator("train"), context)
            cost = make_cost(space, target, "estimated", run)
            loss = ArchLoss(kind=sub.latency_loss, latency_ms=latency_limit, sram_bytes=here.limits.sram_bytes)
            say(f"differentiable search at {latency_limit:g} ms ({sub.latency_loss} loss)")
            with watch.stage("supernet"):
                result = search.search(here.limits, loss, say)
            if result.repaired:
                argmax = space.describe(result.argmax)
                say(f"the argmax breaks the limits ({argmax}): greedy repair in {result.repair_steps} steps")
            queue = QueueStrategy([result.argmax, result.arch] if result.repaired else [result.arch])
            evaluator = _WithExtra(trainer, result.arch, _record(result, warmup_s))
            # the derived network (after the argmax, when it broke a limit) enters the one loop
            experiment = Experiment(space, queue, evaluator, cost, here.limits, store, budget=1)
            if baseline is None:
                baseline = train_baseline(experiment, store, say, watch)
                if baseline is not None:
                    baseline = next(iter(finalise_all((baseline,), trainer, here, store, say, watch)), baseline)
            else:
                store.put(baseline)
            say(f"training the derived model from scratch: {space.describe(result.arch)}")
            with watch.stage("search"):
                experiment.run(progress)
            trial = experiment.trials[-1]
            trial = next(iter(finalise_all((trial,), trainer, here, store, say, watch)), trial)
            if result.repaired:
                how = f"argmax infeasible, repaired in {result.repair_steps} steps"
            elif result.grow_steps:
                how = f"argmax grown towards the limit in {result.grow_steps} steps"
            else:
                how = "argmax"
            stop = f"differentiable search ({sub.latency_loss}), {config.epochs} supernet epochs; derived {how}"
            record_invocation(store, watch)
            summary = write_report(store, run.path, stop_reason=stop)
        finally:
            store.close()
        summary["differentiable"] = {
            "latency_loss": sub.latency_loss,
            "derived": space.describe(result.arch),
            "argmax": space.describe(result.argmax),
            "repaired": result.repaired,
            "derivation": result.derivation,
            "grow_steps": result.grow_steps,
            "argmax_latency_ms": result.argmax_cost.latency_ms,
            "feasible": result.feasible,
            "expected_latency_ms": result.expected_latency_ms,
            "expected_sram_bytes_upper": result.expected_sram_bytes,
            "multipliers": result.multipliers,
            "search_s": result.search_s,
            "search_cpu_s": result.cpu_s,
            "warmup_s": warmup_s,
            "warmup_cpu_s": warmup_cpu_s,
            "table_s": table_s,
            "history": result.history,
            "probabilities": result.probabilities,
        }
        write_text(run.differentiable_json, json.dumps(summary["differentiable"], indent=2) + "\n")
        summaries.append(summary)
        derived_trials.append(trial)
        rows.append(_row(latency_limit, trial, result))

    resources = {"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0, "peak_rss_bytes": peak_rss_bytes()}
    chosen = next((s for t, s in zip(limits_ms, summaries, strict=True) if t == config.latency_ms), summaries[-1])
    chosen = {**chosen, "resources": resources}
    if config.sweep:
        sweep = {"latency_loss": config.latency_loss, "epochs": config.epochs, "rows": rows, "resources": resources}
        write_text(top.sweep_json, json.dumps(sweep, indent=2) + "\n")
        write_text(top.sweep_md, sweep_markdown(sweep))
        done = [t for t in derived_trials if t.state is TrialState.COMPLETE]
        plot_pareto(done, baseline, {}, top.sweep_pareto_png, f"differentiable sweep on {target.name}: derived models")
        chosen["sweep"] = rows
    return SearchOutcome(summary=chosen, run_dir=top.path, trials=derived_trials)


def _record(result: DerivedArch, warmup_s: float) -> dict[str, float]:
    """What the derived trial stores about the search that derived it (``extra`` metrics)."""
    return {
        "supernet_search_s": result.search_s,
        "supernet_search_cpu_s": result.cpu_s,
        "supernet_warmup_s": warmup_s,
        "expected_latency_ms": result.expected_latency_ms,
        "expected_sram_bytes_upper": result.expected_sram_bytes,
        "argmax_latency_ms": result.argmax_cost.latency_ms,
        "argmax_peak_sram_bytes": float(result.argmax_cost.peak_sram_bytes),
        "repaired": float(result.repaired),
        "repair_steps": float(result.repair_steps),
        "grow_steps": float(result.grow_steps),
        **{f"multiplier_{k}": v for k, v in result.multipliers.items()},
    }


def _row(limit_ms: float, trial: Trial, result: DerivedArch) -> dict:
    extra = dict(trial.metrics.extra) if trial.metrics else {}
    return {
        "latency_limit_ms": limit_ms,
        "state": trial.state.value,
        "repaired": result.repaired,
        "derivation": result.derivation,
        "argmax_latency_ms": result.argmax_cost.latency_ms,
        "latency_ms": trial.cost.latency_ms if trial.cost else None,
        "peak_sram_bytes": trial.cost.peak_sram_bytes if trial.cost else None,
        "flash_bytes": trial.cost.flash_bytes if trial.cost else None,
        "expected_latency_ms": result.expected_latency_ms,
        "accuracy": trial.accuracy,
        "test_accuracy": extra.get("test_accuracy"),
        "search_s": result.search_s,
        "search_cpu_s": result.cpu_s,
        "retrain_s": extra.get("train_s"),
        "arch": list(trial.arch.genes),
    }


def sweep_markdown(sweep: dict) -> str:
    """The sweep as a Markdown table (estimates and measurements labelled)."""
    lines = [
        f"# Differentiable sweep ({sweep['latency_loss']} loss, {sweep['epochs']} epochs)",
        "",
        "| limit ms | derived latency ms (est.) | derived peak SRAM B (est.) | val acc | test acc | repaired "
        "| search s (wall) | search s (CPU) |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{100 * v:.1f} %"

    for r in sweep["rows"]:
        lines.append(
            f"| {r['latency_limit_ms']:g} | {r['latency_ms']:.2f} | {r['peak_sram_bytes']:,} | {pct(r['accuracy'])} | "
            f"{pct(r['test_accuracy'])} | {'yes' if r['repaired'] else 'no'} | {r['search_s']:.0f} | {r['search_cpu_s']:.0f} |"
        )
    res = sweep["resources"]
    lines += [
        "",
        f"Whole sweep: {res['wall_s']:.0f} s wall, {res['cpu_s']:.0f} s CPU, peak RSS {res['peak_rss_bytes'] / 2**20:.0f} MiB.",
    ]
    return "\n".join(lines) + "\n"
