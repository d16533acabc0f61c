"""CMSIS-NN's int8 kernels on the Cortex-M7: their code size and the instructions they execute.

    python benchmarks/cmsis_nn_kernels.py --cmsis-nn DIR [--opts -O2,-Os] [--provenance TEXT]
        [--md benchmarks/results/cmsis_nn_kernels.md] [--json benchmarks/results/cmsis_nn_kernels.json]

``DIR`` is a CMSIS-NN tree (``git clone https://github.com/ARM-software/CMSIS-NN``: ``Include/`` and
``Source/``); it is compiled where it lies and never copied. Every ``Source/**/*.c`` that compiles
for the Cortex-M7 goes into one archive per optimisation level (``arm-none-eabi-gcc
-mcpu=cortex-m7 -mfpu=fpv5-d16 -mfloat-abi=hard -mthumb -ffunction-sections -fdata-sections``; the
DSP-extension code follows from ``__ARM_FEATURE_DSP``, which GCC defines for the M7, so CMSIS-NN's
``ARM_MATH_DSP`` is on). TFLite Micro's Makefile builds third-party kernels at ``-O2``; ``-Os`` is
the size-optimised firmware build: both are measured.

Code size: per kernel path, a program whose ``main`` only keeps the path's entry function alive is
linked with ``--gc-sections`` against the board's startup (``edgenas/export/firmware/templates/
check``); its ``.text`` (code and constant tables) minus that of the same program keeping nothing
is what the path pulls in, transitively, C library helpers (``memcpy``/``memset``) included. The
operator rows keep the wrapper TFLite Micro calls, which links every variant the wrapper may pick.

Instructions: each path runs in ``qemu-system-arm -M mps2-an500 -cpu cortex-m7 -singlestep -d
exec,nochain``, which logs one line per executed instruction (one instruction per translation
block, blocks never chained); the lines strictly between two marker calls around the kernel call
are counted (argument set-up included), less those of an empty marker pair. Three fit shapes per
path give a straight line, instructions = per call + per unit x work (work: MACs, nominal for
padded convolutions, or input elements); a fourth, the typical keyword-spotting shape, is quoted
as it is. These are executed instructions, not cycles: the M7 issues up to two per cycle and
stalls on memory.

Needs ``apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgenas.errors import InvalidInputError
from edgenas.export.firmware.bundle import TEMPLATES

ARM_CC = "arm-none-eabi-gcc"
ARM_SIZE = "arm-none-eabi-size"
QEMU = "qemu-system-arm"
ARM_PACKAGES = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
M7 = ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb", "-ffunction-sections", "-fdata-sections")
BOARD = TEMPLATES / "check"
LINK = ("-nostartfiles", "--specs=nosys.specs", f"-T{BOARD / 'mps2_an500.ld'}", "-Wl,--gc-sections")
MARK_BEGIN, MARK_END = "edgenas_mark_begin", "edgenas_mark_end"


@dataclass(frozen=True)
class Case:
    """One call of a kernel: the C statement that makes it and the work it does."""

    label: str
    call: str  # C: a call of a harness helper (which brackets the kernel with the markers)
    work: int  # MACs (nominal: padded positions included) or input elements


@dataclass(frozen=True)
class KernelPath:
    """A kernel path TFLite Micro's CMSIS-NN kernels reach, its entry function and test shapes.

    The fit shapes avoid padding where the kernel skips padded taps (depthwise), so that the work
    grows exactly with the output positions; the typical shape is the one keyword-spotting
    networks have (SAME padding included)."""

    name: str
    operator: str
    entry: str  # the function whose transitive code is the path's size
    unit: str  # "MAC" or "element"
    fit: tuple[Case, ...]
    typical: Case


@dataclass
class Run:
    """A path's instructions at one optimisation level."""

    per_unit: float  # fitted instructions per MAC / element
    per_call: float  # fitted instructions per call
    typical: dict[str, object]  # label, work, instructions, per_unit
    fit_cases: list[dict[str, object]]
    top_functions: list[tuple[str, int]]  # the typical call's heaviest functions


@dataclass
class OperatorResult:
    """What TFLite Micro's CMSIS-NN kernel for an operator links."""

    operator: str
    keeps: list[str]
    text_bytes: int  # -Os
    text_bytes_by_opt: dict[str, int]
    functions: list[str]


@dataclass
class PathResult:
    name: str
    operator: str
    entry: str
    unit: str
    text_bytes: int  # -Os
    text_bytes_by_opt: dict[str, int]
    functions: list[str]
    runs: dict[str, Run]  # by optimisation level


def conv(label: str, h: int, w: int, c: int, oc: int, kh: int, kw: int, stride: int, pad_h: int, pad_w: int) -> Case:
    oh, ow = (h + 2 * pad_h - kh) // stride + 1, (w + 2 * pad_w - kw) // stride + 1
    call = f"conv({h}, {w}, {c}, {oc}, {kh}, {kw}, {stride}, {pad_h}, {pad_w}, {oh}, {ow})"
    return Case(label, call, oh * ow * oc * kh * kw * c)


