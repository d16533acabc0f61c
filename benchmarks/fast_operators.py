"""Fast operators against the former ones: the same network on the host's TFLite Micro, both forms.

    python benchmarks/fast_operators.py [--change pool|pad] [--n 8] [--epochs 1] [--clips 400] [--seed 0] [--md FILE]

``--change pool`` (default): global pooling as AVERAGE_POOL_2D instead of MEAN (writes ``--md``).
``--change pad``: 2-D zero pads folded into their convolution instead of TRANSPOSE, PAD, QUANTIZE,
TRANSPOSE (appends its section to ``--md``, replacing an earlier one).

The spaces' networks pool globally with :class:`edgenas.spaces.nn.blocks.GlobalAvgPool`, which the
int8 converter turns into AVERAGE_POOL_2D (CMSIS-NN has an optimised kernel for it); the former
``x.mean(...)`` became a MEAN, which TFLite Micro runs on its reference kernel, bracketed by layout
copies. For DS-CNN-S, the default search's best model and N-2 seeded random ``kws`` architectures
(both families), each network is trained briefly (``--epochs``; 0 keeps it untrained with
randomised batch-norm statistics), then converted twice from the same weights: once as it is
(``pool``) and once with the pooling put back in the ``mean`` form (``mean``). Both files run in
the host's TFLite Micro (reference kernels) on the test clips; the table gives the operators that
changed, the file size, the smallest arena (bisection, :func:`edgenas.export.verify.min_arena_bytes`),
how far the two forms' dequantised outputs are apart (absolute, and in output LSB of the ``mean``
form), how often they pick the same class, and each form's TFLite Micro accuracy. Needs the
``tflite`` extra.

For ``pad`` the networks are DS-CNN-S (a PAD on its one-channel input) and seeded random 2-D ``kws``
architectures with a PAD; the former form (``pad``) is converted as the export did before: input
laid out with ``unsqueeze(1)``, the pad's scale its own, the zero pad left in the torch layout.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

import edgenas.export.tflite as tflite_export
from edgenas.arch import Arch
from edgenas.evaluators.train import TrainEvaluator
from edgenas.export.tflite import TfliteInfo, check_full_int8, convert_int8, quiet_native_output
from edgenas.export.verify import min_arena_bytes, quantize_input
from edgenas.ir import Op
from edgenas.report.markdown import md_cell
from edgenas.spaces import KwsSpace
from edgenas.tasks.kws import load_kws

#: Genes (family, first channels/kernel/stride, depth, then (channels, kernel, stride) per block) of
#: the default ``edgenas search`` best model, ``1d c96 k5 s1 / dw5 s2 c96 / dw5 s1 c16``.
DEFAULT_SEARCH_BEST = (1, 5, 1, 2, 1, 5, 1, 1, 0, 1, 0)


#: Per change: the labels of the former and the new form.
CHANGES = {"pool": ("mean", "pool"), "pad": ("pad", "fold")}


class _MeanPool(nn.Module):
    """The former global pooling, ``x.mean`` over the spatial axes (converted to MEAN)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=tuple(range(2, x.dim())))


@dataclass(frozen=True)
class Form:
    """One converted form of a network, measured on the host's TFLite Micro."""

    info: TfliteInfo
    arena_bytes: int
    logits: np.ndarray  # dequantised TFLite Micro outputs on the test clips

    def accuracy(self, y: np.ndarray) -> float:
        return float(np.mean(np.argmax(self.logits, axis=1) == y))

    def agreement(self, fp32: np.ndarray) -> float:
        """Fraction of clips where it picks the float network's class."""
        return float(np.mean(np.argmax(self.logits, axis=1) == np.argmax(fp32, axis=1)))


def _archs(space: KwsSpace, n: int, seed: int) -> list[Arch]:
    best = space.arch(list(DEFAULT_SEARCH_BEST) + [0] * (len(space.decisions()) - len(DEFAULT_SEARCH_BEST)))
    archs = [space.named("ds-cnn-s"), best]
    rng = np.random.default_rng(seed)
    while len(archs) < n:
        arch = space.sample(rng)
        if arch.key() not in {a.key() for a in archs}:
            archs.append(arch)
    return archs


