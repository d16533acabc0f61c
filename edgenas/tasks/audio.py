"""Audio front end for keyword spotting: WAV reading, 1 s clips and MFCCs (NumPy/SciPy only).

The parameters follow the KWS literature so that accuracies are comparable with it and so that
the same front end can run on a microcontroller (Hello Edge, Zhang et al. 2017; TensorFlow's
``speech_commands``/``micro_speech``): 1 s of 16 kHz audio, a 40 ms Hann window (640 samples)
every 20 ms (320 samples) without padding -> 49 frames, a 1024-point FFT power spectrum (the next
power of two above the window, as ``tf.signal.stft`` uses), 40 triangular mel filters from 20 Hz
to 4 kHz, the natural log with a floor of 1e-6, an orthonormal DCT-II, and the first 10
coefficients -> a (49, 10) float32 array.

Those are the defaults of :class:`FrontEnd`; a run may choose another clip length, sample rate
(8 kHz telephone recordings run at 8 kHz, not resampled), window, hop and coefficient count, and
the features follow: ``frames = 1 + (clip - window) // hop``.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.io.wavfile
import scipy.signal

from edgenas.errors import InvalidInputError, MissingDataError

SAMPLE_RATE_HZ = 16000
CLIP_SAMPLES = 16000  # 1 s at 16 kHz
WINDOW_SAMPLES = 640  # 40 ms
HOP_SAMPLES = 320  # 20 ms
FFT_POINTS = 1024
N_FRAMES = 1 + (CLIP_SAMPLES - WINDOW_SAMPLES) // HOP_SAMPLES  # 49
N_MEL_BANDS = 40
MEL_LOW_HZ = 20.0
MEL_HIGH_HZ = 4000.0
N_MFCC = 10
LOG_FLOOR = 1e-6
MFCC_SHAPE = (N_FRAMES, N_MFCC)
#: Sample rates edgenas reads (telephone 8 kHz and below down to 1 kHz, studio rates up to 384 kHz). The
#: rate is a header field: resampling from a crafted one (2^31 - 1 Hz) would need a filter of billions of taps.
MIN_SAMPLE_RATE_HZ = 1_000
MAX_SAMPLE_RATE_HZ = 384_000
#: Longest recording read (background-noise files are about a minute), and the largest WAV file.
MAX_WAV_SECONDS = 600
MAX_WAV_BYTES = 256 * 1024 * 1024
#: Longest clip a front end takes (``--clip-seconds``): keyword spotting listens to a word or two.
MAX_CLIP_SECONDS = 30.0


@dataclass(frozen=True)
class FrontEnd:
    """The MFCC front end's parameters: what training computes, and what a firmware must compute too.

    The defaults are the literature's front end (module docstring). Other clip lengths, sample
    rates, windows, hops and coefficient counts come from :meth:`from_options`, which refuses
    what cannot work (a window shorter than a sample, mel bands above the Nyquist frequency).
    """

    sample_rate_hz: int = SAMPLE_RATE_HZ
    clip_samples: int = CLIP_SAMPLES
    window_samples: int = WINDOW_SAMPLES
    hop_samples: int = HOP_SAMPLES
    fft_points: int = FFT_POINTS
    mel_bands: int = N_MEL_BANDS
    mfcc: int = N_MFCC
    log_floor: float = LOG_FLOOR
    mel_low_hz: float = MEL_LOW_HZ
    mel_high_hz: float = MEL_HIGH_HZ

    @property
    def frames(self) -> int:
        return 1 + (self.clip_samples - self.window_samples) // self.hop_samples

    @property
    def feature_shape(self) -> tuple[int, int]:
        """(frames, coefficients): the input shape of every model trained on these features."""
        return (self.frames, self.mfcc)

    @classmethod
    def from_options(
        cls,
        *,
        clip_seconds: float = CLIP_SAMPLES / SAMPLE_RATE_HZ,
        sample_rate: int = SAMPLE_RATE_HZ,
        window_ms: float = 1000.0 * WINDOW_SAMPLES / SAMPLE_RATE_HZ,
        hop_ms: float = 1000.0 * HOP_SAMPLES / SAMPLE_RATE_HZ,
        n_mfcc: int = N_MFCC,
    ) -> FrontEnd:
        """The front end a user asked for in seconds, Hz and ms (rounded to whole samples), checked.

        The FFT is the next power of two at or above the window, as ``tf.signal.stft`` uses.
        """
        for flag, value in (("--clip-seconds", clip_seconds), ("--window-ms", window_ms), ("--hop-ms", hop_ms)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
                raise InvalidInputError(f"{flag} must be a positive number, got {value!r}")
        for flag, value in (("--sample-rate", sample_rate), ("--n-mfcc", n_mfcc)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{flag} must be a positive whole number, got {value!r}")
        if not MIN_SAMPLE_RATE_HZ <= sample_rate <= MAX_SAMPLE_RATE_HZ:
            raise InvalidInputError(
                f"--sample-rate {sample_rate:,} Hz: the front end runs at {MIN_SAMPLE_RATE_HZ:,} to {MAX_SAMPLE_RATE_HZ:,} Hz"
            )
        if clip_seconds > MAX_CLIP_SECONDS:
            raise InvalidInputError(f"--clip-seconds {clip_seconds:g}: keyword clips last at most {MAX_CLIP_SECONDS} s")
        window = round(window_ms * sample_rate / 1000.0)
        if window < 2:
            raise InvalidInputError(
                f"--window-ms {window_ms:g} at {sample_rate:,} Hz is {window} sample(s); a window needs at least 2 samples"
            )
        hop = round(hop_ms * sample_rate / 1000.0)
        if hop < 1:
            raise InvalidInputError(f"--hop-ms {hop_ms:g} at {sample_rate:,} Hz is less than one sample; use a longer hop")
        if hop > window:
            raise InvalidInputError(
                f"--hop-ms {hop_ms:g} is longer than --window-ms {window_ms:g}: the audio between windows would never "
                "be analysed; use a hop of at most the window"
            )
        clip = round(clip_seconds * sample_rate)
        if clip < window:
            raise InvalidInputError(
                f"--clip-seconds {clip_seconds:g} is shorter than one {window_ms:g} ms window (--window-ms); "
                "use a longer clip or a shorter window"
            )
        front = cls(
            sample_rate_hz=sample_rate,
            clip_samples=clip,
            window_samples=window,
            hop_samples=hop,
            fft_points=1 << (window - 1).bit_length(),
            mfcc=n_mfcc,
        )
        front.check()
        return front

    def check(self) -> None:
        """Refuse parameters whose features would be wrong: mel bands beyond the Nyquist frequency,
        a band no FFT bin falls in, more coefficients than bands."""
        nyquist = self.sample_rate_hz / 2
        if self.mel_high_hz > nyquist:
            raise InvalidInputError(
                f"--sample-rate {self.sample_rate_hz:,} Hz: the {self.mel_bands} mel bands reach {self.mel_high_hz:,.0f} Hz, "
                f"above the Nyquist frequency ({nyquist:,.0f} Hz); use a rate of at least {2 * self.mel_high_hz:,.0f} Hz"
            )
        if self.mfcc > self.mel_bands:
            raise InvalidInputError(f"--n-mfcc {self.mfcc}: at most {self.mel_bands} (the mel bands the DCT reads)")
        if self.window_samples > self.fft_points:
            raise InvalidInputError(f"a {self.window_samples}-sample window does not fit a {self.fft_points}-point FFT")
        empty = int(np.sum(~np.any(mel_filterbank(self) > 0, axis=1)))
        if empty:
            window_ms = 1000.0 * self.window_samples / self.sample_rate_hz
            raise InvalidInputError(
                f"--window-ms {window_ms:g}: at {self.sample_rate_hz:,} Hz its {self.fft_points}-point FFT leaves {empty} "
                f"of the {self.mel_bands} mel bands without a frequency bin; use a longer window"
            )


#: The front end of the defaults, which every model and cache made before the options used.
DEFAULT_FRONT_END = FrontEnd()


def _hz_to_mel(f_hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale (the one TensorFlow's ``linear_to_mel_weight_matrix`` uses)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f_hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_band_edges_hz(front: FrontEnd = DEFAULT_FRONT_END) -> np.ndarray:
    """The 42 edge frequencies (Hz) of the 40 mel filters: filter ``i`` rises from edge ``i``,
    peaks at edge ``i+1`` and falls to zero at edge ``i+2``."""
    low, high = _hz_to_mel(front.mel_low_hz), _hz_to_mel(front.mel_high_hz)
    return _mel_to_hz(np.linspace(low, high, front.mel_bands + 2))


def mel_filterbank(front: FrontEnd = DEFAULT_FRONT_END) -> np.ndarray:
    """(40, 513) triangular weights applied to the power spectrum of a 1024-point FFT (by default).

    Triangles are evaluated at each FFT bin's exact frequency (not snapped to bins), so narrow
    low-frequency filters still get non-zero weight.
    """
    bin_hz = np.fft.rfftfreq(front.fft_points, d=1.0 / front.sample_rate_hz)
    bin_mel = _hz_to_mel(bin_hz)
    edges_mel = _hz_to_mel(mel_band_edges_hz(front))
    lower, centre, upper = edges_mel[:-2, None], edges_mel[1:-1, None], edges_mel[2:, None]
    rising = (bin_mel[None, :] - lower) / (centre - lower)
    falling = (upper - bin_mel[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def _frames(audio: np.ndarray, front: FrontEnd) -> np.ndarray:
    """(..., clip samples) -> (..., frames, window samples) overlapping frames, without padding."""
    windows = np.lib.stride_tricks.sliding_window_view(audio, front.window_samples, axis=-1)
    return windows[..., :: front.hop_samples, :][..., : front.frames, :]


def _check_clip(audio: np.ndarray, front: FrontEnd) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim < 1 or audio.shape[-1] != front.clip_samples:
        seconds = front.clip_samples / front.sample_rate_hz
        raise InvalidInputError(
            f"MFCC input must be {seconds:g} s at {front.sample_rate_hz} Hz ({front.clip_samples} samples), got shape "
            f"{audio.shape}; use fit_clip(audio, sample_rate, front) first"
        )
    if not np.all(np.isfinite(audio)):
        raise InvalidInputError("MFCC input contains NaN or infinite samples")
    return audio.astype(np.float32, copy=False)


def log_mel_spectrogram(audio: np.ndarray, sample_rate: int | None = None, *, front: FrontEnd = DEFAULT_FRONT_END) -> np.ndarray:
    """(..., 16000) audio -> (..., 49, 40) log mel energies (natural log, floored at 1e-6), by default.

    Accepts one clip or a batch (leading axes); batches are what makes data generation fast.
    """
    if sample_rate is not None and sample_rate != front.sample_rate_hz:
        raise InvalidInputError(
            f"the KWS front end expects {front.sample_rate_hz} Hz audio, got {sample_rate} Hz; "
            "use fit_clip(audio, sample_rate, front) to resample"
        )
    audio = _check_clip(audio, front)
    window = scipy.signal.get_window("hann", front.window_samples, fftbins=True).astype(np.float32)
    spectrum = scipy.fft.rfft(_frames(audio, front) * window, n=front.fft_points, axis=-1)
    power = spectrum.real**2 + spectrum.imag**2
    mel = power @ mel_filterbank(front).T
    return np.log(np.maximum(mel, front.log_floor)).astype(np.float32)


def mfcc(audio: np.ndarray, sample_rate: int | None = None, *, front: FrontEnd = DEFAULT_FRONT_END) -> np.ndarray:
    """1 s of 16 kHz audio -> (49, 10) float32 MFCCs (a batch (N, 16000) gives (N, 49, 10)), by default.

    Orthonormal DCT-II of the 40 log mel energies, first 10 kept. With the orthonormal DCT a
    gain change (which adds a constant to every log mel energy) moves only coefficient 0.

    Example::

        >>> mfcc(np.zeros(16000, np.float32)).shape
        (49, 10)
    """
    log_mel = log_mel_spectrogram(audio, sample_rate, front=front)
    return scipy.fft.dct(log_mel, type=2, norm="ortho", axis=-1)[..., : front.mfcc].astype(np.float32)


def mfcc_batch(clips: np.ndarray, *, chunk_clips: int = 256, front: FrontEnd = DEFAULT_FRONT_END) -> np.ndarray:
    """(N, clip samples) -> (N, frames, coefficients), in chunks so that the complex spectra stay small in memory."""
    clips = np.asarray(clips)
    out = np.empty((clips.shape[0], *front.feature_shape), dtype=np.float32)
    for start in range(0, clips.shape[0], chunk_clips):
        out[start : start + chunk_clips] = mfcc(clips[start : start + chunk_clips], front=front)
    return out


def _to_float(samples: np.ndarray) -> np.ndarray:
    """Integer or float PCM -> float32 in [-1, 1], averaged to mono."""
    if samples.dtype == np.uint8:  # 8-bit WAV is unsigned, centred on 128
        audio = (samples.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(samples.dtype, np.integer):
        audio = samples.astype(np.float32) / float(-np.iinfo(samples.dtype).min)
    elif np.issubdtype(samples.dtype, np.floating):
        audio = samples.astype(np.float32)
    else:
        raise InvalidInputError(f"unsupported WAV sample type {samples.dtype}")
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return np.clip(np.nan_to_num(audio), -1.0, 1.0)


def check_sample_rate(sample_rate: int, name: str = "the audio") -> int:
    """The sample rate, if edgenas can resample from it (see :data:`MIN_SAMPLE_RATE_HZ`)."""
    if not MIN_SAMPLE_RATE_HZ <= int(sample_rate) <= MAX_SAMPLE_RATE_HZ:
        raise InvalidInputError(
            f"{name} has a sample rate of {int(sample_rate):,} Hz; edgenas reads "
            f"{MIN_SAMPLE_RATE_HZ:,} to {MAX_SAMPLE_RATE_HZ:,} Hz (a damaged header, or convert the file)"
        )
    return int(sample_rate)


def decode_wav(data: bytes, *, name: str = "<bytes>") -> tuple[np.ndarray, int]:
    """Like :func:`read_wav`, for WAV bytes already in memory (e.g. ``espeak-ng --stdout``)."""
    if len(data) > MAX_WAV_BYTES:
        raise InvalidInputError(f"{name} is {len(data):,} B; edgenas reads WAV files of at most {MAX_WAV_BYTES:,} B")
    try:
        with warnings.catch_warnings():
            # Streamed WAVs (espeak-ng --stdout) carry a placeholder length; scipy warns and reads
            # what is there, which is exactly what we want.
            warnings.simplefilter("ignore", scipy.io.wavfile.WavFileWarning)
            sample_rate, samples = scipy.io.wavfile.read(io.BytesIO(data))
    except Exception as exc:  # scipy raises ValueError, EOFError, struct.error... for bad files
        raise InvalidInputError(
            f"{name} is not a readable WAV file ({exc}); accepted: PCM or float WAV, any rate, mono or stereo"
        ) from exc
    if samples.size == 0:
        raise InvalidInputError(f"{name} contains no audio samples")
    rate = check_sample_rate(sample_rate, name)
    if samples.shape[0] > MAX_WAV_SECONDS * rate:
        raise InvalidInputError(
            f"{name} lasts {samples.shape[0] / rate:,.0f} s; edgenas reads recordings of at most {MAX_WAV_SECONDS} s"
        )
    return _to_float(samples), rate


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read a WAV file as float32 mono in [-1, 1] plus its sample rate (Hz).

    Any bit depth scipy reads (8/16/24/32-bit PCM, 32/64-bit float) and any rate; stereo is
    averaged. A corrupt or truncated file raises :class:`InvalidInputError` naming the file, so a
    bad clip in a large folder is easy to find.
    """
    path = Path(path)
    try:
        if path.stat().st_size > MAX_WAV_BYTES:
            raise InvalidInputError(
                f"{path} is {path.stat().st_size:,} B; edgenas reads WAV files of at most {MAX_WAV_BYTES:,} B"
            )
        with open(path, "rb") as f:
            data = f.read(MAX_WAV_BYTES + 1)
    except FileNotFoundError as exc:
        raise MissingDataError(f"WAV file {path} does not exist") from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot read WAV file {path}: {exc.strerror or type(exc).__name__}") from exc
    return decode_wav(data, name=str(path))