def depthwise(
    label: str, h: int, w: int, c: int, mult: int, kh: int, kw: int, stride: int, pad_h: int, pad_w: int, same: bool
) -> Case:
    """``same``: TFLite's SAME padding, the output the input over the stride rounded up; the pads
    given are then the top/left ones (the kernel's bounds checks skip the bottom/right rest)."""
    if same:
        oh, ow = -(-h // stride), -(-w // stride)
    else:
        oh, ow = (h + 2 * pad_h - kh) // stride + 1, (w + 2 * pad_w - kw) // stride + 1
    call = f"depthwise({h}, {w}, {c}, {mult}, {kh}, {kw}, {stride}, {pad_h}, {pad_w}, {oh}, {ow})"
    return Case(label, call, oh * ow * c * mult * kh * kw)


PATHS: tuple[KernelPath, ...] = (
    KernelPath(
        "conv 1x1 fast",
        "CONV_2D",
        "arm_convolve_1x1_s8_fast",
        "MAC",
        tuple(conv(f"1x{w}x64 -> 64, 1x1", 1, w, 64, 64, 1, 1, 1, 0, 0) for w in (8, 24, 48)),
        conv("1x49x64 -> 64, 1x1", 1, 49, 64, 64, 1, 1, 1, 0, 0),
    ),
    KernelPath(
        "conv s8 (im2col)",
        "CONV_2D",
        "arm_convolve_s8",
        "MAC",
        tuple(conv(f"{h}x4x64 -> 64, 3x3 pad 1", h, 4, 64, 64, 3, 3, 1, 1, 1) for h in (2, 8, 24)),
        conv("25x5x64 -> 64, 3x3 pad 1", 25, 5, 64, 64, 3, 3, 1, 1, 1),
    ),
    KernelPath(
        "conv 1xN",
        "CONV_2D",
        "arm_convolve_1_x_n_s8",
        "MAC",
        tuple(conv(f"1x{w}x64 -> 64, 1x9 pad 4", 1, w, 64, 64, 1, 9, 1, 0, 4) for w in (8, 24, 48)),
        conv("1x49x64 -> 64, 1x9 pad 4", 1, 49, 64, 64, 1, 9, 1, 0, 4),
    ),
    KernelPath(
        "depthwise 3x3",
        "DEPTHWISE_CONV_2D",
        "arm_depthwise_conv_3x3_s8",
        "MAC",
        tuple(depthwise(f"{h}x5x64, 3x3 valid", h, 5, 64, 1, 3, 3, 1, 0, 0, False) for h in (5, 13, 27)),
        depthwise("25x5x64, 3x3 same", 25, 5, 64, 1, 3, 3, 1, 1, 1, True),
    ),
    KernelPath(
        "depthwise opt",
        "DEPTHWISE_CONV_2D",
        "arm_depthwise_conv_s8_opt",
        "MAC",
        tuple(depthwise(f"1x{w}x64, 1x5 valid", 1, w, 64, 1, 1, 5, 1, 0, 0, False) for w in (12, 28, 52)),
        depthwise("1x49x64, 1x5 same", 1, 49, 64, 1, 1, 5, 1, 0, 2, True),
    ),
    KernelPath(
        "depthwise generic (multiplier 64)",
        "DEPTHWISE_CONV_2D",
        "arm_depthwise_conv_s8",
        "MAC",
        tuple(depthwise(f"{h}x10x1 x64, 10x4 stride 2 valid", h, 10, 1, 64, 10, 4, 2, 0, 0, False) for h in (14, 30, 58)),
        depthwise("49x10x1 x64, 10x4 stride 2 same", 49, 10, 1, 64, 10, 4, 2, 4, 1, True),
    ),
    KernelPath(
        "fully connected",
        "FULLY_CONNECTED",
        "arm_fully_connected_s8",
        "MAC",
        tuple(Case(f"{n} -> 12", f"fully_connected({n}, 12)", n * 12) for n in (16, 64, 256)),
        Case("64 -> 12", "fully_connected(64, 12)", 64 * 12),
    ),
    KernelPath(
        "average pool (global)",
        "AVERAGE_POOL_2D",
        "arm_avgpool_s8",
        "element",
        tuple(Case(f"{h}x5x64 -> 1x1x64", f"avgpool({h}, 5, 64)", h * 5 * 64) for h in (3, 9, 13)),
        Case("25x5x64 -> 1x1x64", "avgpool(25, 5, 64)", 25 * 5 * 64),
    ),
    KernelPath(
        "softmax",
        "SOFTMAX",
        "arm_softmax_s8",
        "element",
        tuple(Case(f"1x{n}", f"softmax({n})", n) for n in (4, 24, 48)),
        Case("1x12", "softmax(12)", 12),
    ),
    KernelPath(
        "add",
        "ADD",
        "arm_elementwise_add_s8",
        "element",
        tuple(Case(f"{n} elements", f"add({n})", n) for n in (256, 1024, 2048)),
        Case("4096 elements", "add(4096)", 4096),
    ),
    KernelPath(
        "mul",
        "MUL",
        "arm_elementwise_mul_s8",
        "element",
        tuple(Case(f"{n} elements", f"mul({n})", n) for n in (256, 1024, 2048)),
        Case("4096 elements", "mul(4096)", 4096),
    ),
)

#: Operator-level sizes: what TFLite Micro's CMSIS-NN kernel for the operator links.
OPERATORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CONV_2D (arm_convolve_wrapper_s8)", ("arm_convolve_wrapper_s8",)),
    ("DEPTHWISE_CONV_2D (arm_depthwise_conv_wrapper_s8)", ("arm_depthwise_conv_wrapper_s8",)),
    ("FULLY_CONNECTED (arm_fully_connected_s8)", ("arm_fully_connected_s8",)),
    ("AVERAGE_POOL_2D (arm_avgpool_s8)", ("arm_avgpool_s8",)),
    ("SOFTMAX (arm_softmax_s8)", ("arm_softmax_s8",)),
    ("ADD (arm_elementwise_add_s8)", ("arm_elementwise_add_s8",)),
    ("MUL (arm_elementwise_mul_s8)", ("arm_elementwise_mul_s8",)),
    (
        "DS-CNN set: CONV_2D + DEPTHWISE_CONV_2D + AVERAGE_POOL_2D + FULLY_CONNECTED + SOFTMAX",
        (
            "arm_convolve_wrapper_s8",
            "arm_depthwise_conv_wrapper_s8",
            "arm_avgpool_s8",
            "arm_fully_connected_s8",
            "arm_softmax_s8",
        ),
    ),
)

