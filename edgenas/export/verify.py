"""Run an int8 ``.tflite`` in the real TFLite Micro interpreter and measure what a board needs.

Estimates are only as good as their last check against the runtime, so this module measures:
the smallest tensor arena (bisection on ``arena_size``: TFLite Micro's constructor raises
``TFLM failed to allocate tensors`` when it is too small; its own allocation report can be below
the true minimum because planning needs temporary memory), flash (the file size), accuracy of the
int8 model on TFLite Micro, of LiteRT's reference kernels and of fp32 PyTorch on the same clips,
and how closely TFLite Micro and LiteRT agree. The analytical estimates are passed in by the
caller (this module must not import the search), so the result shows both side by side.

Host caveats: these are x86-64 figures with reference kernels; pointer-holding records are about
half the size on a 32-bit MCU and CMSIS-NN kernels may ask for scratch buffers the host does not.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgenas.errors import InvalidInputError, MissingExtraError
from edgenas.export.audit import read_model_bytes
from edgenas.export.tflite import TfliteInfo, inspect_tflite, litert_interpreter, quiet_native_output

_MAX_ARENA_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class VerifyResult:
    """Measured on the host's TFLite Micro, with the analytical estimates beside them."""

    model_path: str
    flash_bytes: int
    arena_bytes: int
    operators: tuple[str, ...]
    clips: int
    tflm_accuracy: float | None
    litert_accuracy: float | None
    fp32_accuracy: float | None
    argmax_agreement: float
    max_lsb_diff: int
    estimated_peak_sram_bytes: int | None = None
    estimated_flash_bytes: int | None = None
    target_name: str | None = None
    target_sram_bytes: int | None = None
    target_flash_bytes: int | None = None

    @property
    def fits(self) -> bool | None:
        """Whether the measured arena and file fit the target (None without a target)."""
        if self.target_sram_bytes is None:
            return None
        flash_ok = self.target_flash_bytes is None or self.flash_bytes <= self.target_flash_bytes
        return self.arena_bytes <= self.target_sram_bytes and flash_ok

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["operators"] = list(self.operators)
        out["fits"] = self.fits
        return out


def _tflm_runtime():
    try:
        from tflite_micro import runtime
    except ImportError as exc:
        raise MissingExtraError(f"verification needs the TFLite Micro runtime: pip install 'edgenas[tflite]' ({exc})") from None
    return runtime


def _tflm_interpreter(model_bytes: bytes, arena_bytes: int):
    runtime = _tflm_runtime()
    with quiet_native_output():
        return runtime.Interpreter.from_bytes(model_bytes, arena_size=int(arena_bytes))


# A probe runs in a child process: TFLite Micro (this build) can *crash* (SIGSEGV) instead of
# raising for some too-small arenas (e.g. 8 KiB for DS-CNN-S), which would kill the caller.
_PROBE = """
import sys
from tflite_micro import runtime
data = open(sys.argv[1], "rb").read()
for line in sys.stdin:
    try:
        runtime.Interpreter.from_bytes(data, arena_size=int(line))
        ok = "1"
    except RuntimeError:
        ok = "0"
    sys.stdout.write(ok + "\\n")
    sys.stdout.flush()
"""


class _ArenaProber:
    """A child process answering "does this arena fit?"; a crash counts as "no" and it restarts."""

    def __init__(self, model_bytes: bytes) -> None:
        _tflm_runtime()  # MissingExtraError here, not a cryptic child failure
        self._dir = tempfile.TemporaryDirectory()
        self._model = Path(self._dir.name) / "model.tflite"
        self._model.write_bytes(model_bytes)
        self._proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", _PROBE, str(self._model)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def fits(self, arena_bytes: int) -> bool:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(f"{int(arena_bytes)}\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline().strip()
        except (BrokenPipeError, OSError):
            answer = ""
        if answer not in ("0", "1"):  # the child crashed on this arena: TFLite Micro cannot use it
            self._stop()
            return False
        return answer == "1"

    def _stop(self) -> None:
        """End the child (closing its stdin ends its loop) and close both pipes."""
        if self._proc is None:
            return
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:  # a crashed child: the pipe is broken already
                    pass
        self._proc.wait()
        self._proc = None

    def close(self) -> None:
        self._stop()
        self._dir.cleanup()


def arena_fits(model_bytes: bytes, arena_bytes: int) -> bool:
    """Whether TFLite Micro can allocate the model's tensors in an arena of ``arena_bytes``."""
    prober = _ArenaProber(model_bytes)
    try:
        return prober.fits(arena_bytes)
    finally:
        prober.close()


def min_arena_bytes(model_bytes: bytes, *, max_bytes: int = _MAX_ARENA_BYTES) -> int:
    """The smallest arena TFLite Micro accepts for the model, found by bisection (exact)."""
    prober = _ArenaProber(model_bytes)
    try:
        high = 4096
        while not prober.fits(high):
            if high >= max_bytes:
                raise InvalidInputError(f"TFLite Micro cannot allocate the model even in {max_bytes:,} B of arena")
            high = min(high * 2, max_bytes)
        low = 0  # invariant: low fails (0 always does), high fits
        while high - low > 1:
            mid = (low + high) // 2
            if prober.fits(mid):
                high = mid
            else:
                low = mid
        return high
    finally:
        prober.close()


