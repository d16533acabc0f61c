"""``edgenas bench``: the command-line face of :mod:`edgenas.workflows.bench` (parse flags, call, format).

Registered on the app in ``edgenas/cli/__init__.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgenas.cli.console import json_option, print_json, say, stdout_console
from edgenas.errors import InvalidInputError


def bench(
    space: Annotated[
        str, typer.Option(help="Benchmark space: nb201 (accuracy table) or fbnet (capacity proxy, see docs/bench.md).")
    ] = "nb201",
    dataset: Annotated[
        str | None, typer.Option(help="nb201: cifar10 (default), cifar100, ImageNet16-120; fbnet: cifar100 (default), cifar10.")
    ] = None,
    device: Annotated[
        str,
        typer.Option(help="Latency column (nb201: pixel3, raspi4, fpga, ...; fbnet: edgegpu, raspi4, pixel3, eyeriss, fpga)."),
    ] = "pixel3",
    latency_ms: Annotated[float | None, typer.Option(help="Latency limit, ms (measured on --device); default: no limit.")] = None,
    energy_mj: Annotated[
        float | None, typer.Option(help="fbnet only: energy limit, mJ per inference on --device (edgegpu, eyeriss, fpga).")
    ] = None,
    objectives: Annotated[
        str, typer.Option(help="accuracy (regret), or accuracy,latency (also the hypervolume of the found front).")
    ] = "accuracy",
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies to compare.")] = "random,evolution,local",
    queries: Annotated[int, typer.Option(help="Evaluated (feasible) candidates per run.")] = 300,
    seeds: Annotated[int, typer.Option(help="Runs per strategy (seeds 0..N-1).")] = 20,
    jobs: Annotated[int, typer.Option(help="Worker processes (seed chunks run in parallel; same results).")] = 1,
    batch: Annotated[
        int, typer.Option(help="Candidates asked per round before any is told, as a parallel search asks (regret cost of it).")
    ] = 1,
    accuracy_table: Annotated[
        Path | None, typer.Option(help="Accuracy CSV (default: $EDGENAS_SHARED_DATA/benchmarks/nb201_accuracy.csv).")
    ] = None,
    latency_table: Annotated[
        Path | None,
        typer.Option(help="Latency CSV (default: $EDGENAS_SHARED_DATA/benchmarks/nb201_latency_ms.csv; fbnet: fbnet_lut.json)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder (bench.md, bench.json, regret.png).")] = Path("runs/bench"),
    as_json: Annotated[bool, json_option("Print the summary as one JSON object on stdout.")] = False,
) -> None:
    """Compare strategies on a tabular benchmark: regret to the exact constrained optimum."""
    from edgenas.workflows.bench import BenchConfig, markdown, run_bench

    names = tuple(s.strip() for s in strategies.split(",") if s.strip())
    if not names:
        raise InvalidInputError("--strategies: name at least one strategy, e.g. random,evolution")
    config = BenchConfig(
        space=space,
        dataset=dataset,
        device=device,
        latency_ms=latency_ms,
        energy_mj=energy_mj,
        objectives=tuple(o.strip() for o in objectives.split(",") if o.strip()),
        strategies=names,
        queries=queries,
        seeds=seeds,
        jobs=jobs,
        batch=batch,
        accuracy_table=accuracy_table,
        latency_table=latency_table,
        out=out,
    )
    summary = run_bench(config, progress=say)
    if as_json:
        print_json(summary)
        return
    console = stdout_console()
    console.print(markdown(summary), highlight=False, markup=False)
    console.print(f"written: {out / 'bench.md'}, {out / 'bench.json'}, {out / 'regret.png'}", highlight=False)
