"""``edgenas runs list|show|compare`` and ``edgenas report``: the runs in a folder, one run in
full, runs side by side, a run's report rebuilt from its store (see ``docs/runs.md``).

``register`` adds the ``runs`` group and the ``report`` command to the app (``edgenas/cli/__init__.py``).
Everything but ``report`` only reads the run folders, so it is safe beside a running search.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from edgenas.cli.console import json_option, print_json, stdout_console
from edgenas.errors import InvalidInputError

if TYPE_CHECKING:
    from edgenas.workflows.runs import Comparison

GROUP_HELP = "Search runs as a collection: list the runs in a folder, show one in full, compare several."

RunArgument = Annotated[Path, typer.Argument(help="A search run folder (the --out of `edgenas search`).")]


# -- figures as text ---------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ms(value: float | None, source: str | None = None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} ms" + (f" ({source})" if source else "")


def _kib(value: float | None, source: str | None = None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f} KiB" + (f" ({source})" if source else "")


def _limits(limits: dict[str, Any]) -> str:
    """``5 ms, 200 KiB SRAM, 1,024 KiB flash`` (the limits set)."""
    parts = []
    if limits.get("latency_ms") is not None:
        parts.append(f"{limits['latency_ms']:g} ms")
    if limits.get("sram_kib") is not None:
        parts.append(f"{limits['sram_kib']:,.0f} KiB SRAM")
    if limits.get("flash_kib") is not None:
        parts.append(f"{limits['flash_kib']:,.0f} KiB flash")
    return ", ".join(parts) or "none"


def _signal(figures: dict[str, Any] | None) -> str:
    """The best's validation accuracy, or its proxy score where a proxy found it and it was not trained."""
    if figures is None:
        return "-"
    if figures.get("val_accuracy") is None and "proxy_score" in figures:
        return f"{figures['proxy']} score {figures['proxy_score']:.4g}"
    return _pct(figures.get("val_accuracy"))


def _best_cell(best: dict[str, Any] | None) -> str:
    """``8.3% @ 2.58 ms (estimated)``: the best's accuracy and the latency it costs."""
    if best is None:
        return "no trained model"
    return f"{_signal(best)} @ {_ms(best['latency_ms'], best['latency_source'])} (trial {best['number']})"


def _reason(headline: dict[str, Any]) -> str:
    """Why a run is unreadable, without the store's path (its row names the run)."""
    error = str(headline.get("error") or "")
    store = Path(headline["path"]) / "trials.db"
    return error.replace(f"{store}: ", "").replace(str(store), store.name)


def _print(console: Any, text: str) -> None:
    console.print(escape(text), highlight=False, soft_wrap=True)


