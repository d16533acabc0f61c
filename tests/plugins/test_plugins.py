"""Third-party packages extend edgenas through entry points: the demo plug-in (``demo_plugin/``)
is installed with pip into a temporary folder and a search runs with its space, strategy,
evaluator, task and target from the command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).parent / "demo_plugin"


def _install(source: Path, into: Path) -> None:
    """pip install, offline, into a folder of its own (a copy of the source: the build writes beside it)."""
    build = into.parent / f"{source.name}-src"
    shutil.copytree(source, build)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(into), str(build)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("plugins") / "site"
    _install(DEMO, site)
    assert (site / "edgenas_demo_plugin").is_dir() and list(site.glob("edgenas_demo_plugin-*.dist-info"))
    return site


def edgenas(site: Path, *args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]), "COLUMNS": "300"}
    return subprocess.run(
        [sys.executable, "-m", "edgenas.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )


def test_the_plugin_components_are_offered_by_name(plugin_site: Path) -> None:
    code = (
        "from edgenas.spaces import SPACES; from edgenas.strategies import STRATEGIES; from edgenas.evaluators import "
        "EVALUATORS; from edgenas.tasks import TASKS; from edgenas.hardware import target_names; "
        "print(SPACES.names(), STRATEGIES.names(), EVALUATORS.names(), TASKS.names(), target_names())"
    )
    env = {**os.environ, "PYTHONPATH": str(plugin_site)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    for name in ("tiny-mlp", "grid", "negparams", "blobs", "demo-board"):
        assert repr(name) in out
    help_text = edgenas(plugin_site, "search", "--help").stdout
    for name in ("tiny-mlp", "grid", "negparams", "blobs"):
        assert name in help_text  # help texts come from the registries, plug-ins included


def test_a_search_runs_with_the_plugins_space_strategy_evaluator_task_and_target(plugin_site: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["search", "--task", "blobs", "--space", "tiny-mlp", "--strategy", "grid", "--evaluator", "negparams"]
    args += ["--target", "demo-board", "--budget", "3", "--epochs", "1", "--out", str(run), "--json"]
    result = edgenas(plugin_site, *args)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    best = summary["best"]
    assert best["description"].startswith("tiny-mlp") and best["proxy"] == "demo:negparams"
    assert best["description"] == "tiny-mlp 8"  # the fewest parameters among the three the grid asked first
    assert 0 <= best["accuracy"] <= 1 and "test_accuracy" in best  # the finalist was trained after the search
    assert summary["target"]["name"] == "demo-board" and summary["task"]["name"] == "blobs"
    assert summary["search"]["strategy"] == "grid" and summary["search"]["trials"] == {"complete": 3}
    assert (run / "best" / "model.onnx").is_file()


def test_a_broken_plugin_is_named_and_the_rest_of_edgenas_works(tmp_path: Path) -> None:
    broken = tmp_path / "broken_plugin"
    broken.mkdir()
    (broken / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "edgenas-broken-plugin"\nversion = "0.1.0"\n'
        '[project.entry-points."edgenas.spaces"]\nbroken = "no_such_module:Space"\n'
        "[tool.setuptools]\npy-modules = []\n"
    )
    site = tmp_path / "site"
    _install(broken, site)
    result = edgenas(site, "search", "--space", "broken", "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "broken" in result.stderr and "no_such_module" in result.stderr
    listing = edgenas(site, "targets", "--json")
    assert listing.returncode == 0 and "cortex-m7" in listing.stdout
