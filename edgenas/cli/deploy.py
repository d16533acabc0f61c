"""``edgenas export``, ``edgenas verify`` and ``edgenas audit``: from a search's best model to a microcontroller build.

``export`` turns a trial's weights (``RUN/best/model.pt``) into ONNX, a full-integer int8
``.tflite`` (calibrated on the run's own training clips) or C source for a firmware build.
``verify`` runs a ``.tflite`` in the TFLite Micro interpreter and reports what the board must
provide: a model whose measured arena or file exceeds the target is reported as not fitting and
exits 2 (issue 3), never as fine. ``audit`` lists each operator as native or fallback.
The work is :mod:`edgenas.workflows.export`'s; these parse the flags and format the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgenas.cli.console import json_option, print_json, problem, say
from edgenas.workflows.export import FORMATS

__all__ = ["FORMATS", "audit", "export", "verify"]


def export(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by `edgenas search` (holds trials.db and best/).")],
    trial: Annotated[
        str, typer.Option(help="'best', 'baseline' or a trial number (other than best: needs --retrain once).")
    ] = "best",
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help=f"{', '.join(FORMATS)}: c is the C array for TFLite Micro; firmware adds the front end in C, "
            "labels, normalisation, op resolver, example main and Makefile (docs/firmware.md).",
        ),
    ] = ("tflite-int8"),
    out: Annotated[
        Path | None,
        typer.Option(help="Output file (onnx, tflite-int8) or folder (c, firmware). Default: RUN/best/ or RUN/trials/ID/."),
    ] = None,
    retrain: Annotated[
        bool, typer.Option(help="Train a trial without stored weights again (the run's recipe; deterministic).")
    ] = False,
    device: Annotated[
        str, typer.Option(help="With --retrain: the torch device that trains (auto, cpu, cuda, cuda:N, mps).")
    ] = "auto",
    calibration_clips: Annotated[int, typer.Option(help="Training clips that calibrate int8 activation ranges.")] = 400,
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """Export a trial of a search (default: its best model) as ONNX (fp32 or int8 QDQ), int8 TFLite or C source.

    int8 TFLite and C exports are checked against the run's target: the arena measured by TFLite
    Micro against its SRAM, the file against its flash, every operator against its native list.
    A model that fails is still written, reported with the figures, and the command exits 2.
    """
    from edgenas.workflows.export import export_trial

    outcome = export_trial(run_dir, trial, fmt, out, retrain=retrain, calibration_clips=calibration_clips, say=say, device=device)
    if as_json:
        print_json(outcome.result)
    else:
        for key, value in outcome.result.items():
            typer.echo(f"{key}: {value}")
    if outcome.problems:
        for line in outcome.problems:
            problem(line)
        raise typer.Exit(2)


def verify(
    model: Annotated[Path, typer.Argument(help="An int8 .tflite (e.g. RUN/best/model_int8.tflite).")],
    target: Annotated[
        str, typer.Option(help="Built-in target name or target YAML whose SRAM/flash the model must fit.")
    ] = "cortex-m7",
    data: Annotated[
        Path | None, typer.Option(help="Speech Commands folder to test on. Default: the run's data, else synthetic speech.")
    ] = None,
    clips: Annotated[int, typer.Option(help="Test clips to run (TFLite Micro on the host takes a few ms each).")] = 500,
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """Run a .tflite in TFLite Micro: minimum arena, flash, int8 vs fp32 accuracy, fit and native operators on the target."""
    from edgenas.workflows.export import verify_model

    outcome = verify_model(model, target, data, clips)
    payload, board = outcome.payload, outcome.target
    if as_json:
        print_json(payload)
    else:
        _print_verify(payload)
    if not outcome.fits:
        if not as_json:
            problem(
                f"does not fit {board.name}:",
                f"arena {payload['arena_bytes']:,} B of {board.sram_bytes:,} B SRAM, "
                f"model {payload['flash_bytes']:,} B + kernel code {payload['estimated_code_bytes']:,} B "
                f"of {board.flash_bytes:,} B flash",
            )
        raise typer.Exit(2)
    if outcome.fallback:
        if not as_json:
            problem(f"{board.name} does not run natively:", ", ".join(outcome.fallback))
        raise typer.Exit(2)


def _print_verify(p: dict[str, Any]) -> None:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    def num(value: int | None) -> str:
        return "-" if value is None else f"{value:,} B"

    rows = [
        ("model", p["model_path"]),
        ("target", f"{p['target_name']} ({num(p['target_sram_bytes'])} SRAM, {num(p['target_flash_bytes'])} flash)"),
        ("tensor arena (TFLM, measured)", f"{num(p['arena_bytes'])}   estimate {num(p.get('estimated_peak_sram_bytes'))}"),
        ("flash (file size)", f"{num(p['flash_bytes'])}   estimate {num(p.get('estimated_flash_bytes'))}"),
        ("+ kernel code (estimated)", f"{num(p.get('estimated_code_bytes'))}   flash needed {num(p.get('flash_needed_bytes'))}"),
        (
            "accuracy on test clips",
            f"TFLM {pct(p['tflm_accuracy'])}, LiteRT {pct(p['litert_accuracy'])}, fp32 {pct(p['fp32_accuracy'])}",
        ),
        ("TFLM vs LiteRT", f"{pct(p['argmax_agreement'])} same argmax, max {p['max_lsb_diff']} LSB, {p['clips']} clips"),
        ("operators", ", ".join(f"{k} x{v}" for k, v in p["operator_counts"].items())),
        ("fallback operators", ", ".join(p["fallback_operators"]) or "none (all native)"),
        ("fits", "yes" if p["fits"] else "NO"),
    ]
    for key, value in rows:
        typer.echo(f"{key:32} {value}")
    typer.echo("(host x86-64, reference kernels: CMSIS-NN scratch and 32-bit records change the arena on the device)")
    _print_operator_profile(p)


def _print_operator_profile(p: dict[str, Any]) -> None:
    """Per operator of the file: the kernel it runs on the target and its share of the estimated latency."""
    priced = p.get("priced_operators")
    if not isinstance(priced, dict):
        return
    total = priced.get("latency_ms")
    head = f"estimated {total:.2f} ms in all" if total is not None else "no per-kernel latency table on this target"
    if p.get("estimated_latency_ms") is not None:
        head += f"; the search estimated {p['estimated_latency_ms']:.2f} ms for the architecture"
    typer.echo(f"\nper operator of the file on {priced['target']} ({head}):")
    for row in priced["operators"]:
        ms = "" if row["latency_ms"] is None else f"{row['latency_ms']:8.3f} ms {100 * (row['share'] or 0):5.1f}%"
        typer.echo(f"  {row['index']:3d} {row['builtin']:18} {row['path']:16} {ms:17} {row['kernel']}")
    if priced.get("unpriced"):
        typer.echo(f"  not priced (no kernel in the target's table, counted as 0): {', '.join(priced['unpriced'])}")


def audit(
    model: Annotated[Path, typer.Argument(help="A .tflite or .onnx model.")],
    target: Annotated[
        str, typer.Option(help="Built-in target name or target YAML whose native operators to check.")
    ] = "cortex-m7",
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """List each operator of a model as native or fallback on the target (exit 2 if any falls back)."""
    from edgenas.export.audit import audit_model
    from edgenas.hardware.target import load_target

    board = load_target(target)
    result = audit_model(model, board)
    if as_json:
        print_json(result.to_dict())
    else:
        typer.echo(f"{result.model_path} on {board.name} ({board.runtime})")
        width = max(len(op.name) for op in result.operators)
        for op in result.operators:
            verdict = "native" if op.native else "FALLBACK"
            typer.echo(f"  {op.name:{width}}  x{op.count:<4} {op.requirement:28} {verdict}")
    if not result.all_native:
        if not as_json:
            problem(f"{board.name} does not run natively:", ", ".join(sorted({op.requirement for op in result.fallback})))
        raise typer.Exit(2)
