"""``--latency predicted --predictor P.json``: the search ranks by a fitted latency predictor (labelled
predicted), keeps a copy of it in the run folder and reports its held-out error; a predictor of
another space, or the flag without its file, is one clear error before anything is trained."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from edgenas.errors import InvalidInputError
from edgenas.hardware.latency import LgbmPredictor, load, nets_of, save
from edgenas.ir import total_macs
from edgenas.workflows.config import SearchConfig
from tests.cli.images import grey_classes

HELD_OUT = {"n": 20, "mape": 0.05, "within_10pct": 0.9, "spearman": 0.95}


def _estimated(tmp_path: Path) -> SearchConfig:
    return SearchConfig(
        task="images", data=grey_classes(tmp_path / "imgs"), strategy="random", budget=3, epochs=1,
        out=tmp_path / "run", export=False, latency_ms=None, sram_kb=None,
    )  # fmt: skip


def _fitted(config: SearchConfig, path: Path, space_name: str | None = None) -> Path:
    """An lgbm predictor fitted on 60 archs of the search's own space, latency a function of their MACs."""
    from edgenas.workflows.prepare import prepare

    space = prepare(config, lambda message: None).space
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(60)]
    y = np.array([0.5 + total_macs(space.layers(a)) / 1e6 for a in archs])
    predictor = LgbmPredictor(seed=0, min_child_samples=5).fit(nets_of(space, archs), y)
    save(path, predictor, {"space": space_name or space.name, "device": "toy-board", "held_out": HELD_OUT})
    return path


def test_a_search_ranks_by_the_predictor_and_reports_its_error(tmp_path: Path) -> None:
    from edgenas.workflows.search import run_search

    estimated = _estimated(tmp_path)
    path = _fitted(estimated, tmp_path / "p.json")
    outcome = run_search(dataclasses.replace(estimated, latency="predicted", predictor=path))
    predictor, _ = load(path)
    from edgenas.workflows.prepare import prepare

    space = prepare(estimated, lambda message: None).space
    priced = [t for t in outcome.trials if t.cost is not None and t.role == "search"]
    assert priced and all(t.cost is not None and t.cost.sources["latency_ms"] == "predicted" for t in priced)
    for t in priced:
        assert t.cost is not None and t.cost.latency_ms == pytest.approx(float(predictor.predict(nets_of(space, [t.arch]))[0]))
    copy = tmp_path / "run" / "latency_predictor.json"
    assert json.loads(copy.read_text()) == json.loads(path.read_text())  # the run keeps what it was ranked by
    by = outcome.summary["search"]["latency_predicted_by"]
    assert by["kind"] == "lgbm" and by["device"] == "toy-board" and by["held_out"] == HELD_OUT


def test_a_predictor_of_another_space_is_refused_before_training(tmp_path: Path) -> None:
    from edgenas.workflows.search import run_search

    estimated = _estimated(tmp_path)
    path = _fitted(estimated, tmp_path / "p.json", space_name="nb201")
    with pytest.raises(InvalidInputError, match="fitted on space 'nb201'; this search explores 'mbconv'"):
        run_search(dataclasses.replace(estimated, latency="predicted", predictor=path))
    store = tmp_path / "run" / "trials.db"
    if store.exists():  # nothing was priced or trained
        from edgenas.store import SqliteStore

        with SqliteStore(store, read_only=True) as stored:
            assert stored.trials() == []


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"latency": "predicted"}, "--latency predicted and --predictor P.json go together"),
        ({"predictor": Path("p.json")}, "--latency predicted and --predictor P.json go together"),
        ({"latency": "predicted", "predictor": Path("/nonexistent/p.json")}, "not found"),
    ],
)
def test_predicted_latency_flags_are_checked_first(changes: dict, fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        dataclasses.replace(SearchConfig(), **changes).validate()
