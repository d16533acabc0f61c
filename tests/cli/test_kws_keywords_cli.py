"""``edgenas search --keywords`` and the front-end flags as a user meets them: each bad choice is one
line and exit 2; a run at 8 kHz keeps its words and front end through ``export --format firmware``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from .test_cli import assert_one_line_error, edgenas


def _words(root: Path, words: tuple[str, ...], rate_hz: int = 16000) -> Path:
    """Word folders of half-second clips from four speakers: a tone per word in a little noise."""
    rng = np.random.default_rng(0)
    t = np.arange(rate_hz // 2) / rate_hz
    for i, word in enumerate(words):
        for speaker in ("aaaa0001", "bbbb0002", "cccc0003", "dddd0004"):
            for k in range(2):
                tone = 0.3 * np.sin(2 * np.pi * (300.0 + 500.0 * i) * t) + 0.02 * rng.standard_normal(t.size)
                path = root / word / f"{speaker}_nohash_{k}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                wavfile.write(path, rate_hz, (tone * 32767).astype(np.int16))
    return root


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (("--keywords", "yes,no,yes"), ("--keywords", "'yes' twice")),
        (("--keywords", "all"), ("--keywords all", "--data")),
        (("--clip-seconds", "0.02"), ("--clip-seconds 0.02", "shorter than one 40 ms window")),
        (("--sample-rate", "6000"), ("--sample-rate 6,000", "Nyquist")),
        (("--window-ms", "0.05", "--hop-ms", "0.05"), ("--window-ms 0.05", "1 sample")),
        (("--hop-ms", "50"), ("--hop-ms 50", "--window-ms 40")),
        (("--n-mfcc", "41"), ("--n-mfcc 41", "40")),
        (("--task", "fashion-mnist", "--keywords", "a,b"), ("--keywords", "not an option of --task fashion-mnist")),
    ],
)
def test_a_bad_word_list_or_front_end_is_one_line(tmp_path: Path, flags: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    assert_one_line_error(edgenas("search", *flags, "--out", str(tmp_path / "r")), *fragments)
    assert not (tmp_path / "r").exists()  # refused before the run folder was made


def test_a_keyword_without_clips_names_it_and_the_folders(tmp_path: Path) -> None:
    data = _words(tmp_path / "data", ("lights", "music"))
    r = edgenas("search", "--data", str(data), "--keywords", "lights,radio", "--out", str(tmp_path / "r"))
    assert_one_line_error(r, "no clips for 'radio'", "lights, music")


def test_fewer_than_two_classes(tmp_path: Path) -> None:
    data = _words(tmp_path / "data", ("lights",))
    r = edgenas("search", "--data", str(data), "--keywords", "lights", "--out", str(tmp_path / "r"))
    assert_one_line_error(r, "only one class (lights)", "at least two")


@pytest.mark.slow
def test_own_words_at_8_khz_from_search_to_firmware(tmp_path: Path) -> None:
    data = _words(tmp_path / "data", ("lights", "music", "cat"), rate_hz=8000)
    out = tmp_path / "run"
    common = ("--data", str(data), "--keywords", "lights,music", "--sample-rate", "8000", "--out", str(out))
    r = edgenas("search", *common, "--budget", "1", "--epochs", "1", "--latency-ms", "100", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["task"]["classes"] == ["lights", "music", "_unknown_"]  # no noise recordings: no _silence_
    assert summary["task"]["data"]["input_shape"] == [49, 10] and "8,000 Hz" in summary["task"]["data"]["source"]
    assert "sample_rate: 8000" in (out / "config.yaml").read_text()

    r = edgenas("search", "--data", str(data), "--keywords", "lights,music", "--out", str(out), "--resume")
    assert_one_line_error(r, "--sample-rate was 8000, now not given")

    r = edgenas("export", str(out), "--format", "firmware", "--json")
    if r.returncode != 0 and "tflite" in r.stderr:
        pytest.skip(f"the tflite extra is not installed: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    exported = json.loads(r.stdout)
    assert exported["labels"] == ["lights", "music", "_unknown_"]
    config_h = (Path(exported["firmware_dir"]) / "frontend_config.h").read_text()
    assert "EDGENAS_FE_SAMPLE_RATE_HZ 8000" in config_h and "EDGENAS_FE_WINDOW_SAMPLES 320" in config_h
    assert "EDGENAS_FE_FRAMES 49" in config_h
    if "frontend_host_max_abs_diff" in exported:  # a C compiler here: the C front end at 8 kHz against training's
        assert exported["frontend_host_max_abs_diff"] < 1e-3
