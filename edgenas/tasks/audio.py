"""Audio front end for keyword spotting: WAV reading, 1 s clips and MFCCs (NumPy/SciPy only).

The parameters follow the KWS literature so that accuracies are comparable with it and so that
the same front end can run on a microcontroller (Hello Edge, Zhang et al. 2017; TensorFlow's
``speech_commands``/``micro_speech``): 1 s of 16 kHz audio, a 40 ms Hann window (640 samples)
every 20 ms (320 samples) without padding -> 49 frames, a 1024-point FFT power spectrum (the next
power of two above the window, as ``tf.signal.stft`` uses), 40 triangular mel filters from 20 Hz
to 4 kHz, the natural log with a floor of 1e-6, an orthonormal DCT-II, and the first 10
coefficients -> a (49, 10) float32 array.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
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


def _hz_to_mel(f_hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale (the one TensorFlow's ``linear_to_mel_weight_matrix`` uses)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f_hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_band_edges_hz() -> np.ndarray:
    """The 42 edge frequencies (Hz) of the 40 mel filters: filter ``i`` rises from edge ``i``,
    peaks at edge ``i+1`` and falls to zero at edge ``i+2``."""
    return _mel_to_hz(np.linspace(_hz_to_mel(MEL_LOW_HZ), _hz_to_mel(MEL_HIGH_HZ), N_MEL_BANDS + 2))


def mel_filterbank() -> np.ndarray:
    """(40, 513) triangular weights applied to the power spectrum of a 1024-point FFT.

    Triangles are evaluated at each FFT bin's exact frequency (not snapped to bins), so narrow
    low-frequency filters still get non-zero weight.
    """
    bin_hz = np.fft.rfftfreq(FFT_POINTS, d=1.0 / SAMPLE_RATE_HZ)
    bin_mel = _hz_to_mel(bin_hz)
    edges_mel = _hz_to_mel(mel_band_edges_hz())
    lower, centre, upper = edges_mel[:-2, None], edges_mel[1:-1, None], edges_mel[2:, None]
    rising = (bin_mel[None, :] - lower) / (centre - lower)
    falling = (upper - bin_mel[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def _frames(audio: np.ndarray) -> np.ndarray:
    """(..., 16000) -> (..., 49, 640) overlapping frames, without padding."""
    windows = np.lib.stride_tricks.sliding_window_view(audio, WINDOW_SAMPLES, axis=-1)
    return windows[..., ::HOP_SAMPLES, :]


def _check_clip(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim < 1 or audio.shape[-1] != CLIP_SAMPLES:
        raise InvalidInputError(
            f"MFCC input must be 1 s at 16 kHz ({CLIP_SAMPLES} samples), got shape {audio.shape}; "
            "use fit_to_one_second(audio, sample_rate) first"
        )
    if not np.all(np.isfinite(audio)):
        raise InvalidInputError("MFCC input contains NaN or infinite samples")
    return audio.astype(np.float32, copy=False)


def log_mel_spectrogram(audio: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """(..., 16000) audio -> (..., 49, 40) log mel energies (natural log, floored at 1e-6).

    Accepts one clip or a batch (leading axes); batches are what makes data generation fast.
    """
    if sample_rate != SAMPLE_RATE_HZ:
        raise InvalidInputError(
            f"the KWS front end expects {SAMPLE_RATE_HZ} Hz audio, got {sample_rate} Hz; "
            "use fit_to_one_second(audio, sample_rate) to resample"
        )
    audio = _check_clip(audio)
    window = scipy.signal.get_window("hann", WINDOW_SAMPLES, fftbins=True).astype(np.float32)
    spectrum = scipy.fft.rfft(_frames(audio) * window, n=FFT_POINTS, axis=-1)
    power = spectrum.real**2 + spectrum.imag**2
    mel = power @ mel_filterbank().T
    return np.log(np.maximum(mel, LOG_FLOOR)).astype(np.float32)


def mfcc(audio: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """1 s of 16 kHz audio -> (49, 10) float32 MFCCs (a batch (N, 16000) gives (N, 49, 10)).

    Orthonormal DCT-II of the 40 log mel energies, first 10 kept. With the orthonormal DCT a
    gain change (which adds a constant to every log mel energy) moves only coefficient 0.

    Example::

        >>> mfcc(np.zeros(16000, np.float32)).shape
        (49, 10)
    """
    log_mel = log_mel_spectrogram(audio, sample_rate)
    return scipy.fft.dct(log_mel, type=2, norm="ortho", axis=-1)[..., :N_MFCC].astype(np.float32)


def mfcc_batch(clips: np.ndarray, *, chunk_clips: int = 256) -> np.ndarray:
    """(N, 16000) -> (N, 49, 10), in chunks so that the complex spectra stay small in memory."""
    clips = np.asarray(clips)
    out = np.empty((clips.shape[0], N_FRAMES, N_MFCC), dtype=np.float32)
    for start in range(0, clips.shape[0], chunk_clips):
        out[start : start + chunk_clips] = mfcc(clips[start : start + chunk_clips])
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
    """Resample to 16 kHz (polyphase, ``scipy.signal.resample_poly``) and centre-crop or pad with
    zeros on both sides to exactly 16000 samples.

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
    if sample_rate != SAMPLE_RATE_HZ:
        g = math.gcd(int(sample_rate), SAMPLE_RATE_HZ)
        audio = scipy.signal.resample_poly(audio, SAMPLE_RATE_HZ // g, int(sample_rate) // g).astype(np.float32)
    n = audio.shape[0]
    if n >= CLIP_SAMPLES:
        start = (n - CLIP_SAMPLES) // 2
        return np.ascontiguousarray(audio[start : start + CLIP_SAMPLES])
    before = (CLIP_SAMPLES - n) // 2
    return np.pad(audio, (before, CLIP_SAMPLES - n - before))


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
