"""Keyword-spotting task: MFCC front end, synthetic espeak-ng data, Speech Commands folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile

from edgenas.errors import InvalidInputError, MissingDataError
from edgenas.settings import shared_data_dir
from edgenas.tasks import kws
from edgenas.tasks.audio import (
    channel_filter,
    fit_to_one_second,
    log_mel_spectrogram,
    mel_band_edges_hz,
    mfcc,
    perturb_speed,
    read_wav,
    reverberate,
    synthetic_rir,
)

SAMPLE_NAME = "kws/speech_commands_v0.01_sample"
CLASSES = (*kws.KEYWORDS, "_unknown_", "_silence_")


def _shared_data() -> Path:
    return shared_data_dir()


@pytest.fixture(scope="module")
def sample_dir() -> Path:
    path = _shared_data() / SAMPLE_NAME
    if not path.is_dir():
        pytest.skip(f"Speech Commands sample not found at {path} (set EDGENAS_SHARED_DATA to the shared data folder)")
    return path


def _noise(seed: int = 0, n: int = 16000) -> np.ndarray:
    return (0.05 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def _write_wav(path: Path, audio: np.ndarray, rate_hz: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.wavfile.write(path, rate_hz, (np.clip(audio, -1, 1) * 32767).astype(np.int16))
    return path


# ---------------------------------------------------------------- front end


def test_mfcc_shape_dtype_and_determinism() -> None:
    audio = _noise()
    features = mfcc(audio)
    assert features.shape == (49, 10) and features.dtype == np.float32
    assert np.array_equal(features, mfcc(audio.copy()))
    batch = mfcc(np.stack([audio, 2 * audio]))
    assert batch.shape == (2, 49, 10)
    np.testing.assert_allclose(batch[0], features, rtol=1e-5, atol=1e-5)


def test_louder_copy_only_shifts_coefficient_zero() -> None:
    audio = _noise(1)
    quiet, loud = mfcc(audio), mfcc(4.0 * audio)
    shift = loud - quiet
    # x4 amplitude = x16 power = +2 ln 4 in every log mel band; the orthonormal DCT of a constant
    # c over 40 bands is c * sqrt(40) in coefficient 0 and zero elsewhere.
    np.testing.assert_allclose(shift[:, 0], 2 * np.log(4.0) * np.sqrt(40), rtol=1e-4)
    assert np.abs(shift[:, 1:]).max() < 1e-3


@pytest.mark.parametrize("tone_hz", [300.0, 1000.0, 2500.0])
def test_pure_tone_peaks_in_its_mel_band(tone_hz: float) -> None:
    t_s = np.arange(16000) / 16000
    log_mel = log_mel_spectrogram((0.5 * np.sin(2 * np.pi * tone_hz * t_s)).astype(np.float32))
    assert log_mel.shape == (49, 40)
    centres_hz = mel_band_edges_hz()[1:-1]
    expected = int(np.argmin(np.abs(np.log(centres_hz / tone_hz))))
    assert abs(int(np.argmax(log_mel.mean(axis=0))) - expected) <= 1


def test_mfcc_rejects_wrong_length_and_rate() -> None:
    with pytest.raises(InvalidInputError, match="16000 samples"):
        mfcc(np.zeros(8000, np.float32))
    with pytest.raises(InvalidInputError, match="16000 Hz"):
        mfcc(np.zeros(16000, np.float32), sample_rate=8000)


def test_fit_to_one_second_resamples_and_centres() -> None:
    short = np.ones(4000, np.float32)  # 0.5 s at 8 kHz -> 8000 samples at 16 kHz, centred
    out = fit_to_one_second(short, 8000)
    assert out.shape == (16000,) and out.dtype == np.float32
    assert out[:3900].max() == 0 and out[-3900:].max() == 0 and out[8000] == pytest.approx(1.0, abs=0.05)
    long = np.arange(20000, dtype=np.float32)
    assert fit_to_one_second(long, 16000)[0] == 2000  # centre crop
    assert fit_to_one_second(_noise(n=44100), 44100).shape == (16000,)


def test_read_wav_formats(tmp_path: Path) -> None:
    tone = 0.5 * np.sin(np.linspace(0, 100, 8000))
    scipy.io.wavfile.write(tmp_path / "a.wav", 8000, (tone * 32767).astype(np.int16))
    scipy.io.wavfile.write(tmp_path / "b.wav", 22050, (tone * 127 + 128).astype(np.uint8))
    scipy.io.wavfile.write(tmp_path / "c.wav", 44100, np.stack([tone, tone], axis=1).astype(np.float32))
    scipy.io.wavfile.write(tmp_path / "d.wav", 16000, (tone * 2**31).astype(np.int32))
    for name, rate_hz in [("a", 8000), ("b", 22050), ("c", 44100), ("d", 16000)]:
        audio, rate = read_wav(tmp_path / f"{name}.wav")
        assert rate == rate_hz and audio.dtype == np.float32 and audio.ndim == 1
        np.testing.assert_allclose(audio, tone, atol=0.02)  # 8-bit: steps of 1/128


def test_read_wav_corrupt_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really a wav")
    with pytest.raises(InvalidInputError, match="broken.wav"):
        read_wav(bad)
    with pytest.raises(MissingDataError, match="absent.wav"):
        read_wav(tmp_path / "absent.wav")


# ---------------------------------------------------------------- acoustic simulation


def _tone(hz: float, n: int = 16000) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(n) / 16000)).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def test_perturb_speed_scales_duration_and_pitch() -> None:
    faster = perturb_speed(_tone(500.0), 1.1)
    assert abs(faster.shape[0] - 16000 / 1.1) <= 2 and faster.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(faster[1000:-1000] * np.hanning(faster.shape[0] - 2000)))
    peak_hz = np.argmax(spectrum) * 16000 / (faster.shape[0] - 2000)
    assert peak_hz == pytest.approx(550.0, rel=0.01)
    assert np.array_equal(perturb_speed(_tone(500.0), 1.0), _tone(500.0))


@pytest.mark.parametrize(("rt60_s", "drr_db"), [(0.2, 3.0), (0.5, 12.0)])
def test_synthetic_rir_has_the_drawn_decay_and_direct_to_reverberant_ratio(rt60_s: float, drr_db: float) -> None:
    rir = synthetic_rir(np.random.default_rng(0), rt60_s, drr_db)
    assert rir[0] == 1.0 and rir.shape == (int(rt60_s * 16000),)
    assert 10 * np.log10(1.0 / np.sum(rir[1:] ** 2)) == pytest.approx(drr_db, abs=0.01)
    quarter = rir.shape[0] // 4  # energy falls 60 dB over RT60: ~15 dB per quarter
    first, last = np.sum(rir[1:quarter] ** 2), np.sum(rir[3 * quarter :] ** 2)
    assert 10 * np.log10(first / last) == pytest.approx(45.0, abs=6.0)
    assert reverberate(np.ones(100, np.float32), rir).shape == (100 + rir.shape[0] - 1,)


def test_channel_filter_high_pass_low_pass_and_eq() -> None:
    assert _rms(channel_filter(_tone(40.0), highpass_hz=300.0)[4000:]) < 0.05 * _rms(_tone(40.0))
    assert _rms(channel_filter(_tone(1000.0), highpass_hz=300.0)[4000:]) == pytest.approx(_rms(_tone(1000.0)), rel=0.05)
    assert _rms(channel_filter(_tone(7000.0), lowpass_hz=3500.0)[4000:]) < 0.05 * _rms(_tone(7000.0))
    boosted = channel_filter(_tone(1000.0), peaking_eq=[(1000.0, 6.0, 1.0)])[4000:]
    assert 20 * np.log10(_rms(boosted) / _rms(_tone(1000.0))) == pytest.approx(6.0, abs=0.1)
    assert np.array_equal(channel_filter(_tone(1000.0)), _tone(1000.0))


def test_augmented_clip_is_a_plausible_recording() -> None:
    params = kws._synthetic_params(0, 1)
    rng = np.random.default_rng(0)
    word = _tone(300.0, 6000) * np.hanning(6000).astype(np.float32)
    for _ in range(20):
        clip = kws._augment(word, rng, params)
        assert clip.shape == (16000,) and clip.dtype == np.float32 and np.all(np.isfinite(clip))
        peak_dbfs = 20 * np.log10(np.abs(clip).max())
        assert params["peak_dbfs"][0] - 0.1 <= peak_dbfs <= params["peak_dbfs"][1] + 0.1
        assert np.allclose(clip * 32768, np.round(clip * 32768))  # 16-bit quantised
        assert np.count_nonzero(clip) > 8000  # a noise floor everywhere, not digital silence around the word
    silence = kws._silence_clip(rng, params)
    assert params["silence_rms_db"][0] - 1 <= 20 * np.log10(_rms(silence)) <= params["silence_rms_db"][1] + 1


def test_every_accent_honours_the_variant_and_differs() -> None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    text = " ".join(kws.KEYWORDS)  # en-us-nyc differs from en-us only in some words (on, off, stop)
    audio = {(a, v): kws._espeak(exe, f"{a}+{v}", text)[0].tobytes() for a in kws._ACCENTS for v in ("m3", "f2")}
    assert len(set(audio.values())) == len(audio)


# ---------------------------------------------------------------- synthetic data


@pytest.fixture(scope="module")
def synthetic_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return tmp_path_factory.mktemp("kws-cache")


@pytest.fixture(scope="module")
def tiny(synthetic_cache: Path) -> kws.TaskData:
    return kws.load_synthetic(synthetic_cache, seed=0, clips_per_voice=1)


def _assert_same(a: kws.TaskData, b: kws.TaskData) -> None:
    for name in ("train", "val", "test"):
        sa, sb = getattr(a, name), getattr(b, name)
        assert np.array_equal(sa.x, sb.x) and np.array_equal(sa.y, sb.y) and np.array_equal(sa.speaker, sb.speaker)
    assert np.array_equal(a.feature_mean, b.feature_mean) and np.array_equal(a.feature_std, b.feature_std)


def test_synthetic_shapes_classes_and_standardisation(tiny: kws.TaskData) -> None:
    assert tiny.name == "kws-synthetic" and tiny.classes == CLASSES and tiny.input_shape == (49, 10)
    for split in (tiny.train, tiny.val, tiny.test):
        assert split.x.dtype == np.float32 and split.x.shape[1:] == (49, 10)
        assert split.y.dtype == np.int64 and split.y.shape == (split.x.shape[0],)
        counts = np.bincount(split.y, minlength=12)
        assert len(counts) == 12 and counts.min() == counts.max() > 0  # balanced, every class present
    flat = tiny.train.x.reshape(-1, 10)
    np.testing.assert_allclose(flat.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(flat.std(axis=0), 1, atol=1e-3)
    assert tiny.feature_mean.shape == tiny.feature_std.shape == (10,)
    summary = tiny.describe()
    json.dumps(summary)
    assert summary["total"] == len(tiny.train) + len(tiny.val) + len(tiny.test)
    assert summary["splits"]["test"]["per_class"]["_silence_"] == int(np.sum(tiny.test.y == 11))
    assert "espeak-ng" in tiny.source and "speaker-disjoint" in tiny.source


def test_synthetic_splits_are_speaker_disjoint(tiny: kws.TaskData) -> None:
    voices = [set(s.speaker.tolist()) for s in (tiny.train, tiny.val, tiny.test)]
    assert all(voices)
    assert not (voices[0] & voices[1]) and not (voices[0] & voices[2]) and not (voices[1] & voices[2])
    n = sum(map(len, voices))
    assert n >= 20 and 0.1 <= len(voices[2]) / n <= 0.2  # ~15% of the voices held out for test


def test_synthetic_second_call_hits_the_cache(tiny: kws.TaskData, synthetic_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = list(synthetic_cache.glob("kws-synthetic-v3-*.npz"))
    assert len(files) == 1 and not list(synthetic_cache.glob("*.tmp"))

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("regenerated instead of reading the cache")

    monkeypatch.setattr(kws, "_generate_synthetic", fail)
    _assert_same(tiny, kws.load_synthetic(synthetic_cache, seed=0, clips_per_voice=1))


def test_synthetic_is_deterministic_and_a_corrupt_cache_is_regenerated(tiny: kws.TaskData, synthetic_cache: Path,
                                                                        tmp_path: Path) -> None:  # fmt: skip
    cache_name = next(synthetic_cache.glob("kws-synthetic-v3-*.npz")).name
    (tmp_path / cache_name).write_bytes(b"PK\x03\x04 truncated")
    again = kws.load_synthetic(tmp_path, seed=0, clips_per_voice=1)
    _assert_same(tiny, again)
    assert np.load(tmp_path / cache_name)["labels"].shape[0] == sum(map(len, (tiny.train, tiny.val, tiny.test)))


def test_synthetic_other_seed_differs(tiny: kws.TaskData, tmp_path: Path) -> None:
    other = kws.load_synthetic(tmp_path, seed=1, clips_per_voice=1)
    assert set(tiny.test.speaker.tolist()) != set(other.test.speaker.tolist())
    assert len(list(tmp_path.glob("*.npz"))) == 1


def test_synthetic_without_espeak_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kws.shutil, "which", lambda name: None)
    with pytest.raises(MissingDataError, match=r"apt-get install espeak-ng.*--data DIR"):
        kws.load_synthetic(tmp_path, clips_per_voice=1)


def test_synthetic_rejects_bad_parameters(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="clips_per_voice"):
        kws.load_synthetic(tmp_path, clips_per_voice=0)
    with pytest.raises(InvalidInputError, match="seed"):
        kws.load_synthetic(tmp_path, seed=-1)


# ---------------------------------------------------------------- Speech Commands folders


def test_speech_commands_sample(sample_dir: Path) -> None:
    data = kws.load_speech_commands(sample_dir)
    assert data.name == "kws-speech-commands" and data.classes == CLASSES
    summary = data.describe()
    word_counts = {s: summary["splits"][s]["total"] - summary["splits"][s]["per_class"]["_silence_"]
                   for s in ("train", "val", "test")}  # fmt: skip
    assert word_counts == {"train": 205, "val": 44, "test": 51}  # the folder's official lists
    totals = {c: sum(summary["splits"][s]["per_class"][c] for s in word_counts) for c in CLASSES}
    assert all(totals[k] == 10 for k in kws.KEYWORDS)
    assert totals["_unknown_"] == 200  # 20 other words x 10 clips
    assert totals["_silence_"] == 20 + 4 + 5  # 10% of each split's word clips
    for split in (data.train, data.val, data.test):
        assert split.x.shape[1:] == (49, 10) and np.isfinite(split.x).all()
    speakers = [set(s.speaker.tolist()) - {"_synthetic_noise_"} for s in (data.train, data.val, data.test)]
    assert not (speakers[0] & speakers[1]) and not (speakers[0] & speakers[2]) and not (speakers[1] & speakers[2])
    assert "testing_list.txt" in data.source


def test_speech_commands_maps_other_words_to_unknown(sample_dir: Path) -> None:
    data = kws.load_speech_commands(sample_dir, keywords=("yes", "no"))
    assert data.classes == ("yes", "no", "_unknown_", "_silence_")
    labels = np.concatenate([data.train.y, data.val.y, data.test.y])
    assert np.bincount(labels, minlength=4)[:3].tolist() == [10, 10, 280]
    assert kws.load_kws(sample_dir).name == "kws-speech-commands"


def test_official_hash_rule_reproduces_the_official_lists(sample_dir: Path) -> None:
    testing = set((sample_dir / "testing_list.txt").read_text().split())
    validation = set((sample_dir / "validation_list.txt").read_text().split())
    for wav in sorted(sample_dir.glob("*/*.wav")):
        rel = f"{wav.parent.name}/{wav.name}"
        expected = "test" if rel in testing else "val" if rel in validation else "train"
        assert kws.which_set(wav.name) == expected, rel


def _tiny_folder(root: Path, words: dict[str, list[str]], rate_hz: int = 16000) -> Path:
    for i, (word, speakers) in enumerate(words.items()):
        for j, speaker in enumerate(speakers):
            _write_wav(root / word / f"{speaker}_nohash_{j}.wav", _noise(10 * i + j, rate_hz // 2), rate_hz)
    return root


def test_speech_commands_few_speakers_fall_back_to_a_speaker_split(tmp_path: Path) -> None:
    speakers = ["aaaa0001", "bbbb0002", "cccc0003", "dddd0004"]
    root = _tiny_folder(tmp_path / "sc", {"yes": speakers, "no": speakers, "cat": speakers}, rate_hz=8000)
    noise = np.random.default_rng(0).standard_normal(16000 * 5) * 0.1
    _write_wav(root / "_background_noise_" / "white.wav", noise)
    data = kws.load_speech_commands(root)
    groups = [set(s.speaker.tolist()) - {"_background_noise_"} for s in (data.train, data.val, data.test)]
    assert all(len(g) >= 1 for g in groups) and sum(map(len, groups)) == 4
    assert "instead split deterministically by speaker" in data.source
    assert "_background_noise_" in data.source
    assert all(int(np.sum(s.y == 11)) >= 1 for s in (data.train, data.val, data.test))
    again = kws.load_speech_commands(root)
    assert np.array_equal(again.test.x, data.test.x)


def test_speech_commands_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="does not exist"):
        kws.load_speech_commands(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="is a file"):
        kws.load_speech_commands(tmp_path / "file.txt")


def test_speech_commands_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "yes").mkdir()
    with pytest.raises(MissingDataError, match="no WAV files"):
        kws.load_speech_commands(tmp_path)


def test_speech_commands_one_class_only(tmp_path: Path) -> None:
    root = _tiny_folder(tmp_path, {"yes": ["aaaa0001", "bbbb0002"]})
    with pytest.raises(InvalidInputError, match=r"only one class \(yes\)"):
        kws.load_speech_commands(root)
    root2 = _tiny_folder(tmp_path / "u", {"cat": ["a1"], "dog": ["b2"]})  # both map to _unknown_
    with pytest.raises(InvalidInputError, match="only one class"):
        kws.load_speech_commands(root2)


def test_speech_commands_corrupt_wav_is_named(tmp_path: Path) -> None:
    root = _tiny_folder(tmp_path, {"yes": ["aaaa0001"], "no": ["bbbb0002"]})
    (root / "no" / "cccc0003_nohash_0.wav").write_bytes(b"this is not audio")
    with pytest.raises(InvalidInputError, match="cccc0003_nohash_0.wav"):
        kws.load_speech_commands(root)


def test_speech_commands_rejects_bad_keywords(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="keywords"):
        kws.load_speech_commands(tmp_path, keywords=())
    with pytest.raises(InvalidInputError, match="keywords"):
        kws.load_speech_commands(tmp_path, keywords=("yes", "yes"))