# Our harness (not CMSIS-NN code): deterministic int8 data, TFLite-Micro-like quantisation
# parameters, and each kernel call bracketed by the two marker functions.
HARNESS = r"""
#include <stdint.h>
#include <string.h>
#include "arm_nnfunctions.h"

__attribute__((noinline)) void edgenas_mark_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void edgenas_mark_end(void) { __asm__ volatile("" ::: "memory"); }

static int8_t in_a[16384], in_b[16384], weights[40960], out[16384];
static int32_t bias[256], mult[256], shift[256];
static int32_t scratch[4096];
static uint32_t seed = 12345u;

static int8_t next_s8(void) {
  seed = seed * 1664525u + 1013904223u;
  return (int8_t)(seed >> 24);
}

static void fill(void) {
  for (unsigned i = 0; i < sizeof in_a; ++i) in_a[i] = next_s8();
  for (unsigned i = 0; i < sizeof in_b; ++i) in_b[i] = next_s8();
  for (unsigned i = 0; i < sizeof weights; ++i) weights[i] = next_s8();
  for (unsigned i = 0; i < 256; ++i) {
    bias[i] = (int32_t)next_s8() * 64;
    mult[i] = 1073741824 + (int32_t)next_s8() * 4194304; /* 0.5 +- 0.25 in Q31 */
    shift[i] = -7 - (int32_t)(i % 3);
  }
}

static const cmsis_nn_activation full = {-128, 127};

static void conv(int h, int w, int c, int oc, int kh, int kw, int stride, int ph, int pw, int oh, int ow) {
  cmsis_nn_context ctx = {scratch, (int32_t)sizeof scratch};
  cmsis_nn_conv_params p = {5, -3, {stride, stride}, {pw, ph}, {1, 1}, full};
  cmsis_nn_per_channel_quant_params q = {mult, shift};
  cmsis_nn_dims in_d = {1, h, w, c}, f_d = {oc, kh, kw, c}, b_d = {1, 1, 1, oc}, o_d = {1, oh, ow, oc};
  edgenas_mark_begin();
  arm_convolve_wrapper_s8(&ctx, &p, &q, &in_d, in_a, &f_d, weights, &b_d, bias, &o_d, out);
  edgenas_mark_end();
}

static void depthwise(int h, int w, int c, int m, int kh, int kw, int stride, int ph, int pw, int oh, int ow) {
  cmsis_nn_context ctx = {scratch, (int32_t)sizeof scratch};
  cmsis_nn_dw_conv_params p = {5, -3, m, {stride, stride}, {pw, ph}, {1, 1}, full};
  cmsis_nn_per_channel_quant_params q = {mult, shift};
  cmsis_nn_dims in_d = {1, h, w, c}, f_d = {1, kh, kw, c * m}, b_d = {1, 1, 1, c * m}, o_d = {1, oh, ow, c * m};
  edgenas_mark_begin();
  arm_depthwise_conv_wrapper_s8(&ctx, &p, &q, &in_d, in_a, &f_d, weights, &b_d, bias, &o_d, out);
  edgenas_mark_end();
}

static void fully_connected(int n, int units) {
  cmsis_nn_context ctx = {0, 0};
  cmsis_nn_fc_params p = {5, 0, -3, full};
  cmsis_nn_per_tensor_quant_params q = {1073741824, -7};
  cmsis_nn_dims in_d = {1, 1, 1, n}, f_d = {n, 1, 1, units}, b_d = {1, 1, 1, units}, o_d = {1, 1, 1, units};
  edgenas_mark_begin();
  arm_fully_connected_s8(&ctx, &p, &q, &in_d, in_a, &f_d, weights, &b_d, bias, &o_d, out);
  edgenas_mark_end();
}

static void avgpool(int h, int w, int c) {
  cmsis_nn_context ctx = {scratch, (int32_t)sizeof scratch};
  cmsis_nn_pool_params p = {{w, h}, {0, 0}, full};
  cmsis_nn_dims in_d = {1, h, w, c}, f_d = {1, h, w, 1}, o_d = {1, 1, 1, c};
  edgenas_mark_begin();
  arm_avgpool_s8(&ctx, &p, &in_d, in_a, &f_d, &o_d, out);
  edgenas_mark_end();
}

static void softmax(int n) {
  edgenas_mark_begin();
  arm_softmax_s8(in_a, 1, n, 1073741824, 23, -248, out);
  edgenas_mark_end();
}

static void add(int n) {
  edgenas_mark_begin();
  arm_elementwise_add_s8(in_a, in_b, 5, 1518500250, -2, 7, 1073741824, -2, 20, out, -3, 1073741824, -18, -128, 127, n);
  edgenas_mark_end();
}

static void mul(int n) {
  edgenas_mark_begin();
  arm_elementwise_mul_s8(in_a, in_b, 5, 7, out, -3, 1073741824, -7, -128, 127, n);
  edgenas_mark_end();
}

int main(void) {
  fill();
  edgenas_mark_begin();
  edgenas_mark_end();
  CALLS
  return 0;
}
"""

