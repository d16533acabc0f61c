"""``--workers N``: candidates evaluated in N local worker processes.

Each worker is a fresh interpreter (``spawn``: no forked torch or OpenMP state) that receives the
evaluator once, pickled with the task's data, and keeps it for every candidate it evaluates: the
data cross the process boundary once per worker, not per trial. Torch in each worker uses
``threads`` intra-op threads (by default the cores divided among the workers), so N workers do
not oversubscribe the machine.

What can go wrong is recorded, never raised: a candidate whose evaluation raises comes back as
an outcome with the reason; a worker process that dies (killed, out of memory) breaks the pool,
which is rebuilt, and the candidates it held are run again once, then recorded as failed; a
candidate still running ``timeout_s`` after it started has its worker killed and is recorded as
failed ("stopped after ..."), the others in flight run again. A candidate's clock starts when a
worker says it has started it, so a worker's own start-up (a fresh interpreter importing torch,
slow on a loaded machine) is never charged to a candidate.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.evaluators.base import Evaluator
from edgenas.executors.base import Activity, Outcome, OutcomeCallback, evaluate_one

log = logging.getLogger(__name__)

#: How long past ``timeout_s`` a worker may run before it is killed (the evaluator's own limit,
#: checked between training steps, usually stops it first and says so itself).
GRACE_S = 30.0


def default_threads(workers: int) -> int:
    """Torch threads per worker that keep N workers within the machine's cores."""
    return max(1, (os.cpu_count() or 1) // workers)


# -- in the worker process ----------------------------------------------------------------------
_WORKER: dict[str, Any] = {}  # this worker's evaluator and report queue (set once by _start)


def _start(evaluator: bytes, threads: int, started: Any) -> None:
    """Worker initialiser: threads first (torch reads the environment at import), then the evaluator."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    started.put((None, os.getpid(), time.time()))
    _WORKER["evaluator"] = pickle.loads(evaluator)
    _WORKER["started"] = started


def _run(index: int, arch: Arch) -> Outcome:
    """One candidate in the worker: say which process runs it, then evaluate it."""
    _WORKER["started"].put((index, os.getpid(), time.time()))
    return evaluate_one(_WORKER["evaluator"], arch, worker=f"local-{os.getpid()}")


# -- in the driver ----------------------------------------------------------------------------------
@dataclass
class _Task:
    index: int
    arch: Arch
    attempts: int = 0
    future: Future[Outcome] | None = None
    submitted: float = 0.0
    started: float | None = None  # time.time() in the worker when it began this attempt
    pid: int | None = None
    outcome: Outcome | None = None


class LocalExecutor:
    """Evaluates rounds of candidates in ``workers`` local processes (see the module docstring).

    Args:
        evaluator: Copied to every worker once (it must pickle: spaces, task data, trained weights).
        workers: Worker processes.
        threads: Torch intra-op threads per worker (default: the cores divided among the workers).
        timeout_s: A candidate running longer than this (plus a grace period) has its worker killed.
        retries: How many times a candidate whose worker died is run again before it fails.
        grace_s: How long past ``timeout_s`` a candidate may run before its worker is killed.
    """

    def __init__(
        self,
        evaluator: Evaluator,
        workers: int,
        threads: int | None = None,
        timeout_s: float | None = None,
        retries: int = 1,
        grace_s: float = GRACE_S,
    ) -> None:
        if workers < 1:
            raise InvalidInputError(f"--workers must be at least 1, got {workers}")
        if threads is not None and threads < 1:
            raise InvalidInputError(f"--threads-per-trial must be at least 1, got {threads}")
        self.evaluator = evaluator
        self.workers = workers
        self.threads = threads if threads is not None else default_threads(workers)
        self.timeout_s = timeout_s
        self.retries = retries
        self.grace_s = grace_s
        self._pool: ProcessPoolExecutor | None = None
        self._started: Any = None
        self._payload: bytes | None = None
        self._worker_pids: set[int] = set()
        self._in_flight: list[_Task] = []

    # -- the pool -------------------------------------------------------------------------------
    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            if self._payload is None:
                prepare = getattr(self.evaluator, "prepare", None)
                if callable(prepare):  # once, here (a supernet), not once per worker
                    prepare()
                try:
                    self._payload = pickle.dumps(self.evaluator)
                except (pickle.PicklingError, TypeError, AttributeError) as exc:
                    raise InvalidInputError(f"--workers: the evaluator cannot be sent to worker processes ({exc})") from None
            context = multiprocessing.get_context("spawn")
            self._started = context.SimpleQueue()
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_start,
                initargs=(self._payload, self.threads, self._started),
            )
        return self._pool

    def _drop_pool(self, kill: set[int] | None = None) -> None:
        """Shut the pool down; kill ``kill``'s processes first (all its workers when ``kill`` is empty)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill is not None:
            self._drain_started({})
            for pid in kill or self._worker_pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        pool.shutdown(wait=True, cancel_futures=True)
        self._worker_pids = set()

    def _drain_started(self, tasks: dict[int, _Task]) -> None:
        """Which worker process took which candidate (the workers say so as they start it)."""
        while self._started is not None and not self._started.empty():
            index, pid, when = self._started.get()
            self._worker_pids.add(pid)
            if index in tasks:
                tasks[index].pid, tasks[index].started = pid, when

    # -- a round ----------------------------------------------------------------------------------
    def evaluate(self, archs: Sequence[Arch], on_outcome: OutcomeCallback | None = None) -> list[Outcome]:
        tasks = {i: _Task(i, arch) for i, arch in enumerate(archs)}
        waiting = list(tasks.values())
        self._in_flight = []
        reported: set[int] = set()
        while waiting or self._in_flight:
            while waiting and len(self._in_flight) < self.workers:
                task = waiting.pop(0)
                task.attempts += 1
                task.submitted, task.pid, task.started = time.perf_counter(), None, None
                task.future = self._get_pool().submit(_run, task.index, task.arch)
                self._in_flight.append(task)
            futures = [t.future for t in self._in_flight if t.future is not None]
            done, _ = wait(futures, timeout=1.0, return_when=FIRST_COMPLETED)
            self._drain_started(tasks)
            broken = False
            for task in [t for t in self._in_flight if t.future in done]:
                self._in_flight.remove(task)
                assert task.future is not None
                try:
                    task.outcome = task.future.result()
                except BrokenProcessPool:
                    broken = True
                    self._retry_or_fail(task, waiting, "its worker process died")
                except Exception as exc:  # an outcome that could not come back
                    task.outcome = Outcome(None, f"{type(exc).__name__}: {exc}"[:500], time.perf_counter() - task.submitted)
            if broken:  # the pool is gone with it: the others in flight run again, not counted against them
                self._requeue(waiting)
                self._drop_pool()
            overdue = [t for t in self._in_flight if self._overdue(t)]
            if overdue:
                self._stop(overdue, waiting)
            for task in tasks.values():  # what is final now (a worker that died may give its candidate another go)
                if task.outcome is not None and task.index not in reported:
                    reported.add(task.index)
                    if on_outcome is not None:
                        on_outcome(task.index, task.outcome, Activity(self.workers, len(self._in_flight), len(waiting)))
        return [tasks[i].outcome or Outcome(None, "WorkerLost: no outcome came back") for i in range(len(archs))]

    def _overdue(self, task: _Task) -> bool:
        """Running past its limit (plus the grace period) since its worker started it."""
        if self.timeout_s is None or task.started is None:
            return False
        return time.time() - task.started > self.timeout_s + self.grace_s

    def _requeue(self, waiting: list[_Task]) -> None:
        for task in reversed(self._in_flight):
            task.attempts -= 1
            waiting.insert(0, task)
        self._in_flight = []

    def _retry_or_fail(self, task: _Task, waiting: list[_Task], why: str) -> None:
        if task.attempts <= self.retries:
            log.warning("candidate %s: %s; it runs again", task.arch.key(), why)
            waiting.insert(0, task)
        else:
            task.outcome = Outcome(None, f"WorkerLost: {why} ({task.attempts} attempts)", time.perf_counter() - task.submitted)

    def _stop(self, overdue: list[_Task], waiting: list[_Task]) -> None:
        """Kill the workers of overdue candidates (they fail); the others in flight run again."""
        for task in overdue:
            elapsed = time.time() - (task.started or time.time())
            task.outcome = Outcome(None, f"TrialFailed: stopped after {elapsed:.0f} s (limit {self.timeout_s:g} s)", elapsed)
            self._in_flight.remove(task)
        self._requeue(waiting)
        self._drop_pool(kill={t.pid for t in overdue if t.pid is not None})

    def close(self) -> None:
        """Stop the workers (killing any still busy: an interrupted search re-runs them on resume)."""
        busy = bool(self._in_flight)
        self._in_flight = []
        self._drop_pool(kill=set() if busy else None)