def fit_to_one_second(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resample to 16 kHz and centre-crop or pad to exactly 16000 samples (:func:`fit_clip` with the default front end)."""
    return fit_clip(audio, sample_rate, DEFAULT_FRONT_END)


def fit_clip(audio: np.ndarray, sample_rate: int, front: FrontEnd = DEFAULT_FRONT_END) -> np.ndarray:
    """Resample to the front end's rate (polyphase, ``scipy.signal.resample_poly``; none when the
    rates agree) and centre-crop or pad with zeros on both sides to exactly its clip length.

    Centring rather than padding at the end keeps a short word in the middle of the window,
    where the recordings of Speech Commands put it too.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise InvalidInputError(f"expected mono audio (1-D array), got shape {audio.shape}")
    check_sample_rate(sample_rate)
    if audio.shape[0] > MAX_WAV_SECONDS * sample_rate:
        raise InvalidInputError(
            f"the audio lasts {audio.shape[0] / sample_rate:,.0f} s; edgenas reads at most {MAX_WAV_SECONDS} s"
        )
    audio = resample(audio, sample_rate, front.sample_rate_hz)
    n, size = audio.shape[0], front.clip_samples
    if n >= size:
        start = (n - size) // 2
        return np.ascontiguousarray(audio[start : start + size])
    before = (size - n) // 2
    return np.pad(audio, (before, size - n - before))


