"""How the Cortex-M latency calibration's two global hyper-parameters were chosen, and the target files' variant blocks.

    python benchmarks/calibration.py            # leave-one-pair-out table (about 30 s)
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
from pathlib import Path

from edgenas.hardware.calibrate import calibrate, leave_one_pair_out, variant_yaml
from edgenas.hardware.check import IN_SAMPLE_GOAL, LOMO_GOAL
from edgenas.hardware.mlperf import measured_rows, reference_models
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
    for k, head in enumerate(heads):
        name = lines[head].strip().rstrip(":")
        block = lines[head : heads[k + 1] if k + 1 < len(heads) else end]
        runtime = next(line.split("runtime:", 1)[1].strip().strip("'\"") for line in block if "runtime:" in line)
        out.append(variant_yaml(calibrate(models, rows, core=core, runtime_family=name), name, runtime))
        names.append(name)
    path.write_text("".join(out + lines[end:]))
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="regenerate the variants blocks of the built-in target files")
    args = parser.parse_args()
    shared = shared_data_dir()
    models, rows = reference_models(shared), measured_rows(shared)
    choices = leave_one_pair_out(models, rows)
    print("| core | runtime | per-output cycles chosen | ridge chosen | max in-sample | max LOMO | goals |")
    print("|---|---|---:|---:|---:|---:|---|")
    for c in choices:
        ok = c.max_in_sample_error <= IN_SAMPLE_GOAL and c.max_lomo_error <= LOMO_GOAL
        print(
            f"| {c.core} | {c.runtime_family} | {c.output_cycles:g} | {c.ridge:g} | {c.max_in_sample_error:.1%} | "
            f"{c.max_lomo_error:.1%} | {'ok' if ok else 'MISS'} |"
        )
    met = sum(c.max_in_sample_error <= IN_SAMPLE_GOAL and c.max_lomo_error <= LOMO_GOAL for c in choices)
    print(f"\n{met} of {len(choices)} pairs meet both goals with hyper-parameters chosen without their own data.")
    if args.write:
        for path in sorted(BUILTIN_DIR.glob("*.yaml")):
            if "variants:" in path.read_text():
                print(f"rewrote {path.name}: {', '.join(rewrite_variants(path, models, rows))}")


if __name__ == "__main__":
    main()
