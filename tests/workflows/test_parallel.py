"""``--workers`` and ``--batch`` through ``run_search``: the trials depend on the seed and the batch,
not on the workers; a batched run resumes only with its batch; bad counts are clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edgenas.errors import InvalidInputError
from edgenas.workflows.search import SearchConfig, run_search
from tests.cli.images import grey_classes


def _config(tmp_path: Path, name: str, workers: int, batch: int = 2) -> SearchConfig:
    return SearchConfig(
        task="images", data=grey_classes(tmp_path / "imgs"), strategy="random", budget=4, epochs=1, out=tmp_path / name,
        export=False, latency_ms=None, sram_kb=None, workers=workers, batch=batch, threads_per_trial=1,
    )  # fmt: skip


def _trials(outcome) -> list:  # type: ignore[no-untyped-def]
    return [(t.number, t.role, t.arch, t.state, t.accuracy) for t in outcome.trials]


def test_two_workers_store_what_one_stores_and_record_where(tmp_path: Path) -> None:
    one = run_search(_config(tmp_path, "one", workers=1))
    two = run_search(_config(tmp_path, "two", workers=2))
    assert _trials(one) == _trials(two)
    assert {t.worker for t in one.trials if t.accuracy is not None} == {"main"}
    assert all(t.worker.startswith("local-") for t in two.trials if t.accuracy is not None)
    best = two.summary["best"]
    assert best["retrain_val_accuracy"] == best["accuracy"]  # the finalist retrained with the workers' threads
    assert best["worker"].startswith("local-") and best["wall_s"] > 0
    assert best["device"] == "cpu" and {t.device for t in two.trials if t.accuracy is not None} == {"cpu"}


def test_a_batched_run_resumes_only_with_its_batch(tmp_path: Path) -> None:
    config = _config(tmp_path, "run", workers=1, batch=2)
    run_search(config)
    with pytest.raises(InvalidInputError, match="--batch was 2, now 3"):
        run_search(dataclasses.replace(config, batch=3, resume=True))
    resumed = run_search(dataclasses.replace(config, budget=6, resume=True, workers=2))  # workers may change
    assert resumed.summary["search"]["trials"].get("complete", 0) >= 6


@pytest.mark.parametrize(("field", "value", "flag"), [("workers", 0, "--workers"), ("batch", 0, "--batch"),
                                                      ("threads_per_trial", 0, "--threads-per-trial")])  # fmt: skip
def test_bad_counts_are_one_clear_error(field: str, value: int, flag: str) -> None:
    with pytest.raises(InvalidInputError, match=f"{flag} must be at least 1"):
        SearchConfig(**{field: value}).validate()


def test_ray_tasks_store_what_one_process_stores(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'edgenas[ray]'")
    one = run_search(_config(tmp_path, "one", workers=1))
    on_ray = run_search(dataclasses.replace(_config(tmp_path, "ray", workers=1), executor="ray", cpus_per_trial=1.0))
    assert _trials(one) == _trials(on_ray)
    assert all(t.worker.startswith("ray-") for t in on_ray.trials if t.accuracy is not None)
    import ray

    assert not ray.is_initialized()  # the local instance started for the search is shut down
