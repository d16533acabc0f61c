"""``--space mbconv-micro`` end to end: the micro vocabulary is searched, its reference network is
the baseline, the run stores the vocabulary (so reports and ``--resume`` rebuild the same genes),
``--evaluator supernet`` scores its candidates with inherited weights, and
``prefilter:supernet`` trains the supernet's favourites and resumes without training it again."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from edgenas.errors import InvalidInputError
from edgenas.store import SqliteStore
from edgenas.workflows.search import SearchConfig, run_search

from .images import grey_classes


def test_a_micro_search_with_the_supernet_stores_its_vocabulary_and_names_its_baseline(tmp_path: Path) -> None:
    config = SearchConfig(
        task="images",
        data=grey_classes(tmp_path / "imgs", size=16, per_class=10),
        target="npu-int8",
        space="auto",  # 16 px images: the micro vocabulary
        strategy="random",
        evaluator="supernet",
        budget=2,
        epochs=1,
        export=False,
        out=tmp_path / "run",
    )
    summary = run_search(config).summary
    assert summary["search"]["baseline"] == "mobilenetv2-micro"
    assert summary["baseline"]["description"].startswith("16 c16r6 | c16 k3e6r6 | /2 c24 k3e6r6 k3e6r6")
    best = summary["best"]
    assert best["description"].count("|") <= 6  # stem, five stages at most, head: the micro skeleton
    store = SqliteStore(tmp_path / "run" / "trials.db")
    try:
        stored = store.read_config()
        inherited = [t for t in store.trials(role="search") if t.metrics and t.metrics.extra.get("inherited")]
    finally:
        store.close()
    assert stored["space_params"]["vocabulary"] == "micro"
    assert len(inherited) == 2  # scored by the supernet, not trained
    assert "| mobilenetv2-micro baseline |" in (tmp_path / "run" / "report.md").read_text()
    assert json.loads((tmp_path / "run" / "report.json").read_text())["search"]["baseline"] == "mobilenetv2-micro"
    # resuming in the other vocabulary would read the stored genes as other networks: refused
    with pytest.raises(InvalidInputError, match="searched the mbconv-micro space; pass --space mbconv-micro"):
        run_search(dataclasses.replace(config, space="mbconv", resume=True))
    # naming the vocabulary --space auto picked is the same space (same genes), so it resumes
    resumed = run_search(dataclasses.replace(config, space="mbconv-micro", resume=True))
    assert resumed.summary["best"]["arch"] == best["arch"]


def _shortlist_config(tmp_path: Path) -> SearchConfig:
    """A micro search whose supernet scores a pool of 4 and trains its 2 favourites."""
    return SearchConfig(
        task="images",
        data=grey_classes(tmp_path / "imgs", size=16, per_class=10),
        target="npu-int8",
        strategy="random",
        evaluator="prefilter:supernet:4",
        budget=2,
        epochs=1,
        export=False,
        out=tmp_path / "run",
    )


def test_prefilter_supernet_trains_the_supernets_favourites_and_keeps_the_best_trained(tmp_path: Path) -> None:
    config = _shortlist_config(tmp_path)
    outcome = run_search(config)
    with SqliteStore(tmp_path / "run" / "prefilter.db") as pool_store:
        pool = [t for t in pool_store.trials(role="search") if t.metrics is not None]
    assert len(pool) == 4 and all(t.metrics.extra.get("inherited") for t in pool)  # scored by the supernet
    assert (tmp_path / "run" / "supernet.pt").is_file()
    shortlist = sorted(pool, key=lambda t: (-t.metrics.accuracy, t.number))[:2]
    trained = [t for t in outcome.trials if t.role == "search"]
    assert [t.arch.genes for t in trained] == [t.arch.genes for t in shortlist]  # the supernet's two favourites, in order
    assert all(t.metrics.is_accuracy and not t.metrics.extra.get("inherited") for t in trained)  # trained stand-alone
    best = outcome.summary["best"]
    assert best["number"] == max(trained, key=lambda t: (t.accuracy, -t.number)).number  # chosen by training
    assert "test_accuracy" in best
    assert "inherited-weight accuracy `supernet`" in (tmp_path / "run" / "report.md").read_text()


def test_prefilter_supernet_resumes_without_rescoring_or_retraining_the_supernet(tmp_path: Path) -> None:
    config = _shortlist_config(tmp_path)
    first = [t for t in run_search(config).trials if t.role == "search"]
    said: list[str] = []
    resumed = run_search(dataclasses.replace(config, resume=True, budget=3), status=said.append)
    assert not any(line.startswith("supernet mbconv: epoch") for line in said)  # the supernet is not trained again
    assert not any(line.startswith("prefilter: scoring") for line in said)  # the pool replays from prefilter.db
    trained = [t for t in resumed.trials if t.role == "search"]
    assert [t.arch.genes for t in trained[:2]] == [t.arch.genes for t in first]  # finished trials kept
    assert len(trained) == 3  # and the shortlist's third trained


def test_a_time_limit_ends_the_search_and_a_resume_may_change_it(tmp_path: Path) -> None:
    config = dataclasses.replace(_shortlist_config(tmp_path), evaluator="train", budget=2, time_limit_s=1e-3)
    first = run_search(config).summary  # the limit passes while the baseline trains: no candidate starts
    assert first["search"]["stop_reason"] == "time limit reached after 0 evaluated candidates"
    assert first["baseline"] is not None
    resumed = run_search(dataclasses.replace(config, time_limit_s=None, resume=True)).summary  # not in the identity
    assert resumed["search"]["trials"].get("complete", 0) == 2
    assert resumed["search"]["stop_reason"] == "budget of 2 evaluated candidates reached"
