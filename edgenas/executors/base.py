"""The executor protocol, and the one that evaluates in this process (the default).

An executor is given the evaluator once (at construction) and then rounds of architectures; it
returns one :class:`Outcome` per architecture, in the order given, and reports each outcome as
soon as it is known (with what the executor is doing then, an :class:`Activity`), so the loop
can store a finished trial while others still run. A candidate whose evaluation
raises (out of memory included) is an outcome with an ``error``, never an exception out of the
executor: the loop records it as FAIL and the search goes on.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from edgenas.arch import Arch
from edgenas.evaluators.base import Evaluator
from edgenas.trial import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What evaluating one candidate gave: metrics, or the reason it failed; how long it took (s),
    where (the worker) and on what (the torch device, None for an evaluator that trains nothing)."""

    metrics: Metrics | None
    error: str | None = None
    duration_s: float = 0.0
    worker: str = "main"
    device: str | None = None


@dataclass(frozen=True)
class Activity:
    """What an executor is doing when an outcome comes back: for a progress display."""

    workers: int  # candidates it can run at once (processes, or Ray tasks the cluster fits)
    busy: int  # candidates running now
    queued: int  # candidates of the round given to it and not started yet

    @property
    def in_flight(self) -> int:
        """Candidates of the round given to the executor and not back yet."""
        return self.busy + self.queued


#: Called with a candidate's index in the round, its outcome and the executor's activity, as
#: soon as the outcome is known (in whatever order candidates finish).
OutcomeCallback = Callable[[int, Outcome, Activity], None]


class Executor(Protocol):
    """Evaluates rounds of candidates (see the module docstring)."""

    def evaluate(self, archs: Sequence[Arch], on_outcome: OutcomeCallback | None = None) -> list[Outcome]: ...

    def close(self) -> None: ...


def describe(exc: BaseException) -> str:
    """An exception as one line for the store: ``TypeName: first line of the message``."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def evaluate_one(evaluator: Evaluator, arch: Arch, worker: str = "main") -> Outcome:
    """One evaluation, its failure caught and described (shared by every executor)."""
    start = time.perf_counter()
    try:
        metrics = evaluator.evaluate(arch)
    except (Exception, MemoryError) as exc:  # the loop logs the failure with the trial's number
        log.debug("%s failed:\n%s", arch.key(), traceback.format_exc())
        return Outcome(None, describe(exc), time.perf_counter() - start, worker, device_of(evaluator))
    return Outcome(metrics, None, time.perf_counter() - start, worker, device_of(evaluator))


def device_of(evaluator: Evaluator) -> str | None:
    """The torch device ``evaluator`` trains on in this process (``cpu``, ``cuda:0``), if it has one."""
    torch_device = getattr(evaluator, "torch_device", None)
    if not callable(torch_device):
        return None
    try:
        device = torch_device()
    except Exception:  # an unusable device failed the evaluation already, and says why
        return None
    if device.type == "cuda" and device.index is None:
        import torch

        return f"cuda:{torch.cuda.current_device()}"
    return str(device)


class SerialExecutor:
    """Evaluates each candidate in turn, in this process: today's behaviour, and the default."""

    workers = 1

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator

    def evaluate(self, archs: Sequence[Arch], on_outcome: OutcomeCallback | None = None) -> list[Outcome]:
        outcomes = []
        for i, arch in enumerate(archs):
            outcomes.append(evaluate_one(self.evaluator, arch))
            if on_outcome is not None:
                on_outcome(i, outcomes[-1], Activity(1, 0, len(archs) - i - 1))
        return outcomes

    def close(self) -> None:
        pass


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to ``threads`` for the block (None: left as they are).

    Training's floating-point sums depend on how many threads share them, so every training of a
    search (candidates, baseline, finalists) uses the same count: then a finalist retrained in
    the driver reproduces the accuracy a worker measured.
    """
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
