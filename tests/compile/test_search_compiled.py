"""``edgenas search --latency compiled --compiler tvm``: a tiny search whose latencies are measured
on each candidate's TVM build, cached by architecture, tuned from one database the search shares,
with the reuse figures in the report; and the bad inputs (one line, exit 2).

Skipped where the ``tvm`` extra is absent. One search of three candidates (and the baseline) at
two MetaSchedule trials each: about a minute on two shared cores; the rest reads what it left.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tvm")

from edgenas.compile.search_latency import CompiledLatency, CompiledOptions  # noqa: E402
from edgenas.experiment import layers_cost  # noqa: E402
from edgenas.hardware import AnalyticalCostModel, load_target  # noqa: E402
from edgenas.spaces import MbconvSpace  # noqa: E402
from edgenas.workflows.search import SearchConfig, run_search  # noqa: E402
from tests.cli.test_cli import assert_one_line_error  # noqa: E402
from tests.compile.searches import cli, compiled_search  # noqa: E402


def _config(root: Path, **options: object) -> SearchConfig:
    return compiled_search(root, **{"tune_trials_per_candidate": 2, **options})


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("compiled")
    outcome = run_search(_config(root))
    return root, outcome.summary


def _cache(root: Path) -> dict:
    return json.loads((root / "run" / "compiled_latency.json").read_text())


def test_latencies_are_measured_on_the_tvm_builds(searched):
    root, summary = searched
    assert summary["best"]["sources"]["latency_ms"] == "measured"
    assert summary["search"]["latency_measured_by"].startswith("tvm: TVM-compiled on this machine")
    cache = _cache(root)
    assert cache["kind"] == "measured" and cache["backend"].startswith("tvm")
    by_arch = cache["latency_ms_by_arch"]
    assert summary["best"]["latency_ms"] == by_arch[_key(summary["best"])]["latency_ms"] > 0
    assert sorted(r["order"] for r in by_arch.values()) == list(range(len(by_arch)))  # each architecture compiled once
    assert all(r["compile_s"] > r["tune_s"] >= 0 and r["tasks"] >= 1 for r in by_arch.values())
    report = (root / "run" / "report.md").read_text()
    assert "## The compiler in the loop" in report and "MetaSchedule database" in report


def _key(record: dict) -> str:
    from edgenas.arch import Arch

    return Arch.from_dict(record["arch"]).key()


def test_the_shared_database_grows_and_its_reuse_is_reported(searched):
    root, summary = searched
    records = sorted(_cache(root)["latency_ms_by_arch"].values(), key=lambda r: r["order"])
    counts = [r["records"] for r in records]
    assert counts == sorted(counts) and counts[-1] > counts[0]  # one database, added to by every candidate
    assert sum(r["new_records"] for r in records) == counts[-1]
    lines = (root / "run" / "compiled" / "tvm" / "llvm" / "tuning" / "database_tuning_record.json").read_text().splitlines()
    assert len([line for line in lines if line.strip()]) == counts[-1]
    compiled = json.loads((root / "run" / "report.json").read_text())["compiled"]
    assert compiled["candidates"] == len(records) and compiled["tune_trials_per_candidate"] == 2
    assert compiled["reused_tasks"] == sum(r["reused_tasks"] for r in records)
    assert set(compiled["reused_share"]) == {"all", "first_third", "last_third"}
    assert 0 <= compiled["reused_share"]["all"] <= 1
    assert set(compiled["compile_s_per_candidate"]) == {"all", "first_third", "last_third"}
    from edgenas.cli.search import _compiled_line  # the line the search prints at its end

    (line,) = _compiled_line(compiled)
    assert f"compiled {len(records)} candidates (tvm, llvm)" in line and "over the last third" in line


def test_a_resume_compiles_only_the_new_candidates(searched, monkeypatch):
    root, _ = searched
    before = _cache(root)["latency_ms_by_arch"]
    compiled: list[str] = []
    original = CompiledLatency.measure

    def counted(self, arch):
        assert arch.key() not in before, f"{arch.key()} compiled again"
        compiled.append(arch.key())
        return original(self, arch)

    monkeypatch.setattr(CompiledLatency, "measure", counted)
    run_search(_config(root, resume=True, budget=4))  # one more candidate
    after = _cache(root)["latency_ms_by_arch"]
    assert {k: after[k] for k in before} == before  # the cached figures are kept as they were
    assert sorted(compiled) == sorted(set(after) - set(before)) and len(compiled) >= 1
    assert after[compiled[-1]]["order"] == len(after) - 1  # the compile order goes on from the first invocation


def test_a_repeated_architecture_is_compiled_once(tmp_path, monkeypatch):
    space = MbconvSpace(num_classes=3, in_channels=1, resolutions=(8,), vocabulary="micro")
    arch = space.sample(np.random.default_rng(1))
    base = layers_cost(space, AnalyticalCostModel(), load_target("host"))
    options = CompiledOptions("tvm", "llvm", 0)
    meter = CompiledLatency(space, base, options, tmp_path / "c.json", tmp_path / "tvm", warmup=1, repeats=3, rounds=1)
    cost = meter(arch)
    assert cost.sources["latency_ms"] == "measured" and cost.latency_ms > 0 and cost.energy_mj is None
    assert not (tmp_path / "tvm" / "tuning").exists()  # default schedules: no database
    again = CompiledLatency(space, base, options, tmp_path / "c.json", tmp_path / "tvm")
    monkeypatch.setattr(again, "measure", lambda a: pytest.fail("a cached architecture was compiled again"))
    assert again(arch).latency_ms == cost.latency_ms


def _one_line_error(code: int, err: str, *fragments: str) -> None:
    assert_one_line_error(subprocess.CompletedProcess([], code, "", err), *fragments)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--latency", "compiled"], ["--latency compiled needs --compiler tvm"]),
        (["--latency", "compiled", "--compiler", "xla"], ["--compiler 'xla'", "tvm"]),
        (
            ["--latency", "compiled", "--compiler", "tvm", "--tune-trials-per-candidate", "-1"],
            ["--tune-trials-per-candidate", "got -1"],
        ),
        (["--latency", "compiled", "--compiler", "tvm", "--target", "cortex-m7"], ["--target host", "cortex-m7"]),
        (
            ["--latency", "compiled", "--compiler", "tvm", "--compile-target", "llvm -mtriple=aarch64-linux-gnu"],
            ["--compile-target", "another machine"],
        ),
        (["--latency", "compiled", "--compiler", "tvm", "--compile-target", "llvm -bogus=1"], ["--compile-target", "bogus"]),
        (["--compiler", "tvm"], ["go with --latency compiled"]),
    ],
)
def test_bad_options_are_one_line(tmp_path, capsys, args, fragments):
    code, err = cli(capsys, "search", "--target", "host", *args, "--out", str(tmp_path / "r"))
    _one_line_error(code, err, *fragments)


def test_tvm_missing_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tvm", None)
    code, err = cli(capsys, "search", "--target", "host", "--latency", "compiled", "--compiler", "tvm", "--out", str(tmp_path))
    _one_line_error(code, err, "--latency compiled", "pip install 'edgenas[tvm]'")
