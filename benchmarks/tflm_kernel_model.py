"""The TFLite Micro + CMSIS-NN latency model of the Cortex-M targets: its instruction table, the
cycles per instruction fitted per core, and the target files' ``latency:`` blocks.

    python benchmarks/tflm_kernel_model.py           # every figure (a few seconds)
    python benchmarks/tflm_kernel_model.py --write   # also rewrite the base latency block of cortex-m4/m7/m33.yaml

The instruction table (``edgenas.hardware.kernel_latency``) takes the CMSIS-NN kernels from the
two QEMU counts in ``benchmarks/results/`` (``cmsis_nn_shape_grid.json``: convolutions, depthwise,
fully connected over a grid of shapes; ``cmsis_nn_kernels.json``: pooling, softmax, add, mul), and
TFLite Micro's reference kernels from :data:`REFERENCE_KERNELS` (each with its source: no TFLite
Micro build is possible here, so those not measured anywhere are marked assumed). Each core with
TFLite Micro + CMSIS-NN rows in MLPerf Tiny gets its cycles per instruction from them
(``edgenas.hardware.kernel_calibrate``); the Cortex-M7, with none, gets the Cortex-M33's carried
by the cores' CoreMark/MHz.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

from edgenas.hardware.kernel_calibrate import (
    COREMARK_PER_MHZ,
    carried_cpi,
    fit_core,
    reference_instructions,
    tflm_cores,
)
from edgenas.hardware.kernel_latency import KernelInstructions, KernelLatency, make_kernel_latency
from edgenas.hardware.kernel_paths import KERNEL_UNITS
from edgenas.hardware.mlperf import measured_rows, reference_models
from edgenas.hardware.target import load_target
from edgenas.settings import shared_data_dir

RESULTS = Path(__file__).parent / "results"
TARGETS = Path(load_target.__code__.co_filename).parent / "targets"

#: The core whose fitted cycles per instruction a core without TFLite Micro rows is carried from:
#: the newest TFLite Micro + CMSIS-NN rows on a core with the M7's instruction set (the M4's are
#: TFLite Micro 2.3.1 of 2020, before most of today's CMSIS-NN int8 kernels; the M85 runs Helium code).
CARRY_FROM = "cortex-m33"

#: TFLite Micro's per-operator dispatch, in instructions (MicroInterpreter::Invoke: the node loop,
#: the registration's invoke, the kernel's tensor look-ups and parameter set-up). ASSUMED: the
#: MLPerf rows cannot pin it (their networks are 10-31 operators of 0.3-29 M instructions; from 0 to
#: 3,000 instructions per operator moves no model's fit by more than 3 %).
INVOKE_OVERHEAD = 300.0

#: TFLite Micro reference kernels (int8), instructions per unit of KERNEL_UNITS, with their source.
REFERENCE_KERNELS: dict[str, tuple[KernelInstructions, str]] = {
    "mean": (
        KernelInstructions(150.0),
        (
            "measured: 135-171 instructions per input element, TFLM reference int8 MEAN on the M7 "
            "instruction set (issue 26's count of 13 kws networks); 150 the midpoint"
        ),
    ),
    "pad": (
        KernelInstructions(7.0),
        (
            "derived: issue 26 measured PAD at about 17x its former price of 0.25 cycles/element, "
            "in instructions per estimated cycle against pointwise convolutions (1.6): 0.25 x 1.6 "
            "x 17 = 6.8"
        ),
    ),
    "transpose": (
        KernelInstructions(10.0),
        (
            "assumed: reference_ops::Transpose, int8, index arithmetic over up to 6 dimensions per "
            "element; issue 26 measured TRANSPOSE copies at up to 3 % of a network"
        ),
    ),
    "reshape": (
        KernelInstructions(1.0),
        (
            "assumed: a memcpy of the tensor when input and output buffers differ (about 1 "
            "instruction per byte for newlib's memcpy on small unaligned int8 tensors)"
        ),
    ),
    "quantize": (
        KernelInstructions(20.0),
        (
            "assumed: int8 to int8 requantisation per element (MultiplyByQuantizedMultiplier: a "
            "64-bit multiply, rounding shift, clamp); issue 26 measured QUANTIZE at 10-12 % of "
            "networks with it"
        ),
    ),
    "relu6": (
        KernelInstructions(8.0),
        "assumed: TFLM reference ReluX int8: a requantisation-free clamp per element with its loop",
    ),
    "logistic": (KernelInstructions(80.0), "assumed: TFLM reference int8 LOGISTIC (fixed-point exp and reciprocal per element)"),
    "hard_swish": (
        KernelInstructions(35.0),
        ("assumed: TFLM reference int8 HARD_SWISH (a few fixed-point multiplies and a clamp per element)"),
    ),
    "slice": (
        KernelInstructions(10.0),
        (
            "assumed: TFLM reference int8 SLICE (kernels/slice.cc), an index computation over up to 5 "
            "dimensions per element copied, as TRANSPOSE; a recurrent layer slices each frame once"
        ),
    ),
}

#: Paths of cmsis_nn_kernels.json for the element-wise CMSIS-NN kernels.
ELEMENT_PATHS = {"avgpool": "average pool (global)", "softmax": "softmax", "add": "add", "mul": "mul"}


def cmsis_kernels() -> dict[str, tuple[KernelInstructions, str]]:
    """The CMSIS-NN entries of the table, from the two QEMU counts (-O2, as TFLite Micro builds them)."""
    grid = json.loads((RESULTS / "cmsis_nn_shape_grid.json").read_text())
    out: dict[str, tuple[KernelInstructions, str]] = {}
    for key, g in grid["paths"].items():
        c = g["coefficients"]
        cost = KernelInstructions(
            c.get("per_mac", 0.0), c.get("per_call", 0.0), c.get("per_output", 0.0), c.get("per_weight", 0.0)
        )
        source = (
            f"measured: QEMU count, -O2, fit over {len(g['shapes'])} shapes (max error {g['max_abs_fit_error']:.1%}), "
            "benchmarks/results/cmsis_nn_shape_grid.md"
        )
        out[key] = (cost, source)
    kernels = json.loads((RESULTS / "cmsis_nn_kernels.json").read_text())
    by_name = {p["name"]: p for p in kernels["paths"]}
    for key, name in ELEMENT_PATHS.items():
        run = by_name[name]["runs"]["-O2"]
        out[key] = (
            KernelInstructions(run["per_unit"], run["per_call"]),
            "measured: QEMU count, -O2, fit over 3 sizes, benchmarks/results/cmsis_nn_kernels.md",
        )
    return out


def table() -> dict[str, tuple[KernelInstructions, str]]:
    entries = {**cmsis_kernels(), **REFERENCE_KERNELS}
    missing = sorted(set(KERNEL_UNITS) - set(entries))
    if missing:
        raise SystemExit(f"no instruction count for {missing}")
    return {key: entries[key] for key in KERNEL_UNITS}


def model(entries: dict[str, tuple[KernelInstructions, str]], cpi: float = 1.0) -> KernelLatency:
    return make_kernel_latency(cpi, INVOKE_OVERHEAD, {k: v for k, (v, _) in entries.items()})


def _num(value: float) -> str:
    return f"{value:.4g}" if value else "0"


def latency_yaml(
    entries: dict[str, tuple[KernelInstructions, str]], cpi: float, cpi_note: str, source: str, rows: list[str], fit: dict
) -> str:
    lines = [
        "latency:",
        f"  source: '{source}'",
        "  rows:" + ("" if rows else " []  # no MLPerf Tiny row runs TFLite Micro + CMSIS-NN on this core"),
        *(f"    - {r}" for r in rows),
        "  fit:",
        *(f"    {k}: {v}" for k, v in fit.items()),
        "  kernels:  # TFLite Micro + CMSIS-NN priced kernel by kernel over the converted graph (docs/targets.md)",
        f"    cycles_per_instruction: {cpi:.4f}  # {cpi_note}",
        f"    invoke_overhead_instructions: {INVOKE_OVERHEAD:g}  # assumed: TFLM per-operator dispatch "
        "(MLPerf rows cannot pin it)",
        "    instructions_source: 'CMSIS-NN int8 kernels: executed instructions counted in QEMU (mps2-an500, "
        "Cortex-M7 instruction set, -O2) by benchmarks/cmsis_nn_shape_grid.py and benchmarks/cmsis_nn_kernels.py; "
        "TFLM reference kernels as noted per entry'",
        "    instructions:  # per unit (conv/depthwise/fc: MAC; avgpool/mean: input element; others: output element)",
    ]
    for key, (cost, why) in entries.items():
        parts = [f"per_unit: {_num(cost.per_unit)}"]
        parts += [
            f"{name}: {_num(getattr(cost, name))}" for name in ("per_output", "per_weight", "per_call") if getattr(cost, name)
        ]
        lines.append(f"      {key}: {{{', '.join(parts)}}}  # {why}")
    return "\n".join(lines) + "\n"


def rewrite_latency(path: Path, block: str) -> None:
    """Replace the top-level ``latency:`` block of a target file."""
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("latency:"))
    end = next(i for i in range(start + 1, len(lines)) if re.match(r"^([a-z_]+:|#)", lines[i]))  # a key or a top comment
    path.write_text("".join(lines[:start]) + block + "".join(lines[end:]))


def _errors(errors: dict[str, float]) -> str:
    return "{" + ", ".join(f"{b}: {v:+.3f}" for b, v in sorted(errors.items())) + "}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the base latency block of the Cortex-M target files")
    args = parser.parse_args()
    shared = shared_data_dir()
    models, rows = reference_models(shared), measured_rows(shared)
    entries = table()
    unit_model = model(entries)
    instructions = reference_instructions(models, unit_model)
    print("Instructions of the MLPerf Tiny reference models (their own files' operators):")
    print("  " + ", ".join(f"{b} {n / 1e6:.2f} M" for b, n in instructions.items()))
    fits = {core: fit_core(models, rows, core, unit_model) for core in tflm_cores(rows)}
    print("\n| core | rounds | cycles/instruction | in-sample kws / vww / ic / ad | LOMO kws / vww / ic / ad |")
    print("|---|---|---:|---|---|")
    for core, f in fits.items():
        ins = " / ".join(f"{f.in_sample_error[b]:+.1%}" for b in ("kws", "vww", "ic", "ad"))
        lomo = " / ".join(f"{f.lomo_error[b]:+.1%}" for b in ("kws", "vww", "ic", "ad"))
        print(f"| {core} | {', '.join(f.rounds)} | {f.cycles_per_instruction:.3f} | {ins} | {lomo} |")
    m7 = carried_cpi(fits[CARRY_FROM], "cortex-m7")
    alternative = carried_cpi(fits["cortex-m4"], "cortex-m7")
    ds_cnn_m7 = instructions["kws"] * m7 / 216e6 * 1e3
    print(
        f"\nCortex-M7: {m7:.3f} cycles/instruction ({CARRY_FROM} {fits[CARRY_FROM].cycles_per_instruction:.3f} x CoreMark/MHz "
        f"{COREMARK_PER_MHZ[CARRY_FROM]} / {COREMARK_PER_MHZ['cortex-m7']}); from the Cortex-M4 instead: {alternative:.3f}. "
        f"The MLPerf DS-CNN file on the M7 at 216 MHz: {ds_cnn_m7:.1f} ms estimated "
        f"({instructions['kws'] * alternative / 216e3:.1f} ms "
        f"carried from the M4); at two instructions a cycle, the M7's best case: {instructions['kws'] / 2 / 216e3:.1f} ms."
    )
    if not args.write:
        return
    for core in ("cortex-m4", "cortex-m33"):
        f = fits[core]
        source = (
            "TFLite Micro + CMSIS-NN priced kernel by kernel (edgenas.hardware.kernel_latency): "
            "measured instruction table below; "
            f"cycles per instruction fitted (log least squares, edgenas.hardware.kernel_calibrate) to the {len(f.row_ids)} "
            f"MLPerf Tiny {', '.join(f.rounds)} TFLite Micro + CMSIS-NN rows of this core listed below "
            "(benchmarks/tflm_kernel_model.py)"
        )
        fit = {
            "in_sample_error": _errors(dict(f.in_sample_error)) + "  # estimate / median measured - 1",
            "lomo_error": _errors(dict(f.lomo_error)) + "  # leave-one-model-out",
        }
        note = f"fitted to the rows below (log least squares over {len(f.measured_cycles)} models)"
        rewrite_latency(
            TARGETS / f"{core}.yaml", latency_yaml(entries, f.cycles_per_instruction, note, source, list(f.row_ids), fit)
        )
    f = fits[CARRY_FROM]
    source = (
        f"TFLite Micro + CMSIS-NN priced kernel by kernel (edgenas.hardware.kernel_latency): measured instruction table below; "
        "no MLPerf Tiny row runs it on a Cortex-M7, so cycles per instruction are the Cortex-M33 fit "
        f"({f.cycles_per_instruction:.4f}, "
        f"{len(f.row_ids)} rows, {', '.join(f.rounds)}) x CoreMark/MHz M33 / M7 ({COREMARK_PER_MHZ[CARRY_FROM]} / "
        f"{COREMARK_PER_MHZ['cortex-m7']}, Arm): the M7 dual-issues (benchmarks/tflm_kernel_model.py). "
        "An estimate, not a measurement"
    )
    fit = {
        "carried_from": f"{CARRY_FROM}  # its in-sample and LOMO errors: cortex-m33.yaml",
        "alternative_from_cortex_m4": f"{alternative:.4f}  # the M4's TFLM 2.3.1 rows carried the same way",
    }
    note = (
        f"carried: cortex-m33's {f.cycles_per_instruction:.4f} x {COREMARK_PER_MHZ[CARRY_FROM]} / "
        f"{COREMARK_PER_MHZ['cortex-m7']} (CoreMark/MHz)"
    )
    rewrite_latency(TARGETS / "cortex-m7.yaml", latency_yaml(entries, m7, note, source, [], fit))
    print("rewrote the latency blocks of cortex-m4.yaml, cortex-m33.yaml, cortex-m7.yaml")
    assert math.isfinite(m7)


if __name__ == "__main__":
    main()
