"""Voices built from recordings of real speakers, for the synthetic keyword data: Debian's ``flite``
and ``festival``, and the neural Kokoro model (``edgenas.tasks.kokoro``, from PyPI).

espeak-ng's voices are formant synthesis: many of them, cheap, but no human ever sounded like
them, and a model trained on them alone recognises real recordings poorly. flite's and festival's
English voices are made from recordings of a handful of people (diphone, clustergen and HTS voices
of the CMU ARCTIC and older CSTR/OGI corpora), so their spectra and timing are a real speaker's.
There are few of them, so each is said at many speeds and pitches and then recorded in simulation
like every other clip (see ``edgenas.tasks.kws``).

A voice missing from this machine is skipped (the data set then names fewer voices and its cache
key changes); with none installed the data are espeak-ng's alone, and a log line says which Debian
and PyPI packages bring the others.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgenas.errors import EdgenasError
from edgenas.tasks import audio as A
from edgenas.tasks import kokoro as K

logger = logging.getLogger(__name__)

#: The Debian packages that bring every voice below.
DEBIAN_PACKAGES = ("flite", "festival", "festvox-kallpc16k", "festvox-kdlpc16k", "festvox-us-slt-hts")


@dataclass(frozen=True)
class NaturalVoice:
    """One voice of one program. ``speaker`` names the person recorded: flite's ``kal``/``kal16`` and
    festival's ``kal_diphone`` are one man, flite's ``slt`` and festival's HTS voice one woman."""

    engine: str  # "flite", "festival" or "kokoro"
    name: str  # the program's own voice name (Kokoro: a pack, or two joined by "+", mixed)
    speaker: str
    f0_hz: float  # the voice's typical pitch, around which renditions draw theirs (flite only)

    @property
    def key(self) -> str:
        return f"{self.engine}:{self.name}"


VOICES = (
    NaturalVoice("flite", "kal", "kal", 100.0),  # diphone, 8 kHz
    NaturalVoice("flite", "kal16", "kal", 100.0),  # diphone, 16 kHz
    NaturalVoice("flite", "awb", "awb", 110.0),  # clustergen, Scottish English
    NaturalVoice("flite", "rms", "rms", 110.0),  # clustergen, US English
    NaturalVoice("flite", "slt", "slt", 170.0),  # clustergen, US English, female
    NaturalVoice("festival", "kal_diphone", "kal", 100.0),
    NaturalVoice("festival", "ked_diphone", "ked", 100.0),
    NaturalVoice("festival", "cmu_us_slt_arctic_hts", "slt", 170.0),
    *(NaturalVoice("kokoro", name, name, 0.0) for name in K.voice_names()),
)
_FESTIVAL_VOICE_DIRS = ("/usr/share/festival/voices", "/usr/lib/festival/voices")
_TIMEOUT_S = 120


@dataclass(frozen=True)
class Rendition:
    """One way of saying a list of words: a voice at a speed (``stretch`` > 1 is slower) and pitch."""

    voice: NaturalVoice
    words: tuple[str, ...]
    stretch: float
    f0_hz: float


def available_voices() -> list[NaturalVoice]:
    """The voices of :data:`VOICES` that this machine can speak with, in that order."""
    flite = shutil.which("flite")
    flite_voices = set(_flite_voices(flite)) if flite else set()
    festival_ok = shutil.which("festival") is not None
    kokoro_ok = shutil.which("espeak-ng") is not None and K.installed()
    out = []
    for voice in VOICES:
        if voice.engine == "flite" and voice.name in flite_voices:
            out.append(voice)
        elif voice.engine == "festival" and festival_ok and _festival_has(voice.name):
            out.append(voice)
        elif voice.engine == "kokoro" and kokoro_ok:
            out.append(voice)
    if len(out) < len(VOICES):
        missing = [v.key for v in VOICES if v not in out]
        logger.info(
            "synthetic KWS data without the natural voices %s; apt-get install %s and pip install %s add them "
            "(better transfer to real speech)",
            ", ".join(missing),
            " ".join(DEBIAN_PACKAGES),
            K.PYPI_PACKAGE,
        )
    return out


