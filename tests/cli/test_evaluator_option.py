"""``edgenas search --evaluator``: proxy names checked up front; zero-cost and prefilter searches
label proxy scores as such and still report measured accuracies for what they train."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from edgenas.workflows.search import SearchConfig, run_search

from .images import grey_classes
from .test_cli import assert_one_line_error, edgenas


def test_unknown_proxy_lists_the_available_ones(tmp_path: Path) -> None:
    r = edgenas("search", "--evaluator", "zerocost:jacov", "--out", str(tmp_path / "r"))
    assert_one_line_error(r, "jacov", "synflow", "naswot", "grad-norm", "snip", "params", "macs")


def _config(tmp_path: Path, name: str, evaluator: str, budget: int) -> SearchConfig:
    return SearchConfig(
        task="images",
        data=grey_classes(tmp_path / "imgs"),
        evaluator=evaluator,
        strategy="random",
        budget=budget,
        epochs=1,
        out=tmp_path / name,
        export=False,
        latency_ms=None,
        sram_kb=None,
    )


def test_zerocost_search_labels_scores_and_trains_only_the_finalists(tmp_path: Path) -> None:
    summary = run_search(_config(tmp_path, "zc", "zerocost:params", budget=4)).summary
    best = summary["best"]
    assert summary["search"]["evaluator"] == "zerocost:params"
    assert summary["task"]["name"] == "images" and summary["task"]["data"]["input_shape"] == [1, 10, 10]
    assert best["proxy"] == "zerocost:params" and best["proxy_score"] > 1000  # a parameter count
    assert 0 <= best["accuracy"] <= 1 and "test_accuracy" in best  # measured after the search
    assert all(
        "accuracy" not in rec and "proxy_score" in rec for rec in summary["pareto_front"] if rec["number"] != best["number"]
    )
    report = (tmp_path / "zc" / "report.md").read_text()
    assert "not by accuracy" in report and "params score (not an accuracy)" in report


def test_prefilter_trains_the_best_of_a_proxy_scored_pool(tmp_path: Path) -> None:
    outcome = run_search(_config(tmp_path, "pf", "prefilter:params:6", budget=2))
    with sqlite3.connect(tmp_path / "pf" / "prefilter.db") as db:
        pool = db.execute("SELECT genes, metrics FROM trials WHERE state = 'complete'").fetchall()
    assert len(pool) == 6
    trained = [t for t in outcome.trials if t.role == "search"]
    assert len(trained) == 2 and all(t.metrics.is_accuracy for t in trained)
    ranked = sorted(pool, key=lambda row: -json.loads(row[1])["accuracy"])
    assert {t.arch.genes for t in trained} == {tuple(json.loads(genes)) for genes, _ in ranked[:2]}
