"""The firmware bundle's C front end on a Cortex-M7 (QEMU mps2-an500) against the Python features.

    python benchmarks/firmware_frontend.py RUN [--clips N] [--out benchmarks/results/firmware_frontend.md]

Exports RUN's best model with ``--format firmware`` (into a temporary folder), builds the bundle's
front-end check with ``arm-none-eabi-gcc`` for the Cortex-M7 (``-mcpu=cortex-m7 -mfpu=fpv5-d16
-mfloat-abi=hard -O2``) and runs it in ``qemu-system-arm -M mps2-an500`` on the real Speech
Commands clips of the ten keywords in the shared data (read, resampled and centred as training
reads WAVs, then 16-bit PCM). Reports the largest |C - Python| MFCC difference, the model's int8
accuracy in TFLite Micro (the Python interpreter on this machine) on the int8 input the C code
computed against the one Python computes, their top-1 agreement, and the front end's code, table
and stack size from the ARM build. Needs the tflite extra and
``apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from edgenas.export.firmware import build, python_features
from edgenas.export.verify import _run_tflm, quantize_input
from edgenas.settings import shared_data_dir
from edgenas.tasks import audio
from edgenas.tasks.kws import KEYWORDS
from edgenas.workflows.export import export_trial


def real_clips(limit: int) -> tuple[np.ndarray, list[str]]:
    folder = shared_data_dir() / "kws" / "speech_commands_v0.01_sample"
    clips, words = [], []
    for word in KEYWORDS:
        for path in sorted((folder / word).glob("*.wav")):
            samples, rate = audio.read_wav(path)
            clips.append(np.round(np.clip(audio.fit_to_one_second(samples, rate), -1, 32767 / 32768) * 32768))
            words.append(word)
    order = np.arange(len(clips))[:limit]
    return np.stack(clips).astype(np.int16)[order], [words[i] for i in order]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/firmware_frontend.md"))
    args = parser.parse_args()
    clips, words = real_clips(args.clips)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "firmware"
        outcome = export_trial(args.run, "best", "firmware", folder, calibration_clips=200)
        model = (folder / "model_int8.tflite").read_bytes()
        from edgenas.export.checkpoint import load_checkpoint
        from edgenas.export.tflite import inspect_tflite

        ck = load_checkpoint(args.run / "best" / "model.pt")
        info = inspect_tflite(model)
        arm = build.build_m7(folder, Path(scratch) / "m7")
        started = time.perf_counter()
        run = build.run_qemu(arm.elf, clips, Path(scratch) / "qemu", python_features(clips))
        qemu_s = time.perf_counter() - started
    expected = python_features(clips)
    diff = np.abs(run.features - expected)
    labels = np.array([ck.classes.index(w) for w in words])
    py_q = quantize_input((expected - ck.feature_mean) / ck.feature_std, info)
    c_logits = _run_tflm(model, outcome.result["arena_bytes"] + 4096, run.quantised)
    py_logits = _run_tflm(model, outcome.result["arena_bytes"] + 4096, py_q)
    c_acc, py_acc = float(np.mean(c_logits.argmax(1) == labels)), float(np.mean(py_logits.argmax(1) == labels))
    agree = float(np.mean(c_logits.argmax(1) == py_logits.argmax(1)))
    lsb = int(np.abs(run.quantised.astype(int) - py_q.astype(int)).max())
    rows = [
        ("run", str(args.run)),
        ("clips", f"{len(clips)} real Speech Commands clips of the ten keywords (shared sample)"),
        ("max abs MFCC difference, C (Cortex-M7, QEMU) vs Python", f"{diff.max():.3g} (mean {diff.mean():.2g})"),
        ("max int8 input difference", f"{lsb} LSB ({float(np.mean(run.quantised != py_q)):.3%} of values differ)"),
        ("TFLite Micro accuracy on C features", f"{c_acc:.1%}"),
        ("TFLite Micro accuracy on Python features", f"{py_acc:.1%}"),
        ("top-1 agreement C vs Python features", f"{agree:.1%}"),
        ("front end code (.text, arm-none-eabi-size)", f"{arm.code_bytes:,} B"),
        ("front end tables (.rodata)", f"{arm.table_bytes:,} B"),
        ("front end static RAM (.data + .bss)", f"{arm.ram_bytes:,} B (+ {arm.work_bytes:,} B work area owned by the caller)"),
        (
            "front end stack, deepest chain (-fstack-usage)",
            f"{arm.stack_bytes} B: {' -> '.join(arm.stack_chain)} (not counted: {', '.join(arm.unmeasured)} from newlib)",
        ),
        ("QEMU run (emulated, not device time)", f"{qemu_s:.1f} s for {len(clips)} clips"),
    ]
    text = "# Firmware front end: C on a Cortex-M7 (QEMU) against Python\n\n`python benchmarks/firmware_frontend.py "
    text += f"{args.run} --clips {args.clips}`\n\n| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
