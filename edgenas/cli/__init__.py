"""The ``edgenas`` command: parse flags, call the library, format the answer.

Errors a user can fix (``EdgenasError``) print one red line and exit 2; ``--debug`` shows the
traceback. ``--json`` prints exactly one JSON object on stdout; progress goes to stderr.
Exit codes: 0 success, 1 the search ran but found no model meeting the limits, 2 bad input.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from edgenas.errors import EdgenasError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Hardware-aware neural architecture search for edge devices.",
)
err = Console(stderr=True)


class _State:
    debug = False


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False) -> None:
    _State.debug = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def search(
    task: Annotated[str, typer.Option(help="Task: kws, fashion-mnist or images (docs/tasks.md).")] = "kws",
    data: Annotated[
        Path | None,
        typer.Option(
            help="Your data: kws, one folder of WAVs per word (Speech Commands layout; default synthetic speech); "
            "images, one folder of images per class; fashion-mnist, a folder of its IDX files."
        ),
    ] = None,
    target: Annotated[
        str, typer.Option(help="Built-in target name (see `edgenas targets`) or a target YAML file.")
    ] = "cortex-m7",
    latency_ms: Annotated[float, typer.Option(help="Latency limit, ms (estimated on the target).")] = 5.0,
    latency: Annotated[str, typer.Option(help="estimated, or measured here by ONNX Runtime (--target host).")] = "estimated",
    sram_kb: Annotated[float, typer.Option(help="Peak SRAM limit, KiB (tensor arena).")] = 200.0,
    flash_kb: Annotated[float, typer.Option(help="Flash limit, KiB (model size).")] = 1024.0,
    space: Annotated[
        str, typer.Option(help="Search space: auto (kws: audio, mbconv: images), kws, mbconv, mbconv-micro (docs/spaces.md).")
    ] = "auto",
    strategy: Annotated[
        str, typer.Option(help="Search strategy: evolution, random, local, rl, tpe, nsga2 or differentiable (a supernet).")
    ] = "evolution",
    evaluator: Annotated[
        str, typer.Option(help="train, supernet, zerocost:<proxy> or prefilter:<proxy|supernet>[:<pool>] (docs/evaluators.md).")
    ] = "train",
    budget: Annotated[int, typer.Option(help="Candidates to train (infeasible ones are not trained and do not count).")] = 60,
    epochs: Annotated[int, typer.Option(help="Training epochs per candidate.")] = 8,
    train_subset: Annotated[
        int | None, typer.Option(help="Train on this many training examples (class-stratified; val and test stay whole).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same search.")] = 0,
    out: Annotated[Path, typer.Option(help="Run folder (trials.db, report, best model).")] = Path("runs/kws-cortex-m7"),
    resume: Annotated[bool, typer.Option(help="Continue the search stored in --out.")] = False,
    max_trial_seconds: Annotated[float, typer.Option(help="Wall-clock limit per candidate's training, s.")] = 600.0,
    time_limit: Annotated[
        float | None,
        typer.Option(
            help="Start no new candidate after this many seconds (this invocation; the finalists are still retrained). "
            "The seed fixes the candidates' order; the limit decides where it ends."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object on stdout.")] = False,
    latency_loss: Annotated[str, typer.Option(help="Differentiable only: lagrangian, fbnet, proxyless or band.")] = "lagrangian",
    sweep: Annotated[str, typer.Option(help="Differentiable only: latency limits in ms, e.g. 2,3,5,8 (one run each).")] = "",
) -> None:
    """Find the most accurate network that meets the target's limits."""
    from edgenas.workflows.differentiable import parse_sweep
    from edgenas.workflows.search import SearchConfig, run_search

    config = SearchConfig(
        task=task,
        data=data,
        target=target,
        latency_ms=latency_ms,
        sram_kb=sram_kb,
        flash_kb=flash_kb,
        strategy=strategy,
        evaluator=evaluator,
        budget=budget,
        epochs=epochs,
        seed=seed,
        out=out,
        resume=resume,
        max_trial_seconds=max_trial_seconds,
        latency=latency,
        latency_loss=latency_loss,
        sweep=parse_sweep(sweep),
        space=space,
        train_subset=train_subset,
        time_limit_s=time_limit,
    )
    outcome = _with_progress(config, run_search)
    summary = outcome.summary
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        _print_summary(summary)
    if summary["best"] is None:
        reason = summary["search"]["stop_reason"]
        from edgenas.experiment import TIME_LIMIT_REACHED

        if reason.startswith(TIME_LIMIT_REACHED):  # none trained in time: not the limits' fault
            err.print(f"[red]no candidate was trained:[/red] {reason}; raise --time-limit (or --resume with a larger one)")
        else:
            err.print("[red]no candidate met the limits:[/red] " + reason)
        raise typer.Exit(1)