HELPERS = ("conv", "depthwise", "fully_connected", "avgpool", "softmax", "add", "mul")

# Our cross-check (not CMSIS-NN code): the optimised paths against plain loops that follow TFLite's
# int8 reference (input offset added, padded taps skipped, per-channel requantisation, clamp).
CHECK = r"""
#include <stdint.h>
#include <string.h>
#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"
#include "check_io.h"

static int8_t in_a[8192], weights[40960], out[8192], ref[8192];
static int32_t bias[256], mult[256], shift[256];
static int32_t scratch[4096];
static uint32_t seed = 777u;
static const cmsis_nn_activation full = {-128, 127};

static int8_t next_s8(void) {
  seed = seed * 1664525u + 1013904223u;
  return (int8_t)(seed >> 24);
}

static void fill(void) {
  for (unsigned i = 0; i < sizeof in_a; ++i) in_a[i] = next_s8();
  for (unsigned i = 0; i < sizeof weights; ++i) weights[i] = next_s8();
  for (unsigned i = 0; i < 256; ++i) {
    bias[i] = (int32_t)next_s8() * 64;
    mult[i] = 1073741824 + (int32_t)next_s8() * 4194304;
    shift[i] = -7 - (int32_t)(i % 3);
  }
}

/* NHWC input, filter [oc][kh][kw][c] (conv) or [1][kh][kw][c*m] (depthwise). */
static void reference(int dw, int h, int w, int c, int oc, int kh, int kw, int stride, int ph, int pw, int oh, int ow) {
  const int m = dw ? oc / c : 1;
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x)
      for (int o = 0; o < oc; ++o) {
        int32_t acc = bias[o];
        for (int ky = 0; ky < kh; ++ky)
          for (int kx = 0; kx < kw; ++kx) {
            const int iy = y * stride - ph + ky, ix = x * stride - pw + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            if (dw) {
              acc += (in_a[(iy * w + ix) * c + o / m] + 5) * weights[(ky * kw + kx) * oc + o];
            } else {
              for (int i = 0; i < c; ++i)
                acc += (in_a[(iy * w + ix) * c + i] + 5) * weights[((o * kh + ky) * kw + kx) * c + i];
            }
          }
        acc = arm_nn_requantize(acc, mult[o], shift[o]) - 3;
        ref[(y * ow + x) * oc + o] = (int8_t)(acc < -128 ? -128 : acc > 127 ? 127 : acc);
      }
}

static int differ(int n) { return memcmp(out, ref, (size_t)n) != 0; }

static int conv(int h, int w, int c, int oc, int kh, int kw, int stride, int ph, int pw, int oh, int ow) {
  cmsis_nn_context ctx = {scratch, (int32_t)sizeof scratch};
  cmsis_nn_conv_params p = {5, -3, {stride, stride}, {pw, ph}, {1, 1}, full};
  cmsis_nn_per_channel_quant_params q = {mult, shift};
  cmsis_nn_dims in_d = {1, h, w, c}, f_d = {oc, kh, kw, c}, b_d = {1, 1, 1, oc}, o_d = {1, oh, ow, oc};
  memset(out, 0x55, sizeof out);
  arm_convolve_wrapper_s8(&ctx, &p, &q, &in_d, in_a, &f_d, weights, &b_d, bias, &o_d, out);
  reference(0, h, w, c, oc, kh, kw, stride, ph, pw, oh, ow);
  return differ(oh * ow * oc);
}

static int depthwise(int h, int w, int c, int m, int kh, int kw, int stride, int ph, int pw, int oh, int ow) {
  cmsis_nn_context ctx = {scratch, (int32_t)sizeof scratch};
  cmsis_nn_dw_conv_params p = {5, -3, m, {stride, stride}, {pw, ph}, {1, 1}, full};
  cmsis_nn_per_channel_quant_params q = {mult, shift};
  cmsis_nn_dims in_d = {1, h, w, c}, f_d = {1, kh, kw, c * m}, b_d = {1, 1, 1, c * m}, o_d = {1, oh, ow, c * m};
  memset(out, 0x55, sizeof out);
  arm_depthwise_conv_wrapper_s8(&ctx, &p, &q, &in_d, in_a, &f_d, weights, &b_d, bias, &o_d, out);
  reference(1, h, w, c, c * m, kh, kw, stride, ph, pw, oh, ow);
  return differ(oh * ow * c * m);
}

static int fully_connected(int n, int units) {
  cmsis_nn_context ctx = {0, 0};
  cmsis_nn_fc_params p = {5, 0, -3, full};
  cmsis_nn_per_tensor_quant_params q = {1073741824, -7};
  cmsis_nn_dims in_d = {1, 1, 1, n}, f_d = {n, 1, 1, units}, b_d = {1, 1, 1, units}, o_d = {1, 1, 1, units};
  arm_fully_connected_s8(&ctx, &p, &q, &in_d, in_a, &f_d, weights, &b_d, bias, &o_d, out);
  for (int u = 0; u < units; ++u) {
    int32_t acc = bias[u];
    for (int i = 0; i < n; ++i) acc += (in_a[i] + 5) * weights[u * n + i];
    acc = arm_nn_requantize(acc, 1073741824, -7) - 3;
    ref[u] = (int8_t)(acc < -128 ? -128 : acc > 127 ? 127 : acc);
  }
  return differ(units);
}

int main(void) {
  fill();
  int failed = 0;
  CHECKS
  return failed;
}
"""


