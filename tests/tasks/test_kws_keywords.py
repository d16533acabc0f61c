"""The user's own keywords and front end: word lists, clip length, sample rate, window, hop, MFCC count."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal

from edgenas.errors import InvalidInputError
from edgenas.settings import shared_data_dir
from edgenas.tasks import audio as A
from edgenas.tasks import check_task_options, kws, load_task, task_front_end, voices
from edgenas.workflows.config import SearchConfig, build_config, read_config_file

EIGHT_K = A.FrontEnd.from_options(sample_rate=8000)


def _noise(seed: int, n: int) -> np.ndarray:
    return (0.05 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def _write_wav(path: Path, audio: np.ndarray, rate_hz: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.wavfile.write(path, rate_hz, (np.clip(audio, -1, 1) * 32767).astype(np.int16))


def _folder(root: Path, words: tuple[str, ...], rate_hz: int = 16000, *, noise: bool = False) -> Path:
    """Four speakers per word (so every split gets one), half-second clips at ``rate_hz``."""
    for i, word in enumerate(words):
        for j, speaker in enumerate(("aaaa0001", "bbbb0002", "cccc0003", "dddd0004")):
            _write_wav(root / word / f"{speaker}_nohash_0.wav", _noise(10 * i + j, rate_hz // 2), rate_hz)
    if noise:
        _write_wav(root / kws.BACKGROUND_FOLDER / "white.wav", _noise(99, rate_hz * 5), rate_hz)
    return root


# ---------------------------------------------------------------- front end


def test_the_default_options_are_todays_front_end_and_cache() -> None:
    assert A.FrontEnd.from_options() == A.DEFAULT_FRONT_END
    assert A.DEFAULT_FRONT_END.feature_shape == A.MFCC_SHAPE == (49, 10)
    assert kws.auxiliary_words(kws.KEYWORDS) == list(kws.AUXILIARY_WORDS)
    # the synthetic default's cache key (and so its file) is fixed: a change to it regenerates every user's data
    assert kws._params_hash(kws._synthetic_params(0, 6)) == "17bd6ac978b4"  # version 3, no natural voice
    assert task_front_end("kws", None) == A.DEFAULT_FRONT_END and check_task_options("kws", {}) is None


def test_an_8_khz_front_end_runs_at_8_khz_without_resampling(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (EIGHT_K.window_samples, EIGHT_K.hop_samples, EIGHT_K.fft_points, EIGHT_K.clip_samples) == (320, 160, 512, 8000)
    assert EIGHT_K.feature_shape == (49, 10)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("resampled audio that was already at the front end's rate")

    monkeypatch.setattr(scipy.signal, "resample_poly", refuse)
    clip = A.fit_clip(_noise(0, 6000), 8000, EIGHT_K)
    assert clip.shape == (8000,) and np.array_equal(clip[1000:7000], _noise(0, 6000))  # centred, untouched
    features = A.mfcc(clip, 8000, front=EIGHT_K)
    assert features.shape == (49, 10) and np.isfinite(features).all()
    with pytest.raises(InvalidInputError, match="8000 Hz"):
        A.mfcc(clip, 16000, front=EIGHT_K)


def test_the_feature_shape_follows_the_options() -> None:
    front = A.FrontEnd.from_options(clip_seconds=1.5, window_ms=25, hop_ms=10, n_mfcc=13)
    assert (front.window_samples, front.hop_samples, front.fft_points) == (400, 160, 512)
    assert front.feature_shape == (1 + (24000 - 400) // 160, 13)
    assert A.mfcc_batch(np.zeros((2, 24000), np.float32), front=front).shape == (2, *front.feature_shape)


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        ({"sample_rate": 6000}, ("--sample-rate 6,000", "Nyquist")),
        ({"sample_rate": 500}, ("--sample-rate 500",)),
        ({"window_ms": 0.05, "hop_ms": 0.05}, ("--window-ms 0.05", "1 sample")),
        ({"window_ms": 5, "hop_ms": 2, "sample_rate": 8000}, ("--window-ms 5", "mel bands without a frequency bin")),
        ({"hop_ms": 50}, ("--hop-ms 50", "longer than --window-ms 40")),
        ({"clip_seconds": 0.02}, ("--clip-seconds 0.02", "shorter than one 40 ms window")),
        ({"n_mfcc": 41}, ("--n-mfcc 41", "at most 40")),
        ({"n_mfcc": 0}, ("--n-mfcc",)),
        ({"clip_seconds": float("nan")}, ("--clip-seconds",)),
    ],
)
def test_a_front_end_that_cannot_work_is_one_line(options: dict, fragments: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInputError) as info:
        kws.kws_options(**options)
    assert all(f in str(info.value) for f in fragments), str(info.value)


# ---------------------------------------------------------------- word lists


def test_keyword_lists_are_checked() -> None:
    assert kws.kws_options(" lights, music ").keywords == ("lights", "music")
    assert kws.kws_options(["hey edge", "stop"]).keywords == ("hey edge", "stop")
    assert kws.kws_options("ALL").all_words and kws.kws_options(None).keywords is None
    for bad, fragment in (("yes,yes", "twice"), ("yes,,no", "empty word"), ("_silence_", "'_'"), ("a/b", "without /")):
        with pytest.raises(InvalidInputError, match=fragment):
            kws.kws_options(bad)
    with pytest.raises(InvalidInputError, match="--keywords all takes every word folder of --data"):
        kws.load_kws(None, options=kws.kws_options("all"))


def test_unknown_words_never_collide_with_the_keywords() -> None:
    words = kws.auxiliary_words(("Cat", "dog", "yes"))
    assert not {"cat", "dog", "yes"} & set(words)
    assert "no" in words and "bed" in words  # the other default keywords speak for _unknown_ too


# ---------------------------------------------------------------- the user's folder


def test_named_keywords_make_unknown_and_silence_only_from_clips(tmp_path: Path) -> None:
    root = _folder(tmp_path / "plain", ("lights", "music", "cat", "dog"))
    data = kws.load_kws(root, options=kws.kws_options("lights,music"))
    assert data.classes == ("lights", "music", "_unknown_")  # no _background_noise_: no _silence_
    labels = np.concatenate([data.train.y, data.val.y, data.test.y])
    assert np.bincount(labels).tolist() == [4, 4, 8]

    everything = kws.load_kws(root, options=kws.kws_options("all"))
    assert everything.classes == ("cat", "dog", "lights", "music")  # every word folder, no _unknown_

    noisy = _folder(tmp_path / "noisy", ("lights", "music"), noise=True)
    with_noise = kws.load_kws(noisy, options=kws.kws_options("lights,music"))
    assert with_noise.classes == ("lights", "music", "_silence_")  # no other words: no _unknown_
    assert all(int(np.sum(s.y == 2)) >= 1 for s in (with_noise.train, with_noise.val, with_noise.test))


def test_a_keyword_without_clips_and_a_single_class_are_refused(tmp_path: Path) -> None:
    root = _folder(tmp_path / "d", ("lights", "music"))
    with pytest.raises(InvalidInputError) as info:
        kws.load_kws(root, options=kws.kws_options("lights,radio"))
    assert "'radio'" in str(info.value) and "lights, music" in str(info.value)
    one = _folder(tmp_path / "one", ("lights",))
    with pytest.raises(InvalidInputError, match="only one class"):
        kws.load_kws(one, options=kws.kws_options("lights"))
    with pytest.raises(InvalidInputError, match="only one class"):
        kws.load_kws(one, options=kws.kws_options("all"))


def test_8_khz_recordings_at_8_khz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _folder(tmp_path / "d", ("lights", "music", "cat"), rate_hz=8000, noise=True)
    monkeypatch.setattr(scipy.signal, "resample_poly", lambda *a, **k: pytest.fail("resampled 8 kHz recordings"))
    data = load_task("kws", root, options={"keywords": ["lights", "music"], "sample_rate": 8000})
    assert data.input_shape == (49, 10) and data.classes == ("lights", "music", "_unknown_", "_silence_")
    assert isinstance(data, kws.KwsTaskData) and data.front == EIGHT_K
    raw = data.train.x * data.feature_std + data.feature_mean
    wav = sorted((root / "lights").glob("*.wav"))[0]
    audio, rate = A.read_wav(wav)
    expected = A.mfcc(A.fit_clip(audio, rate, EIGHT_K), front=EIGHT_K)
    assert any(np.allclose(x, expected, atol=1e-3) for x in raw)  # the features of the 8 kHz front end itself


def test_the_task_options_belong_to_kws(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="--keywords: not an option of --task images"):
        check_task_options("images", {"keywords": ["a", "b"]})
    with pytest.raises(InvalidInputError, match="--volume"):
        check_task_options("kws", {"volume": 3})


# ---------------------------------------------------------------- synthetic speech of any words


def test_synthetic_speech_of_the_users_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    monkeypatch.setattr(kws, "_distinct_variants", lambda exe: ["f2", "m3", "m7", "f4"])  # four voices: quick
    monkeypatch.setattr(voices, "available_voices", list)  # and no flite/festival voice
    data = kws.load_synthetic(tmp_path, clips_per_voice=1, keywords=("lights", "music"), front=EIGHT_K)
    assert data.classes == ("lights", "music", "_unknown_", "_silence_") and data.input_shape == (49, 10)
    (cache,) = tmp_path.glob("kws-synthetic-v3-*.npz")
    params = kws._synthetic_params(0, 1, ("lights", "music"), EIGHT_K)
    assert params["keywords"] == ["lights", "music"] and params["front_end"]["sample_rate_hz"] == 8000
    assert {"lights", "music"}.isdisjoint(params["auxiliary_words"])
    assert cache.name.endswith(f"{kws._params_hash(params)}.npz")
    assert kws._params_hash(params) != kws._params_hash(kws._synthetic_params(0, 1, ("music", "lights"), EIGHT_K))
    assert kws._params_hash(params) != kws._params_hash(kws._synthetic_params(0, 1, ("lights", "music")))
    counts = np.bincount(np.concatenate([data.train.y, data.val.y, data.test.y]))
    assert counts.tolist() == [4, 4, 4, 4] and "8,000 Hz" in data.source


def test_real_speech_check_follows_the_users_keywords() -> None:
    folder = shared_data_dir() / "kws" / "speech_commands_v0.01_sample"
    if not folder.is_dir():
        pytest.skip(f"Speech Commands sample not found at {folder}")
    zeros, ones = np.zeros(10, np.float32), np.ones(10, np.float32)
    empty = kws.Split(np.zeros((0, 49, 10), np.float32), np.zeros(0, np.int64))
    data = kws.KwsTaskData("kws-synthetic", ("bed", "bird", "_unknown_", "_silence_"), empty, empty, empty,
                           (49, 10), zeros, ones, "test", front=EIGHT_K)  # fmt: skip
    split = kws.real_speech_split(data, folder)
    assert split is not None and np.bincount(split.y).tolist() == [10, 10]
    absent = kws.KwsTaskData("kws-synthetic", ("lights", "_unknown_", "_silence_"), empty, empty, empty,
                             (49, 10), zeros, ones, "test")  # fmt: skip
    assert kws.real_speech_split(absent, folder) is None  # no clips of 'lights' in the sample


# ---------------------------------------------------------------- the run's configuration


def test_task_options_in_the_config_and_its_identity(tmp_path: Path) -> None:
    assert "task_options" not in SearchConfig().identity()  # runs from before the options stay resumable
    config = build_config({"task_options": {"keywords": "bed,bird", "sample-rate": 8000}})
    assert config.task_options == {"keywords": ["bed", "bird"], "sample_rate": 8000}
    assert config.identity()["task_options"] == config.task_options
    config.validate()
    path = tmp_path / "search.yaml"
    path.write_text("keywords: bed,bird\nsample-rate: 8000\nbudget: 3\n")
    assert build_config(read_config_file(path)).task_options == config.task_options
    path.write_text(config.to_yaml())  # the run's config.yaml reads back as the same search
    assert build_config(read_config_file(path)) == config
    old = tmp_path / "old.yaml"
    old.write_text(SearchConfig().to_yaml().replace("task_options: {}\n", ""))  # a run's file from before the field
    assert build_config(read_config_file(old)).task_options == {}
    with pytest.raises(InvalidInputError, match="twice"):
        build_config({"task_options": {"keywords": "yes,yes"}}).validate()


def test_the_option_names_are_the_parsers() -> None:
    import inspect

    from edgenas.tasks import TASK_OPTIONS

    assert tuple(inspect.signature(kws.kws_options).parameters) == TASK_OPTIONS["kws"]
    with pytest.raises(InvalidInputError, match="is not a word"):
        kws.kws_options([1, 2])
