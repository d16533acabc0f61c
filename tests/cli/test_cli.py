"""The command line as a user meets it: bad input is one line and exit 2; a search leaves its run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from .images import grey_classes


def edgenas(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGENAS_CACHE": os.environ.get("EDGENAS_CACHE", str(Path.home() / ".cache" / "edgenas"))}
    return subprocess.run(
        [sys.executable, "-m", "edgenas.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("error:")]
    assert len(errors) == 1, result.stderr  # one error; only progress notes may precede it
    text = " ".join(lines[errors[0] :])  # Rich may wrap a long line
    for fragment in fragments:
        assert fragment in text, text


def test_unknown_target_names_the_accepted_ones(tmp_path):
    r = edgenas("search", "--target", "cortex-m8", "--out", str(tmp_path / "r"))
    assert_one_line_error(r, "cortex-m8", "cortex-m7")


def test_unknown_strategy_suggests_the_closest(tmp_path):
    r = edgenas("search", "--strategy", "evolutoin", "--out", str(tmp_path / "r"))
    assert_one_line_error(r, "Did you mean 'evolution'")


def test_unknown_task(tmp_path):
    assert_one_line_error(edgenas("search", "--task", "vision", "--out", str(tmp_path / "r")), "unknown task", "kws")


def test_negative_budget(tmp_path):
    assert_one_line_error(edgenas("search", "--budget", "-3", "--out", str(tmp_path / "r")), "--budget")


def test_unreadable_data_folder(tmp_path):
    assert_one_line_error(edgenas("search", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")), "--data")


def test_data_folder_with_one_class(tmp_path):
    word = tmp_path / "data" / "yes"
    word.mkdir(parents=True)
    for i in range(3):
        wavfile.write(word / f"spk{i}_nohash_0.wav", 16000, (np.random.default_rng(i).normal(size=16000) * 3000).astype(np.int16))
    assert_one_line_error(edgenas("search", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "r")), "class")


def test_malformed_target_yaml(tmp_path):
    bad = tmp_path / "board.yaml"
    bad.write_text("name: board\nclock_hz: [oops\n")
    assert_one_line_error(edgenas("search", "--target", str(bad), "--out", str(tmp_path / "r")), "board.yaml")


def test_resume_without_a_run(tmp_path):
    assert_one_line_error(edgenas("search", "--resume", "--out", str(tmp_path / "r")), "--resume")


def test_debug_shows_the_traceback(tmp_path):
    r = edgenas("--debug", "search", "--target", "cortex-m8", "--out", str(tmp_path / "r"))
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_targets_lists_the_builtins():
    r = edgenas("targets", "--json")
    assert r.returncode == 0, r.stderr
    names = {t["name"] for t in json.loads(r.stdout)["targets"]}
    assert {"cortex-m7", "cortex-m4"} <= names


@pytest.mark.slow
def test_search_on_real_speech_writes_the_run_folder_and_resumes(tmp_path, shared_data_dir):
    data = shared_data_dir / "kws" / "speech_commands_v0.01_sample"
    out = tmp_path / "run"
    # A generous latency limit so that both candidates are feasible: the run must train and export one.
    common = ("search", "--data", str(data), "--epochs", "1", "--latency-ms", "50", "--out", str(out), "--json")
    first = edgenas(*common, "--budget", "2")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)  # exactly one JSON object on stdout
    assert summary["constraints"] == {"latency_ms": 50.0, "sram_bytes": 204800, "flash_bytes": 1048576, "energy_mj": None}
    assert summary["baseline"]["description"].startswith("2d c64 k10x4 s2x2")
    assert summary["search"]["trials"].get("fail", 0) == 0, summary["search"]
    for name in ("trials.db", "report.md", "report.json", "pareto.png"):
        assert (out / name).is_file(), name
    best = summary["best"]
    assert best is not None and best["latency_ms"] <= 50.0 and best["peak_sram_bytes"] <= 204800
    assert best["sources"]["latency_ms"] == "estimated"
    assert 0.0 <= best["test_accuracy"] <= 1.0
    assert best["retrain_val_accuracy"] == best["accuracy"]  # deterministic training
    assert (out / "best" / "model.onnx").is_file() and (out / "best" / "model.pt").is_file()
    assert best["onnx_max_abs_diff"] < 1e-3
    if "measured" in best:  # the tflite extra is installed by make test: TFLite Micro measured the arena
        assert best["measured"]["arena_bytes"] > 0 and (out / "best" / "model_int8.tflite").is_file()

    again = edgenas(*common, "--budget", "3")
    assert_one_line_error(again, "--resume")
    resumed = edgenas(*common, "--budget", "3", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads(resumed.stdout)
    assert after["search"]["trials"].get("complete", 0) == 3


def test_differentiable_rejects_an_unknown_latency_loss(tmp_path):
    r = edgenas("search", "--strategy", "differentiable", "--latency-loss", "darts", "--out", str(tmp_path / "r"))
    assert_one_line_error(r, "darts", "fbnet, proxyless, lagrangian")


def test_differentiable_rejects_a_bad_sweep(tmp_path):
    r = edgenas("search", "--strategy", "differentiable", "--sweep", "2,fast", "--out", str(tmp_path / "r"))
    assert_one_line_error(r, "--sweep")


def test_time_limit_must_be_positive(tmp_path):
    assert_one_line_error(edgenas("search", "--time-limit", "0", "--out", str(tmp_path / "r")), "--time-limit", "positive")


def test_differentiable_refuses_a_time_limit(tmp_path):
    r = edgenas("search", "--strategy", "differentiable", "--time-limit", "60", "--out", str(tmp_path / "r"))
    assert_one_line_error(r, "--time-limit", "differentiable")


def test_a_time_limit_that_leaves_no_trained_candidate_says_so(tmp_path):
    data = grey_classes(tmp_path / "imgs", size=16, per_class=6)
    r = edgenas(
        "search", "--task", "images", "--data", str(data), "--target", "npu-int8", "--epochs", "1",
        "--time-limit", "0.001", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    text = " ".join(r.stderr.split())  # Rich may wrap the line
    assert "no candidate was trained: time limit reached after 0 evaluated candidates" in text
    assert "raise --time-limit" in text and "met the limits" not in text
    assert (tmp_path / "r" / "trials.db").is_file()  # the baseline is kept: --resume continues
