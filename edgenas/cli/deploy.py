"""``edgenas export`` and ``edgenas verify``: from a search's best model to a microcontroller build.

``export`` turns ``RUN/best/model.pt`` into ONNX, a full-integer int8 ``.tflite`` (calibrated on
the run's own training clips) or C source for a firmware build. ``verify`` runs a ``.tflite`` in
the TFLite Micro interpreter and reports what the board must provide: a model whose measured
arena or file exceeds the target is reported as not fitting and exits 2 (issue 3), never as fine.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from edgenas.errors import InvalidInputError

FORMATS = ("onnx", "onnx-int8", "tflite-int8", "c")
_err = Console(stderr=True)


def _run_config(run_dir: Path) -> dict[str, Any]:
    from edgenas.store import SqliteStore

    db = run_dir / "trials.db"
    if not run_dir.is_dir() or not db.is_file():
        raise InvalidInputError(f"{run_dir}: not a search run folder (no trials.db); pass the --out folder of `edgenas search`")
    store = SqliteStore(db)
    try:
        config = store.read_config()
    finally:
        store.close()
    if not config:
        raise InvalidInputError(f"{db} holds no search configuration")
    return config


def _load_data(data: str | Path | None, seed: int, identity: dict[str, Any] | None = None):
    """The run's task data (its ``--task``, ``--data`` and ``--train-subset``); kws without a run."""
    from edgenas.workflows.export import run_task_data

    return run_task_data({**(identity or {}), "seed": seed}, data)


def _run_of(model: Path) -> Path | None:
    """The run folder a ``RUN/best/<model>`` (or ``RUN/best/c/<model>``) file belongs to, if any."""
    for run in model.resolve().parents[:3]:
        if (run / "trials.db").is_file():
            return run
    return None


def _run_target(config: dict[str, Any]):
    """The run's target, to check an export against (None, with a note, when it cannot be loaded)."""
    from edgenas.hardware.target import load_target

    name = config.get("identity", {}).get("target")
    if not name:
        return None
    try:
        return load_target(name)
    except InvalidInputError as exc:
        _err.print(f"[yellow]fit and operator checks skipped: the run's target cannot be loaded ({escape(str(exc))})[/yellow]")
        return None


