"""The command line as a user meets it when something is off: every usage error is one line and
exit code 2, whatever its kind; ``--version``; ``--config`` files and the flags that override
them; one log line per trial when stderr is not a terminal; ``targets`` in 80 columns."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from edgenas.experiment import Progress
from edgenas.trial import Cost, Metrics, Trial, TrialState

from .images import grey_classes
from .test_cli import edgenas

# (arguments, a fragment of the one line); "{tmp}" is the test's temporary folder, where
# good.yaml (a valid --config), badkey.yaml, badtype.yaml, badyaml.yaml and list.yaml exist.
USAGE_ERRORS = [
    pytest.param((), "needs a command: search, targets", id="bare edgenas"),
    pytest.param(("--debug",), "needs a command", id="bare edgenas --debug"),
    pytest.param(("predictor",), "predictor needs a command: fit, eval", id="bare predictor group"),
    pytest.param(("nosuch",), "No such command 'nosuch'", id="unknown command"),
    pytest.param(("search", "--bogus"), "No such option: --bogus", id="unknown option"),
    pytest.param(("--bogus", "search"), "No such option: --bogus (see 'edgenas --help')", id="unknown global option"),
    pytest.param(("search", "--budget", "abc"), "'--budget'", id="wrong type int"),
    pytest.param(("profile", "m.onnx", "--threads", "two"), "'--threads'", id="wrong type int (profile)"),
    pytest.param(("search", "--latency-ms"), "requires an argument (see 'edgenas search --help')", id="option without value"),
    pytest.param(("export",), "Missing argument", id="missing argument"),
    pytest.param(("predictor", "fit"), "Missing option '--out'", id="missing required option"),
    pytest.param(("targets", "extra"), "unexpected extra argument", id="extra argument"),
    pytest.param(("export", "{tmp}", "--format", "png"), "unknown --format 'png'", id="bad choice (format)"),
    pytest.param(("audit", "{tmp}/m.tflite", "--target", "npu-int9"), "Did you mean 'npu-int8'", id="bad choice (target)"),
    pytest.param(("verify", "{tmp}/absent.tflite"), "no such model file", id="missing model file"),
    pytest.param(("export", "{tmp}/absent"), "not a search run folder", id="missing run folder"),
    pytest.param(("verify", "{tmp}/absent.tflite", "--clips", "0"), "--clips must be at least 1", id="verify no clips"),
    pytest.param(("verify", "{tmp}/absent.tflite", "--clips", "-1"), "--clips must be at least 1", id="verify negative clips"),
    pytest.param(("search", "--seed", "-1", "--out", "{tmp}/s"), "--seed must be 0 or more, got -1", id="search negative seed"),
    pytest.param(
        ("predictor", "fit", "--out", "{tmp}/p.json", "--seed", "-1"), "--seed must be 0 or more", id="fit negative seed"
    ),
    pytest.param(("audit", "{tmp}/m.tflite", "--target", "a" * 300), "unknown target", id="target name too long"),
    pytest.param(
        ("export", "{tmp}", "--format", "onnx-int8", "--calibration-clips", "0"),
        "--calibration-clips must be at least 1",
        id="export no calibration clips",
    ),
    pytest.param(
        ("export", "{tmp}", "--calibration-clips", "-5"), "--calibration-clips must be at least 1", id="export negative clips"
    ),
    pytest.param(("search", "--out", "{tmp}/good.yaml"), "--out {tmp}/good.yaml: a file, not a folder", id="search out a file"),
    pytest.param(
        ("export", "{tmp}/run", "--format", "onnx", "--out", "{tmp}"),
        "--out {tmp}: a folder; name the file",
        id="export out a folder",
    ),
    pytest.param(("export", "{tmp}/run", "--out", "/proc/edgenas.tflite"), "--out /proc/edgenas.tflite: ", id="export out /proc"),
    pytest.param(("search", "--config", "{tmp}/absent.yaml"), "no such file", id="missing --config file"),
    pytest.param(
        ("search", "--config", "{tmp}/badkey.yaml"), "unknown option 'bugdet'. Did you mean 'budget'", id="bad config key"
    ),
    pytest.param(("search", "--config", "{tmp}/badtype.yaml"), "--budget 'many'", id="bad config type"),
    pytest.param(("search", "--config", "{tmp}/badyaml.yaml"), "not valid YAML", id="bad config YAML"),
    pytest.param(("search", "--config", "{tmp}/list.yaml"), "expected a mapping", id="config not a mapping"),
    pytest.param(("search", "--config", "{tmp}/good.yaml", "--epochs", "x"), "'--epochs'", id="bad flag beside --config"),
]


def one_line(result) -> str:
    """The single non-empty stderr line of a usage error (asserting there is exactly one)."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def config_folder(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("usage")
    (tmp / "good.yaml").write_text("budget: 3\n")
    (tmp / "badkey.yaml").write_text("bugdet: 3\n")
    (tmp / "badtype.yaml").write_text("budget: many\n")
    (tmp / "badyaml.yaml").write_text("budget: [3\n")
    (tmp / "list.yaml").write_text("- budget\n- 3\n")
    from edgenas.store import RunFolder

    with RunFolder(tmp / "run").open_store() as store:  # a run folder whose export is refused before any work
        store.write_config({"identity": {"task": "kws", "target": "cortex-m7"}})
    return tmp