def _pad_archs(space: KwsSpace, n: int, seed: int) -> list[Arch]:
    """DS-CNN-S (PAD on its input), then seeded random 2-D architectures with a PAD mid-network."""
    archs = [space.named("ds-cnn-s")]
    rng = np.random.default_rng(seed)
    while len(archs) < n:
        arch = space.sample(rng)
        layers = space.layers(arch)
        mid_pad = any(layer.op is Op.PAD for layer in layers[1:])
        if space.plan(arch)["two_d"] and mid_pad and arch.key() not in {a.key() for a in archs}:
            archs.append(arch)
    return archs


class _FormerInputLayout(nn.Module):
    """A 2-D ``kws`` network fed as before: ``unsqueeze(1)`` (its input pad then converted to
    RESHAPE, PAD, RESHAPE). Same weights, same float function."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.squeeze(1)
        return self.net.classifier(self.net.pool(self.net.features(x.unsqueeze(1))))


@contextlib.contextmanager
def _former_pad_export() -> Iterator[None]:
    """The export as it was: the zero pad left in the torch layout, with a scale of its own."""
    saved = tflite_export._zero_pad_in_nhwc, tflite_export._SCALE_SHARING_OPS
    tflite_export._zero_pad_in_nhwc = contextlib.nullcontext  # type: ignore[assignment]
    tflite_export._SCALE_SHARING_OPS = ("avg_pool1d", "avg_pool2d")
    try:
        yield
    finally:
        tflite_export._zero_pad_in_nhwc, tflite_export._SCALE_SHARING_OPS = saved


def _randomise_batchnorm(model: nn.Module, seed: int) -> nn.Module:
    """Batch-norm statistics as training would leave them: an untrained network's collapse to the
    smallest quantisation scale would hide what the pooling's own scale does."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
    return model


def _tflm_logits(model_bytes: bytes, arena_bytes: int, info: TfliteInfo, x: np.ndarray) -> np.ndarray:
    from tflite_micro import runtime

    with quiet_native_output():
        interpreter = runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_bytes)
    outputs = []
    for clip in quantize_input(x, info):
        interpreter.set_input(clip[None], 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0)).reshape(-1))
    q = np.stack(outputs).astype(np.float64)
    return (q - info.output_zero_point) * info.output_scale


def _measure(model: nn.Module, calibration: np.ndarray, x: np.ndarray, *, former_pad: bool = False) -> Form:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        with _former_pad_export() if former_pad else contextlib.nullcontext():
            info = convert_int8(model, calibration, path)
        check_full_int8(info)
        model_bytes = path.read_bytes()
    arena = min_arena_bytes(model_bytes)
    return Form(info, arena, _tflm_logits(model_bytes, arena, info, x))


def _mean_form(model: nn.Module) -> nn.Module:
    old = copy.deepcopy(model)
    old.pool = _MeanPool()
    return old


def _changed_ops(old: TfliteInfo, new: TfliteInfo) -> str:
    before, after = Counter(old.operators), Counter(new.operators)
    removed = [f"-{op}" + (f" x{k}" if k > 1 else "") for op, k in (before - after).items()]
    added = [f"+{op}" + (f" x{k}" if k > 1 else "") for op, k in (after - before).items()]
    return " ".join(removed + added) or "(same)"


def _header(old: str, new: str) -> str:
    return (
        f"| # | architecture | operators {old} -> {new} | ops | file B {old} | file B {new} | arena B {old} | arena B {new} "
        f"| max abs diff | max diff (LSB) | same class | vs fp32 LSB {old} | vs fp32 LSB {new} | = fp32 class {old} "
        f"| = fp32 class {new} | acc fp32 | acc {old} | acc {new} |"
    )


def _lsb_from(form: Form, fp32: np.ndarray) -> float:
    """Mean absolute distance of a form's outputs from the float network's, in its output LSB."""
    return float(np.mean(np.abs(form.logits - fp32)) / form.info.output_scale)


