"""MetaSchedule tuning of a prepared Relax module, on this host, into a JSON database folder.

Two things make TVM 0.27's stock tuning slow on a small machine, and both are avoided here:

* ``tvm.s_tir.tensor_intrin`` parses hundreds of TVMScript intrinsics on import, and its parser
  calls ``inspect.stack()``, which looks up the module of every frame; with PyTorch loaded that
  is a minute. It is imported once with a frame walk that reads no source files
  (:func:`_import_tensor_intrinsics`).
* The stock builder starts a fresh pool of worker processes per batch, and each worker pays
  that import again (tens of seconds, past its 30 s timeout). :class:`_InProcessBuilder`
  builds the candidates in this process instead (builds are milliseconds each; measuring them
  still happens in MetaSchedule's runner subprocess).
"""

from __future__ import annotations

import contextlib
import inspect
import linecache
import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from edgenas.compile.base import TuningOutcome
from edgenas.errors import InvalidInputError

#: Samples MetaSchedule's XGBoost cost model needs before it ranks candidates (its
#: ``num_warmup_samples``): below that it scores them at random, so a smaller budget uses the
#: random model and skips the seconds each XGBoost training round costs.
XGB_WARMUP_SAMPLES = 100
#: Most trials one ``--tune-trials`` may ask for (a bigger budget is a typo, or days of tuning).
MAX_TRIALS = 100_000


def check_trials(trials: int) -> None:
    """A tuning budget MetaSchedule can spend, or one line (0 and below are mistakes)."""
    if not 1 <= trials <= MAX_TRIALS:
        raise InvalidInputError(
            f"--tune-trials must be between 1 and {MAX_TRIALS:,}, got {trials} (use --no-tune to skip tuning)"
        )


def tune(
    mod: Any, target: Any, work_dir: Path, trials: int, *, threads: int = 1, seed: int = 0, only_new: bool = False
) -> tuple[Any, TuningOutcome]:
    """Tune ``mod`` (prepared by :func:`edgenas.compile.tvm.prepare`) for ``trials`` trials in all.

    The budget is shared evenly by the tasks MetaSchedule extracts, so each one is tuned a little
    rather than the first one a lot. Records go to ``work_dir`` (a MetaSchedule JSON database,
    appended to when it exists). Returns the database and what the run did.

    ``only_new`` tunes only the tasks whose workload has no record in the database yet, the
    heaviest first (a budget smaller than their number reaches the costly ones): a search shares
    one database, so a layer shape tuned for one candidate is reused by the next rather than
    tuned again, and compiling gets cheaper as the search goes on.
    """
    check_trials(trials)
    from tvm.s_tir import meta_schedule as ms

    _import_tensor_intrinsics()
    work_dir.mkdir(parents=True, exist_ok=True)
    database = ms.database.JSONDatabase(work_dir=str(work_dir))
    before = len(database.get_all_tuning_records())
    tasks = ms.relax_integration.extract_tasks(mod, target)
    if not tasks and not only_new:
        raise InvalidInputError("the model has no operator MetaSchedule can tune (leave --tune-trials out, use --no-tune)")
    todo = list(tasks)
    if only_new:
        todo = sorted((t for t in tasks if not _has_records(database, t)), key=_task_flops, reverse=True)
    reused = len(tasks) - len(todo) if only_new else 0
    if not todo:  # every workload already tuned: nothing to search
        return database, TuningOutcome(trials, 0.0, before, 0, len(tasks), work_dir, reused)
    per_task = max(1, math.ceil(trials / len(todo)))
    runner = ms.runner.LocalRunner(
        timeout_sec=60, evaluator_config=ms.runner.EvaluatorConfig(number=3, repeat=1, min_repeat_ms=50)
    )
    started = time.perf_counter()
    with _threads_env(threads), _quiet_console():
        contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
            todo, str(work_dir), strategy=_strategy(per_task), seed=seed
        )
        database = ms.tune.tune_tasks(
            tasks=contexts,
            task_weights=weights,
            work_dir=str(work_dir),
            max_trials_global=trials,
            max_trials_per_task=per_task,
            num_trials_per_iter=min(64, per_task),
            builder=_builder(),
            runner=runner,
            database=database,
            cost_model="xgb" if trials >= XGB_WARMUP_SAMPLES else "random",
        )
    seconds = time.perf_counter() - started
    records = len(database.get_all_tuning_records())
    outcome = TuningOutcome(trials, seconds, records, records - before, len(tasks), work_dir, reused)
    return database, outcome


