"""``edgenas profile``: measure a model on this machine (or an agent's device), with a per-operator breakdown.

Everything printed is a measurement on the host (milliseconds, wall clock), never an estimate;
the load average is printed beside it because a shared machine makes every figure noisier.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgenas.cli.console import json_option, print_json, stdout_console


def profile(
    model: Annotated[Path, typer.Argument(help="Model file: .onnx, .tflite, or an edgenas checkpoint .pt (best/model.pt).")],
    backend: Annotated[
        str | None,
        typer.Option(help="onnxruntime, litert (XNNPACK), litert-no-xnnpack or torch (default: from the file suffix)."),
    ] = None,
    threads: Annotated[int, typer.Option(help="Intra-op threads the runtime may use.")] = 1,
    repeats: Annotated[int, typer.Option(help="Timed runs.")] = 100,
    warmup: Annotated[int, typer.Option(help="Untimed runs before timing.")] = 10,
    top: Annotated[int, typer.Option(help="Bottleneck operators to list.")] = 5,
    agent: Annotated[
        str | None, typer.Option(help="Measure on the device of 'edgenas agent serve' at this URL instead (docs/agent.md).")
    ] = None,
    agent_token_file: Annotated[Path | None, typer.Option(help="The token file of --agent.")] = None,
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """Measure latency on this CPU (or an agent's device): median and spread over repeated runs, and the slowest operators."""
    from edgenas.errors import InvalidInputError
    from edgenas.measure import measure_model
    from edgenas.measure.base import check_top

    check_top(top)  # before the measurement, not after it
    if agent is not None or agent_token_file is not None:
        if agent is None or agent_token_file is None:
            raise InvalidInputError("--agent URL and --agent-token-file F go together")
        from edgenas.cli.agent import measure

        measure(
            agent,
            model,
            agent_token_file,
            runtime=backend,
            threads=threads,
            warmup=warmup,
            repeats=repeats,
            top=top,
            as_json=as_json,
        )
        return
    result = measure_model(model, backend, threads=threads, warmup=warmup, repeats=repeats)
    summary = result.to_dict(top=top)
    if as_json:
        print_json(summary)
        return
    _print(summary)


def _print(s: dict) -> None:
    console = stdout_console()
    lat = s["latency_ms"]
    host = s["host"]
    load = ", ".join(f"{v:.2f}" for v in host["load_avg_1_5_15"])
    table = Table(
        title=f"{s['model']}: {s['backend']}, {s['threads']} thread(s), {s['repeats']} runs after {s['warmup']} warm-up",
        caption=f"measured on this host ({host['processor']}, {host['cpu_count']} CPUs; load average {load})",
    )
    for column in ("median ms", "IQR ms", "min ms", "max ms", "mean ms", "CV"):
        table.add_column(column, justify="right")
    table.add_row(*(f"{lat[k]:.4f}" for k in ("median", "iqr", "min", "max", "mean")), f"{100 * s['cv']:.1f}%")
    console.print(table)
    ops = s["operators"]
    if not ops["available"]:
        console.print(f"per-operator breakdown: none ({ops['note']})", highlight=False)
        return
    top = Table(
        title="bottleneck operators",
        caption=f"measured with the runtime's profiler: {ops['summed_ms_per_run']:.4f} ms of operator time per run "
        "(profiling adds overhead: compare shares, not absolute times, with the median)",
    )
    for column in ("operator", "type", "ms per run", "share"):
        top.add_column(column, justify="left" if column in ("operator", "type") else "right")
    for row in ops["bottlenecks"]:
        top.add_row(row["name"], row["op_type"], f"{row['ms_per_run']:.4f}", f"{100 * row['share']:.1f}%")
    console.print(top)
    by_type = Table(title="time by operator type")
    for column in ("type", "calls per run", "ms per run", "share"):
        by_type.add_column(column, justify="left" if column == "type" else "right")
    for row in ops["by_type"]:
        by_type.add_row(row["op_type"], f"{row['calls_per_run']:g}", f"{row['ms_per_run']:.4f}", f"{100 * row['share']:.1f}%")
    console.print(by_type)