@pytest.mark.parametrize(("args", "fragment"), USAGE_ERRORS)
def test_a_usage_error_is_one_line_and_exit_2(config_folder: Path, args: tuple[str, ...], fragment: str) -> None:
    line = one_line(edgenas(*(a.replace("{tmp}", str(config_folder)) for a in args)))
    assert fragment.replace("{tmp}", str(config_folder)) in line, line
    if "--config" not in args and not any(a.startswith("{tmp}") for a in args) and "--target" not in args:
        assert "--help" in line  # click's errors say where help is


def test_version() -> None:
    from importlib.metadata import version

    r = edgenas("--version")
    assert r.returncode == 0 and r.stdout == f"edgenas {version('edgenas')}\n" and r.stderr == ""


def test_search_help_lists_every_registered_name() -> None:
    from edgenas.evaluators import EVALUATORS
    from edgenas.hardware import builtin_targets
    from edgenas.spaces import SPACES
    from edgenas.strategies import STRATEGIES
    from edgenas.tasks import TASKS

    r = edgenas("search", "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.replace("│", " ").split())  # Rich's box and wrapping
    for name in [*STRATEGIES.names(), "differentiable", *EVALUATORS.names(), "prefilter:", "naswot", *SPACES.names(), "auto"]:
        assert name in text, name
    for name in [*TASKS.names(), *builtin_targets(), "name:variant", "YAML", "--config"]:
        assert name in text, name
    assert "[default: 60]" in text and "runs/<task>-<target>" in text  # SearchConfig's defaults, shown


# -- --config: file values, flags that override them, the defaults in between ---------------------
def _resolved(monkeypatch, capsys, *args: str, started: bool = True):
    """The SearchConfig ``edgenas search ARGS`` would run, and what Ctrl-C then prints (in-process):
    the fake search opens the run's store (``started``) and is interrupted."""
    import edgenas.workflows.search as workflow
    from edgenas.cli import run
    from edgenas.store import RunFolder

    seen = []

    def interrupted_search(config, progress=None, status=None):
        seen.append(config)
        if started:
            RunFolder(config.run_dir).open_store().close()
        raise KeyboardInterrupt

    monkeypatch.setattr(workflow, "run_search", interrupted_search)
    with pytest.raises(SystemExit) as exit_info:
        run(["search", *args])
    assert exit_info.value.code == 130
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted: "), lines
    return seen[0], lines[0]


def test_config_file_values_are_used_and_typed_flags_override_them(tmp_path: Path, monkeypatch, capsys) -> None:
    from edgenas.workflows.config import SearchConfig

    monkeypatch.chdir(tmp_path)  # the default run folder, runs/<task>-<target>, is relative
    config_file = tmp_path / "search.yaml"
    config_file.write_text("budget: 7\nlatency-ms: 3.5\nstrategy: random\nsweep: 2,3\ntime_limit: 60\n")
    config, _ = _resolved(monkeypatch, capsys, "--config", str(config_file), "--budget", "2", "--seed", "0")
    assert config.budget == 2  # the flag typed on the command line
    assert config.seed == 0  # typed, though equal to the default
    assert (config.latency_ms, config.strategy, config.sweep, config.time_limit_s) == (3.5, "random", (2.0, 3.0), 60.0)
    assert config.epochs == SearchConfig.epochs and config.target == SearchConfig.target  # neither in the file nor typed
    assert config.out == Path("runs/kws-cortex-m7")  # SearchConfig's default: runs/<task>-<target>
    plain, _ = _resolved(monkeypatch, capsys, "--task", "images", "--target", "npu-int8")
    assert plain.budget == SearchConfig.budget and plain.out == Path("runs/images-npu-int8")


def test_ctrl_c_says_what_is_kept_and_how_to_continue(tmp_path: Path, monkeypatch, capsys) -> None:
    _, line = _resolved(monkeypatch, capsys, "--out", str(tmp_path / "run"))
    assert f"finished trials are kept in {tmp_path / 'run'}" in line and "--resume" in line
    _, line = _resolved(monkeypatch, capsys, "--out", str(tmp_path / "other"), started=False)
    assert "before the search began" in line


def test_sigterm_says_what_is_kept_and_how_to_continue(tmp_path: Path, monkeypatch, capsys) -> None:
    """``kill`` (or a scheduler's stop) unwinds like Ctrl-C: the store closed, one line, exit 143."""
    import signal
    import time

    import edgenas.workflows.search as workflow
    from edgenas.cli import run
    from edgenas.store import RunFolder

    def terminated_search(config, progress=None, status=None):
        RunFolder(config.run_dir).open_store(exclusive=True).close()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the handler interrupts this at once
        raise AssertionError("SIGTERM did not stop the search")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(workflow, "run_search", terminated_search)
    with pytest.raises(SystemExit) as exit_info:
        run(["search", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 143
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("terminated: 0 finished trials are kept in"), lines
    assert "--resume" in lines[0]
    assert signal.getsignal(signal.SIGTERM) is before  # an in-process caller gets its handler back


def test_an_empty_out_is_refused_not_searched_into_the_current_folder(tmp_path: Path) -> None:
    r = edgenas("search", "--out", "", cwd=tmp_path)
    assert r.returncode == 2 and "--out '': an empty path" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


# -- the per-trial log lines -------------------------------------------------------------------------
def _progress(trial: Trial, best: Trial | None, evaluated: int = 3) -> Progress:
    return Progress(trial, evaluated, 60, best, 83.0)


def test_trial_lines_say_what_happened_and_where_the_search_stands() -> None:
    from edgenas.arch import Arch
    from edgenas.cli.console import trial_line

    arch = Arch("kws", (0,))
    cost = Cost(macs=1, params=1, peak_sram_bytes=1, flash_bytes=1, latency_ms=2.05, sources={"latency_ms": "estimated"})
    done = Trial(3, arch, TrialState.COMPLETE, cost=cost, metrics=Metrics(0.712), duration_s=12.3)
    line = trial_line(_progress(done, done))
    assert line == (
        "trial 3: complete, val acc 71.2%, latency 2.05 ms (estimated), 12.3 s; 3/60 trained, "
        "best 71.2% @ 2.05 ms (trial 3), 130 trials/h, 0:01:23 elapsed"
    )
    remote = Trial(3, arch, TrialState.COMPLETE, cost=cost, metrics=Metrics(0.712), duration_s=12.3, worker="local-42")
    assert "12.3 s on local-42; 3/60 trained" in trial_line(_progress(remote, remote))
    infeasible = Trial(4, arch, TrialState.INFEASIBLE, cost=cost, violations=("latency_ms 7.3 > 5",))
    assert trial_line(_progress(infeasible, done)).startswith("trial 4: infeasible, not trained: latency_ms 7.3 > 5; 3/60")
    failed = Trial(5, arch, TrialState.FAIL, cost=cost, error="RuntimeError: out of memory", duration_s=1.5)
    assert trial_line(_progress(failed, None)).startswith("trial 5: failed after 1.5 s: RuntimeError: out of memory;")
    assert "no feasible model yet" in trial_line(_progress(failed, None))
    scored = Trial(6, arch, TrialState.COMPLETE, cost=cost, metrics=Metrics(812.0, signal="zerocost:naswot"))
    assert "zerocost:naswot score 812" in trial_line(_progress(scored, scored)) and "3/60 scored" in trial_line(
        _progress(scored, scored)
    )


def test_a_config_file_search_logs_each_trial_writes_config_yaml_and_keeps_stderr_clean(tmp_path: Path) -> None:
    """A tiny run from a --config file with a flag overriding it; stderr piped (not a terminal)."""
    data = grey_classes(tmp_path / "imgs")
    config_file = tmp_path / "search.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {"task": "images", "data": str(data), "target": "npu-int8", "strategy": "random", "budget": 5, "epochs": 1,
             "latency-ms": 1000, "sram_kb": 100000, "flash-kb": 100000, "seed": 3}
        )
    )  # fmt: skip
    out = tmp_path / "run"
    r = edgenas("search", "--config", str(config_file), "--budget", "2", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    if importlib.util.find_spec("litert_torch") is not None:  # the int8 export ran: where LiteRT's native notes appear
        assert (out / "best" / "model_int8.tflite").is_file()
    summary = json.loads(r.stdout)
    assert summary["search"]["strategy"] == "random" and summary["search"]["seed"] == 3
    written = yaml.safe_load((out / "config.yaml").read_text())
    assert written["budget"] == 2 and written["seed"] == 3 and written["task"] == "images" and written["epochs"] == 1
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    trials = [line for line in lines if line.startswith("trial ")]
    assert len(trials) >= 2 and all(re.match(r"trial \d+: (complete|infeasible|failed)", line) for line in trials), lines
    assert trials[-1].split("; ")[1].startswith("2/2 trained, best ")
    noise = re.compile(r"absl|oneDNN|torchao|Traceback|Warning|WARNING|^[IWE]\d{4} ")
    assert not [line for line in lines if noise.search(line)], lines  # no third-party noise without --debug


# -- targets ---------------------------------------------------------------------------------------
def test_targets_fit_80_columns_with_binary_units() -> None:
    import subprocess

    env = {**os.environ, "COLUMNS": "80"}
    r = subprocess.run([sys.executable, "-m", "edgenas.cli", "targets"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    widths = [len(line) for line in r.stdout.splitlines()]
    assert max(widths) <= 80, r.stdout
    assert "e+" not in r.stdout and "16 GiB" in r.stdout and "320 KiB" in r.stdout and "1 MiB" in r.stdout


def test_binary_sizes() -> None:
    from edgenas.cli.console import binary_size

    assert binary_size(327680) == "320 KiB" and binary_size(16 * 1024**3) == "16 GiB"
    assert binary_size(1536 * 1024) == "1.5 MiB" and binary_size(1000) == "1,000 B"
