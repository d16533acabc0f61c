"""The device's own runtime in the loop: a target file that names its agent, candidates sent as
int8 TFLite to LiteRT (with or without XNNPACK), and the flags that choose it checked up front."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from edgenas.errors import InvalidInputError
from edgenas.hardware import load_target
from tests.agent.conftest import start_agent, stop, tflite_model, token_file
from tests.cli.images import grey_classes
from tests.cli.test_cli import assert_one_line_error, edgenas

pytest.importorskip("fastapi")

BUILTIN = Path(__file__).parents[2] / "edgenas" / "hardware" / "targets" / "cortex-m7.yaml"


def _target_with_agent(folder: Path, url: str, token: str, runtime: str = "litert") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "my-board.yaml"
    block = f"\nagent:\n  url: {url}\n  token_file: {token}\n  runtime: {runtime}\n"
    path.write_text(BUILTIN.read_text(encoding="utf-8") + block, encoding="utf-8")
    return path


def test_a_target_file_names_its_agent_with_the_token_file_beside_it(tmp_path: Path) -> None:
    target = load_target(_target_with_agent(tmp_path / "boards", "http://192.168.1.20:8765", "pi.token"))
    assert target.agent is not None
    assert target.agent.url == "http://192.168.1.20:8765" and target.agent.runtime == "litert"
    assert Path(target.agent.token_file) == tmp_path / "boards" / "pi.token"  # relative to the target file
    assert load_target("cortex-m7").agent is None
    assert json.dumps(target.to_dict())  # still JSON-able for the report (the path, never the token)


@pytest.mark.parametrize(
    ("url", "runtime", "fragment"),
    [
        ("http://10.0.0.2:8765", "tensorrt", "agent.runtime: 'tensorrt' is not one of"),
        ("10.0.0.2:8765", "litert", "agent.url"),
    ],
)
def test_a_bad_agent_block_is_one_line_naming_the_field(tmp_path: Path, url: str, runtime: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError, match="agent") as err:
        load_target(_target_with_agent(tmp_path, url, "t", runtime))
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_the_targets_agent_is_used_only_when_latency_comes_from_a_device(tmp_path: Path) -> None:
    from edgenas.workflows.config import SearchConfig

    path = _target_with_agent(tmp_path, "http://127.0.0.1:9", "tok", "litert-no-xnnpack")
    estimated = SearchConfig(target=str(path), out=tmp_path / "run")
    assert estimated.with_target_agent() is estimated  # --latency estimated never asks a device
    measured = dataclasses.replace(estimated, latency="measured").with_target_agent()
    assert measured.agent == "http://127.0.0.1:9" and measured.agent_token_file == tmp_path / "tok"
    assert measured.agent_runtime == "litert-no-xnnpack"
    own = dataclasses.replace(estimated, latency="measured", agent="http://127.0.0.1:10", agent_token_file=tmp_path / "x")
    assert own.with_target_agent() is own  # --agent on the command line wins


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--agent-runtime", "tensorrt"], "--agent-runtime must be one of onnxruntime, litert, litert-no-xnnpack"),
        (["--agent-runtime", "litert"], "--agent-runtime goes with --agent URL"),
    ],
)
def test_agent_runtime_flags_are_checked_before_anything_runs(tmp_path: Path, flags: list[str], fragment: str) -> None:
    r = edgenas("search", *flags, "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert_one_line_error(r, fragment)
    assert not (tmp_path / "run").exists()


def test_the_agent_times_litert_with_and_without_xnnpack(tmp_path: Path) -> None:
    from edgenas.agent.auth import read_token_file
    from edgenas.agent.client import AgentClient

    model = tflite_model()
    agent = start_agent(tmp_path / "agent")
    try:
        client = AgentClient(agent.url, read_token_file(agent.token_file))
        assert {"litert", "litert-no-xnnpack"} <= set(client.info().runtimes)
        for runtime in ("litert", "litert-no-xnnpack"):
            m = client.measure(model, runtime=runtime, threads=1, warmup=1, repeats=3)
            assert m.runtime == runtime and m.runtime_version.startswith("ai-edge-litert ") and m.repeats == 3
    finally:
        stop(agent)


def test_a_search_on_a_target_naming_its_agent_times_int8_tflite_there(tmp_path: Path) -> None:
    pytest.importorskip("litert_torch")
    from edgenas.workflows.config import SearchConfig
    from edgenas.workflows.search import run_search

    agent = start_agent(tmp_path / "agent")
    try:
        (tmp_path / "boards").mkdir()
        tokens = token_file(tmp_path / "boards")  # the agent's token, beside the target file that names it
        target = _target_with_agent(tmp_path / "boards", agent.url, tokens.name, "litert")
        config = SearchConfig(
            task="images", data=grey_classes(tmp_path / "imgs"), target=str(target), strategy="random", budget=2,
            epochs=1, out=tmp_path / "run", export=False, latency_ms=None, sram_kb=None, flash_kb=None,
            latency="measured",
        )  # fmt: skip
        outcome = run_search(config)
    finally:
        stop(agent)
    cache = json.loads((tmp_path / "run" / "measured_latency.json").read_text())
    assert cache["backend"].startswith("agent litert int8 on ")
    assert outcome.summary["search"]["latency_measured_by"] == cache["backend"]
    evaluated = [t for t in outcome.trials if t.role == "search" and t.accuracy is not None]
    assert evaluated and all(t.cost is not None and t.cost.sources["latency_ms"] == "measured" for t in evaluated)
    for t in evaluated:
        assert t.cost is not None and t.cost.latency_ms == cache["latency_ms_by_arch"][t.arch.key()]["latency_ms"] > 0
