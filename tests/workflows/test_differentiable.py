"""``edgenas search --strategy differentiable``: the supernet's derived model enters the one loop."""

from __future__ import annotations

from pathlib import Path

from edgenas.trial import TrialState
from tests.supernets.differentiable.test_search import tiny_data


def test_run_folder_from_the_search_entry_point(tmp_path: Path, monkeypatch):
    """``run_search`` dispatches to the supernet; its derived model is an ordinary stored trial."""
    import edgenas.tasks.kws as kws_task
    from edgenas.store import SqliteStore
    from edgenas.workflows.search import SearchConfig, run_search

    monkeypatch.setattr(kws_task, "load_kws", lambda *a, **k: tiny_data(n=16))
    config = SearchConfig(strategy="differentiable", epochs=1, out=tmp_path / "run", sweep=(3.0, 8.0), export=False)
    outcome = run_search(config)
    assert [r["latency_limit_ms"] for r in outcome.summary["sweep"]] == [3.0, 8.0]
    for limit in ("3", "8"):
        folder = tmp_path / "run" / f"latency-{limit}ms"
        assert (folder / "report.json").exists() and (folder / "differentiable.json").exists()
        with SqliteStore(folder / "trials.db") as store:
            trials = store.trials(role="search")
            assert trials[-1].state in (TrialState.COMPLETE, TrialState.FAIL)
            assert store.read_config()["identity"]["strategy"] == "differentiable"
            assert len(store.trials(role="baseline")) == 1
    assert (tmp_path / "run" / "sweep_pareto.png").exists() and (tmp_path / "run" / "sweep.md").exists()
