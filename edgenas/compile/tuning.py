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


def tune(mod: Any, target: Any, work_dir: Path, trials: int, *, threads: int = 1, seed: int = 0) -> tuple[Any, TuningOutcome]:
    """Tune ``mod`` (prepared by :func:`edgenas.compile.tvm.prepare`) for ``trials`` trials in all.

    The budget is shared evenly by the tasks MetaSchedule extracts, so each one is tuned a little
    rather than the first one a lot. Records go to ``work_dir`` (a MetaSchedule JSON database,
    appended to when it exists). Returns the database and what the run did.
    """
    check_trials(trials)
    from tvm.s_tir import meta_schedule as ms

    _import_tensor_intrinsics()
    work_dir.mkdir(parents=True, exist_ok=True)
    before = len(ms.database.JSONDatabase(work_dir=str(work_dir)).get_all_tuning_records())
    tasks = ms.relax_integration.extract_tasks(mod, target)
    if not tasks:
        raise InvalidInputError("the model has no operator MetaSchedule can tune (leave --tune-trials out, use --no-tune)")
    per_task = max(1, math.ceil(trials / len(tasks)))
    runner = ms.runner.LocalRunner(
        timeout_sec=60, evaluator_config=ms.runner.EvaluatorConfig(number=3, repeat=1, min_repeat_ms=50)
    )
    started = time.perf_counter()
    with _threads_env(threads), _quiet_console():
        database = ms.relax_integration.tune_relax(
            mod,
            None,
            target,
            str(work_dir),
            max_trials_global=trials,
            max_trials_per_task=per_task,
            num_trials_per_iter=min(64, per_task),
            builder=_builder(),
            runner=runner,
            strategy=_strategy(per_task),
            cost_model="xgb" if trials >= XGB_WARMUP_SAMPLES else "random",
            seed=seed,
        )
    seconds = time.perf_counter() - started
    records = len(database.get_all_tuning_records())
    outcome = TuningOutcome(trials, seconds, records, records - before, len(tasks), work_dir)
    return database, outcome


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
    """MetaSchedule prints its task tables to stdout; keep them in its log files only."""
    logger = logging.getLogger("tvm.s_tir.meta_schedule")
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(before)
