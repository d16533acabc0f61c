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
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.evaluators.base import TrialFailed
from edgenas.objectives import Limits, check
from edgenas.store import SqliteStore
from edgenas.trial import Metrics, Trial, TrialState

log = logging.getLogger(__name__)


def parse_sweep(text: str | None) -> tuple[float, ...]:
    """``"2,3,5,8"`` -> ``(2.0, 3.0, 5.0, 8.0)``; empty or None -> ``()``."""
    import math

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


class _Trained:
    """An evaluator that hands back an already trained model: ``_finalise`` then scores and
    exports it without training the same (deterministic) network a second time."""

    def __init__(self, evaluator, trained, arch: Arch) -> None:  # type: ignore[no-untyped-def]
        self.evaluator, self.trained, self.trained_arch = evaluator, trained, arch

    def train(self, arch: Arch, *, budget: float = 1.0):  # type: ignore[no-untyped-def]
        return self.trained if arch == self.trained_arch else self.evaluator.train(arch, budget=budget)

    def test_accuracy(self, model) -> float:  # type: ignore[no-untyped-def]
        return self.evaluator.test_accuracy(model)


def _assess(
    number: int, arch: Arch, role: str, cost_fn, limits: Limits, evaluator, store: SqliteStore, enforce: bool, extra: dict
):  # type: ignore[no-untyped-def]
    """Cost, check, train once and store; returns (trial, trained model or None)."""
    start = time.perf_counter()
    cost = cost_fn(arch)
    violations = tuple(str(v) for v in check(cost, limits))
    if violations and enforce:
        trial = Trial(number, arch, TrialState.INFEASIBLE, cost=cost, violations=violations, role=role,
                      metrics=None, duration_s=time.perf_counter() - start)  # fmt: skip
        store.put(trial)
        return trial, None
    store.put(Trial(number, arch, TrialState.RUNNING, cost=cost, violations=violations, role=role))
    try:
        trained = evaluator.train(arch)
    except (TrialFailed, RuntimeError, MemoryError) as exc:
        trial = Trial(number, arch, TrialState.FAIL, cost=cost, error=f"{type(exc).__name__}: {exc}"[:500],
                      violations=violations, role=role, duration_s=time.perf_counter() - start)  # fmt: skip
        store.put(trial)
        return trial, None
    metrics = Metrics(trained.metrics.accuracy, {**trained.metrics.extra, **extra})
    trial = Trial(number, arch, TrialState.COMPLETE, cost=cost, metrics=metrics, violations=violations, role=role,
                  duration_s=time.perf_counter() - start)  # fmt: skip
    store.put(trial)
    return trial, trained


