"""What each kind of operator costs under the TFLite Micro + CMSIS-NN model, before and after the fast forms.

    python benchmarks/tflm_operator_costs.py [--target cortex-m7] [--n 6] [--seed 0] [--md FILE]   # about 1 minute

For DS-CNN-S, the default search's best model and seeded random ``kws`` networks (1-D and 2-D),
each converted to int8 twice from the same (untrained, batch-norm randomised) weights: in the
**former** form (global pooling as MEAN, 2-D zero pads left in the torch layout: TRANSPOSE, PAD,
QUANTIZE, TRANSPOSE; as ``benchmarks/fast_operators.py`` rebuilds it) and as edgenas exports **now**
(AVERAGE_POOL_2D, pads folded into their convolution). Both files are priced operator by operator
on the target (:func:`edgenas.workflows.pricing.price_tflite`: the operators the files really hold,
each on the kernel TFLite Micro's CMSIS-NN rules pick). The first table gives each network's
estimated latency in both forms; the second, per kernel, the estimated instructions and cycles per
unit of work (MAC, or element for pooling and copies) over all these files and its share of
their latency, beside the instructions per unit the issue measured by running such networks.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from fast_operators import _archs, _former_pad_export, _mean_form, _randomise_batchnorm  # noqa: E402

from edgenas.export.tflite import convert_int8  # noqa: E402
from edgenas.hardware import latency_ms, load_target  # noqa: E402
from edgenas.hardware.kernel_paths import KERNEL_UNITS  # noqa: E402
from edgenas.spaces import KwsSpace  # noqa: E402
from edgenas.workflows.pricing import FilePricing, price_tflite  # noqa: E402

#: Instructions per unit of work as issue 26 measured them (TFLite Micro + CMSIS-NN on the Cortex-M7
#: instruction set, 13 converted kws networks), by kernel; the figure it quotes, verbatim.
ISSUE_INSTRUCTIONS = {
    "conv_1x1": "2.2 / MAC (pointwise, the reference)",
    "depthwise_generic": "6.2 / MAC (one-channel first conv as depthwise with a multiplier)",
    "depthwise_opt": "9.6 / MAC (depthwise blocks)",
    "depthwise_3x3": "9.6 / MAC (depthwise blocks)",
    "mean": "135-171 / input element",
    "pad": "priced ~17x too low",
    "quantize": "10-12 % of networks with it",
    "transpose": "up to 3 % of a network",
}


def _price(model: torch.nn.Module, calibration: np.ndarray, target, *, former: bool) -> FilePricing:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        with _former_pad_export() if former else contextlib.nullcontext():
            convert_int8(_mean_form(model) if former else model, calibration, path)
        return price_tflite(path.read_bytes(), target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="cortex-m7")
    parser.add_argument("--n", type=int, default=6, help="networks: DS-CNN-S, the default best, then seeded random ones")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--md", type=Path, default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    target = load_target(args.target)
    if target.kernel_latency is None:
        print(f"error: {target.name} is priced per layer (an optimised engine), not kernel by kernel", file=sys.stderr)
        return 2
    space = KwsSpace()
    rng = np.random.default_rng(args.seed)
    calibration = rng.normal(size=(32, *space.input_shape)).astype(np.float32)
    lines = [
        "| network | family | former form ms | now ms | now / former | analytical estimate ms | former: MEAN + copies share |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    per_key: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # instructions, units, ms
    total_ms = 0.0
    for i, arch in enumerate(_archs(space, args.n, args.seed)):
        torch.manual_seed(i)
        model = _randomise_batchnorm(space.build(arch).eval(), i)
        layers = space.layers(arch)
        former = _price(model, calibration, target, former=True)
        now = _price(model, calibration, target, former=False)
        slow_share = sum(
            r.share or 0.0 for r in former.operators if r.builtin in ("MEAN", "SUM", "TRANSPOSE", "PAD", "QUANTIZE", "RESHAPE")
        )
        name = "ds-cnn-s" if i == 0 else "default best" if i == 1 else f"random {i - 1}"
        family = "2-D" if space.plan(arch)["two_d"] else "1-D"
        assert former.latency_ms and now.latency_ms
        lines.append(
            f"| {name}: `{space.describe(arch)}` | {family} | {former.latency_ms:.2f} | {now.latency_ms:.2f} | "
            f"{now.latency_ms / former.latency_ms:.2f} | {latency_ms(layers, target):.2f} | {slow_share:.1%} |"
        )
        for pricing in (former, now):
            for row in pricing.operators:
                key = row.key
                if not key or row.instructions is None:
                    continue
                units = row.units
                per_key[key][0] += row.instructions
                per_key[key][1] += units
                per_key[key][2] += row.latency_ms or 0.0
                total_ms += row.latency_ms or 0.0
        print(lines[-1], flush=True)
    cpi = target.kernel_latency.cycles_per_instruction
    kinds = [
        "| kernel | unit | estimated instructions / unit (incl. dispatch) | estimated cycles / unit on "
        f"{target.name} | share of the files' latency | the issue's measurement |",
        "|---|---|---:|---:|---:|---|",
    ]
    for key, (instructions, units, ms) in sorted(per_key.items(), key=lambda kv: -kv[1][2]):
        if units <= 0:
            continue
        unit = {"mac": "MAC", "input": "input element", "output": "output element"}[KERNEL_UNITS[key]]
        kinds.append(
            f"| {key} | {unit} | {instructions / units:.2f} | {cpi * instructions / units:.2f} | {ms / total_ms:.1%} | "
            f"{ISSUE_INSTRUCTIONS.get(key, '-')} |"
        )
    seconds = time.perf_counter() - started
    text = "\n".join(
        [
            f"# Operator costs under the TFLite Micro + CMSIS-NN model on {target.name}",
            "",
            f"`python benchmarks/tflm_operator_costs.py --target {args.target} --n {args.n} --seed {args.seed}` "
            f"({seconds:.0f} s). Estimates (the target's kernel table, cycles per instruction {cpi:.3f}), "
            "not measurements; each file priced as converted.",
            "",
            *lines,
            "",
            *kinds,
        ]
    )
    print("\n".join(kinds))
    if args.md:
        args.md.write_text(text + "\n")
        print(f"wrote {args.md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