def _has_records(database: Any, task: Any) -> bool:
    """Whether the task's workload (its function, structurally) has a tuning record in ``database``."""
    workload_mod = task.dispatched[0]
    return bool(database.has_workload(workload_mod)) and bool(database.get_top_k(database.commit_workload(workload_mod), 1))


def _task_flops(task: Any) -> float:
    """The task's floating-point operations per run of the model (its function's, times its calls)."""
    from tvm.s_tir.analysis import estimate_tir_flops

    try:
        return float(estimate_tir_flops(task.dispatched[0])) * int(task.weight)
    except Exception:  # a function the estimator cannot read: last in line
        return 0.0


def build_tuned(database: Any, mod: Any, target: Any) -> Any:
    """The module built with the database's best schedules (functions without a record keep TVM's default).

    The records are applied to the prepared module itself, as TVM's own tuning pipeline does:
    legalizing and fusing it again first (``compile_relax``) changes the functions' attributes,
    and no record matches them any more.
    """
    import tvm
    from tvm import relax

    _import_tensor_intrinsics()
    with target, database, tvm.transform.PassContext(opt_level=3):
        scheduled = relax.transform.MetaScheduleApplyDatabase()(mod)
    return relax.build(scheduled, target=target)


def _strategy(per_task: int) -> Any:
    """MetaSchedule's evolutionary search, its population scaled to the trials each task gets.

    The stock population (512 candidates, evolved 4 times, per task and per round) costs tens of
    seconds a task on a small machine whatever the budget; a few trials a task gain nothing from
    it, so small budgets search a smaller population (the stock one from 16 trials a task).
    """
    from tvm.s_tir import meta_schedule as ms

    population = max(64, min(512, 32 * per_task))
    return ms.search_strategy.EvolutionarySearch(population_size=population, init_min_unmeasured=min(50, population // 4))


def _builder() -> Any:
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
    from tvm.s_tir.meta_schedule.builder.local_builder import default_build, default_export

    @derived_object
    class _InProcessBuilder(PyBuilder):
        """Builds candidates in this process, one after another (see the module's docstring)."""

        def build(self, build_inputs: list) -> list:
            results = []
            for item in build_inputs:
                try:
                    artifact = default_export(default_build(item.mod, item.target, None))
                    results.append(BuilderResult(artifact, None))
                except Exception as exc:  # a candidate schedule that does not build: MetaSchedule skips it
                    results.append(BuilderResult(None, f"{type(exc).__name__}: {exc}"))
            return results

    return _InProcessBuilder()


def _import_tensor_intrinsics() -> None:
    """Import ``tvm.s_tir.tensor_intrin`` with a source-free ``inspect.stack`` (see the module's docstring)."""
    if "tvm.s_tir.tensor_intrin" in sys.modules:
        return
    original = inspect.stack
    inspect.stack = _frames
    try:
        import tvm.s_tir.tensor_intrin  # noqa: F401
    finally:
        inspect.stack = original


def _frames(context: int = 1) -> list[inspect.FrameInfo]:
    """``inspect.stack()`` without its per-frame module lookup: the caller's frames and their lines."""
    frame: FrameType | None = sys._getframe(1)  # noqa: SLF001
    out = []
    while frame is not None:
        filename = frame.f_code.co_filename
        line = linecache.getline(filename, frame.f_lineno)
        out.append(
            inspect.FrameInfo(
                frame, filename, frame.f_lineno, frame.f_code.co_name, [line] if line else None, 0 if line else None
            )
        )
        frame = frame.f_back
    return out


@contextlib.contextmanager
def _threads_env(threads: int) -> Iterator[None]:
    """``TVM_NUM_THREADS`` for the runner's worker processes (they time candidates with ``threads`` threads)."""
    before = os.environ.get("TVM_NUM_THREADS")
    os.environ["TVM_NUM_THREADS"] = str(threads)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TVM_NUM_THREADS", None)
        else:
            os.environ["TVM_NUM_THREADS"] = before


@contextlib.contextmanager
def _quiet_console() -> Iterator[None]:
    """MetaSchedule prints its task tables to stdout; keep them in its log files only.

    MetaSchedule's log setup also lists its logger's handlers by name, and one without a name
    (a test runner's capture, an application's own) makes it fail; those are set aside meanwhile.
    """
    logger = logging.getLogger("tvm.s_tir.meta_schedule")
    before = logger.level
    unnamed = [h for h in logger.handlers if h.get_name() is None]
    for handler in unnamed:
        logger.removeHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(before)
        for handler in unnamed:
            logger.addHandler(handler)
