"""Estimated peak SRAM and flash against the real TFLite Micro arena and .tflite size (issue 3).

    python benchmarks/estimate_vs_tflm.py [--n 24] [--epochs 2] [--seed 0] [--out benchmarks/results/estimate_vs_tflm.md]
    python benchmarks/estimate_vs_tflm.py --space mbconv [--n 10] [--epochs 1] [--out .../estimate_vs_tflm_mbconv.md]

For DS-CNN-S, the default search's best model (``1d c96 k5 s1 / dw5 s2 c96 / dw5 s1 c16``) and
N-2 random ``kws`` architectures (both families): train briefly on the task's data (synthetic
keyword speech unless ``--data`` names a Speech Commands folder; ``--epochs`` epochs, so the
accuracies are those of briefly trained networks, not converged ones), convert to full-int8 TFLite
(litert-torch PT2E, calibrated on training clips), then measure on the host with
:func:`edgenas.export.verify.verify_tflite`: the smallest TFLite Micro arena (bisection), the file
size, accuracy of TFLite Micro / LiteRT (reference kernels) / fp32 PyTorch on the test split, and
TFLite Micro vs LiteRT top-1 agreement and largest output difference (int8 LSB).

The SRAM estimate compared is the cortex-m7 estimate evaluated for the host's kernels
(``kernels: reference``: TFLite Micro on x86-64 runs reference kernels, which request no
CMSIS-NN scratch); the device estimate (with CMSIS-NN scratch) is printed beside it. Exit code 1
if any estimate is more than ``--bound`` (10 %) off. Needs the ``tflite`` extra.

``--space mbconv``: the image search's space instead: ``mbconv`` at 28 x 28 filtered for
``npu-int8`` (no float32, swish, hard-swish or SE), MobileNetV2 at 28 x 28 and N-1 random
networks, trained on a 2,000-image Fashion-MNIST subset (500 test images), estimated with the
``npu-int8`` memory and flash coefficients (TFLite Micro arena, reference kernels).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgenas.evaluators.train import TrainEvaluator
from edgenas.export.tflite import convert_int8
from edgenas.export.verify import verify_tflite
from edgenas.hardware import flash_bytes, load_target, peak_sram_bytes
from edgenas.report.markdown import md_cell
from edgenas.spaces import KwsSpace, filter_by_ops, space_for
from edgenas.spaces import kws as K
from edgenas.tasks.fashion_mnist import load_fashion_mnist
from edgenas.tasks.kws import load_kws

#: The default ``edgenas search`` (kws, cortex-m7) best model, as its report names it.
DEFAULT_SEARCH_BEST = "1d c96 k5 s1 / dw5 s2 c96 / dw5 s1 c16"


def arch_from_description(space: KwsSpace, text: str):
    """The ``kws`` architecture ``KwsSpace.describe`` prints as ``text`` (1-D form: ``1d cC kK sS``)."""
    head, *blocks = [part.split() for part in text.split(" / ")]
    family, c, k, s = head
    if family == "2d":
        kernel = tuple(int(v) for v in k[1:].split("x"))
        stride = tuple(int(v) for v in s[1:].split("x"))
    else:  # 1-D uses the time extent; the coefficient entries are unused
        kernel = next(fk for fk in K.FIRST_KERNELS if fk[0] == int(k[1:]))
        stride = next(fs for fs in K.FIRST_STRIDES if fs[0] == int(s[1:]))
    genes = [K.FAMILIES.index(family), K.FIRST_CHANNELS.index(int(c[1:])), K.FIRST_KERNELS.index(kernel)]
    genes += [K.FIRST_STRIDES.index(stride), len(blocks) - 1]
    for dw, bs, bc in blocks:
        genes += [K.BLOCK_CHANNELS.index(int(bc[1:])), K.BLOCK_KERNELS.index(int(dw[2:])), K.BLOCK_STRIDES.index(int(bs[1:]))]
    genes += [0] * (len(space.decisions()) - len(genes))
    arch = space.arch(genes)
    if space.describe(arch) != text:
        raise ValueError(f"{text!r} parsed as {space.describe(arch)!r}")
    return arch


def _archs(space: KwsSpace, n: int, seed: int) -> list:
    archs = [space.named("ds-cnn-s"), arch_from_description(space, DEFAULT_SEARCH_BEST)]
    rng_seed = seed
    while len(archs) < n:
        rng_seed += 1
        arch = space.sample(np.random.default_rng(rng_seed))
        if arch.key() not in {a.key() for a in archs}:
            archs.append(arch)
    return archs


def _mbconv_setup(n: int, seed: int):
    """Fashion-MNIST subset, the npu-int8-filtered mbconv space, MobileNetV2 + n-1 random networks."""
    data = load_fashion_mnist(seed=seed, val_size=500, train_size=2000, test_size=500)
    target = load_target("npu-int8")
    space, _ = filter_by_ops(space_for(data, "mbconv"), target.native_ops, target.name)  # the imagenet vocabulary
    archs = [space.reference()[1]]
    rng = np.random.default_rng(seed)
    while len(archs) < n:
        arch = space.sample(rng)
        if arch.key() not in {a.key() for a in archs}:
            archs.append(arch)
    return space, target, data, archs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="architectures (2 named + n-2 random)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs per architecture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bound", type=float, default=0.10, help="accepted |estimate / measured - 1|")
    parser.add_argument("--data", type=Path, default=None, help="Speech Commands folder (default: synthetic speech)")
    parser.add_argument("--out", type=Path, default=None, help="write the table as Markdown here")
    parser.add_argument("--space", choices=("kws", "mbconv"), default="kws", help="kws (keyword spotting) or mbconv (images)")
    args = parser.parse_args()

    if args.space == "mbconv":
        space, target, data, archs = _mbconv_setup(args.n, args.seed)
    else:
        space = KwsSpace()
        target = load_target("cortex-m7")
        data = load_kws(args.data, seed=args.seed)
        archs = _archs(space, args.n, args.seed)
    host = dataclasses.replace(target, kernels="reference")
    trainer = TrainEvaluator(space, data, epochs=args.epochs, seed=args.seed)
    header = (
        "| # | architecture | SRAM est. host B | TFLM arena B | ratio | SRAM est. device B | flash est. B | file B | ratio "
        "| fp32 acc | TFLM int8 acc | LiteRT int8 acc | TFLM=LiteRT top-1 | max diff LSB | ops |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    print(header, flush=True)
    sram_ratios, flash_ratios = [], []
    start = time.perf_counter()
    for i, arch in enumerate(archs):
        layers = space.layers(arch)
        model = trainer.train(arch).module
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.tflite"
            info = convert_int8(model, data.train.x, path)
            result = verify_tflite(path, data.test.x, data.test.y, fp32_model=model)
        est_host, est_device = peak_sram_bytes(layers, host), peak_sram_bytes(layers, target)
        est_flash = flash_bytes(layers, target)
        sram_ratio, flash_ratio = est_host / result.arena_bytes, est_flash / result.flash_bytes
        sram_ratios.append(sram_ratio)
        flash_ratios.append(flash_ratio)
        row = (
            f"| {i + 1} | `{md_cell(space.describe(arch))}` | {est_host:,} | {result.arena_bytes:,} | {sram_ratio:.3f} "
            f"| {est_device:,} "
            f"| {est_flash:,} | {result.flash_bytes:,} | {flash_ratio:.3f} | {result.fp32_accuracy:.3f} "
            f"| {result.tflm_accuracy:.3f} | {result.litert_accuracy:.3f} | {result.argmax_agreement:.3f} "
            f"| {result.max_lsb_diff} | {len(info.operators)} |"
        )
        lines.append(row)
        print(row, flush=True)
    elapsed = time.perf_counter() - start
    ok = all(abs(r - 1) <= args.bound for r in sram_ratios + flash_ratios)
    summary = (
        f"SRAM estimate (host kernels) / TFLite Micro arena: {min(sram_ratios):.3f}-{max(sram_ratios):.3f}; "
        f"flash estimate / file: {min(flash_ratios):.3f}-{max(flash_ratios):.3f}; "
        f"{'all' if ok else 'NOT all'} within {args.bound:.0%} on {len(archs)} architectures; "
        f"{elapsed:.0f} s ({args.epochs} training epochs each, {len(data.test.y)} test clips)"
    )
    print(summary)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        command = "python benchmarks/estimate_vs_tflm.py " + " ".join(sys.argv[1:])
        args.out.write_text(_markdown(command, lines, summary, args))
    return 0 if ok else 1


def _markdown(command: str, lines: list[str], summary: str, args: argparse.Namespace) -> str:
    source = f"Speech Commands folder `{args.data}`" if args.data else "the synthetic keyword-speech task (espeak-ng voices)"
    rows = "Rows 1-2: DS-CNN-S and the default search's best model."
    coefficients = "the cortex-m7 memory coefficients"
    if args.space == "mbconv":
        source = "a 2,000-image Fashion-MNIST training subset (500 test images)"
        rows = "Row 1: MobileNetV2 at 28 x 28 (the image search's baseline); then random npu-int8-filtered `mbconv` networks."
        coefficients = "the npu-int8 memory coefficients (a TFLite Micro arena)"
    return f"""# Estimate vs TFLite Micro: {args.n} `{args.space}` architectures

`{command.strip()}` (host x86-64, tflite-micro Python package with reference kernels, ai-edge-litert
reference kernels). Each network is trained for {args.epochs} epoch(s) on {source}, so the
accuracies are those of *briefly trained* networks (what matters here is int8 vs fp32 and TFLite Micro
vs LiteRT, not the absolute figure). {rows}

* **SRAM est. host**: `peak_sram_bytes` with {coefficients} and `kernels: reference`
  (what the host runs); **TFLM arena**: the smallest arena TFLite Micro accepts (bisection).
  **SRAM est. device**: the same with CMSIS-NN scratch buffers (what a Cortex-M build would add; not
  measurable here).
* **flash est.** vs **file**: `flash_bytes` against the `.tflite` size.
* **acc**: top-1 on the test split; **TFLM=LiteRT top-1**: fraction of test clips where both
  interpreters pick the same class; **max diff LSB**: largest int8 output difference.

{summary}

{chr(10).join(lines)}
"""


if __name__ == "__main__":
    raise SystemExit(main())
