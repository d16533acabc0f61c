"""Estimated peak SRAM and flash against the real TFLite Micro arena and .tflite size.

    python benchmarks/estimate_vs_tflm.py [--n 8] [--seed 0]

For DS-CNN-S and N-1 random ``kws`` architectures (untrained; random calibration clips), convert
to full-int8 TFLite (litert-torch PT2E), measure the minimum TFLite Micro arena by bisection and
the file size, and print them beside the cortex-m7 estimates (with and without CMSIS-NN scratch:
the host runs reference kernels, so the no-scratch estimate is the one to compare). Needs the
``tflite`` extra. Host x86-64 figures: see docs/deploy.md for what changes on the device.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from edgenas.export.tflite import convert_int8
from edgenas.export.verify import min_arena_bytes
from edgenas.hardware import flash_bytes, load_target, peak_sram_bytes
from edgenas.spaces import KwsSpace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    space = KwsSpace()
    target = load_target("cortex-m7")
    no_scratch = dataclasses.replace(target, memory=dataclasses.replace(target.memory, include_scratch=False))
    calibration = np.random.default_rng(args.seed).normal(size=(64, *space.input_shape)).astype(np.float32)
    archs = [space.named("ds-cnn-s")] + [space.sample(np.random.default_rng(args.seed + i)) for i in range(args.n - 1)]
    start = time.perf_counter()
    print(
        f"{'architecture':58} {'est B':>7} {'est B no scratch':>16} {'TFLM arena B':>12} {'ratio':>6} "
        f"{'flash est B':>11} {'file B':>7} {'ratio':>6}"
    )
    sram_ratios, flash_ratios = [], []
    for arch in archs:
        layers = space.layers(arch)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.tflite"
            convert_int8(space.build(arch).eval(), calibration, path)
            model = path.read_bytes()
        arena = min_arena_bytes(model)
        est, est_ns, flash = peak_sram_bytes(layers, target), peak_sram_bytes(layers, no_scratch), flash_bytes(layers, target)
        sram_ratios.append(est_ns / arena)
        flash_ratios.append(flash / len(model))
        print(
            f"{space.describe(arch)[:58]:58} {est:>7,} {est_ns:>16,} {arena:>12,} {est_ns / arena:>6.2f} "
            f"{flash:>11,} {len(model):>7,} {flash / len(model):>6.2f}"
        )
    print(
        f"SRAM estimate (no scratch) / TFLM arena: {min(sram_ratios):.2f}-{max(sram_ratios):.2f}; "
        f"flash estimate / file: {min(flash_ratios):.2f}-{max(flash_ratios):.2f}; {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