def export(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by `edgenas search` (holds trials.db and best/).")],
    trial: Annotated[
        str, typer.Option(help="'best', 'baseline' or a trial number (other than best: needs --retrain once).")
    ] = "best",
    fmt: Annotated[
        str, typer.Option("--format", help="onnx, onnx-int8, tflite-int8 or c (C array for TFLite Micro).")
    ] = "tflite-int8",
    out: Annotated[
        Path | None, typer.Option(help="Output file (onnx, tflite-int8) or folder (c). Default: RUN/best/ or RUN/trials/ID/.")
    ] = None,
    retrain: Annotated[
        bool, typer.Option(help="Train a trial without stored weights again (the run's recipe; deterministic).")
    ] = False,
    calibration_clips: Annotated[int, typer.Option(help="Training clips that calibrate int8 activation ranges.")] = 400,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Export a trial of a search (default: its best model) as ONNX (fp32 or int8 QDQ), int8 TFLite or C source.

    int8 TFLite and C exports are checked against the run's target: the arena measured by TFLite
    Micro against its SRAM, the file against its flash, every operator against its native list.
    A model that fails is still written, reported with the figures, and the command exits 2.
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown --format {fmt!r}. Accepted: {', '.join(FORMATS)}.")
    config = _run_config(run_dir)
    from edgenas.export.checkpoint import load_checkpoint
    from edgenas.workflows.export import weights_for_trial

    weights = weights_for_trial(run_dir, config, trial, retrain=retrain, say=lambda m: _err.print(f"[dim]{escape(m)}[/dim]"))
    ck = load_checkpoint(weights.checkpoint)
    result: dict[str, Any] = {"format": fmt, "trial": trial, "checkpoint": str(weights.checkpoint)}
    if weights.retrained:
        result.update(retrain_val_accuracy=weights.retrain_val_accuracy, search_val_accuracy=weights.stored_val_accuracy)
    problems: list[str] = []
    if fmt == "onnx":
        import torch

        from edgenas.export.onnx import export_onnx, onnx_max_abs_diff

        shape = config.get("data", {}).get("input_shape") or [49, 10]
        example = torch.zeros((2, *shape), dtype=torch.float32)
        path = export_onnx(ck.module, example, out or weights.folder / "model.onnx")
        result.update(
            path=str(path), size_bytes=path.stat().st_size, onnx_max_abs_diff=onnx_max_abs_diff(ck.module, path, example)
        )
    elif fmt == "onnx-int8":
        from edgenas.export.onnx_int8 import quantize_onnx_int8

        identity = config.get("identity", {})
        data = _load_data(identity.get("data"), int(identity.get("seed", 0)), identity)
        info = quantize_onnx_int8(
            ck.module,
            data.train.x,
            data.test.x[:500],
            out or weights.folder / "model_int8.onnx",
            max_calibration_clips=calibration_clips,
        )
        result.update(
            path=info.path,
            size_bytes=info.size_bytes,
            fp32_size_bytes=info.fp32_size_bytes,
            int8_fp32_argmax_agreement=info.argmax_agreement,
            check_clips=info.clips,
        )
    else:
        from edgenas.export.tflite import convert_int8
        from edgenas.export.verify import min_arena_bytes

        identity = config.get("identity", {})
        data = _load_data(identity.get("data"), int(identity.get("seed", 0)), identity)
        if fmt == "tflite-int8":
            path = out or weights.folder / "model_int8.tflite"
        else:
            path = (out or weights.folder / "c") / "model_int8.tflite"
        info = convert_int8(ck.module, data.train.x, path, max_calibration_clips=calibration_clips)
        arena = min_arena_bytes(path.read_bytes())
        result.update(path=str(path), size_bytes=info.size_bytes, operators=info.operator_counts, arena_bytes=arena)
        if fmt == "c":
            from edgenas.export.c_array import write_c_array

            files = write_c_array(path.read_bytes(), path.parent, arena_bytes=arena)
            result.update(header=str(files.header), source=str(files.source))
        board = _run_target(config)
        if board is not None:
            from edgenas.export.audit import audit_model

            report = audit_model(path, board)
            fits = arena <= board.sram_bytes and info.size_bytes <= board.flash_bytes
            result.update(
                target=board.name,
                target_sram_bytes=board.sram_bytes,
                target_flash_bytes=board.flash_bytes,
                fits=fits,
                fallback_operators=sorted({op.requirement for op in report.fallback}),
            )
            if not fits:
                problems.append(
                    f"does not fit {board.name}: arena {arena:,} B (TFLite Micro, host) of {board.sram_bytes:,} B SRAM, "
                    f"model {info.size_bytes:,} B of {board.flash_bytes:,} B flash"
                )
            if report.fallback:
                problems.append(f"{board.name} does not run natively: {', '.join(result['fallback_operators'])}")
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")
    if problems:
        for line in problems:
            _err.print(f"[red]{escape(line)}[/red]", highlight=False, soft_wrap=True)
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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Run a .tflite in TFLite Micro: minimum arena, flash, int8 vs fp32 accuracy, fit and native operators on the target."""
    from edgenas.export.tflite import inspect_tflite
    from edgenas.export.verify import read_model_bytes, verify_tflite
    from edgenas.hardware.analytical import flash_bytes, peak_sram_bytes
    from edgenas.hardware.target import load_target

    info = inspect_tflite(read_model_bytes(model))  # a corrupt file fails here, before anything is loaded
    board = load_target(target)
    from edgenas.export.audit import audit_model

    fallback = sorted({op.requirement for op in audit_model(model, board).fallback})
    run = _run_of(model)
    seed, data_dir, identity = 0, data, {}
    if run is not None:
        identity = _run_config(run).get("identity", {})
        seed = int(identity.get("seed", 0))
        data_dir = data if data is not None else identity.get("data")
    fp32, estimates = None, {}
    beside = [folder / "model.pt" for folder in model.resolve().parents[:2]]
    checkpoint_path = next((path for path in beside if path.is_file()), None)
    if checkpoint_path is not None:
        from edgenas.export.checkpoint import load_checkpoint

        ck = load_checkpoint(checkpoint_path)
        fp32 = ck.module
        layers = ck.space.layers(ck.arch)
        no_scratch = dataclasses.replace(board, memory=dataclasses.replace(board.memory, include_scratch=False))
        estimates = {
            "estimated_peak_sram_bytes": peak_sram_bytes(layers, board),
            "estimated_flash_bytes": flash_bytes(layers, board),
            "estimated_peak_sram_no_scratch_bytes": peak_sram_bytes(layers, no_scratch),
        }
    test = _load_data(data_dir, seed, identity).test
    result = verify_tflite(
        model,
        test.x[:clips],
        test.y[:clips],
        fp32_model=fp32,
        estimated_peak_sram_bytes=estimates.get("estimated_peak_sram_bytes"),
        estimated_flash_bytes=estimates.get("estimated_flash_bytes"),
        target_name=board.name,
        target_sram_bytes=board.sram_bytes,
        target_flash_bytes=board.flash_bytes,
    )
    payload = {**result.to_dict(), **estimates, "operator_counts": info.operator_counts, "fallback_operators": fallback}
    if as_json:
        typer.echo(json.dumps(payload))
    else:
        _print_verify(payload)
    if not result.fits:
        if not as_json:
            _err.print(
                f"[red]does not fit {board.name}:[/red] arena {result.arena_bytes:,} B of {board.sram_bytes:,} B SRAM, "
                f"model {result.flash_bytes:,} B of {board.flash_bytes:,} B flash",
                highlight=False,
            )
        raise typer.Exit(2)
    if fallback:
        if not as_json:
            lacking = escape(", ".join(fallback))
            _err.print(f"[red]{board.name} does not run natively:[/red] {lacking}", highlight=False, soft_wrap=True)
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


def audit(
    model: Annotated[Path, typer.Argument(help="A .tflite or .onnx model.")],
    target: Annotated[
        str, typer.Option(help="Built-in target name or target YAML whose native operators to check.")
    ] = "cortex-m7",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """List each operator of a model as native or fallback on the target (exit 2 if any falls back)."""
    from edgenas.export.audit import audit_model
    from edgenas.hardware.target import load_target

    board = load_target(target)
    result = audit_model(model, board)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        typer.echo(f"{result.model_path} on {board.name} ({board.runtime})")
        width = max(len(op.name) for op in result.operators)
        for op in result.operators:
            verdict = "native" if op.native else "FALLBACK"
            typer.echo(f"  {op.name:{width}}  x{op.count:<4} {op.requirement:28} {verdict}")
    if not result.all_native:
        if not as_json:
            lacking = ", ".join(sorted({op.requirement for op in result.fallback}))
            _err.print(f"[red]{board.name} does not run natively:[/red] {escape(lacking)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