def resample(audio: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Polyphase resampling from ``from_hz`` to ``to_hz``; the audio itself when they agree."""
    if int(from_hz) == int(to_hz):
        return np.asarray(audio, dtype=np.float32)
    g = math.gcd(int(from_hz), int(to_hz))
    return scipy.signal.resample_poly(audio, int(to_hz) // g, int(from_hz) // g).astype(np.float32)


def trim_silence(audio: np.ndarray, sample_rate: int, *, threshold_db: float = -40.0) -> np.ndarray:
    """Drop leading and trailing quiet parts: 10 ms frames more than ``threshold_db`` below the
    loudest frame. Synthetic speech comes with silence around it whose length depends on the
    voice; trimming it makes placement in the 1 s clip (and the time shift) meaningful."""
    frame = max(1, sample_rate // 100)
    n_frames = audio.shape[0] // frame
    if n_frames == 0:
        return audio
    rms = np.sqrt(np.mean(audio[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(rms >= rms.max() * 10.0 ** (threshold_db / 20.0))
    if loud.size == 0 or rms.max() <= 1e-5:
        return audio[:0]
    return audio[loud[0] * frame : (loud[-1] + 1) * frame]


# --------------------------------------------------------------------------------------------
# Acoustic simulation for data augmentation (speaker, room, microphone)
# --------------------------------------------------------------------------------------------


def perturb_speed(audio: np.ndarray, factor: float, *, denominator: int = 50) -> np.ndarray:
    """Speed perturbation (Ko et al. 2015): play ``audio`` ``factor`` times faster by resampling.

    Duration scales by 1/factor and pitch and formants by ``factor``, like a speaker with a
    shorter (factor > 1) or longer vocal tract (cf. VTLP, Jaitly & Hinton 2013). ``factor`` is
    rounded to a multiple of 1/``denominator`` so that polyphase resampling stays cheap.
    """
    k = max(1, round(factor * denominator))
    if k == denominator:
        return np.asarray(audio, dtype=np.float32)
    g = math.gcd(k, denominator)
    return scipy.signal.resample_poly(audio, denominator // g, k // g).astype(np.float32)


def synthetic_rir(
    rng: np.random.Generator, rt60_s: float, drr_db: float, sample_rate: int = SAMPLE_RATE_HZ, *, gap_ms: float = 2.0
) -> np.ndarray:
    """A room impulse response: a unit direct path, then after ``gap_ms`` an exponentially decaying
    Gaussian-noise tail (the statistical model of late reverberation, Schroeder 1962; as used for
    augmentation by Ko et al. 2017) that falls by 60 dB in ``rt60_s`` and whose energy is ``drr_db``
    below the direct sound (the direct-to-reverberant ratio)."""
    n = max(2, int(rt60_s * sample_rate))
    t_s = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-math.log(1000.0) * t_s / rt60_s)
    tail[: max(1, int(gap_ms * sample_rate / 1000))] = 0.0
    tail *= math.sqrt(10.0 ** (-drr_db / 10.0) / max(float(np.sum(tail**2)), 1e-12))
    tail[0] = 1.0
    return tail.astype(np.float32)


def reverberate(audio: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with an impulse response; the output keeps the reverberant tail (len + len(rir) - 1)."""
    return scipy.signal.fftconvolve(audio, rir, mode="full").astype(np.float32)


def _peaking_sos(centre_hz: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """One peaking-EQ biquad (Bristow-Johnson's Audio EQ Cookbook) as a second-order section."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * centre_hz / sample_rate
    alpha = math.sin(w0) / (2.0 * q)
    b = np.array([1.0 + alpha * a, -2.0 * math.cos(w0), 1.0 - alpha * a])
    den = np.array([1.0 + alpha / a, -2.0 * math.cos(w0), 1.0 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def channel_filter(
    audio: np.ndarray,
    *,
    highpass_hz: float | None = None,
    lowpass_hz: float | None = None,
    peaking_eq: Sequence[tuple[float, float, float]] = (),
    sample_rate: int = SAMPLE_RATE_HZ,
) -> np.ndarray:
    """A microphone/device frequency response: 2nd-order Butterworth high-pass (small capsules and
    phone DSP cut the bass), 4th-order Butterworth low-pass (band-limited codecs and cheap mics) and
    peaking-EQ bands ``(centre_hz, gain_db, q)`` for resonances and dips of the housing."""
    sections = []
    if highpass_hz is not None:
        sections.append(scipy.signal.butter(2, highpass_hz, "highpass", fs=sample_rate, output="sos"))
    if lowpass_hz is not None and lowpass_hz < sample_rate / 2:
        sections.append(scipy.signal.butter(4, lowpass_hz, "lowpass", fs=sample_rate, output="sos"))
    sections += [_peaking_sos(f, g, q, sample_rate) for f, g, q in peaking_eq if 0 < f < sample_rate / 2]
    if not sections:
        return np.asarray(audio, dtype=np.float32)
    return scipy.signal.sosfilt(np.concatenate(sections), audio).astype(np.float32)
