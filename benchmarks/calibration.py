"""How the Cortex-M latency calibration's two global hyper-parameters were chosen, and the target files' variant blocks.

    python benchmarks/calibration.py            # leave-one-pair-out table, every figure (about 30 s)
    python benchmarks/calibration.py --tried    # also the alternatives tried (rows, pooling), about 2 min
    python benchmarks/calibration.py --write    # also regenerate every `variants:` block of the built-in targets

The fit (``edgenas.hardware.calibrate``) has two numbers shared by every (core, runtime) pair: the
prior's cycles per output element and the ridge on the per-kind deviations. For each pair they are
chosen on the *other* pairs only (``leave_one_pair_out``), and the table shows the pair's own
in-sample and leave-one-model-out errors under that choice, against the goals (10 % / 25 %).
``--write`` refits each variant of ``edgenas/hardware/targets/*.yaml`` with the package defaults
and rewrites its block in place (its ``runtime:`` text kept), so the files stay their own audit trail.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path

from edgenas.hardware.calibrate import (
    DEFAULT_RIDGE,
    DEFAULT_ROUNDS,
    PRIOR,
    calibrate,
    cross_pair_deviations,
    judged_pairs,
    leave_one_pair_out,
    median_cycles,
    select_rows,
    variant_yaml,
)
from edgenas.hardware.check import IN_SAMPLE_GOAL, LOMO_GOAL
from edgenas.hardware.mlperf import BENCHMARKS, measured_rows, reference_models
from edgenas.hardware.target import load_target
from edgenas.search import shared_data_dir

BUILTIN_DIR = Path(load_target.__code__.co_filename).parent / "targets"


def rewrite_variants(path: Path, models: dict, rows: list) -> list[str]:
    """Refit every variant block of one target file in place; returns the variant names."""
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("variants:"))
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"^[a-z_]+:", lines[i])), len(lines))
    heads = [i for i in range(start + 1, end) if re.match(r"^  [a-z0-9-]+:\s*$", lines[i])]
    core = load_target(path.stem).anchor.core if load_target(path.stem).anchor else path.stem
    out = lines[: heads[0]] if heads else lines[:end]
    names = []
    table = cross_pair_deviations(models, rows)
    for k, head in enumerate(heads):
        name = lines[head].strip().rstrip(":")
        block = lines[head : heads[k + 1] if k + 1 < len(heads) else end]
        runtime = next(line.split("runtime:", 1)[1].strip().strip("'\"") for line in block if "runtime:" in line)
        out.append(variant_yaml(calibrate(models, rows, core=core, runtime_family=name, table=table), name, runtime))
        names.append(name)
    path.write_text("".join(out + lines[end:]))
    return names


def _ok(in_sample: Mapping[str, float], lomo: Mapping[str, float]) -> bool:
    return max(map(abs, in_sample.values())) <= IN_SAMPLE_GOAL and max(map(abs, lomo.values())) <= LOMO_GOAL


def _figures(errors: Mapping[str, float]) -> str:
    return " | ".join(f"{errors[b]:+.1%}" if b in errors else "-" for b in BENCHMARKS)


def lopo_table(models: dict, rows: list, *, rounds: str, pooled: bool) -> tuple[list[str], int, int, tuple[float, float]]:
    choices, best = leave_one_pair_out(models, rows, rounds=rounds, pooled=pooled)
    bench = " | ".join(BENCHMARKS)
    lines = [
        f"| core | runtime | rounds | per-output | ridge | in-sample {bench} | LOMO {bench} | max in | max LOMO | goals |",
        "|---|---|---|---:|---:|" + "---:|" * (2 * len(BENCHMARKS)) + "---:|---:|---|",
    ]
    for c in choices:
        used = sorted({r.round for r in select_rows(rows, c.core, [c.runtime_family], rounds)})
        lines.append(
            f"| {c.core} | {c.runtime_family} | {','.join(used)} | {c.output_cycles:g} | {c.ridge:g} | "
            f"{_figures(c.in_sample_error)} | {_figures(c.lomo_error)} | {c.max_in_sample_error:.1%} | "
            f"{c.max_lomo_error:.1%} | {'ok' if _ok(c.in_sample_error, c.lomo_error) else 'MISS'} |"
        )
    met = sum(_ok(c.in_sample_error, c.lomo_error) for c in choices)
    return lines, met, len(choices), best


def all_rounds_vs_newest(models: dict, rows: list) -> list[str]:
    """What a user of today's engine gets from a fit to the median over every round."""
    lines = [f"| core | runtime | newest round | all-round fit / newest-engine median - 1: {' | '.join(BENCHMARKS)} |"]
    lines.append("|---|---|---|" + "---:|" * len(BENCHMARKS))
    table = cross_pair_deviations(models, rows, rounds="all")
    for core, family in judged_pairs(models, rows):
        cal = calibrate(models, rows, core=core, runtime_family=family, rounds="all", table=table)
        newest_rows = select_rows(rows, core, [family], "newest")
        newest = {b: c for b, c in median_cycles(newest_rows).items() if b in cal.estimated_cycles}
        errors = {b: cal.estimated_cycles[b] / c - 1.0 for b, c in newest.items()}
        lines.append(f"| {core} | {family} | {newest_rows[0].round} | {_figures(errors)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="regenerate the variants blocks of the built-in target files")
    parser.add_argument("--tried", action="store_true", help="also print the alternatives tried (rows, pooling)")
    args = parser.parse_args()
    shared = shared_data_dir()
    models, rows = reference_models(shared), measured_rows(shared)
    lines, met, n, best = lopo_table(models, rows, rounds=DEFAULT_ROUNDS, pooled=True)
    print("\n".join(lines))
    print(f"\n{met} of {n} pairs meet both goals with hyper-parameters chosen without their own data.")
    print(
        f"Best grid point over all pairs: per-output {best[0]:g} cycles, ridge {best[1]:g} "
        f"(package: {PRIOR.conv_cycles_per_output:g}, {DEFAULT_RIDGE:g})"
    )
    if args.tried:
        print("\nAll-round fit (median over every engine release) against the newest engine's medians:\n")
        print("\n".join(all_rounds_vs_newest(models, rows)))
        print("\n| rows | centre of the ridge | pairs meeting both goals | best grid point (per-output, ridge) |")
        print("|---|---|---:|---|")
        for rounds in ("newest", "all"):
            for pooled in (True, False):
                _, m, k, point = lopo_table(models, rows, rounds=rounds, pooled=pooled)
                centre = "cross-pair (other pairs' mean b)" if pooled else "literature prior (b = 0)"
                print(f"| {rounds} | {centre} | {m} of {k} | {point[0]:g}, {point[1]:g} |")
    if args.write:
        for path in sorted(BUILTIN_DIR.glob("*.yaml")):
            if "variants:" in path.read_text():
                print(f"rewrote {path.name}: {', '.join(rewrite_variants(path, models, rows))}")


if __name__ == "__main__":
    main()