# -- runs list ---------------------------------------------------------------------------------
def list_runs(
    folder: Annotated[Path, typer.Argument(help="Folder of runs (searched three levels deep), or one run folder.")] = Path(
        "runs"
    ),
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """One row per search run under FOLDER: state, task, target, limits, strategy, trials, best."""
    from edgenas.workflows.runs import headline, read_runs

    overviews = read_runs(folder)
    if not overviews:
        raise InvalidInputError(
            f"no search runs under {folder}: a run is a folder holding trials.db (`edgenas search --out {folder}/NAME` makes one)"
        )
    headlines = [headline(o, root=folder) for o in overviews]
    if as_json:
        print_json({"folder": str(folder), "runs": headlines})
        return
    stdout_console().print(_list_table(folder, headlines))


def _list_table(folder: Path, headlines: list[dict[str, Any]]) -> Table:
    readable = [h for h in headlines if h["state"] != "unreadable"]
    sources = sorted({h["latency_source"] for h in readable})
    one_source = sources[0] if len(sources) == 1 else None
    table = Table(
        title=f"search runs under {folder}",
        caption="limits: latency ms / SRAM KiB / flash KiB; best: validation accuracy, its latency "
        f"({one_source or 'source in the cell'}), SRAM and flash (estimated)",
    )
    columns = ("run", "state", "task", "target", "limits", "strategy", "trials", "best acc", "ms", "SRAM KiB", "flash KiB")
    for column in columns:
        right = column in ("trials", "best acc", "ms", "SRAM KiB", "flash KiB")
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    for h in headlines:
        if h["state"] == "unreadable":
            table.add_row(escape(h["name"]), "[red]unreadable[/red]", escape(_reason(h)), *(["-"] * 8))
            continue
        best = h["best"] or {}
        latency = "-" if best.get("latency_ms") is None else f"{best['latency_ms']:.2f}"
        if best and one_source is None:
            latency += f" {best['latency_source']}"
        limits = h["limits"]
        table.add_row(
            escape(h["name"]),
            h["state"],
            escape(str(h["task"])),
            escape(str(h["target"])),
            " / ".join("-" if limits[k] is None else f"{limits[k]:g}" for k in ("latency_ms", "sram_kib", "flash_kib")),
            escape(str(h["strategy"])),
            f"{h['trials']['complete']}/{h['trials']['all']}",
            _signal(h["best"]) if h["best"] else "none",
            latency,
            "-" if best.get("peak_sram_kib") is None else f"{best['peak_sram_kib']:,.1f}",
            "-" if best.get("flash_kib") is None else f"{best['flash_kib']:,.1f}",
        )
    return table


# -- runs show ---------------------------------------------------------------------------------
def show(run: RunArgument, as_json: Annotated[bool, json_option()] = False) -> None:
    """One run in full: configuration, trial counts, best and baseline, Pareto front, timing, state."""
    from edgenas.store import RunFolder
    from edgenas.workflows.runs import headline, read_run

    overview = read_run(RunFolder(run).require())
    if overview.state == "unreadable":
        raise InvalidInputError(f"{run} is unreadable: {overview.error}")
    h = headline(overview)
    if as_json:
        print_json({**h, "summary": overview.summary})
        return
    console = stdout_console()
    console.print(_identity_table(h, overview.summary))
    console.print(_finalists_table(h, overview.summary))
    console.print(_front_table(overview.summary, h["latency_source"]))
    from edgenas.report.markdown import timing_text

    _print(console, timing_text(overview.summary.get("timing", {})))


def _latency_text(h: dict[str, Any], summary: dict[str, Any]) -> str:
    """The run's latency source and what measured or predicted it."""
    search = summary.get("search", {})
    text = h["latency_source"]
    if search.get("latency_measured_by"):
        text += f", by {search['latency_measured_by']}"
    predictor = search.get("latency_predicted_by")
    if predictor:
        held_out = predictor.get("held_out") or {}
        error = f", held-out MAPE {100 * held_out['mape']:.1f}%" if "mape" in held_out else ""
        text += f", by a {predictor.get('kind')} predictor of {predictor.get('device', '?')}{error}"
    if h["latency_source"] == "estimated":
        text += f" by the target's cost model ({summary.get('target', {}).get('runtime', '?')})"
    return text


def _identity_table(h: dict[str, Any], summary: dict[str, Any]) -> Table:
    from edgenas.report.markdown import counts_text

    table = Table(title=f"run {h['name']}: {h['state']}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    rows = [
        ("folder", h["path"]),
        ("state", h["state"] + (f" ({h['stop_reason']})" if h.get("stop_reason") else "")),
        ("task", str(h["task"])),
        ("target", str(h["target"])),
        ("limits", _limits(h["limits"])),
        ("strategy", str(h["strategy"])),
        ("evaluator", str(h["evaluator"])),
        ("seed", str(h["seed"])),
        ("epochs", str(h["epochs"])),
        ("latency", _latency_text(h, summary)),
        ("trials", f"{h['trials']['complete']} complete of {h['trials']['all']}: {counts_text(h['trials']['by_state'])}"),
    ]
    for what, value in rows:
        table.add_row(what, escape(value))
    return table


def _finalists_table(h: dict[str, Any], summary: dict[str, Any]) -> Table:
    table = Table(title="best and baseline", caption="accuracies measured; costs with their source")
    table.add_column("figure", style="bold")
    names = [name for name in ("best", "baseline") if h[name] is not None]
    for name in names:
        table.add_column(name, justify="right", overflow="fold")
    if not names:
        table.add_column("best")
        table.add_row("trial", "no trained model")
        return table
    rows: list[tuple[str, Any]] = [
        ("trial", lambda f: str(f["number"])),
        ("architecture", lambda f: str(f["description"])),
        ("val accuracy", _signal),
        ("test accuracy", lambda f: _pct(f.get("test_accuracy"))),
        ("latency", lambda f: _ms(f["latency_ms"], f["latency_source"])),
        ("peak SRAM", lambda f: _kib(f["peak_sram_kib"], f["peak_sram_source"])),
        ("flash", lambda f: _kib(f["flash_kib"], f["flash_source"])),
    ]
    figures = [h[name] for name in names]
    if any("device_latency_ms" in f for f in figures):
        rows.append(("latency on the device", lambda f: _ms(f.get("device_latency_ms"), "measured")))
    if any("measured_arena_kib" in f for f in figures):
        rows.append(("TFLM arena", lambda f: _kib(f.get("measured_arena_kib"), "measured")))
        rows.append(("int8 .tflite", lambda f: _kib(f.get("measured_file_kib"), "measured")))
    records = [summary[name] for name in names]
    if any("real_speech_accuracy" in r for r in records):
        table.add_row("real speech accuracy", *(_pct(r.get("real_speech_accuracy")) for r in records))
    for what, cell in rows:
        table.add_row(what, *(escape(cell(f)) for f in figures))
    table.add_row(
        "within the limits", *("yes" if r.get("feasible") else escape("; ".join(r.get("violations", []))) for r in records)
    )
    return table


def _front_table(summary: dict[str, Any], source: str) -> Table:
    front = summary.get("pareto_front", [])
    table = Table(
        title=f"Pareto front ({len(front)}): accuracy, latency, peak SRAM", caption=f"latency {source}; SRAM, flash estimated"
    )
    for column in ("trial", "architecture", "val acc", "latency ms", "peak SRAM KiB", "flash KiB", "MACs"):
        table.add_column(column, justify="left" if column == "architecture" else "right", overflow="fold")
    for rec in front:
        signal = f"{rec['proxy_score']:.4g}" if "proxy_score" in rec else _pct(rec.get("accuracy"))
        table.add_row(
            str(rec["number"]),
            escape(rec.get("description", "")),
            signal,
            f"{rec['latency_ms']:.2f}",
            f"{rec['peak_sram_bytes'] / 1024:,.1f}",
            f"{rec['flash_bytes'] / 1024:,.1f}",
            f"{rec['macs']:,}",
        )
    return table


# -- runs compare ------------------------------------------------------------------------------
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Two or more search run folders.")],
    plot: Annotated[Path, typer.Option(help="Where to write the plot of the runs' accuracy-latency fronts (PNG).")] = Path(
        "compare.png"
    ),
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """The runs side by side (headline figures) and their accuracy-latency fronts on one plot."""
    from edgenas.files import check_writable
    from edgenas.workflows.runs import compare_runs, plot_comparison

    check_writable(plot, "--plot")
    comparison = compare_runs(runs)
    written = plot_comparison(comparison, plot)
    if as_json:
        print_json({**comparison.to_dict(), "plot": str(written)})
        return
    console = stdout_console()
    console.print(_comparison_table(comparison))
    for note in comparison.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)
    _print(console, f"plot: {written}")


