"""The voices made from real speakers (flite, festival) in the synthetic keyword data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgenas.tasks import kws
from edgenas.tasks import voices as V

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed (apt-get install flite)")
needs_festival = pytest.mark.skipif(shutil.which("festival") is None, reason="festival is not installed")


def test_every_voice_names_its_speaker_and_engine() -> None:
    assert len({v.key for v in V.VOICES}) == len(V.VOICES)
    assert {v.engine for v in V.VOICES} == {"flite", "festival", "kokoro"}
    # one person behind several voices: kal (flite kal, kal16, festival kal_diphone), slt (flite, festival HTS)
    assert len({v.speaker for v in V.VOICES if v.engine != "kokoro"}) == 5


def test_without_the_programs_there_is_no_natural_voice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(V.shutil, "which", lambda name: None)
    assert V.available_voices() == []
    params = kws._synthetic_params(0, 1, natural_voices=V.available_voices())
    assert params["natural_voices"] == [] and "apt-get install flite" in kws._natural_text(params, "")


@needs_flite
def test_a_flite_rendition_speaks_each_word_at_the_front_end_rate() -> None:
    voice = next(v for v in V.VOICES if v.key == "flite:slt")
    slow = V.render(V.Rendition(voice, ("yes", "left"), stretch=1.3, f0_hz=150.0), 8000)
    fast = V.render(V.Rendition(voice, ("yes", "left"), stretch=0.8, f0_hz=150.0), 8000)
    assert len(slow) == 2 and all(a.dtype == np.float32 and a.size > 0.15 * 8000 for a in slow)
    assert slow[0].size > fast[0].size  # the duration stretch is honoured


@needs_festival
def test_a_festival_rendition_speaks_every_word_in_one_process() -> None:
    voices = [v for v in V.available_voices() if v.engine == "festival"]
    if not voices:
        pytest.skip("no festival English voice installed (festvox-kallpc16k)")
    words = V.render(V.Rendition(voices[0], ("stop", "go", "marvin"), stretch=1.0, f0_hz=100.0), 16000)
    assert len(words) == 3 and all(a.size > 0.1 * 16000 for a in words)


@needs_flite
def test_natural_voices_train_only_and_are_named_in_the_source(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    data = kws.load_synthetic(tmp_path, seed=0, clips_per_voice=1, keywords=("yes", "no"))
    natural = {v.key for v in V.available_voices()}
    train, held = set(data.train.speaker.tolist()), set(data.val.speaker.tolist()) | set(data.test.speaker.tolist())
    assert natural <= train and not (natural & held)
    assert "voices made from real speakers" in data.source and "flite" in data.source
    for split in (data.train, data.val, data.test):
        counts = np.bincount(split.y, minlength=4)
        assert counts.min() == counts.max() > 0  # still balanced