class _ProgressDisplay:
    """A Rich progress bar on stderr (trials done, best so far, ETA), started at the first trial
    so that errors before the search print as one clean line."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._bar = None
        self._task = None

    def status(self, message: str) -> None:
        (self._bar.console if self._bar else err).print(f"[dim]{escape(message)}[/dim]", highlight=False)  # [float32] is text

    def trial(self, p) -> None:  # type: ignore[no-untyped-def]
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        if self._bar is None:
            self._bar = Progress(
                TextColumn("[bold]trained"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[best]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=err,
            )
            self._bar.start()
            self._task = self._bar.add_task("search", total=self.total, completed=0, best="")
        best = f"best {_signal(p.best.metrics)} @ {p.best.cost.latency_ms:.2f} ms" if p.best else "no feasible model yet"
        self._bar.update(self._task, completed=p.evaluated, best=f"{best} ({p.trial.number + 1} asked)")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _signal(metrics) -> str:  # type: ignore[no-untyped-def]
    """An accuracy in percent; a proxy score as what it is (it is not an accuracy)."""
    return f"{100 * metrics.accuracy:.1f}%" if metrics.is_accuracy else f"{metrics.signal} score {metrics.accuracy:.4g}"


def _with_progress(config, run):  # type: ignore[no-untyped-def]
    display = _ProgressDisplay(config.budget)
    try:
        return run(config, display.trial, display.status)
    finally:
        display.close()


def _latency_source(summary: dict) -> str:
    return (summary["best"] or {}).get("sources", {}).get("latency_ms", "estimated")


def _print_summary(summary: dict) -> None:
    from rich.table import Table

    console = Console()
    limits = summary["constraints"]
    table = Table(
        title=f"limits {limits['latency_ms']} ms, {limits['sram_bytes']:,} B SRAM, {limits['flash_bytes']:,} B flash",
        caption=f"latency {_latency_source(summary)}; SRAM and flash estimated; accuracies measured",
    )
    for column in ("model", "val acc", "test acc", "latency ms", "peak SRAM B", "flash B", "MACs"):
        table.add_column(column, justify="left" if column == "model" else "right")

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}%"

    for name in ("best", "baseline"):
        rec = summary[name]
        if rec is not None:
            table.add_row(
                name,
                pct(rec.get("accuracy")),
                pct(rec.get("test_accuracy")),
                f"{rec['latency_ms']:.2f}",
                f"{rec['peak_sram_bytes']:,}",
                f"{rec['flash_bytes']:,}",
                f"{rec['macs']:,}",
            )
    console.print(table)
    for name in ("best", "baseline"):
        if summary[name] is not None:
            console.print(f"{name}: {summary[name]['description']}", highlight=False)
    console.print(f"run folder: {summary['run_dir']} (report.md, report.json, pareto.png, trials.db, best/)", highlight=False)


@app.command()
def targets(
    check: Annotated[
        bool, typer.Option("--check", help="Compare each latency model with the measured MLPerf Tiny rows (shared data).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """List the built-in targets and their limits; --check validates their latency models."""
    from rich.table import Table

    from edgenas.hardware import builtin_targets, load_target

    if check:
        from edgenas.hardware.check import check_targets, format_check
        from edgenas.settings import shared_data_dir

        result = check_targets(shared_data_dir())
        if as_json:
            sys.stdout.write(json.dumps(result) + "\n")
        else:
            print(format_check(result))
        if not result["ok"]:
            err.print("[yellow]some latency models miss the accuracy goals: see the MISS rows[/yellow]")
            raise typer.Exit(1)
        return
    rows = [load_target(name) for name in builtin_targets()]
    if as_json:
        sys.stdout.write(json.dumps({"targets": [t.to_dict() for t in rows]}) + "\n")
        return
    table = Table(title="built-in targets")
    for column in ("name", "description", "clock MHz", "SRAM KiB", "flash KiB", "runtime modelled"):
        table.add_column(column)
    for t in rows:
        table.add_row(
            t.name, t.description, f"{t.clock_hz / 1e6:g}", f"{t.sram_bytes / 1024:g}", f"{t.flash_bytes / 1024:g}", t.runtime
        )
    Console().print(table)


from edgenas.cli.bench import bench  # noqa: E402  (the commands live in their own modules)
from edgenas.cli.deploy import audit, export, verify  # noqa: E402
from edgenas.cli.latency_predictor import app as predictor_app  # noqa: E402
from edgenas.cli.profile import profile  # noqa: E402
from edgenas.cli.zoo import zoo  # noqa: E402

app.command()(bench)
app.command()(export)
app.command()(verify)
app.command()(profile)
app.command()(audit)
app.command()(zoo)
app.add_typer(predictor_app, name="predictor")


def run() -> None:
    """Console entry point: user errors become one red line and exit code 2."""
    try:
        code = app(standalone_mode=False)  # click returns typer.Exit's code here instead of raising it
        if isinstance(code, int) and code:
            sys.exit(code)
    except EdgenasError as exc:
        if _State.debug:
            raise
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("[red]aborted[/red]")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted: finished trials are in the store; continue with --resume[/yellow]")
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise


if __name__ == "__main__":
    run()
