"""Ray: each candidate a task on a local Ray instance; the same trials as one process; faults recorded."""

from __future__ import annotations

import pytest

from edgenas.errors import InvalidInputError
from edgenas.executors.base import SerialExecutor
from tests.executors.helpers import Hangs, Raises, ToyScore
from tests.executors.test_local import archs, search

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'edgenas[ray]'")

from edgenas.executors.cluster import RayExecutor, check_reachable  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():  # type: ignore[no-untyped-def]
    """One local Ray instance for the module (starting one takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def test_ray_tasks_store_the_trials_one_process_stores(local_ray) -> None:  # type: ignore[no-untyped-def]
    assert search(RayExecutor(ToyScore())) == search(SerialExecutor(ToyScore()))


def test_outcomes_in_order_with_where_they_ran(local_ray) -> None:  # type: ignore[no-untyped-def]
    executor = RayExecutor(Raises())
    asked = [a for a in archs(40) if a.genes[0] != 3][:3] + [a for a in archs(40) if a.genes[0] == 3][:1]
    outcomes = executor.evaluate(asked)
    executor.close()
    assert all(o.metrics is not None and o.worker.startswith("ray-") for o in outcomes[:3])
    assert outcomes[3].metrics is None and outcomes[3].error.startswith("MemoryError")
    assert ray.is_initialized()  # a cluster the search joined is left running


def test_a_task_over_its_time_limit_is_cancelled(local_ray) -> None:  # type: ignore[no-untyped-def]
    executor = RayExecutor(Hangs(), timeout_s=1.0, grace_s=1.0)
    asked = [a for a in archs(40) if a.genes[0] == 3][:1] + [a for a in archs(40) if a.genes[0] != 3][:2]
    outcomes = executor.evaluate(asked)
    executor.close()
    assert outcomes[0].metrics is None and "stopped after" in outcomes[0].error
    assert all(o.metrics is not None for o in outcomes[1:])


def test_resources_the_cluster_lacks_are_a_clear_error(local_ray) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match="--gpus-per-trial 2: the local Ray instance has 0 GPUs"):
        RayExecutor(ToyScore(), gpus_per_trial=2).start()
    with pytest.raises(InvalidInputError, match="--cpus-per-trial must be a positive number"):
        RayExecutor(ToyScore(), cpus_per_trial=0)


def test_an_unreachable_address_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="no Ray cluster answers there"):
        check_reachable("127.0.0.1:1")
    with pytest.raises(InvalidInputError, match="expected host:port"):
        check_reachable("nowhere")