@dataclass
class _Totals:
    """What the summary line reports over all networks."""

    worst_lsb: float = 0.0
    worst_agree: float = 1.0
    file_saved: list[int] = field(default_factory=list)
    arena_saved: list[int] = field(default_factory=list)
    ops_saved: list[int] = field(default_factory=list)
    fp32_lsb: list[tuple[float, float]] = field(default_factory=list)  # (former form, new form)
    accuracy_change: list[float] = field(default_factory=list)

    def add(self, old: Form, new: Form, fp32: np.ndarray, y: np.ndarray, lsb: float, agree: float) -> None:
        self.worst_lsb, self.worst_agree = max(self.worst_lsb, lsb), min(self.worst_agree, agree)
        self.file_saved.append(old.info.size_bytes - new.info.size_bytes)
        self.arena_saved.append(old.arena_bytes - new.arena_bytes)
        self.ops_saved.append(len(old.info.operators) - len(new.info.operators))
        self.fp32_lsb.append((_lsb_from(old, fp32), _lsb_from(new, fp32)))
        self.accuracy_change.append(new.accuracy(y) - old.accuracy(y))

    def summary(self, n: int, clips: int, seconds: float, new: str = "pool") -> str:
        closer = sum(p <= m for m, p in self.fp32_lsb)
        return (
            f"{n} networks, {clips} test clips each, {seconds:.0f} s. The {new} form has "
            f"{min(self.ops_saved)}-{max(self.ops_saved)} operators fewer, a file {min(self.file_saved):,}-"
            f"{max(self.file_saved):,} B smaller and an arena {min(self.arena_saved):,}-{max(self.arena_saved):,} B "
            f"smaller. The two forms' dequantised outputs differ by at most {self.worst_lsb:.1f} output LSB and pick "
            f"the same class on at least {self.worst_agree:.1%} of clips; the {new} form is as close to the float network "
            f"as the former form or closer on {closer} of {n} networks (mean distance in LSB), and its TFLite Micro "
            f"accuracy differs by {min(self.accuracy_change):+.3f} to {max(self.accuracy_change):+.3f}."
        )


def _row(i: int, name: str, old: Form, new: Form, fp32: np.ndarray, y: np.ndarray) -> tuple[str, float, float]:
    diff = float(np.max(np.abs(old.logits - new.logits)))
    lsb = diff / old.info.output_scale
    agree = float(np.mean(np.argmax(old.logits, axis=1) == np.argmax(new.logits, axis=1)))
    fp32_acc = float(np.mean(np.argmax(fp32, axis=1) == y))
    ops = f"{len(old.info.operators)} -> {len(new.info.operators)}"
    row = (
        f"| {i} | `{md_cell(name)}` | {_changed_ops(old.info, new.info)} | {ops} "
        f"| {old.info.size_bytes:,} | {new.info.size_bytes:,} | {old.arena_bytes:,} | {new.arena_bytes:,} "
        f"| {diff:.4f} | {lsb:.1f} | {agree:.3f} | {_lsb_from(old, fp32):.2f} | {_lsb_from(new, fp32):.2f} "
        f"| {old.agreement(fp32):.3f} | {new.agreement(fp32):.3f} "
        f"| {fp32_acc:.3f} | {old.accuracy(y):.3f} | {new.accuracy(y):.3f} |"
    )
    return row, lsb, agree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--change", choices=sorted(CHANGES), default="pool", help="which fast operator to check")
    parser.add_argument("--n", type=int, default=8, help="architectures (DS-CNN-S, [pool: the default search's best,] random)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per network (0: untrained, batch norm randomised)")
    parser.add_argument("--clips", type=int, default=400, help="test clips run on TFLite Micro per form")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--md", type=Path, default=None, help="write (pad: append) the table and operator lists as Markdown")
    args = parser.parse_args()

    space = KwsSpace()
    data = load_kws(seed=args.seed)
    x, y = data.test.x[: args.clips], np.asarray(data.test.y[: args.clips])
    trainer = TrainEvaluator(space, data, epochs=args.epochs, seed=args.seed) if args.epochs > 0 else None
    old_label, new_label = CHANGES[args.change]
    header = _header(old_label, new_label)
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    print(header, flush=True)
    lists: list[str] = []
    totals = _Totals()
    start = time.perf_counter()
    archs = _pad_archs(space, args.n, args.seed) if args.change == "pad" else _archs(space, args.n, args.seed)
    for i, arch in enumerate(archs, start=1):
        torch.manual_seed(args.seed + i)
        model = trainer.train(arch).module if trainer else _randomise_batchnorm(space.build(arch), args.seed + i)
        model = model.eval()
        if args.change == "pad":
            old = _measure(_FormerInputLayout(model), data.train.x, x, former_pad=True)
        else:
            old = _measure(_mean_form(model), data.train.x, x)
        new = _measure(model, data.train.x, x)
        with torch.no_grad():
            fp32 = model(torch.from_numpy(np.ascontiguousarray(x))).double().numpy()
        name = space.describe(arch)
        row, lsb, agree = _row(i, name, old, new, fp32, y)
        totals.add(old, new, fp32, y, lsb, agree)
        lines.append(row)
        print(row, flush=True)
        lists.append(
            f"* {i} `{name}`\n  * {old_label}: {' '.join(old.info.operators)}\n  * {new_label}: {' '.join(new.info.operators)}"
        )
    summary = totals.summary(len(archs), len(x), time.perf_counter() - start, new_label)
    print(summary)
    if args.md is not None:
        command = "python benchmarks/fast_operators.py " + " ".join(sys.argv[1:])
        args.md.parent.mkdir(parents=True, exist_ok=True)
        if args.change == "pad":
            earlier = args.md.read_text() if args.md.exists() else ""
            kept = earlier.split(PAD_SECTION)[0].rstrip()
            args.md.write_text((kept + "\n\n" if kept else "") + _pad_markdown(command.strip(), lines, lists, summary, args))
        else:
            args.md.write_text(_markdown(command.strip(), lines, lists, summary, args))
    return 0


