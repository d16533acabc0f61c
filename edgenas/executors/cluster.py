"""``--executor ray``: each candidate a Ray task, on a local Ray instance or a cluster the search joins.

The evaluator (with the task's data and, for a supernet, its trained weights) is put in Ray's
object store once per search, so the data reach each node once, not per trial. Each candidate is
a task asking for ``cpus_per_trial`` CPUs and ``gpus_per_trial`` GPUs (fractions allowed), with
torch using as many intra-op threads as it has CPUs. Without an address a local Ray instance is
started for the search and shut down after it; with one, the search joins that cluster and
leaves it running.

Faults are outcomes, never exceptions: a worker or node lost mid-task is retried once by Ray
(``max_retries``), then the candidate fails with the reason; a task still running
``timeout_s`` (plus a grace period) after it started is cancelled and fails ("stopped after ...").
Ray is an optional extra: ``pip install 'edgenas[ray]'``.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError, MissingExtraError
from edgenas.evaluators.base import Evaluator
from edgenas.executors.base import Activity, Outcome, OutcomeCallback, evaluate_one

log = logging.getLogger(__name__)

#: How long past ``timeout_s`` a task may run before it is cancelled.
GRACE_S = 30.0
#: Seconds allowed to reach a cluster's address before the search says it is unreachable.
CONNECT_TIMEOUT_S = 5.0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingExtraError("--executor ray needs Ray: pip install 'edgenas[ray]'") from None
    return ray


def _evaluate_remote(evaluator: Evaluator, arch: Arch, threads: int) -> Outcome:
    """The Ray task: one candidate with ``threads`` torch threads, on whichever node Ray chose."""
    import ray
    import torch

    torch.set_num_threads(threads)
    node = ray.get_runtime_context().get_node_id()[:8]
    return evaluate_one(evaluator, arch, worker=f"ray-{node}-{os.getpid()}")


def check_counts(cpus_per_trial: float, gpus_per_trial: float) -> None:
    """Resources per trial Ray can schedule: positive CPUs, GPUs 0 or more (fractions allowed)."""
    if not (cpus_per_trial > 0 and math.isfinite(cpus_per_trial)):
        raise InvalidInputError(f"--cpus-per-trial must be a positive number, got {cpus_per_trial:g}")
    if not (gpus_per_trial >= 0 and math.isfinite(gpus_per_trial)):
        raise InvalidInputError(f"--gpus-per-trial must be 0 or more, got {gpus_per_trial:g}")


def check_reachable(address: str) -> None:
    """A cluster address (``host:port``) that answers, or one clear error before anything starts."""
    host, _, port = address.rpartition(":")
    if address in ("auto", "local"):
        return
    if not host or not port.isdigit():
        raise InvalidInputError(f"--ray-address {address!r}: expected host:port (e.g. 127.0.0.1:6379)")
    try:
        with socket.create_connection((host.removeprefix("ray://"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise InvalidInputError(f"--ray-address {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


class RayExecutor:
    """Evaluates rounds of candidates as Ray tasks (see the module docstring).

    Args:
        evaluator: Put in the object store once.
        address: A running cluster's ``host:port``; None starts a local instance for the search.
        cpus_per_trial, gpus_per_trial: Ray resources of one candidate's task (fractions allowed).
        threads: Torch threads per task (default: its CPUs, at least one).
        timeout_s: A task running longer than this (plus a grace period) is cancelled.
        retries: Times Ray runs a task again when its worker or node is lost.
        num_cpus: CPUs of a local instance (default: this machine's).
    """

    def __init__(
        self,
        evaluator: Evaluator,
        address: str | None = None,
        cpus_per_trial: float = 1.0,
        gpus_per_trial: float = 0.0,
        threads: int | None = None,
        timeout_s: float | None = None,
        retries: int = 1,
        num_cpus: int | None = None,
        grace_s: float = GRACE_S,
    ) -> None:
        check_counts(cpus_per_trial, gpus_per_trial)
        self.evaluator = evaluator
        self.address = address
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self.threads = threads if threads is not None else max(1, int(cpus_per_trial))
        self.timeout_s = timeout_s
        self.retries = retries
        self.num_cpus = num_cpus
        self.grace_s = grace_s
        self._ray: Any = None
        self._started_here = False
        self._evaluator_ref: Any = None
        self._remote: Any = None
        self.capacity = 1  # tasks the cluster runs at once (set when joined)

    @staticmethod
    def check_installed() -> None:
        """Ray is importable, or the error names the extra to install."""
        _import_ray()

    def start(self) -> None:
        """Join the cluster (or start a local instance) and check it can run a trial; idempotent."""
        if self._ray is not None:
            return
        ray = _import_ray()
        if self.address is not None:
            check_reachable(self.address)
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        if ray.is_initialized():  # the caller's session: left as it is
            pass
        elif self.address is None:
            ray.init(num_cpus=self.num_cpus or os.cpu_count(), **options)
            self._started_here = True
        else:
            ray.init(address=self.address, **options)
            self._started_here = True  # connected here: disconnected at close (the cluster keeps running)
        self._ray = ray
        resources = ray.cluster_resources()
        for name, wanted, flag in (
            ("CPU", self.cpus_per_trial, "--cpus-per-trial"),
            ("GPU", self.gpus_per_trial, "--gpus-per-trial"),
        ):
            have = float(resources.get(name, 0.0))
            if wanted > have:
                self.close()
                where = self.address or "the local Ray instance"
                raise InvalidInputError(f"{flag} {wanted:g}: {where} has {have:g} {name}{'s' if have != 1 else ''} in all")
        prepare = getattr(self.evaluator, "prepare", None)
        if callable(prepare):  # once, in the driver (a supernet), not once per task
            prepare()
        self.capacity = max(1, int(float(resources.get("CPU", 1.0)) // self.cpus_per_trial))
        if self.gpus_per_trial > 0:
            self.capacity = max(1, min(self.capacity, int(float(resources.get("GPU", 0.0)) // self.gpus_per_trial)))
        self._evaluator_ref = ray.put(self.evaluator)
        self._remote = ray.remote(_evaluate_remote).options(
            num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial, max_retries=self.retries, retry_exceptions=False
        )

    def evaluate(self, archs: Sequence[Arch], on_outcome: OutcomeCallback | None = None) -> list[Outcome]:
        """The round's outcomes in the order asked; at most ``capacity`` tasks in flight, so a task's
        start is its submission (what the time limit is measured from)."""
        self.start()
        ray = self._ray
        outcomes: list[Outcome | None] = [None] * len(archs)
        waiting = list(range(len(archs)))
        in_flight: dict[Any, tuple[int, float]] = {}
        while waiting or in_flight:
            while waiting and len(in_flight) < self.capacity:
                i = waiting.pop(0)
                in_flight[self._remote.remote(self._evaluator_ref, archs[i], self.threads)] = (i, time.perf_counter())
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            finished = []
            for ref in done:
                i, submitted = in_flight.pop(ref)
                outcomes[i] = self._result(ref, submitted)
                finished.append(i)
            for ref, (i, submitted) in list(in_flight.items()):
                elapsed = time.perf_counter() - submitted
                if self.timeout_s is not None and elapsed > self.timeout_s + self.grace_s:
                    ray.cancel(ref, force=True)
                    del in_flight[ref]
                    outcomes[i] = Outcome(
                        None, f"TrialFailed: stopped after {elapsed:.0f} s (limit {self.timeout_s:g} s)", elapsed
                    )
                    finished.append(i)
            for i in finished:
                outcome = outcomes[i]
                if on_outcome is not None and outcome is not None:
                    on_outcome(i, outcome, Activity(self.capacity, len(in_flight), len(waiting)))
        return [o or Outcome(None, "WorkerLost: no outcome came back") for o in outcomes]

    def _result(self, ref: Any, submitted: float) -> Outcome:
        try:
            outcome: Outcome = self._ray.get(ref)
            return outcome
        except Exception as exc:  # the task's worker or node was lost (after Ray's retries), or it was cancelled
            elapsed = time.perf_counter() - submitted
            name = type(exc).__name__
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            return Outcome(None, f"WorkerLost: {name}: {first} (after {self.retries + 1} attempts)", elapsed)

    def close(self) -> None:
        """Disconnect what this executor connected: a local instance started for the search is shut
        down; a cluster it joined keeps running (``ray.shutdown`` only disconnects the driver)."""
        if self._ray is not None and self._started_here:
            self._ray.shutdown()
        self._ray, self._started_here, self._evaluator_ref, self._remote = None, False, None, None
