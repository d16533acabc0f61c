"""``edgenas compile``: build a model with Apache TVM, untuned and MetaSchedule-tuned, and time both here.

Every latency printed is a measurement on this host with the protocol of ``edgenas profile``
(warm-up, timed runs, median and interquartile range, one thread unless told), with the load
average beside it. A cross target is built, not run here; ``--agent`` runs the libraries on the
device of an ``edgenas agent serve --runtimes tvm --allow-native-code``. docs/compile.md has the details.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edgenas.cli.console import json_option, print_json, say, stdout_console


def compile_command(
    model: Annotated[Path, typer.Argument(help="An .onnx file, an edgenas checkpoint .pt, or a run folder (its best model).")],
    compiler: Annotated[str, typer.Option(help="The compiler: tvm (Apache TVM, the tvm extra).")] = "tvm",
    target: Annotated[
        str,
        typer.Option(
            help="TVM target: 'llvm' (this CPU), 'llvm -mcpu=skylake', or a cross target such as "
            "'llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a72' (built, not run)."
        ),
    ] = "llvm",
    tune_trials: Annotated[
        int | None, typer.Option(help="MetaSchedule trials, shared by the model's tasks (default 64 on this host).")
    ] = None,
    tune: Annotated[bool, typer.Option("--tune/--no-tune", help="Tune with MetaSchedule after the untuned build.")] = True,
    threads: Annotated[int, typer.Option(help="Threads the compiled model runs (and is tuned) with.")] = 1,
    warmup: Annotated[int, typer.Option(help="Untimed runs before timing.")] = 10,
    repeats: Annotated[int, typer.Option(help="Timed runs.")] = 50,
    top: Annotated[int, typer.Option(help="Slowest compiled functions to list.")] = 5,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the libraries and the tuning database (default: RUN/compiled/tvm/TARGET/).")
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(help="Also time the libraries on the device of 'edgenas agent serve --runtimes tvm' at this URL."),
    ] = None,
    agent_token_file: Annotated[Path | None, typer.Option(help="The token file of --agent.")] = None,
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """Compile a model with TVM (untuned and tuned), measure both on this CPU, and write the libraries and the database."""
    from edgenas.compile import compile_model
    from edgenas.errors import InvalidInputError
    from edgenas.measure.base import check_counts, check_top

    check_top(top)
    client = info = None
    if agent is not None or agent_token_file is not None:
        if agent is None or agent_token_file is None:
            raise InvalidInputError("--agent URL and --agent-token-file F go together")
        from edgenas.agent.auth import read_token_file
        from edgenas.agent.client import AgentClient
        from edgenas.agent.compiled import check_agent_runs_tvm

        check_counts(repeats, warmup, threads)
        client = AgentClient(agent, read_token_file(agent_token_file))
        info = check_agent_runs_tvm(client)  # before minutes of building
    result = compile_model(
        model,
        compiler=compiler,
        target=target,
        tune_trials=tune_trials,
        tune=tune,
        threads=threads,
        warmup=warmup,
        repeats=repeats,
        out=out,
        progress=say,
    )
    if client is not None and info is not None:
        from edgenas.agent.compiled import measure_on_agent

        result = measure_on_agent(result, client, info, threads=threads, warmup=warmup, repeats=repeats, progress=say)
    summary = result.to_dict(top=top)
    if as_json:
        print_json(summary)
        return
    _print(summary, top)


def _print_agent(s: dict, console: Console) -> None:
    """The builds as the agent's device timed them."""
    a = s["agent"]
    d = a["device"]
    builds = a["builds"]
    first = next(iter(builds.values()))
    table = Table(
        title=f"{s['model']}: {a['runtime']} on {d['hostname']}, {first['threads']} thread(s), "
        f"{first['repeats']} runs after {first['warmup']} warm-up",
        caption=f"measured on {d['hostname']} ({d['machine']}, {d['cpu_model']}, {d['cpu_count']} cores) "
        f"by the agent at {a['url']}; target {s['target']}",
    )
    for column in ("build", "median ms", "IQR ms", "min ms", "peak RSS MiB"):
        table.add_column(column, justify="left" if column == "build" else "right")
    for name, m in builds.items():
        lat = m["latency_ms"]
        rss = f"{m['peak_rss_mb']:.1f}" if m["peak_rss_mb"] is not None else "n/a"
        table.add_row(name, f"{lat['median']:.4f}", f"{lat['iqr']:.4f}", f"{lat['min']:.4f}", rss)
    console.print(table)
    if a.get("speedup") is not None:
        console.print(f"speed-up untuned/tuned on the device (medians): {a['speedup']:.2f}x", highlight=False)


def _print(s: dict, top: int) -> None:
    console = stdout_console()
    if "agent" in s:
        _print_agent(s, console)
    if not s["ran_here"]:
        console.print(f"{s['model']}: {s['note']}", highlight=False)
        for name, path in s["libraries"].items():
            console.print(f"  {name} library: {path}", highlight=False)
        return
    builds = [(name, s[name]) for name in ("untuned", "tuned") if s[name] is not None]
    first = builds[0][1]
    host = first["host"]
    load = ", ".join(f"{v:.2f}" for v in host["load_avg_1_5_15"])
    table = Table(
        title=f"{s['model']}: {s['compiler']}, {first['threads']} thread(s), "
        f"{first['repeats']} runs after {first['warmup']} warm-up",
        caption=f"measured on this host ({host['processor']}, {host['cpu_count']} CPUs; load average {load}); "
        f"target {s['target']}",
    )
    for column in ("build", "median ms", "IQR ms", "min ms", "CV", "library"):
        table.add_column(column, justify="left" if column in ("build", "library") else "right")
    for name, m in builds:
        lat = m["latency_ms"]
        table.add_row(
            name, f"{lat['median']:.4f}", f"{lat['iqr']:.4f}", f"{lat['min']:.4f}", f"{100 * m['cv']:.1f}%", s["libraries"][name]
        )
    console.print(table)
    tuning = s["tuning"]
    if tuning is not None:
        speedup = f"{s['speedup']:.2f}x" if s["speedup"] is not None else "n/a"
        console.print(
            f"tuning: {tuning['trials']} trials over {tuning['tasks']} tasks in {tuning['seconds']:.1f} s, "
            f"{tuning['new_records']} new records ({tuning['records']} in {tuning['database']}); "
            f"speed-up untuned/tuned (medians): {speedup}; "
            f"max |tuned - untuned| output: {s['max_abs_diff_tuned_vs_untuned']:.2e}",
            highlight=False,
        )
    if top == 0:
        return
    for name, m in builds:
        ops = m["operators"]
        if not ops["available"]:
            continue
        table = Table(
            title=f"slowest functions, {name} build",
            caption=f"timed through the VM's instrument hook: {ops['summed_ms_per_run']:.4f} ms of function time per run "
            f"(median run {m['latency_ms']['median']:.4f} ms; the hook adds overhead: compare shares)",
        )
        for column in ("function", "ms per run", "share"):
            table.add_column(column, justify="left" if column == "function" else "right")
        for row in ops["bottlenecks"]:
            table.add_row(row["name"], f"{row['ms_per_run']:.4f}", f"{100 * row['share']:.1f}%")
        console.print(table)