def _markdown(command: str, lines: list[str], lists: list[str], summary: str, args: argparse.Namespace) -> str:
    training = (
        f"trained for {args.epochs} epoch(s) on the synthetic keyword-speech task"
        if args.epochs > 0
        else "untrained, with randomised batch-norm statistics"
    )
    return f"""# Global pooling: AVERAGE_POOL_2D (pool) against MEAN (mean) on TFLite Micro

`{command}` (host x86-64, tflite-micro Python package, reference kernels). Each network is {training};
both forms are converted from the same weights (calibrated on training clips) and run on the first
{args.clips} test clips. Rows 1-2: DS-CNN-S and the default search's best model; then random `kws` networks.

* **operators mean -> pool**: what the converter emits differently (`-` gone, `+` new).
* **arena**: the smallest arena TFLite Micro accepts (bisection); **file**: the `.tflite` size.
* **max abs diff**: largest difference between the two forms' dequantised TFLite Micro outputs;
  **(LSB)**: the same in output steps of the `mean` form; **same class**: fraction of clips where both
  forms pick the same class; **vs fp32 LSB**: mean absolute distance of each form's outputs from the
  float network's, in that form's output LSB (the quantisation error each form adds); **= fp32 class**:
  fraction of clips where the form picks the float network's class; **acc**: top-1 on
  those clips of the float network and of each form on TFLite Micro.

{summary}

How to read it: the two forms compute the same float function, so what differs is only where each
rounds. MEAN requantises the pooled values to a scale of their own; AVERAGE_POOL_2D keeps its input's
scale (the export shares it, so that no QUANTIZE is needed), which is coarser for the averaged values.
A few LSB apart on the logits is that rounding; the clips whose class changes are near-ties of these
briefly trained networks, and the distance to the float network shows whether either form loses more.
The operators removed are the MEAN and the layout copies the converter put before it.

{chr(10).join(lines)}

## Operator lists

{chr(10).join(lists)}
"""


PAD_SECTION = "# Asymmetric 2-D padding: folded into the convolution (fold) against PAD (pad) on TFLite Micro"


def _pad_markdown(command: str, lines: list[str], lists: list[str], summary: str, args: argparse.Namespace) -> str:
    training = (
        f"trained for {args.epochs} epoch(s) on the synthetic keyword-speech task"
        if args.epochs > 0
        else "untrained, with randomised batch-norm statistics"
    )
    return f"""{PAD_SECTION}

`{command}` (host x86-64, tflite-micro Python package, reference kernels). Each network is {training};
both forms are converted from the same weights (calibrated on training clips) and run on the first
{args.clips} test clips. Row 1: DS-CNN-S (its PAD is on the one-channel input); then random 2-D `kws`
networks with a PAD mid-network (where SAME padding is asymmetric: a stride of 2 on an odd size).
Columns as in the table above; `pad` is the former export (input laid out with `unsqueeze(1)`, the
zero pad in the torch layout with a scale of its own), `fold` the current one.

{summary}

How to read it: the former export ran each mid-network pad as TRANSPOSE, PAD, QUANTIZE, TRANSPOSE
(the pad in NCHW between two layout copies of the whole map, then a requantisation), and the input
pad as RESHAPE, PAD, RESHAPE. The current export keeps the zero pad in NHWC right before its
convolution, where the converter folds it into the convolution's SAME padding: all of those
operators go, and with them the padded copies of the map. Both forms compute the same float
function; they differ only in where they round (the former QUANTIZE gave the padded map a scale
of its own).

{chr(10).join(lines)}

## Operator lists (padding)

{chr(10).join(lists)}
"""


if __name__ == "__main__":
    raise SystemExit(main())
