"""How the Cortex-M latency calibration's two global hyper-parameters were chosen, and the target files' variant blocks.

    python benchmarks/calibration.py            # leave-one-pair-out table, every figure (about 30 s)
    python benchmarks/calibration.py --tried    # also the alternatives tried (rows, pooling, extra layer groups), about 2 min
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
import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from edgenas.hardware.analytical import mac_kind
from edgenas.hardware.calibrate import (
    DEFAULT_RIDGE,
    DEFAULT_ROUNDS,
    PRIOR,
    RIDGE_GRID,
    calibrate,
    cross_pair_deviations,
    group_cycles,
    judged_pairs,
    leave_one_pair_out,
    median_cycles,
    select_rows,
    variant_yaml,
)
from edgenas.hardware.check import IN_SAMPLE_GOAL, LOMO_GOAL
from edgenas.hardware.mlperf import BENCHMARKS, measured_rows, reference_models
from edgenas.hardware.target import load_target
from edgenas.settings import shared_data_dir

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


#: The ridge grid of the first leave-one-pair-out version (0.1, its smallest value, was chosen everywhere).
OLD_RIDGE_GRID = (0.1, 0.25, 0.5, 1.0)


def lopo_table(
    models: dict, rows: list, *, rounds: str, pooled: bool, ridge_grid: tuple[float, ...] = RIDGE_GRID
) -> tuple[list[str], int, int, tuple[float, float]]:
    choices, best = leave_one_pair_out(models, rows, ridge_grid=ridge_grid, rounds=rounds, pooled=pooled)
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
    means = (
        sum(c.max_in_sample_error for c in choices) / len(choices),
        sum(c.max_lomo_error for c in choices) / len(choices),
    )
    lines.append(f"MEANS {means[0]:.3f} {means[1]:.3f}")
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


#: Layer groups tried as one extra shrunk deviation each (the whole layer's prior cycles, MACs and
#: outputs, move into the group). None of them is expressible in a target file's coefficients.
EXTRA_GROUPS = {
    "stem (first conv layer)": lambda i, layer: i == 0 and mac_kind(layer) not in (None, "fc"),
    "1x1 conv apart from general conv": lambda i, layer: mac_kind(layer) == "conv_pointwise",
    "depthwise layers (MACs + outputs)": lambda i, layer: mac_kind(layer) == "conv_depthwise",
    "short reduction (<= 32 MACs per output)": lambda i, layer: (
        mac_kind(layer) not in (None, "fc") and layer.macs <= 32 * layer.out_elements
    ),
    "narrow maps (<= 5 wide)": lambda i, layer: (
        mac_kind(layer) not in (None, "fc") and len(layer.out_shape) == 3 and min(layer.out_shape[:2]) <= 5
    ),
}


def _moved(layers: list, predicate) -> tuple[dict[str, float], float]:
    """The prior groups of the layers ``predicate`` selects, and their cycles without per-op overhead."""
    moved = [layer for i, layer in enumerate(layers) if predicate(i, layer)]
    part = group_cycles(moved)
    return part, sum(v for k, v in part.items() if k != "fixed")


def _extra_group_fit(x: np.ndarray, y: np.ndarray, ridge: float, centre: np.ndarray) -> np.ndarray:
    """log-space fit of ``exp(a + b) @ x`` with b (all columns but the last, ``fixed``) shrunk towards ``centre``."""

    def pred(theta: np.ndarray) -> np.ndarray:
        return x @ np.exp(np.concatenate([theta[0] + theta[1:], [theta[0]]]))

    def residuals(theta: np.ndarray) -> np.ndarray:
        return np.concatenate([np.log(pred(theta)) - y, math.sqrt(ridge) * (theta[1:] - centre)])

    start = np.concatenate([[float(np.mean(y - np.log(x.sum(axis=1))))], centre])
    return least_squares(residuals, start, method="lm").x


def extra_group_experiment(models: dict, rows: list, predicate) -> dict:
    """Same protocol as the package fit (newest rows, cross-pair centre without the left-out model,
    package ridge) with one more layer group; returns per pair (in-sample, LOMO) errors."""
    names = sorted(models)
    columns = ("conv", "depthwise", "fc", "output", "extra", "fixed")
    x = {}
    for name in names:
        base, (part, extra) = group_cycles(models[name]), _moved(models[name], predicate)
        row = {k: base[k] - part[k] for k in ("conv", "depthwise", "fc", "output")}
        x[name] = np.array([*(max(row[k], 0.0) for k in columns[:4]), extra, base["fixed"]])
    pairs = judged_pairs(models, rows)
    measured = {p: {b: c for b, c in median_cycles(select_rows(rows, p[0], [p[1]])).items() if b in x} for p in pairs}

    def fit(p: tuple, left_out: str | None, centre: np.ndarray) -> np.ndarray:
        own = [b for b in measured[p] if b != left_out]
        return _extra_group_fit(np.array([x[b] for b in own]), np.log([measured[p][b] for b in own]), DEFAULT_RIDGE, centre)

    zero = np.zeros(len(columns) - 1)
    alone = {(p, lo): fit(p, lo, zero)[1:] for p in pairs for lo in [None, *measured[p]]}

    def centre(p: tuple, left_out: str | None) -> np.ndarray:
        return np.mean([alone[(q, left_out if left_out in measured[q] else None)] for q in pairs if q != p], axis=0)

    def predict(theta: np.ndarray, b: str) -> float:
        return float(x[b] @ np.exp(np.concatenate([theta[0] + theta[1:], [theta[0]]])))

    out = {}
    for p in pairs:
        theta = fit(p, None, centre(p, None))
        in_sample = {b: predict(theta, b) / c - 1.0 for b, c in measured[p].items()}
        lomo = {b: predict(fit(p, b, centre(p, b)), b) / c - 1.0 for b, c in measured[p].items()}
        out[p] = (in_sample, lomo)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="regenerate the variants blocks of the built-in target files")
    parser.add_argument("--tried", action="store_true", help="also print the alternatives tried (rows, pooling)")
    args = parser.parse_args()
    shared = shared_data_dir()
    models, rows = reference_models(shared), measured_rows(shared)
    lines, met, n, best = lopo_table(models, rows, rounds=DEFAULT_ROUNDS, pooled=True)
    print("\n".join(lines[:-1]))
    print(f"\n{met} of {n} pairs meet both goals with hyper-parameters chosen without their own data.")
    print(
        f"Best grid point over all pairs: per-output {best[0]:g} cycles, ridge {best[1]:g} "
        f"(package: {PRIOR.conv_cycles_per_output:g}, {DEFAULT_RIDGE:g})"
    )
    if args.tried:
        print("\nAll-round fit (median over every engine release) against the newest engine's medians:\n")
        print("\n".join(all_rounds_vs_newest(models, rows)))
        print(
            "\n| rows | centre of the ridge | pairs meeting both goals | mean max in-sample | mean max LOMO | "
            "best grid point (per-output, ridge) |"
        )
        print("|---|---|---:|---:|---:|---|")
        for rounds, pooled, grid in [
            ("newest", True, RIDGE_GRID),
            ("newest", False, RIDGE_GRID),
            ("newest", False, OLD_RIDGE_GRID),
            ("all", True, RIDGE_GRID),
            ("all", False, RIDGE_GRID),
            ("all", False, OLD_RIDGE_GRID),
        ]:
            table_lines, m, k, point = lopo_table(models, rows, rounds=rounds, pooled=pooled, ridge_grid=grid)
            mean_in, mean_lomo = table_lines[-1].split()[1:]
            centre = "cross-pair (other pairs' mean b)" if pooled else "literature prior (b = 0)"
            label = f"{rounds}, ridge grid {min(grid):g}-{max(grid):g}"
            print(f"| {label} | {centre} | {m} of {k} | {mean_in} | {mean_lomo} | {point[0]:g}, {point[1]:g} |")
        print("\nOne extra layer group (newest rows, cross-pair centre, package ridge and per-output prior):\n")
        print(
            "| extra group | share of prior cycles kws / vww / ic / ad | pairs meeting both | in-sample <= 10 % | "
            "worst in-sample | worst |LOMO| per left-out model kws / vww / ic / ad |"
        )
        print("|---|---|---:|---:|---:|---|")
        for label, predicate in EXTRA_GROUPS.items():
            res = extra_group_experiment(models, rows, predicate)
            share = [_moved(models[b], predicate)[1] / sum(group_cycles(models[b]).values()) for b in BENCHMARKS]
            met = sum(_ok(i, lo) for i, lo in res.values())
            within = sum(max(map(abs, i.values())) <= IN_SAMPLE_GOAL for i, _ in res.values())
            worst_in = max(max(map(abs, i.values())) for i, _ in res.values())
            worst_lomo = " / ".join(f"{max(abs(lo[b]) for _, lo in res.values()):.0%}" for b in BENCHMARKS)
            shares = " / ".join(f"{v:.0%}" for v in share)
            print(f"| {label} | {shares} | {met} of {len(res)} | {within} of {len(res)} | {worst_in:.1%} | {worst_lomo} |")
    if args.write:
        for path in sorted(BUILTIN_DIR.glob("*.yaml")):
            if "variants:" in path.read_text():
                print(f"rewrote {path.name}: {', '.join(rewrite_variants(path, models, rows))}")


if __name__ == "__main__":
    main()