def _comparison_table(comparison: Comparison) -> Table:
    table = Table(title="runs compared", caption="accuracies measured; latency with its source; SRAM and flash estimated")
    table.add_column("figure", style="bold")
    headlines = comparison.headlines
    for h in headlines:
        table.add_column(escape(h["name"]), justify="right", overflow="fold")

    def row(what: str, cell: Any) -> None:
        table.add_row(what, *(escape(cell(h)) if h["state"] != "unreadable" else "-" for h in headlines))

    table.add_row("state", *(h["state"] for h in headlines))
    if any(h["state"] == "unreadable" for h in headlines):
        table.add_row("why", *(escape(_reason(h)) if h["state"] == "unreadable" else "" for h in headlines))
    row("task", lambda h: str(h["task"]))
    row("target", lambda h: str(h["target"]))
    row("limits", lambda h: _limits(h["limits"]))
    row("strategy", lambda h: str(h["strategy"]))
    row("evaluator", lambda h: str(h["evaluator"]))
    row("seed, epochs", lambda h: f"{h['seed']}, {h['epochs']}")
    row("trials (complete/all)", lambda h: f"{h['trials']['complete']}/{h['trials']['all']}")
    row("best val accuracy", lambda h: _signal(h["best"]))
    row("best test accuracy", lambda h: _pct((h["best"] or {}).get("test_accuracy")))
    row("best latency", lambda h: _ms((h["best"] or {}).get("latency_ms"), h["latency_source"]))
    row("best peak SRAM", lambda h: _kib((h["best"] or {}).get("peak_sram_kib")))
    row("best flash", lambda h: _kib((h["best"] or {}).get("flash_kib")))
    row("baseline val accuracy", lambda h: _signal(h["baseline"]))
    row("baseline latency", lambda h: _ms((h["baseline"] or {}).get("latency_ms"), h["latency_source"]))
    row("Pareto front (acc, latency, SRAM)", lambda h: str(h["front_size"]))
    row("wall time", lambda h: "-" if h["wall_s"] is None else f"{h['wall_s']:.0f} s")
    return table


# -- report ------------------------------------------------------------------------------------
def report(run: RunArgument, as_json: Annotated[bool, json_option("Print the summary (report.json) on stdout.")] = False) -> None:
    """Rebuild the run's report.json, report.md and pareto.png from its store."""
    from edgenas.store import RunFolder
    from edgenas.workflows.runs import rebuild_report

    summary = rebuild_report(run)
    if as_json:
        print_json(summary)
        return
    folder = RunFolder(run)
    written = ", ".join(str(p) for p in (folder.report_json, folder.report_md, folder.pareto_png))
    _print(stdout_console(), f"written: {written}")


def register(app: typer.Typer) -> None:
    """Add the ``runs`` group and the ``report`` command to the ``edgenas`` app."""
    group = typer.Typer(no_args_is_help=False, help=GROUP_HELP)
    group.command("list")(list_runs)
    group.command()(show)
    group.command()(compare)
    app.add_typer(group, name="runs")
    app.command()(report)
