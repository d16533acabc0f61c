"""Detection networks on ``npu-int8``: estimated peak SRAM and flash against TFLite Micro's arena and the .tflite size.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/estimate_vs_tflm_detection.py [--n 8] [--seed 0] [--image-size 96]

The ``detection`` space filtered for ``npu-int8`` (its reference ``mobilenetv2-micro-det`` and
N-1 random networks, every resolution, level and head choice the draw gives) is converted to
full-int8 TFLite (litert-torch PT2E, calibrated on 64 synthetic inspection scenes at the
network's resolution) and measured on the host with the real TFLite Micro interpreter: the
smallest arena it accepts (bisection) and the file size, against the analytical estimates of the
``npu-int8`` target evaluated for the host's reference kernels (as benchmarks/estimate_vs_tflm.py
does for the other spaces). The weights are the initialisation: memory and size do not depend on
training. Exit code 1 if an estimate is more than ``--bound`` (10 %) off.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgenas.evaluators.detection import DetectionEvaluator
from edgenas.export.tflite import convert_int8
from edgenas.export.verify import min_arena_bytes
from edgenas.hardware import flash_bytes, load_target, peak_sram_bytes
from edgenas.spaces.detection import DetectionSpace
from edgenas.spaces.filter import filter_by_ops
from edgenas.tasks.detection_synthetic import load_synthetic_detection

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="networks (the reference + n-1 random)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=96, help="side of the synthetic scenes, px")
    parser.add_argument("--bound", type=float, default=0.10, help="accepted |estimate / measured - 1|")
    parser.add_argument("--out", type=Path, default=RESULTS / "estimate_vs_tflm_detection.md")
    args = parser.parse_args()

    started = time.perf_counter()
    target = load_target("npu-int8")
    host = dataclasses.replace(target, kernels="reference")  # TFLite Micro on x86-64 runs reference kernels
    with tempfile.TemporaryDirectory(prefix="edgenas-det-mem-") as tmp:
        data = load_synthetic_detection(Path(tmp), seed=args.seed, n_images=200, image_size=args.image_size)
        space, _ = filter_by_ops(DetectionSpace.for_task(data.input_shape, len(data.classes)), target.native_ops, target.name)
        rng = np.random.default_rng(args.seed)
        archs = [space.reference()[1]] + [space.sample(rng) for _ in range(args.n - 1)]
        evaluator = DetectionEvaluator(space, data, epochs=1, seed=args.seed)
        rows = []
        for i, arch in enumerate(archs):
            torch.manual_seed(args.seed + i)
            model = space.build(arch).eval()
            resolution = int(space.input_shape(arch)[1])
            calibration = evaluator.inputs(data.train, np.arange(64), resolution, torch.device("cpu")).numpy()
            path = Path(tmp) / f"det{i}.tflite"
            info = convert_int8(model, calibration, path)
            arena = min_arena_bytes(path.read_bytes())
            layers = space.layers(arch)
            row = {
                "arch": space.describe(arch),
                "macs": sum(layer.macs for layer in layers),
                "est_sram": peak_sram_bytes(layers, host),
                "arena": arena,
                "est_flash": flash_bytes(layers, target),
                "file": info.size_bytes,
                "outputs": len(info.outputs),
            }
            row["sram_err"] = row["est_sram"] / arena - 1
            row["flash_err"] = row["est_flash"] / info.size_bytes - 1
            rows.append(row)
            print(
                f"{i}: {row['arch']}: arena {arena:,} B (est. {row['est_sram']:,}, {100 * row['sram_err']:+.1f} %), "
                f"file {info.size_bytes:,} B (est. {row['est_flash']:,}, {100 * row['flash_err']:+.1f} %)",
                flush=True,
            )
    worst_sram = max(abs(r["sram_err"]) for r in rows)
    worst_flash = max(abs(r["flash_err"]) for r in rows)
    lines = [
        "# Detection networks on npu-int8: estimates against TFLite Micro (host)",
        "",
        f"`PYTHONPATH=$PWD .venv/bin/python benchmarks/estimate_vs_tflm_detection.py --n {args.n} --seed {args.seed} "
        f"--image-size {args.image_size}` ({time.perf_counter() - started:.0f} s): the `detection` space filtered for "
        "`npu-int8`, its reference and random networks at initialisation, full-int8 TFLite calibrated on synthetic "
        "inspection scenes; arena = the smallest TFLite Micro accepts (x86-64 host, reference kernels), file = the "
        ".tflite size; estimates = the analytical model of `npu-int8` (SRAM for the host's reference kernels).",
        "",
        "| # | network | MACs | outputs | arena B (measured) | peak SRAM B (est.) | error | .tflite B (measured) "
        "| flash B (est.) | error |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows):
        lines.append(
            f"| {i} | {r['arch']} | {r['macs']:,} | {r['outputs']} | {r['arena']:,} | {r['est_sram']:,} | "
            f"{100 * r['sram_err']:+.1f} % | {r['file']:,} | {r['est_flash']:,} | {100 * r['flash_err']:+.1f} % |"
        )
    worst = f"Largest error: SRAM {100 * worst_sram:.1f} %, flash {100 * worst_flash:.1f} % (bound {100 * args.bound:g} %)."
    lines += ["", worst, ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0 if max(worst_sram, worst_flash) <= args.bound else 1


if __name__ == "__main__":
    sys.exit(main())
