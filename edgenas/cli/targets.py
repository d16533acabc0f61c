"""``edgenas targets``: the built-in targets and their limits; ``--check`` validates their latency models.

The table fits an 80-column terminal: the figures in one row per target (sizes in binary units),
the board and the runtime its models describe below it, wrapped.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from edgenas.cli.console import binary_size, json_option, print_json, problem, stdout_console


def targets(
    check: Annotated[
        bool, typer.Option("--check", help="Compare each latency model with the measured MLPerf Tiny rows (shared data).")
    ] = False,
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """List the built-in targets and their limits; --check validates their latency models."""
    from edgenas.hardware import builtin_targets, load_target

    if check:
        from edgenas.hardware.check import check_targets, format_check
        from edgenas.settings import shared_data_dir

        result = check_targets(shared_data_dir())
        if as_json:
            print_json(result)
        else:
            print(format_check(result))
        if not result["ok"]:
            problem("some latency models miss the accuracy goals: see the MISS rows")
            raise typer.Exit(1)
        return
    rows = [load_target(name) for name in builtin_targets()]
    if as_json:
        print_json({"targets": [t.to_dict() for t in rows]})
        return
    console = stdout_console()
    table = Table(title="built-in targets", caption="--target NAME, NAME:VARIANT or a target YAML file (docs/targets.md)")
    for column in ("name", "clock", "SRAM", "flash", "runtime variants"):
        table.add_column(column, justify="right" if column in ("clock", "SRAM", "flash") else "left", overflow="fold")
    for t in rows:
        table.add_row(
            t.name, _clock(t.clock_hz), binary_size(t.sram_bytes), binary_size(t.flash_bytes), ", ".join(t.variants) or "-"
        )
    console.print(table)
    notes = Table.grid(padding=(0, 2))
    notes.add_column(no_wrap=True)
    notes.add_column(overflow="fold")
    for t in rows:
        notes.add_row(t.name, Text(f"{t.description}. Models: {t.runtime}."))
    console.print(notes)


def _clock(hz: float) -> str:
    return f"{hz / 1e9:.3g} GHz" if hz >= 1e9 else f"{hz / 1e6:.4g} MHz"
