"""CMSIS-NN int8 kernels on the Cortex-M7 over a grid of shapes: the instruction table of the latency model.

    python benchmarks/cmsis_nn_shape_grid.py --cmsis-nn DIR [--opt -O2]    # about 2 minutes

``benchmarks/cmsis_nn_kernels.py`` counts each kernel path at one channel count and kernel size,
varying only the spatial size, so it cannot say how the cost splits between MACs, outputs and
weights. A network's layers differ in exactly those (a 1x1 convolution with 16 channels pays its
per-output requantisation over 16 MACs, one with 128 over 128; the 1x1 kernel re-sums its weights
on every call). This script counts the executed instructions of each path (same harness, same
QEMU ``-singlestep -d exec,nochain`` method) over shapes that vary channels, kernel sizes and
output sizes, and fits per path, by least squares,

    instructions = per_call + per_mac * MACs + per_output * output elements + per_weight * weights

(the terms a path's shapes cannot separate are left out and said so). The fit, every shape and
its residual go to ``--md`` and ``--json``; the built-in Cortex-M target files take their
``latency.kernels.instructions`` table from the JSON (``docs/targets.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

sys.path.insert(0, str(Path(__file__).parent))

from cmsis_nn_kernels import (  # noqa: E402  (a sibling script, not a package)
    ARM_CC,
    ARM_PACKAGES,
    HARNESS,
    QEMU,
    Case,
    check_tree,
    compile_tree,
    conv,
    count_instructions,
    depthwise,
    link,
    require,
)

from edgenas.errors import InvalidInputError  # noqa: E402


@dataclass(frozen=True)
class Shape:
    """One kernel call and its work split the ways the fit can price it."""

    case: Case
    outputs: int
    weights: int


def _conv(h: int, w: int, c: int, oc: int, kh: int, kw: int, stride: int = 1, same: bool = True) -> Shape:
    ph, pw = ((kh - 1) // 2, (kw - 1) // 2) if same else (0, 0)
    case = conv(f"{h}x{w}x{c} -> {oc}, {kh}x{kw} s{stride}", h, w, c, oc, kh, kw, stride, ph, pw)
    oh, ow = (h + 2 * ph - kh) // stride + 1, (w + 2 * pw - kw) // stride + 1
    return Shape(case, oh * ow * oc, oc * kh * kw * c)


def _dw(h: int, w: int, c: int, kh: int, kw: int, mult: int = 1, stride: int = 1) -> Shape:
    case = depthwise(f"{h}x{w}x{c} x{mult}, {kh}x{kw} s{stride} same", h, w, c, mult, kh, kw, stride,
                     (kh - 1) // 2, (kw - 1) // 2, True)  # fmt: skip
    oh, ow = -(-h // stride), -(-w // stride)
    return Shape(case, oh * ow * c * mult, c * mult * kh * kw)


def _fc(n: int, units: int) -> Shape:
    return Shape(Case(f"{n} -> {units}", f"fully_connected({n}, {units})", n * units), units, n * units)


#: Per path (the key of a target file's instruction table): its shapes and the terms it fits.
GRID: dict[str, tuple[tuple[str, ...], tuple[Shape, ...]]] = {
    "conv_1x1": (
        ("per_mac", "per_output", "per_weight", "per_call"),
        tuple(
            _conv(1, w, c, oc, 1, 1)
            for w, c, oc in [
                (32, 16, 16),
                (32, 16, 64),
                (32, 64, 16),
                (32, 64, 64),
                (16, 128, 64),
                (8, 32, 32),
                (49, 32, 96),
                (4, 96, 128),
            ]
        ),
    ),  # fmt: skip
    "conv_s8": (
        ("per_mac", "per_output", "per_weight", "per_call"),
        (
            *(_conv(8, 8, c, oc, 3, 3) for c, oc in [(3, 16), (8, 16), (16, 32), (32, 32)]),
            _conv(4, 4, 64, 64, 3, 3),
            _conv(49, 10, 1, 64, 10, 4, stride=2),
            *(_conv(1, 24, c, oc, 1, k) for c, oc, k in [(16, 16, 3), (16, 64, 9), (64, 64, 5), (40, 96, 5)]),
        ),
    ),
    "depthwise_3x3": (
        ("per_mac", "per_output", "per_weight", "per_call"),
        tuple(_dw(h, w, c, 3, 3) for h, w, c in [(8, 8, 16), (8, 8, 64), (16, 16, 16), (4, 4, 128), (25, 5, 64), (12, 12, 32)]),
    ),
    "depthwise_opt": (
        ("per_mac", "per_output", "per_weight", "per_call"),
        (
            *(_dw(1, 24, c, 1, k) for c, k in [(16, 3), (16, 9), (64, 3), (64, 5), (64, 9), (128, 5)]),
            _dw(8, 8, 32, 5, 5),
            _dw(6, 6, 16, 7, 7),
        ),
    ),
    "depthwise_generic": (
        ("per_mac", "per_output", "per_weight", "per_call"),
        (
            _dw(49, 10, 1, 10, 4, mult=64, stride=2),
            _dw(16, 16, 1, 3, 3, mult=8),
            _dw(16, 16, 1, 3, 3, mult=16, stride=2),
            _dw(32, 10, 1, 5, 5, mult=32, stride=2),
            _dw(8, 8, 2, 3, 3, mult=4),
        ),
    ),
    "fully_connected": (
        ("per_mac", "per_output", "per_call"),
        tuple(_fc(n, u) for n, u in [(64, 12), (256, 12), (128, 128), (256, 128), (640, 8), (16, 2), (96, 35)]),
    ),
}


def fit(terms: tuple[str, ...], shapes: tuple[Shape, ...], counts: list[int]) -> tuple[dict[str, float], list[float]]:
    """Non-negative least squares of the counts on the path's terms (relative errors); the coefficients and residuals."""
    columns = {
        "per_mac": [s.case.work for s in shapes],
        "per_output": [s.outputs for s in shapes],
        "per_weight": [s.weights for s in shapes],
        "per_call": [1] * len(shapes),
    }
    x = np.array([columns[t] for t in terms], dtype=float).T
    y = np.array(counts, dtype=float)
    coef, _ = nnls(x / y[:, None], np.ones_like(y))  # relative error; no term may cost negative instructions
    predicted = x @ coef
    return dict(zip(terms, map(float, coef), strict=True)), [float(p / c - 1.0) for p, c in zip(predicted, y, strict=True)]


