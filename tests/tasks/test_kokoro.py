"""Kokoro's neural voices in the synthetic keyword data (``edgenas.tasks.kokoro``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgenas.errors import EdgenasError
from edgenas.tasks import kokoro as K
from edgenas.tasks import kws
from edgenas.tasks import voices as V

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> K.Kokoro:
    if not K.installed():
        pytest.skip(f"Kokoro's packages are not installed (pip install {K.PYPI_PACKAGE})")
    return K.Kokoro(tmp_path_factory.mktemp("kokoro"))


def test_phonemes_are_espeak_ngs_in_kokoros_symbols(model: K.Kokoro) -> None:
    assert model.phonemes("yes") == "jˈɛs"
    assert model.phonemes("go") == "ɡˈO"  # the diphthong oʊ is one symbol, as Kokoro was trained
    assert model.phonemes("right") == "ɹˈIt"


def test_a_word_is_speech_and_speed_changes_its_length(model: K.Kokoro) -> None:
    normal = model.say("stop", "jm_kumo", 1.0)
    fast = model.say("stop", "jm_kumo", 1.4)
    assert normal.dtype == np.float32 and 0.2 * K.SAMPLE_RATE_HZ < normal.size < 2 * K.SAMPLE_RATE_HZ
    assert float(np.abs(normal).max()) > 0.05
    assert fast.size < normal.size


def test_the_same_word_and_voice_give_the_same_samples(model: K.Kokoro) -> None:
    np.testing.assert_array_equal(model.say("left", "jf_alpha"), model.say("left", "jf_alpha"))


def test_a_mixed_voice_lies_between_its_two_packs(model: K.Kokoro) -> None:
    a, b, mixed = model.style("jf_alpha"), model.style("jm_kumo"), model.style("jf_alpha+jm_kumo")
    np.testing.assert_allclose(mixed, (a + b) / 2, rtol=1e-6)
    assert model.say("on", "jf_alpha+jm_kumo").size > 0


@pytest.mark.parametrize("voice", ["nobody", "jf_alpha+nobody", "jf_alpha+jm_kumo+jf_nezumi"])
def test_an_unknown_voice_is_a_clear_error(model: K.Kokoro, voice: str) -> None:
    with pytest.raises(EdgenasError, match="no Kokoro voice"):
        model.style(voice)


def test_the_model_is_assembled_once(tmp_path: Path) -> None:
    if not K.installed():
        pytest.skip("Kokoro's packages are not installed")
    first = K.model_file(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert K.model_file(tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no partial file left behind
    first.write_bytes(b"not a model")  # a damaged copy in the cache is assembled again
    assert K.model_file(tmp_path) == first and first.stat().st_size > 50_000_000


def test_without_the_packages_there_is_no_kokoro_voice(monkeypatch: pytest.MonkeyPatch, kokoro_voices: None) -> None:
    monkeypatch.setattr(K, "installed", lambda: False)
    assert not [v for v in V.available_voices() if v.engine == "kokoro"]


def test_every_voice_the_module_names_is_a_natural_voice() -> None:
    keys = {v.key for v in V.VOICES if v.engine == "kokoro"}
    assert keys == {f"kokoro:{n}" for n in K.voice_names()} and len(keys) == 10


def test_kokoro_voices_train_only_and_are_named_in_the_source(tmp_path: Path, kokoro_voices: None) -> None:
    data = kws.load_synthetic(tmp_path, seed=0, clips_per_voice=1, keywords=("yes", "no"))
    kokoro = {v.key for v in V.available_voices() if v.engine == "kokoro"}
    train, held = set(data.train.speaker.tolist()), set(data.val.speaker.tolist()) | set(data.test.speaker.tolist())
    assert kokoro and kokoro <= train and not (kokoro & held)
    assert "Kokoro-82M" in data.source and "2 for Kokoro's 10" in data.source
    counts = np.bincount(data.train.y, minlength=4)
    assert counts.min() == counts.max() > 0  # every class, _silence_ included, still balanced
    params = kws._synthetic_params(0, 1, ("yes", "no"), natural_voices=V.available_voices())
    assert params["kokoro_renditions_per_voice"] == 2
    without = kws._synthetic_params(0, 1, ("yes", "no"), natural_voices=[v for v in V.VOICES if v.engine != "kokoro"])
    assert "kokoro_renditions_per_voice" not in without  # data made without them keep their cache key
