"""``edgenas zoo``: time the published MBConv models on this host and plot accuracy against latency.

Registered on the app in ``edgenas/cli/__init__.py``. Accuracies are the papers'
(``edgenas/spaces/mbconv_named.py``, with citations); latencies are measured here with ONNX Runtime
or LiteRT (``edgenas.measure``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgenas.cli.console import json_option, print_json, say, stdout_console
from edgenas.errors import InvalidInputError


def zoo(
    models: Annotated[
        str | None, typer.Option(help="Comma-separated zoo models (default: all), e.g. mobilenetv2,efficientnet-b0.")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="Runtime that is timed: onnxruntime, or litert (needs the tflite extra; slow conversion).")
    ] = "onnxruntime",
    precision: Annotated[str, typer.Option(help="fp32, int8 (ORT static QDQ, random calibration) or fp32,int8.")] = "fp32,int8",
    threads: Annotated[int, typer.Option(help="Intra-op threads (1: single-thread latency).")] = 1,
    repeats: Annotated[int, typer.Option(help="Timed runs per model (the median is reported).")] = 20,
    warmup: Annotated[int, typer.Option(help="Untimed runs first.")] = 3,
    statistic: Annotated[
        str,
        typer.Option(
            help="Latency the plot and Pareto front use: median (wall clock), min, or cpu (the inference thread's CPU time)."
        ),
    ] = "median",
    out: Annotated[Path, typer.Option(help="Folder for the ONNX files and zoo.json.")] = Path("runs/zoo"),
    plot: Annotated[Path | None, typer.Option(help="Write the accuracy-latency plot here (PNG).")] = None,
    as_json: Annotated[bool, json_option("Print the summary as one JSON object on stdout.")] = False,
) -> None:
    """Measure the model zoo's latency (published top-1 vs measured ms) and draw its Pareto front."""
    from edgenas.workflows.zoo import run_zoo, zoo_table

    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    if models is not None and not names:
        raise InvalidInputError("--models: name at least one model, e.g. mobilenetv2")
    precisions = tuple(p.strip() for p in precision.split(",") if p.strip())
    summary = run_zoo(
        names,
        precisions=precisions,
        backend=backend,
        out=out,
        threads=threads,
        warmup=warmup,
        repeats=repeats,
        statistic=statistic,
        progress=say,
        plot=plot,
    )
    if as_json:
        print_json(summary)
        return
    console = stdout_console()
    console.print(zoo_table(summary), highlight=False, markup=False)
    console.print(f"written: {out / 'zoo.json'}" + (f", {plot}" if plot else ""), highlight=False)
