"""Fuzz the command line with more cases than ``make test`` runs, and count what breaks.

Bad values for every option of every command (read from the typer app, not listed here) and
crafted model, checkpoint, YAML, CSV, WAV, PNG and predictor files, run in-process in worker
processes (see ``tests/fuzz/runner.py``). The property: exit 0, 1 or 2, no traceback, nothing
written outside the case's folder.

    python benchmarks/fuzz.py [--cases 300] [--seed 0] [--timeout 5] [--json]

Prints one row per command: cases, exit codes, accepted (the input reached the command's heavy
work, which the fuzz stops), skipped (still running after --timeout), tracebacks; then each
traceback and each case that wrote outside its folder, with its input.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.fuzz

from tests.fuzz.runner import Outcome, make_cases, run_all  # noqa: E402


def table(outcomes: list[Outcome]) -> list[dict[str, object]]:
    rows = []
    for command in sorted({o.command for o in outcomes}):
        mine = [o for o in outcomes if o.command == command]
        codes = Counter(o.code for o in mine if o.code is not None and o.traceback is None)
        rows.append(
            {
                "command": command,
                "cases": len(mine),
                "exit codes": ", ".join(f"{code}: {n}" for code, n in sorted(codes.items())) or "-",
                "accepted": sum(o.accepted is not None for o in mine),
                "skipped": sum(o.skipped is not None for o in mine),
                "tracebacks": sum(o.traceback is not None for o in mine),
                "wrote outside": sum(bool(o.stray) for o in mine),
            }
        )
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows]
    total = {k: sum(int(r[k]) for r in rows) for k in ("cases", "accepted", "skipped", "tracebacks", "wrote outside")}
    counts = " | ".join(str(total[k]) for k in ("accepted", "skipped", "tracebacks", "wrote outside"))
    lines.append(f"| **all** | {total['cases']} | | {counts} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds a case may run before it is skipped")
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds for the whole run")
    parser.add_argument("--keep", type=Path, default=None, help="folder for the cases' files (default: a temporary one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.cases < 1:
        parser.error("--cases must be at least 1")

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgenas-fuzz-") as scratch:
        base = args.keep or Path(scratch)
        outcomes = run_all(args.seed, args.cases, base, timeout=args.timeout, budget_s=args.budget)
    seconds = time.perf_counter() - start
    rows = table(outcomes)
    cases = {c.id: c for c in make_cases(args.seed, args.cases)}
    bad = [o for o in outcomes if o.traceback or o.stray or (o.code is not None and o.code not in (0, 1, 2))]
    if args.json:
        print(json.dumps({"seed": args.seed, "seconds": seconds, "table": rows, "failures": [asdict(o) for o in bad]}))
        return
    print(f"edgenas fuzz: {args.cases} cases, seed {args.seed}, {seconds:.0f} s\n")
    print(markdown(rows))
    for o in bad:
        case = cases[o.id]
        print(f"\n{o.id}  edgenas {case.command} {' '.join(case.args)}\n    input: {o.label}")
        print(f"    {o.traceback or ''}{' wrote ' + ', '.join(o.stray) if o.stray else ''}")
    skipped = [o for o in outcomes if o.skipped]
    for o in skipped:
        print(f"\nskipped {o.id}: edgenas {o.command} ({o.label}): {o.skipped}")


if __name__ == "__main__":
    main()
