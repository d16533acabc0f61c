"""``edgenas predictor fit|eval|collect``: latency predictors from a measured table (see ``docs/predictors.md``).

The group (``GROUP_HELP``, ``fit``, ``eval``, ``collect``) is registered on the app in ``edgenas/cli/__init__.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgenas.cli.console import json_option, print_json, stdout_console
from edgenas.errors import InvalidInputError
from edgenas.files import check_writable

#: ``edgenas predictor --help``.
GROUP_HELP = "Latency predictors: fit on a latency table, evaluate on held-out architectures, collect a table on a device."


def _metrics_table(title: str, metrics: dict) -> Table:
    table = Table(title=title, caption="predicted vs measured latency, held-out architectures")
    for column in ("held out", "RMSE ms", "MAPE", "within ±5%", "within ±10%", "Spearman", "Kendall"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{metrics['n']:,}",
        f"{metrics['rmse_ms']:.4g}",
        f"{100 * metrics['mape']:.2f}%",
        f"{100 * metrics['within_5pct']:.1f}%",
        f"{100 * metrics['within_10pct']:.1f}%",
        f"{metrics['spearman']:.4f}",
        f"{metrics['kendall']:.4f}",
    )
    return table


def fit(
    out: Annotated[Path, typer.Option(help="Predictor file to write (JSON).")],
    space: Annotated[str, typer.Option(help="Search space the table's architectures belong to: nb201, fbnet, kws.")] = "nb201",
    latency_table: Annotated[
        Path | None,
        typer.Option(help="CSV: arch key column, one latency column (ms) per device (default: the space's shared table)."),
    ] = None,
    device: Annotated[str, typer.Option(help="Latency column to predict.")] = "pixel3",
    train_size: Annotated[int, typer.Option(help="Measured architectures to train on (seeded random rows).")] = 100,
    kind: Annotated[
        str, typer.Option(help="Predictor: lut, lgbm, mlp, fewshot, transfer (or macs, the MACs-only baseline).")
    ] = "lgbm",
    seed: Annotated[int, typer.Option(help="Seed of the row split and of the predictor.")] = 0,
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """Fit a latency predictor on --train-size rows of the table and save it; report held-out accuracy."""
    from edgenas.hardware.latency import PREDICTORS, save
    from edgenas.workflows.latency_predictors import TableData, default_table, evaluate_predictor, fit_predictor

    PREDICTORS.get(kind)  # an unknown kind fails before the table is read
    if seed < 0:
        raise InvalidInputError(f"--seed must be 0 or more, got {seed}")
    check_writable(out, "--out")  # and an output that cannot be written
    data = TableData.load(space, latency_table or default_table(space))
    data.column(device)  # an unknown device fails before anything is fitted
    params = {"seed": seed} if kind in ("lgbm", "mlp") else None
    predictor, info = fit_predictor(data, device, train_size, kind, seed, params)
    metrics, where = evaluate_predictor(predictor, info, data)
    info["held_out"] = metrics.to_dict()  # in the file: a search using the predictor reports its error
    save(out, predictor, info)
    summary = {"predictor": str(out), "kind": kind, **{k: v for k, v in info.items() if k != "train_keys"}}
    if as_json:
        print_json(summary)
        return
    console = stdout_console()
    console.print(_metrics_table(f"{kind} on {device}, {train_size} training archs (seed {seed})", metrics.to_dict()))
    dropped = info["dropped_rows"]
    if dropped:
        why = ", ".join(f"{n:,} {reason}" for reason, n in dropped.items())
        rows = len(data.table.keys)
        console.print(f"left out {sum(dropped.values()):,} of {rows:,} rows of {device!r}: {why}", highlight=False)
    console.print(f"written: {out}", highlight=False)


def evaluate(
    predictor_file: Annotated[Path, typer.Argument(help="A predictor file written by `edgenas predictor fit`.")],
    latency_table: Annotated[
        Path | None,
        typer.Option(help="CSV to evaluate on (default: the space's shared table, if the predictor was fitted on it)."),
    ] = None,
    device: Annotated[str | None, typer.Option(help="Latency column (default: the device it was fitted on).")] = None,
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """RMSE, MAPE, share within ±5% / ±10%, Spearman and Kendall on the rows the predictor was not trained on."""
    from edgenas.hardware.latency import load
    from edgenas.workflows.latency_predictors import TableData, evaluate_predictor, evaluation_table

    predictor, info = load(predictor_file)
    space, table = evaluation_table(predictor_file, info, latency_table)
    data = TableData.load(space, table)
    metrics, where = evaluate_predictor(predictor, info, data, device)
    summary = {"predictor": str(predictor_file), "kind": predictor.kind, "space": space, **where, "metrics": metrics.to_dict()}
    if as_json:
        print_json(summary)
        return
    stdout_console().print(_metrics_table(f"{predictor.kind} ({predictor_file.name}) on {where['device']}", metrics.to_dict()))


def collect(
    agent: Annotated[str, typer.Option(help="The agent's URL (http://HOST:PORT or https://...): see `edgenas agent serve`.")],
    token_file: Annotated[Path, typer.Option(help="File holding the agent's token (mode 600).")],
    out: Annotated[
        Path, typer.Option(help="Latency table to write (CSV); an existing one written for the same options is continued.")
    ],
    space: Annotated[str, typer.Option(help="Search space to measure: nb201, fbnet, kws, mbconv.")] = "nb201",
    n: Annotated[int, typer.Option("--n", help="Architectures to measure, spread over the space's range of MACs.")] = 200,
    device_name: Annotated[
        str | None, typer.Option(help="Name of the latency column (default: the agent's hostname, as a column name).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the architectures drawn.")] = 0,
    threads: Annotated[int, typer.Option(help="Runtime threads on the device.")] = 1,
    runtime: Annotated[
        str,
        typer.Option(
            help="What times them on the device: onnxruntime (ONNX), litert or litert-no-xnnpack (int8 TFLite, "
            "converted here: edgenas[tflite])."
        ),
    ] = "onnxruntime",
    warmup: Annotated[int, typer.Option(help="Untimed runs per architecture.")] = 10,
    repeats: Annotated[int, typer.Option(help="Timed runs per architecture (the latency is their median).")] = 50,
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """Measure --n architectures of --space on an agent's device into a latency table for `predictor fit`."""
    from edgenas.agent.auth import read_token_file
    from edgenas.agent.client import AgentClient
    from edgenas.cli.console import say
    from edgenas.workflows.collect import Planned, collect_latency_table

    client = AgentClient(agent, read_token_file(token_file))

    def progress(done: int, total: int, planned: Planned, latency_ms: float) -> None:
        if not as_json:
            say(f"{done}/{total} {planned.arch.key()} {planned.macs:,} MACs: {latency_ms:.4g} ms")

    summary = collect_latency_table(
        space, client, out, n, seed=seed, device_name=device_name, threads=threads, warmup=warmup, repeats=repeats,
        runtime=runtime, on_row=progress,
    )  # fmt: skip
    if as_json:
        print_json(summary.to_dict())
        return
    lo, hi = summary.table_macs
    stdout_console().print(
        f"{summary.rows} architectures of {summary.space} in {summary.table} (column {summary.device!r}): "
        f"{summary.measured} measured now, {summary.kept} kept; MACs {lo:,} to {hi:,}",
        highlight=False,
    )