PROBE = r"""
KEEP_DECLS
void *volatile edgenas_keep[] = {KEEP_LIST};
int main(void) { return edgenas_keep[0] == 0; }
"""


def require(tool: str, install: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise InvalidInputError(f"{tool} not found: this benchmark needs it ({install})")
    return path


def check_tree(tree: Path) -> Path:
    tree = tree.expanduser().resolve()
    if not (tree / "Include" / "arm_nnfunctions.h").is_file() or not (tree / "Source").is_dir():
        raise InvalidInputError(
            f"--cmsis-nn {tree}: no Include/arm_nnfunctions.h and Source/ there; "
            "supply a CMSIS-NN checkout (git clone https://github.com/ARM-software/CMSIS-NN)"
        )
    return tree


def run(command: list[str], what: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise InvalidInputError(f"{what} did not finish in {timeout:.0f} s") from None
    if done.returncode != 0:
        first = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[0]
        raise InvalidInputError(f"{what} failed: {first[:300]}")
    return done


def compile_tree(cc: str, tree: Path, out: Path, opt: str) -> tuple[Path, list[str]]:
    """Every ``Source/**/*.c`` of the tree in one archive (a link then takes only what it calls);
    files that do not compile for the M7 are named and left out."""
    out.mkdir(parents=True, exist_ok=True)
    sources = sorted((tree / "Source").rglob("*.c"))

    def one(source: Path) -> tuple[Path, bool]:
        obj = out / (source.relative_to(tree / "Source").as_posix().replace("/", "__")[:-2] + ".o")
        done = subprocess.run(
            [cc, opt, *M7, "-std=c99", f"-I{tree / 'Include'}", "-c", str(source), "-o", str(obj)],
            capture_output=True,
            text=True,
            check=False,
        )
        return obj, done.returncode == 0

    objects, skipped = [], []
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for source, (obj, ok) in zip(sources, pool.map(one, sources), strict=True):
            if ok:
                objects.append(obj)
            else:
                skipped.append(source.relative_to(tree).as_posix())
    if not objects:
        raise InvalidInputError(f"--cmsis-nn {tree}: no source file compiled for the Cortex-M7")
    archive = out / "libcmsis-nn.a"
    run(["arm-none-eabi-ar", "rcs", str(archive), *map(str, objects)], "arm-none-eabi-ar")
    return archive, skipped


def link(cc: str, tree: Path, main_c: Path, archive: Path, elf: Path, opt: str) -> None:
    board = [str(BOARD / "startup_mps2.c"), str(BOARD / "io_semihost.c")]
    command = [cc, opt, *M7, "-std=c99", f"-I{tree / 'Include'}", f"-I{BOARD}", str(main_c), *board]
    run([*command, str(archive), *LINK, "-o", str(elf)], f"{cc} (link {elf.name})")


def text_bytes(elf: Path) -> int:
    listing = run([ARM_SIZE, str(elf)], ARM_SIZE).stdout.splitlines()
    return int(listing[1].split()[0])


def symbols(elf: Path) -> set[str]:
    listing = run(["arm-none-eabi-nm", "--defined-only", str(elf)], "arm-none-eabi-nm").stdout.splitlines()
    return {line.split()[-1] for line in listing if line.split()[1:2] and line.split()[1] in "Tt"}


def code_size(cc: str, tree: Path, archive: Path, work: Path, keep: tuple[str, ...]) -> tuple[int, list[str]]:
    """.text the functions in ``keep`` pull in (transitively), and the functions that are."""

    def probe(name: str, kept: tuple[str, ...]) -> Path:
        decls = "\n".join(f"extern char {symbol}[];" for symbol in kept) or ""
        listing = ", ".join(kept) if kept else "0"
        main_c = work / f"{name}.c"
        main_c.write_text(PROBE.replace("KEEP_DECLS", decls).replace("KEEP_LIST", listing))
        elf = work / f"{name}.elf"
        link(cc, tree, main_c, archive, elf, "-Os")
        return elf

    empty = work / "probe_empty.elf"
    if not empty.exists():
        probe("probe_empty", ())
    elf = probe("probe_" + "_".join(keep)[:80], keep)
    return text_bytes(elf) - text_bytes(empty), sorted(symbols(elf) - symbols(empty))


def count_instructions(qemu: str, elf: Path, work: Path, regions: int) -> list[tuple[int, Counter[str]]]:
    """Executed instructions between each marker pair (one log line per instruction), per function."""
    fifo = work / f"{elf.stem}.fifo"
    if fifo.exists():
        fifo.unlink()
    os.mkfifo(fifo)
    command = [qemu, "-M", "mps2-an500", "-cpu", "cortex-m7", "-nographic", "-semihosting-config"]
    command += ["enable=on,target=native", "-singlestep", "-d", "exec,nochain", "-D", str(fifo), "-kernel", str(elf)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    counts: list[tuple[int, Counter[str]]] = []
    inside, n, per_function = False, 0, Counter[str]()
    with open(fifo, encoding="ascii", errors="replace") as log:
        for line in log:
            if not line.startswith("Trace "):
                continue
            name = line.rstrip("\n").rsplit(" ", 1)[-1]
            if name == MARK_BEGIN:
                inside, n, per_function = True, 0, Counter()
            elif name == MARK_END:
                if inside:
                    counts.append((n - 1, per_function))  # less the marker's own return ...
                inside = False
            elif inside:
                n += 1
                per_function[name] += 1
    _, stderr = process.communicate(timeout=600)
    fifo.unlink()
    if process.returncode != 0:
        raise InvalidInputError(f"{QEMU} on {elf.name} exited {process.returncode}: {stderr.decode()[:200]}")
    if len(counts) != regions:
        raise InvalidInputError(f"{elf.name}: {len(counts)} marked regions in the log, {regions} expected")
    return counts


def fit(work: list[int], instructions: list[int]) -> tuple[float, float]:
    """Least-squares a + b * work."""
    slope, intercept = np.polyfit(np.asarray(work, dtype=float), np.asarray(instructions, dtype=float), 1)
    return float(intercept), float(slope)


#: Each call returns nonzero when the kernel's output differs from the plain loops'.
CHECKS = (
    "conv(1, 49, 64, 64, 1, 1, 1, 0, 0, 1, 49)",  # 1x1 fast
    "conv(1, 50, 32, 64, 1, 1, 2, 0, 0, 1, 25)",  # 1x1, stride 2
    "conv(25, 5, 64, 64, 3, 3, 1, 1, 1, 25, 5)",  # s8 (im2col)
    "conv(1, 49, 64, 64, 1, 9, 1, 0, 4, 1, 49)",  # 1xN
    "depthwise(25, 5, 64, 1, 3, 3, 1, 1, 1, 25, 5)",  # 3x3
    "depthwise(1, 49, 66, 1, 1, 5, 1, 0, 2, 1, 49)",  # opt, channels not a multiple of 4
    "depthwise(49, 10, 1, 64, 10, 4, 2, 4, 1, 25, 5)",  # generic, multiplier 64
    "depthwise(9, 6, 3, 2, 3, 3, 1, 1, 1, 9, 6)",  # generic, multiplier 2
    "fully_connected(64, 12)",
    "fully_connected(37, 5)",
)


def cross_check(qemu: str, cc: str, tree: Path, archive: Path, opt: str, work: Path) -> None:
    """Run the optimised paths against plain loops in QEMU; a mismatch is an error naming the check."""
    main_c = work / f"check{opt}.c"
    body = "\n  ".join(f'if ({call}) {{ check_print("differs: {call}"); failed = 1; }}' for call in CHECKS)
    main_c.write_text(CHECK.replace("CHECKS", body))
    elf = main_c.with_suffix(".elf")
    link(cc, tree, main_c, archive, elf, opt)
    command = [qemu, "-M", "mps2-an500", "-cpu", "cortex-m7", "-nographic", "-semihosting-config"]
    try:
        done = subprocess.run(
            [*command, "enable=on,target=native", "-kernel", str(elf)], capture_output=True, timeout=300, check=False
        )
    except subprocess.TimeoutExpired:
        raise InvalidInputError("the kernels' cross-check did not finish in QEMU in 300 s") from None
    if done.returncode != 0:
        printed = (done.stdout + done.stderr).decode(errors="replace")
        said = "; ".join(line.strip() for line in printed.splitlines() if line.strip()) or f"exit {done.returncode}"
        raise InvalidInputError(f"the kernels' cross-check at {opt} failed: {said[:400]}")


def run_path(qemu: str, cc: str, tree: Path, archive: Path, opt: str, path: KernelPath, work: Path) -> Run:
    cases = (*path.fit, path.typical)
    main_c = work / f"{path.entry}{opt}.c"
    main_c.write_text(HARNESS.replace("CALLS", "\n  ".join(f"{case.call};" for case in cases)))
    elf = main_c.with_suffix(".elf")
    link(cc, tree, main_c, archive, elf, opt)
    regions = count_instructions(qemu, elf, work, 1 + len(cases))
    overhead = regions[0][0]
    counted = [n - overhead for n, _ in regions[1:]]
    a, b = fit([case.work for case in path.fit], counted[:-1])

    def row(case: Case, n: int) -> dict[str, object]:
        return {"label": case.label, "work": case.work, "instructions": n, "per_unit": n / case.work}

    top = [(name, k) for name, k in regions[-1][1].most_common(6) if name not in HELPERS][:5]
    return Run(b, a, row(path.typical, counted[-1]), [row(c, n) for c, n in zip(path.fit, counted, strict=False)], top)


def measure(tree: Path, opts: list[str], work: Path) -> tuple[list[PathResult], list[OperatorResult], list[str]]:
    cc = require(ARM_CC, ARM_PACKAGES)
    require(ARM_SIZE, ARM_PACKAGES)
    qemu = require(QEMU, "apt-get install qemu-system-arm")
    archives: dict[str, Path] = {}
    skipped: list[str] = []
    for opt in dict.fromkeys(["-Os", *opts]):
        archives[opt], left_out = compile_tree(cc, tree, work / opt.strip("-").lower(), opt)
        skipped = sorted(set(skipped) | set(left_out))
    (work / "runs").mkdir(exist_ok=True)
    for opt in opts:
        cross_check(qemu, cc, tree, archives[opt], opt, work / "runs")
    results: list[PathResult] = []
    for path in PATHS:
        sizes: dict[str, int] = {}
        functions: list[str] = []
        for opt, archive in archives.items():
            sizes[opt], linked = code_size(cc, tree, archive, work / archive.parent.name, (path.entry,))
            functions = functions or linked
        runs = {opt: run_path(qemu, cc, tree, archives[opt], opt, path, work / "runs") for opt in opts}
        results.append(PathResult(path.name, path.operator, path.entry, path.unit, sizes["-Os"], sizes, functions, runs))
        summary = "  ".join(
            f"{opt}: {r.per_unit:7.3f}/{path.unit} + {r.per_call:7.0f}, typical {r.typical['per_unit']:.3f}"
            for opt, r in runs.items()
        )
        print(f"{path.name:36s} {sizes['-Os']:6d} B  {summary}", flush=True)
    operators: list[OperatorResult] = []
    for label, keep in OPERATORS:
        by_opt = {opt: code_size(cc, tree, archive, work / archive.parent.name, keep) for opt, archive in archives.items()}
        sized = {opt: size for opt, (size, _) in by_opt.items()}
        operators.append(OperatorResult(label, list(keep), sized["-Os"], sized, by_opt["-Os"][1]))
    return results, operators, skipped


@dataclass(frozen=True)
class Meta:
    """How the figures were made."""

    tree: str
    provenance: str
    compiler: str
    qemu: str
    opts: list[str]
    flags: list[str]
    skipped: list[str]
    host: str
    seconds: float


def markdown(results: list[PathResult], operators: list[OperatorResult], meta: Meta) -> str:
    opts = meta.opts
    sizes = list(results[0].text_bytes_by_opt) if results else []
    lines = [
        "# CMSIS-NN int8 kernels on the Cortex-M7: code size and executed instructions",
        "",
        "Made by `python benchmarks/cmsis_nn_kernels.py --cmsis-nn DIR` (its docstring gives the method).",
        "",
        f"- CMSIS-NN tree: `{meta.tree}` ({meta.provenance})",
        f"- compiler: {meta.compiler}; flags `{' '.join(M7)}` plus the optimisation level named per column",
        f"- emulator: {meta.qemu}, `-M mps2-an500 -cpu cortex-m7 -singlestep -d exec,nochain`: one log line per "
        "executed instruction, counted between two marker calls around the kernel call (argument set-up included)",
        f"- source files that did not compile for the M7 and were left out: {', '.join(meta.skipped) or 'none'}",
        "- TFLite Micro's Makefile builds third-party kernels (CMSIS-NN) at `-O2` with GCC; `-Os` is the "
        "size-optimised firmware build",
        "",
        "## Kernel paths",
        "",
        "Code: `.text` (code and constant tables) the entry function pulls in transitively, C library helpers "
        "included; `memset` is not counted anywhere, the empty program has it already (its start-up code's `.bss` "
        "clear compiles to a call). Fit: instructions = per call + per unit x work over the three fit shapes (work: MACs, "
        "nominal for padded convolutions, or input elements). Typical: the keyword-spotting shape.",
        "",
    ]
    head = ["path", "entry", *[f"code {o} (B)" for o in sizes]]
    for opt in opts:
        head += [f"{opt} instr/unit (fit)", f"{opt} per call (fit)", f"{opt} typical instr/unit"]
    head += ["typical shape", "work"]
    lines += [
        "| " + " | ".join(head) + " |",
        "| " + " | ".join(["---", "---", *["---:"] * (len(head) - 4), "---", "---:"]) + " |",
    ]
    for r in results:
        cells = [r.name, f"`{r.entry}`", *[str(r.text_bytes_by_opt[o]) for o in sizes]]
        for opt in opts:
            run = r.runs[opt]
            cells += [f"{run.per_unit:.3f} / {r.unit}", f"{run.per_call:.0f}", f"{float(run.typical['per_unit']):.3f}"]  # type: ignore[arg-type]
        first = r.runs[opts[0]].typical
        cells += [str(first["label"]), str(first["work"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Every shape", ""]
    lines += ["| path | shape | work | " + " | ".join(f"{o} instructions | {o} instr/unit" for o in opts) + " |"]
    lines += ["| --- | --- | ---: | " + " | ".join("---: | ---:" for _ in opts) + " |"]
    for r in results:
        shapes = [*r.runs[opts[0]].fit_cases, r.runs[opts[0]].typical]
        for i, shape in enumerate(shapes):
            cells = [r.name, str(shape["label"]) + (" (typical)" if i == len(shapes) - 1 else ""), str(shape["work"])]
            for opt in opts:
                row = [*r.runs[opt].fit_cases, r.runs[opt].typical][i]
                cells += [str(row["instructions"]), f"{float(row['per_unit']):.3f}"]  # type: ignore[arg-type]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"## Where the typical call's instructions go ({opts[0]})", "", "| path | functions (instructions) |"]
    lines += ["| --- | --- |"]
    for r in results:
        top = r.runs[opts[0]].top_functions
        lines.append(f"| {r.name} | {', '.join(f'`{name}` {n}' for name, n in top)} |")
    lines += ["", "## Operators: what TFLite Micro's CMSIS-NN kernel links", ""]
    lines += ["| operator | " + " | ".join(f"code {o} (B)" for o in sizes) + " | functions (-Os) |"]
    lines += ["| --- | " + " | ".join("---:" for _ in sizes) + " | --- |"]
    for op in operators:
        functions = ", ".join(f"`{name}`" for name in op.functions)
        lines.append(f"| {op.operator} | " + " | ".join(str(op.text_bytes_by_opt[o]) for o in sizes) + f" | {functions} |")
    lines += ["", "## Functions each kernel path links (-Os)", "", "| path | functions |", "| --- | --- |"]
    for r in results:
        lines.append(f"| {r.name} | {', '.join(f'`{name}`' for name in r.functions)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cmsis-nn", type=Path, required=True, help="a CMSIS-NN checkout (Include/, Source/)")
    parser.add_argument("--opts", default="-O2,-Os", help="optimisation levels of the instruction runs, comma-separated")
    parser.add_argument("--provenance", default="", help="where the tree came from (commit), quoted in the outputs")
    parser.add_argument("--md", type=Path, default=Path("benchmarks/results/cmsis_nn_kernels.md"))
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/cmsis_nn_kernels.json"))
    args = parser.parse_args()
    try:
        tree = check_tree(args.cmsis_nn)
        opts = [opt.strip() for opt in args.opts.split(",") if opt.strip()]
        if not opts or any(opt not in ("-Os", "-O1", "-O2", "-O3") for opt in opts):
            raise InvalidInputError(f"--opts {args.opts}: give levels among -Os, -O1, -O2, -O3, comma-separated")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as scratch:
            results, operators, skipped = measure(tree, opts, Path(scratch))
        compiler = run([require(ARM_CC, ARM_PACKAGES), "--version"], ARM_CC).stdout.splitlines()[0]
        qemu = run([require(QEMU, "apt-get install qemu-system-arm"), "--version"], QEMU).stdout.splitlines()[0]
    except InvalidInputError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    meta = Meta(
        tree=str(tree),
        provenance=args.provenance or "not given",
        compiler=compiler,
        qemu=qemu,
        opts=opts,
        flags=list(M7),
        skipped=skipped,
        host=platform.node(),
        seconds=round(time.perf_counter() - started, 1),
    )
    args.md.parent.mkdir(parents=True, exist_ok=True)
    args.md.write_text(markdown(results, operators, meta))
    payload = {"meta": asdict(meta), "paths": [asdict(r) for r in results], "operators": [asdict(o) for o in operators]}
    args.json.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.md} and {args.json} in {meta.seconds} s")


if __name__ == "__main__":
    main()
