"""``edgenas search`` as a function: prepare, loop, finalise, report.

The command line only parses flags into a :class:`SearchConfig` and formats what
:func:`run_search` returns, so the same search runs from Python:

>>> from edgenas.workflows.search import SearchConfig, run_search    # doctest: +SKIP
>>> outcome = run_search(SearchConfig(budget=8, epochs=2, out=Path("runs/quick")))

Every way of searching ends in the one loop, :class:`~edgenas.experiment.Experiment`: an ask/tell
strategy drives it directly; ``--evaluator prefilter:...`` hands it the proxy's shortlist; the
differentiable search (:mod:`edgenas.workflows.differentiable`) hands it what it derived.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgenas.evaluators import Evaluator, EvaluatorContext
from edgenas.executors import torch_threads
from edgenas.experiment import Experiment, Progress
from edgenas.report import write_report
from edgenas.store import RunFolder, SqliteStore
from edgenas.workflows.config import SearchConfig, SearchOutcome
from edgenas.workflows.finalise import BASELINE_NUMBER, finalise_all, train_baseline
from edgenas.workflows.parts import (
    DIFFERENTIABLE,
    PREFILTER,
    make_cost,
    make_evaluator,
    make_executor,
    make_strategy,
    parse_evaluator,
)
from edgenas.workflows.prefilter import prefilter
from edgenas.workflows.prepare import Prepared, Stopwatch, check_run_folder, open_run, prepare, record_invocation

if TYPE_CHECKING:
    from edgenas.spaces.base import SearchSpace
    from edgenas.trackers import Trackers

log = logging.getLogger(__name__)

__all__ = ["BASELINE_NUMBER", "SearchConfig", "SearchOutcome", "run_search"]


def run_search(
    config: SearchConfig, progress: Callable[[Progress], None] | None = None, status: Callable[[str], None] | None = None
) -> SearchOutcome:
    """Run (or resume) a search and write the run folder; see ``docs/cli.md`` for its files."""
    if config.strategy == DIFFERENTIABLE:  # a supernet search first; what it derives enters the loop
        from edgenas.workflows.differentiable import run_differentiable

        return run_differentiable(config, progress, status)
    say = status or (lambda message: log.info(message))
    watch = Stopwatch()
    # --time-limit counts from here: data, the baseline and any supernet or pre-filter pool included
    deadline = None if config.time_limit_s is None else time.perf_counter() + config.time_limit_s
    config = config.with_target_agent()
    config.validate()
    check_run_folder(RunFolder(config.run_dir), config.resume)
    prepared = prepare(config, say, watch)
    store = open_run(prepared)
    experiment: Experiment | None = None
    trackers = open_trackers(config, prepared.run.path)
    try:
        with torch_threads(config.threads):
            experiment, trainer = _experiment(prepared, store, say, watch)
            if experiment.trials:
                say(f"resuming: {len(experiment.trials)} finished trials kept ({experiment.evaluated} evaluated)")
            baseline = train_baseline(experiment, store, say, watch)
            limit = "" if config.time_limit_s is None else f", or until {config.time_limit_s:g} s have passed"
            parallel = f"; {config.workers} workers" if config.workers > 1 else ""
            batch = f", asked {config.batch} at a time" if config.batch > 1 else ""
            say(f"searching: {config.strategy}, {config.budget} candidates to train{batch}{limit}{parallel}")
            with watch.stage("search"):
                best = _search(experiment, config, trackers.watch(progress), deadline, say)
            experiment.executor.close()
            finalise_all((best, baseline), trainer, prepared, store, say, watch)
        record_invocation(store, watch)
        summary = write_report(store, prepared.run.path, stop_reason=experiment.stop_reason)
        return SearchOutcome(summary=summary, run_dir=prepared.run.path, trials=store.trials())
    finally:
        if experiment is not None:
            experiment.executor.close()
        trackers.close()
        store.close()


def _search(
    experiment: Experiment,
    config: SearchConfig,
    callback: Callable[[Progress], None] | None,
    deadline: float | None,
    say: Callable[[str], None],
) -> Any:
    """Run the loop (with ``--feedback-rounds``: round by round, each closed by tuning its finalists)
    and return the best trial (chosen with the finalists' tuned latencies where they have one)."""
    if config.feedback_rounds is None:
        experiment.run(callback, deadline=deadline)
        return experiment.best()
    from edgenas.compile.feedback import FeedbackLatency, run_rounds

    feedback = experiment.cost
    assert isinstance(feedback, FeedbackLatency)
    from edgenas.strategies import STRATEGIES

    multi = "objectives" in inspect.signature(STRATEGIES.get(config.strategy)).parameters  # it ranks by a front
    run_rounds(experiment, feedback, multi, callback, deadline, say)
    return feedback.best(experiment.trials, experiment.limits)


def open_trackers(config: SearchConfig, run_dir: Path) -> Trackers:
    """The ``--log`` trackers of the search, its parameters logged (none: a tracker that does nothing)."""
    from edgenas.trackers import Trackers, parse_trackers

    trackers = Trackers.open(parse_trackers(config.log), run_dir)
    trackers.log_params({**config.identity(), "out": str(run_dir)})
    return trackers


def _strategy(config: SearchConfig, space: SearchSpace, say: Callable[[str], None]) -> Any:
    """The strategy, optimising ``--objectives`` where it takes them (nsga2; the others rank by
    accuracy under the limits, and the report still gives the accuracy-energy front), with
    ``--population`` candidates per population where given."""
    if config.objectives is None and config.population is None:
        return make_strategy(config.strategy, space, config.seed)
    from edgenas.strategies import STRATEGIES

    options: dict[str, Any] = {}
    if config.population is not None:  # checked by SearchConfig.validate: the strategy keeps one
        options["population_size"] = config.population
    if config.objectives is not None:
        if "objectives" in inspect.signature(STRATEGIES.get(config.strategy)).parameters:
            options["objectives"] = tuple(config.objectives.split(","))
        else:
            say(
                f"{config.strategy} ranks by accuracy under the limits; --objectives {config.objectives} is optimised by "
                "nsga2 (the report gives the front either way)"
            )
    return STRATEGIES.create(config.strategy, space=space, seed=config.seed, **options)


def _experiment(
    prepared: Prepared, store: SqliteStore, say: Callable[[str], None], watch: Stopwatch
) -> tuple[Experiment, Evaluator]:
    """The loop of an ask/tell search: strategy, evaluator (or the pre-filter's queue) and cost."""
    config, space = prepared.config, prepared.space
    context = EvaluatorContext(
        space, prepared.data, seed=config.seed, epochs=config.epochs, max_trial_seconds=config.max_trial_seconds,
        run=prepared.run, say=say, device=config.device, amp=config.amp,
    )  # fmt: skip
    trainer = make_evaluator(parse_evaluator("train"), context)
    compiled = feedback = None
    if config.latency == "compiled":
        from edgenas.compile.feedback import FeedbackOptions
        from edgenas.compile.search_latency import CompiledOptions

        compiled, feedback = CompiledOptions.of(config), FeedbackOptions.of(config)
    cost = make_cost(
        space,
        prepared.target,
        config.latency,
        prepared.run,
        config.agent,
        config.agent_token_file,
        config.predictor,
        config.agent_runtime,
        compiled=compiled,
        feedback=feedback,
    )
    strategy = _strategy(config, space, say)
    spec = parse_evaluator(config.evaluator)
    evaluator, budget = trainer, config.budget
    if spec.kind != "train":
        evaluator = make_evaluator(spec, context)
    if spec.kind == PREFILTER:
        with watch.stage("prefilter"), SqliteStore(prepared.run.prefilter_store) as pool:
            strategy = prefilter(spec, space, strategy, evaluator, cost, prepared.limits, pool, config.budget, say)
        evaluator, budget = trainer, min(config.budget, len(strategy.archs))
    executor = make_executor(evaluator, config)
    experiment = Experiment(
        space, strategy, evaluator, cost, prepared.limits, store, budget=budget, batch=config.batch, executor=executor
    )
    return experiment, trainer