def measure(tree: Path, opt: str, work: Path) -> dict[str, dict]:
    cc = require(ARM_CC, ARM_PACKAGES)
    qemu = require(QEMU, "apt-get install qemu-system-arm")
    archive, _ = compile_tree(cc, tree, work / opt.strip("-").lower(), opt)
    out: dict[str, dict] = {}
    for key, (terms, shapes) in GRID.items():
        main_c = work / f"grid_{key}.c"
        main_c.write_text(HARNESS.replace("CALLS", "\n  ".join(f"{s.case.call};" for s in shapes)))
        elf = main_c.with_suffix(".elf")
        link(cc, tree, main_c, archive, elf, opt)
        regions = count_instructions(qemu, elf, work, 1 + len(shapes))
        counts = [n - regions[0][0] for n, _ in regions[1:]]
        coefficients, residuals = fit(terms, shapes, counts)
        out[key] = {
            "terms": list(terms),
            "coefficients": coefficients,
            "shapes": [
                {
                    "label": s.case.label,
                    "macs": s.case.work,
                    "outputs": s.outputs,
                    "weights": s.weights,
                    "instructions": n,
                    "per_mac": n / s.case.work,
                    "fit_error": r,
                }
                for s, n, r in zip(shapes, counts, residuals, strict=True)
            ],  # fmt: skip
            "max_abs_fit_error": max(abs(r) for r in residuals),
        }
        text = ", ".join(f"{t} {v:.3f}" for t, v in coefficients.items())
        print(f"{key:18s} {text}  (max fit error {out[key]['max_abs_fit_error']:.1%} over {len(shapes)} shapes)", flush=True)
    return out


def markdown(grid: dict[str, dict], meta: dict) -> str:
    lines = [
        "# CMSIS-NN kernels on the Cortex-M7: instructions over a grid of shapes",
        "",
        f"Made by `python benchmarks/cmsis_nn_shape_grid.py --cmsis-nn DIR --opt {meta['opt']}` in {meta['seconds']} s "
        f"(tree: {meta['tree']}; {meta['provenance']}). Executed instructions of each kernel call counted exactly in "
        "QEMU (mps2-an500, cortex-m7, `-singlestep -d exec,nochain`); fit: instructions = per_call + per_mac x MACs + "
        "per_output x output elements (+ per_weight x weights for convolutions), least squares on relative error.",
        "",
        "| path | per MAC | per output | per weight | per call | max fit error | shapes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, g in grid.items():
        c = g["coefficients"]

        def cell(term: str, c: dict = c) -> str:
            return f"{c[term]:.3f}" if term in c else "-"

        lines.append(
            f"| {key} | {cell('per_mac')} | {cell('per_output')} | {cell('per_weight')} | {cell('per_call')} | "
            f"{g['max_abs_fit_error']:.1%} | {len(g['shapes'])} |"
        )
    lines += ["", "## Every shape", "", "| path | shape | MACs | outputs | instructions | per MAC | fit error |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for key, g in grid.items():
        for s in g["shapes"]:
            lines.append(
                f"| {key} | {s['label']} | {s['macs']:,} | {s['outputs']:,} | {s['instructions']:,} | "
                f"{s['per_mac']:.3f} | {s['fit_error']:+.1%} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cmsis-nn", type=Path, required=True, help="a CMSIS-NN checkout (Include/, Source/)")
    parser.add_argument("--opt", default="-O2", help="optimisation level (TFLite Micro builds CMSIS-NN at -O2 with GCC)")
    parser.add_argument("--provenance", default="", help="where the tree came from (commit), quoted in the outputs")
    parser.add_argument("--md", type=Path, default=Path("benchmarks/results/cmsis_nn_shape_grid.md"))
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/cmsis_nn_shape_grid.json"))
    args = parser.parse_args()
    try:
        tree = check_tree(args.cmsis_nn)
        if args.opt not in ("-Os", "-O1", "-O2", "-O3"):
            raise InvalidInputError(f"--opt {args.opt}: one of -Os, -O1, -O2, -O3")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as scratch:
            grid = measure(tree, args.opt, Path(scratch))
    except InvalidInputError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    meta = {"tree": str(tree), "provenance": args.provenance or "not given", "opt": args.opt,
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    args.md.write_text(markdown(grid, meta))
    args.json.write_text(json.dumps({"meta": meta, "paths": grid}, indent=1) + "\n")
    print(f"wrote {args.md} and {args.json} in {meta['seconds']} s")


if __name__ == "__main__":
    main()