def quantize_input(x: np.ndarray, info: TfliteInfo) -> np.ndarray:
    """Float features -> int8 with the model's input scale and zero point (saturating)."""
    q = np.round(np.asarray(x, dtype=np.float32) / info.input_scale) + info.input_zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def run_int8(model_bytes: bytes, xq: np.ndarray, runtime: str, arena_bytes: int | None = None) -> list[np.ndarray]:
    """Every output of the int8 model for each clip of ``xq``, on TFLite Micro (``runtime="tflm"``,
    in an arena of ``arena_bytes``: the measured minimum when left out) or on LiteRT's reference
    kernels (``"litert"``): one int8 array ``(clips, *output_shape[1:])`` per output, in the
    PyTorch module's order."""
    if runtime not in ("tflm", "litert"):
        raise InvalidInputError(f"runtime {runtime!r}: tflm or litert")
    per_output: list[list[np.ndarray]] = []
    lite = litert_interpreter(model_bytes)  # it verifies the buffer first, and says how many outputs there are
    count = len(lite.get_output_details())
    if runtime == "tflm":
        interpreter = _tflm_interpreter(model_bytes, min_arena_bytes(model_bytes) if arena_bytes is None else arena_bytes)
        for clip in xq:
            interpreter.set_input(clip[None], 0)
            interpreter.invoke()
            per_output.append([np.array(interpreter.get_output(k))[0] for k in range(count)])
    else:
        i_index = lite.get_input_details()[0]["index"]
        o_indices = [o["index"] for o in lite.get_output_details()]
        for clip in xq:
            lite.set_tensor(i_index, clip[None])
            lite.invoke()
            per_output.append([lite.get_tensor(o)[0].copy() for o in o_indices])
    if not per_output:
        return []
    return [np.stack([clip_outs[k] for clip_outs in per_output]) for k in range(len(per_output[0]))]


def _run_tflm(model_bytes: bytes, arena_bytes: int, xq: np.ndarray) -> np.ndarray:
    return run_int8(model_bytes, xq, "tflm", arena_bytes)[0].reshape(len(xq), -1)


def _run_litert(model_bytes: bytes, xq: np.ndarray) -> np.ndarray:
    return run_int8(model_bytes, xq, "litert")[0].reshape(len(xq), -1)


def _fp32_logits(model, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        model = model.eval()
        parts = [model(torch.from_numpy(np.ascontiguousarray(x[i : i + 256]))).numpy() for i in range(0, len(x), 256)]
    return np.concatenate(parts)


def verify_tflite(
    path: Path,
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    fp32_model=None,
    estimated_peak_sram_bytes: int | None = None,
    estimated_flash_bytes: int | None = None,
    target_name: str | None = None,
    target_sram_bytes: int | None = None,
    target_flash_bytes: int | None = None,
) -> VerifyResult:
    """Measure the model at ``path`` on TFLite Micro (see the module docstring).

    Args:
        x: Float clips ``(N, *clip_shape)`` preprocessed as in training (standardised);
            quantised here with the model's input scale and zero point.
        y: Labels for the accuracies (None: agreement only).
        fp32_model: The float PyTorch network the file came from, for its accuracy.
    """
    model_bytes = read_model_bytes(path)
    info = inspect_tflite(model_bytes)  # InvalidInputError for a corrupt or truncated file, before TFLM reads it
    x = np.asarray(x, dtype=np.float32)
    if tuple(x.shape[1:]) != tuple(info.input_shape[1:]):
        raise InvalidInputError(f"clips are shaped {tuple(x.shape[1:])}, the model expects {tuple(info.input_shape[1:])}")
    arena = min_arena_bytes(model_bytes)
    xq = quantize_input(x, info)
    tflm = _run_tflm(model_bytes, arena, xq) if len(x) else np.zeros((0, 1), np.int8)
    lite = _run_litert(model_bytes, xq) if len(x) else np.zeros((0, 1), np.int8)

    def acc(logits: np.ndarray) -> float | None:
        return None if y is None or not len(x) else float(np.mean(np.argmax(logits, axis=1) == np.asarray(y)))

    agreement = float(np.mean(np.argmax(tflm, axis=1) == np.argmax(lite, axis=1))) if len(x) else 1.0
    lsb = int(np.max(np.abs(tflm.astype(np.int32) - lite.astype(np.int32)))) if len(x) else 0
    return VerifyResult(
        model_path=str(path),
        flash_bytes=len(model_bytes),
        arena_bytes=arena,
        operators=info.operators,
        clips=len(x),
        tflm_accuracy=acc(tflm),
        litert_accuracy=acc(lite),
        fp32_accuracy=acc(_fp32_logits(fp32_model, x)) if fp32_model is not None and len(x) else None,
        argmax_agreement=agreement,
        max_lsb_diff=lsb,
        estimated_peak_sram_bytes=estimated_peak_sram_bytes,
        estimated_flash_bytes=estimated_flash_bytes,
        target_name=target_name,
        target_sram_bytes=target_sram_bytes,
        target_flash_bytes=target_flash_bytes,
    )