def _flite_voices(exe: str) -> list[str]:
    out = subprocess.run([exe, "-lv"], capture_output=True, text=True, check=False, timeout=30).stdout
    return out.split(":", 1)[-1].split()


def _festival_has(name: str) -> bool:
    """Whether festival has the voice: ``<voices>/<language>/<name>/``."""
    return any(path.is_dir() for root in _FESTIVAL_VOICE_DIRS for path in Path(root).glob(f"*/{name}"))


def render(rendition: Rendition, sample_rate: int, kokoro: K.Kokoro | None = None) -> list[np.ndarray]:
    """One float32 array per word at ``sample_rate``, silence around it trimmed.

    ``kokoro`` is the loaded model a Kokoro voice needs (loaded once per data set, not per rendition).
    """
    if rendition.voice.engine == "flite":
        pieces = [_flite(rendition.voice.name, word, rendition.stretch, rendition.f0_hz) for word in rendition.words]
    elif rendition.voice.engine == "kokoro":
        if kokoro is None:
            raise EdgenasError(f"{rendition.voice.key} needs the loaded Kokoro model")
        speed = 1.0 / rendition.stretch
        pieces = [(kokoro.say(word, rendition.voice.name, speed), K.SAMPLE_RATE_HZ) for word in rendition.words]
    else:
        pieces = _festival(rendition.voice.name, rendition.words, rendition.stretch)
    out = [A.trim_silence(A.resample(audio, rate, sample_rate), sample_rate) for audio, rate in pieces]
    for word, speech in zip(rendition.words, out, strict=True):
        if speech.size == 0:
            raise EdgenasError(f"{rendition.voice.key} produced silence for {word!r}; check the installation")
    return out


def _flite(voice: str, word: str, stretch: float, f0_hz: float) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory(prefix="edgenas-flite-") as folder:
        wav = Path(folder, "w.wav")
        args = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.4f}"]
        args += ["--setf", f"int_f0_target_mean={f0_hz:.2f}", "-t", f"{word}.", "-o", str(wav)]
        _run(args, f"flite voice {voice}, word {word!r}")
        return A.read_wav(wav)


def _festival(voice: str, words: Sequence[str], stretch: float) -> list[tuple[np.ndarray, int]]:
    """Every word in one festival process (its start-up costs more than a word)."""
    with tempfile.TemporaryDirectory(prefix="edgenas-festival-") as folder:
        lines = [f"(voice_{voice})", f"(Parameter.set 'Duration_Stretch {stretch:.4f})"]
        for i, word in enumerate(words):
            text = word.replace("\\", " ").replace('"', " ")  # keywords exclude both; kept safe anyway
            lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{text}.")) "{folder}/{i}.wav" \'riff)')
        script = Path(folder, "say.scm")
        script.write_text("\n".join(lines) + "\n")
        _run(["festival", "--batch", str(script)], f"festival voice {voice}")
        return [A.read_wav(Path(folder, f"{i}.wav")) for i in range(len(words))]


def _run(args: list[str], what: str) -> None:
    try:
        result = subprocess.run(args, capture_output=True, timeout=_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EdgenasError(f"{what}: no answer in {_TIMEOUT_S} s; check the installation") from exc
    if result.returncode != 0:
        raise EdgenasError(
            f"{what} failed (exit {result.returncode}): {result.stderr.decode(errors='replace').strip()[:200]}; "
            "check the installation"
        )


def version_text(voices: Sequence[NaturalVoice]) -> str:
    """The programs' versions, for the data set's description (empty with no voice)."""
    parts = []
    if any(v.engine == "flite" for v in voices):
        out = subprocess.run(["flite", "--version"], capture_output=True, text=True, check=False, timeout=30).stdout
        match = re.search(r"version:\s*(\S+)", out)
        parts.append(match.group(1) if match else "flite")
    if any(v.engine == "festival" for v in voices):
        out = subprocess.run(["festival", "--version"], capture_output=True, text=True, check=False, timeout=30).stdout
        match = re.search(r"System:\s*([\w.]+)", out)
        parts.append(f"festival {match.group(1)}" if match else "festival")
    if any(v.engine == "kokoro" for v in voices):
        parts.append(f"Kokoro-82M int8 ({K.PYPI_PACKAGE})")
    return "; ".join(parts)