def run_differentiable(config, progress=None, status: Callable[[str], None] | None = None):  # type: ignore[no-untyped-def]
    """Run a differentiable search (or a ``--sweep`` of them) for a :class:`SearchConfig`."""
    from edgenas.evaluators.train import TrainEvaluator
    from edgenas.hardware import AnalyticalCostModel, load_target
    from edgenas.report import plot_pareto, write_report
    from edgenas.spaces import KwsSpace
    from edgenas.supernets.differentiable.losses import ArchLoss
    from edgenas.supernets.differentiable.search import DifferentiableSearch
    from edgenas.tasks.kws import load_kws
    from edgenas.workflows.search import BASELINE, BASELINE_NUMBER, SearchOutcome, _finalise

    say = status or (lambda message: log.info(message))
    config.validate()
    ArchLoss(kind=config.latency_loss)  # an unknown --latency-loss fails before any work
    if config.resume:
        raise InvalidInputError("--resume is not supported with --strategy differentiable: start it again with another --out")
    if config.latency_ms is None and not config.sweep:
        raise InvalidInputError("--strategy differentiable needs a latency limit (--latency-ms or --sweep)")
    limits_ms = tuple(config.sweep) or (float(config.latency_ms),)
    folders = [config.out / f"latency-{t:g}ms" for t in limits_ms] if config.sweep else [config.out]
    for folder in folders:
        if (folder / "trials.db").exists():
            raise InvalidInputError(f"{folder} already holds a search: choose another --out")
    if config.data is not None and not Path(config.data).is_dir():
        raise InvalidInputError(f"--data {config.data}: not a readable folder (expected one sub-folder of WAVs per word)")

    wall0, cpu0 = time.perf_counter(), time.process_time()
    target = load_target(config.target)
    say("preparing data (synthesised once, then cached)" if config.data is None else f"reading {config.data}")
    data = load_kws(config.data, cache_dir=config.cache_dir, seed=config.seed)
    space = KwsSpace(num_classes=len(data.classes), input_shape=tuple(data.input_shape))  # type: ignore[arg-type]
    evaluator = TrainEvaluator(space, data, epochs=config.epochs, seed=config.seed, max_seconds=config.max_trial_seconds)
    model = AnalyticalCostModel()

    def cost_fn(arch: Arch):  # type: ignore[no-untyped-def]
        return model.estimate(space.layers(arch), target)

    search = DifferentiableSearch(space, data, target, epochs=config.epochs, seed=config.seed)
    say("building the per-choice cost tables from the layer IR")
    t0 = time.perf_counter()
    search.table  # noqa: B018  (built once, shared by every limit)
    table_s = time.perf_counter() - t0
    w0, c0 = time.perf_counter(), time.process_time()
    search.warmup(say)
    warmup_s, warmup_cpu_s = time.perf_counter() - w0, time.process_time() - c0
    fingerprint = data.fingerprint()

    baseline: Trial | None = None
    rows, summaries, derived_trials = [], [], []
    for latency_limit, folder in zip(limits_ms, folders, strict=True):
        sub = dataclasses.replace(config, latency_ms=latency_limit, out=folder, sweep=())
        limits = sub.limits(target)
        folder.mkdir(parents=True, exist_ok=True)
        store = SqliteStore(folder / "trials.db")
        try:
            store.write_config(
                {
                    "identity": {**sub.identity(), "data_sha1": fingerprint, "latency_loss": sub.latency_loss},
                    "limits": limits.to_dict(),
                    "target": target.to_dict(),
                    "space": space.name,
                    "classes": list(data.classes),
                    "data": data.describe(),
                }
            )
            if baseline is None:
                say(f"training the {BASELINE.upper()} baseline with the same recipe")
                baseline, trained = _assess(
                    BASELINE_NUMBER, space.named(BASELINE), "baseline", cost_fn, limits, evaluator, store, False, {}
                )
                if trained is not None:
                    _finalise(baseline, _Trained(evaluator, trained, baseline.arch), space, data, store, folder, sub)
                    baseline = store.trials(role="baseline")[0]
            else:
                store.put(baseline)
            loss = ArchLoss(kind=sub.latency_loss, latency_ms=latency_limit, sram_bytes=limits.sram_bytes)
            say(f"differentiable search at {latency_limit:g} ms ({sub.latency_loss} loss)")
            result = search.search(limits, loss, say)
            extra = {
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
            number = 0
            if result.repaired:
                say(
                    f"the argmax breaks the limits ({space.describe(result.argmax)}): "
                    f"greedy repair in {result.repair_steps} steps"
                )
                _assess(0, result.argmax, "search", cost_fn, limits, evaluator, store, True, {})
                number = 1
            say(f"retraining the derived model from scratch: {space.describe(result.arch)}")
            trial, trained = _assess(number, result.arch, "search", cost_fn, limits, evaluator, store, True, extra)
            if trained is not None:
                _finalise(trial, _Trained(evaluator, trained, trial.arch), space, data, store, folder, sub)
                trial = store.trials(role="search")[-1]
            if result.repaired:
                how = f"argmax infeasible, repaired in {result.repair_steps} steps"
            elif result.grow_steps:
                how = f"argmax grown towards the limit in {result.grow_steps} steps"
            else:
                how = "argmax"
            stop = f"differentiable search ({sub.latency_loss}), {config.epochs} supernet epochs; derived {how}"
            summary = write_report(store, folder, stop_reason=stop)
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
        (folder / "differentiable.json").write_text(json.dumps(summary["differentiable"], indent=2) + "\n")
        summaries.append(summary)
        derived_trials.append(trial)
        rows.append(_row(latency_limit, trial, result))

    resources = {"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0, "peak_rss_bytes": peak_rss_bytes()}
    chosen = next((s for t, s in zip(limits_ms, summaries, strict=True) if t == config.latency_ms), summaries[-1])
    chosen = {**chosen, "resources": resources}
    if config.sweep:
        sweep = {"latency_loss": config.latency_loss, "epochs": config.epochs, "rows": rows, "resources": resources}
        (config.out / "sweep.json").write_text(json.dumps(sweep, indent=2) + "\n")
        (config.out / "sweep.md").write_text(sweep_markdown(sweep))
        done = [t for t in derived_trials if t.state is TrialState.COMPLETE]
        plot_pareto(done, baseline, {}, config.out / "sweep_pareto.png", f"differentiable sweep on {target.name}: derived models")
        chosen["sweep"] = rows
    return SearchOutcome(summary=chosen, run_dir=config.out, trials=derived_trials)


def _row(limit_ms: float, trial: Trial, result) -> dict:  # type: ignore[no-untyped-def]
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
