"""The device in the loop: a search whose latencies an agent process measures, cached by
architecture and never measured again on resume; an agent that does not answer stops the search
with one line before anything is trained."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.agent.conftest import free_port, start_agent, stop, token_file
from tests.cli.images import grey_classes
from tests.cli.test_cli import assert_one_line_error, edgenas

pytest.importorskip("fastapi")


def _config(tmp_path: Path, url: str, token: Path, budget: int = 3):  # type: ignore[no-untyped-def]
    from edgenas.workflows.config import SearchConfig

    return SearchConfig(
        task="images", data=grey_classes(tmp_path / "imgs"), strategy="random", budget=budget, epochs=1,
        out=tmp_path / "run", export=False, latency_ms=None, sram_kb=None, latency="measured", agent=url,
        agent_token_file=token,
    )  # fmt: skip


def test_a_search_measures_on_the_agent_and_a_resume_measures_nothing_again(tmp_path: Path) -> None:
    from edgenas.workflows.search import run_search

    agent = start_agent(tmp_path / "agent")
    try:
        config = _config(tmp_path, agent.url, agent.token_file)
        outcome = run_search(config)
        evaluated = [t for t in outcome.trials if t.accuracy is not None]
        assert evaluated and all(t.cost is not None and t.cost.sources["latency_ms"] == "measured" for t in evaluated)
        cache = json.loads((tmp_path / "run" / "measured_latency.json").read_text())
        assert cache["backend"].startswith("agent onnxruntime on ")
        assert outcome.summary["search"]["latency_measured_by"] == cache["backend"]
        first = cache["latency_ms_by_arch"]
        for t in evaluated:
            assert t.cost is not None and t.cost.latency_ms == first[t.arch.key()]["latency_ms"] > 0
        resumed = run_search(dataclasses.replace(config, budget=4, resume=True))
        again = json.loads((tmp_path / "run" / "measured_latency.json").read_text())["latency_ms_by_arch"]
        assert {k: again[k] for k in first} == first  # nothing measured twice
        assert len(again) > len(first) and resumed.summary["search"]["trials"].get("complete", 0) >= 4
    finally:
        stop(agent)


def test_an_agent_that_does_not_answer_stops_the_search_before_training(tmp_path: Path) -> None:
    tokens = token_file(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    r = edgenas(
        "search", "--task", "images", "--data", str(grey_classes(tmp_path / "imgs")), "--budget", "2", "--epochs", "1",
        "--latency", "measured", "--agent", url, "--agent-token-file", str(tokens), "--out", str(tmp_path / "run"),
        cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(r, "did not answer GET /info")
    assert not (tmp_path / "run" / "measured_latency.json").exists()


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--agent", "http://127.0.0.1:1"], "--agent measures latency on a device: add --latency measured"),
        (["--latency", "measured", "--agent", "http://127.0.0.1:1"], "--agent needs --agent-token-file"),
        (["--latency", "measured", "--agent", "127.0.0.1:8765", "--agent-token-file", "t"], "expected the agent's URL"),
    ],
)
def test_agent_flags_are_checked_before_anything_runs(tmp_path: Path, flags: list[str], fragment: str) -> None:
    r = edgenas("search", *flags, "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert_one_line_error(r, fragment)
    assert not (tmp_path / "run").exists()


def test_a_predicted_search_has_its_finalists_measured_on_the_agent(tmp_path: Path) -> None:
    from edgenas.workflows.search import run_search
    from tests.workflows.test_predicted_latency import _estimated, _fitted

    estimated = _estimated(tmp_path)
    predictor = _fitted(estimated, tmp_path / "p.json")
    agent = start_agent(tmp_path / "agent")
    try:
        config = dataclasses.replace(
            estimated, latency="predicted", predictor=predictor, agent=agent.url, agent_token_file=agent.token_file
        )
        outcome = run_search(config)
    finally:
        stop(agent)
    best = outcome.summary["best"]
    assert best["sources"]["latency_ms"] == "predicted" and best["device_latency_ms"] > 0  # beside the prediction
    measured = json.loads((tmp_path / "run" / "measured_latency.json").read_text())["latency_ms_by_arch"]
    searched = [t for t in outcome.trials if t.role == "search" and t.accuracy is not None]
    assert 1 <= len(measured) <= 2 < len(searched) + 2  # the finalists only (best, baseline), not every candidate
