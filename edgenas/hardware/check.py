"""``edgenas targets --check``: every latency model against the measured rows behind it.

Why a command and not only a test: a target file is data a user may edit or add, and a latency
figure is only worth what its comparison with real boards says. For every built-in target and
runtime variant this reports the estimate against each MLPerf Tiny row it names (each at the
row's own clock), the in-sample error per reference model, and the leave-one-model-out (LOMO)
error of the calibration (fit on three models, predict the fourth); then the same two figures
for every (Cortex-M core, runtime family) with data, target file or not. Misses are reported,
never dropped: ``ok`` is false when any pair with >= 3 models misses a goal.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from edgenas.hardware.analytical import latency_ms
from edgenas.hardware.calibrate import (
    DEFAULT_RIDGE,
    DEFAULT_ROUNDS,
    DeviationTable,
    calibrate,
    calibration_pairs,
    cross_pair_deviations,
)
from edgenas.hardware.kernel_calibrate import DSP_EXTENSION_CORES, fit_core, tflm_cores, tflm_rows
from edgenas.hardware.mlperf import MeasuredRow, measured_rows, reference_models
from edgenas.hardware.target import Target, builtin_targets, load_target
from edgenas.hardware.tflite_graph import BUILTIN

#: The goals of issue 9: in-sample within 10%, LOMO within 25% (pairs with >= 3 models).
IN_SAMPLE_GOAL = 0.10
LOMO_GOAL = 0.25
MIN_MODELS_FOR_GOAL = 3


def _target_entry(
    target: Target, models: dict[str, list[Any]], by_id: dict[str, MeasuredRow], table: DeviationTable
) -> dict[str, Any]:
    rows = [by_id[i] for i in target.latency_rows if i in by_id]
    missing = [i for i in target.latency_rows if i not in by_id]
    est_cycles = {b: _reference_ms(layers, target) * 1e-3 * target.clock_hz for b, layers in models.items()}
    per_row = [
        {
            "row_id": r.row_id,
            "round": r.round,
            "submitter": r.submitter,
            "system": r.system,
            "board": r.board,
            "benchmark": r.benchmark,
            "clock_hz": r.clock_hz,
            "measured_ms": r.latency_ms,
            "estimate_ms": est_cycles[r.benchmark] / r.clock_hz * 1e3,
            "ratio": est_cycles[r.benchmark] / r.cycles,
        }
        for r in rows
        if r.benchmark in est_cycles
    ]
    medians = {b: statistics.median(r.cycles for r in rows if r.benchmark == b) for b in sorted({r.benchmark for r in rows})}
    in_sample = {b: est_cycles[b] / c - 1.0 for b, c in medians.items() if b in est_cycles}
    cores = sorted({r.core for r in rows})
    families = sorted({r.runtime_family for r in rows})
    lomo: dict[str, float] = {}
    lomo_note = "no measured rows: nothing to compare"
    if target.kernel_latency is not None:
        lomo_note = "no measured rows of this runtime on this core: cycles per instruction carried from another core"
        if len(cores) == 1:
            lomo = dict(fit_core(models, list(by_id.values()), cores[0], target.kernel_latency).lomo_error)
            lomo_note = "LOMO of the cycles-per-instruction fit (the instruction table is measured, not fitted)"
    elif len(cores) == 1 and families:
        cal = calibrate(models, list(by_id.values()), core=cores[0], runtime_family="+".join(families), table=table)
        lomo = dict(cal.lomo_error)
        lomo_note = (
            "LOMO of the stored calibration"
            if target.variant is not None
            else "hand-fitted coefficients: LOMO is that of edgenas.hardware.calibrate on the same core and runtime families"
        )
    return {
        "target": target.name,
        "variant": target.variant,
        "runtime": target.runtime,
        "clock_hz": target.clock_hz,
        "core": cores[0] if len(cores) == 1 else cores,
        "runtime_families": families,
        "latency_source": target.latency_source,
        "rows": per_row,
        "missing_row_ids": missing,
        "measured_median_cycles": medians,
        "estimate_cycles": {b: est_cycles[b] for b in medians if b in est_cycles},
        "in_sample_error": in_sample,
        "lomo_error": lomo,
        "lomo_note": lomo_note,
        "max_in_sample_error": max((abs(v) for v in in_sample.values()), default=None),
        "max_lomo_error": max((abs(v) for v in lomo.values()), default=None),
        "kws_estimate_ms": _reference_ms(models["kws"], target) if "kws" in models else None,
        "latency_model": "kernels" if target.kernel_latency is not None else "per-MAC kind",
    }


def _reference_ms(layers: list[Any], target: Target) -> float:
    """A reference model's estimate, its operators as its own file holds them (no layout copies)."""
    return latency_ms(layers, target, as_converted_by=[BUILTIN[layer.op] for layer in layers])


def _kernel_fits(models: dict[str, list[Any]], rows: list[MeasuredRow]) -> list[dict[str, Any]]:
    """The TFLite Micro + CMSIS-NN cores: cycles per instruction fitted to each, with its errors."""
    model = load_target("cortex-m7").kernel_latency
    if model is None:
        return []
    out = []
    for core in tflm_cores(rows):
        fit = fit_core(models, rows, core, model)
        out.append(
            {
                "core": core,
                "n_rows": len(tflm_rows(rows, core)),
                "rounds": list(fit.rounds),
                "cycles_per_instruction": fit.cycles_per_instruction,
                "measured_median_cycles": dict(fit.measured_cycles),
                "instructions": dict(fit.instructions),
                "in_sample_error": dict(fit.in_sample_error),
                "lomo_error": dict(fit.lomo_error),
                # judged only where the table's instructions are the ones the core runs
                "meets_goal": _meets(dict(fit.in_sample_error), dict(fit.lomo_error)) if core in DSP_EXTENSION_CORES else None,
                "note": ""
                if core in DSP_EXTENSION_CORES
                else "runs CMSIS-NN's Helium (MVE) kernels: not the instructions counted",
            }
        )
    return out


def _meets(in_sample: dict[str, float], lomo: dict[str, float]) -> bool | None:
    if len(in_sample) < MIN_MODELS_FOR_GOAL:
        return None  # too few models for the goal to apply
    return all(abs(v) <= IN_SAMPLE_GOAL for v in in_sample.values()) and all(abs(v) <= LOMO_GOAL for v in lomo.values())


def check_targets(shared_dir: Path) -> dict[str, Any]:
    """Compare every built-in target and variant with the MLPerf Tiny rows; JSON-able.

    Raises :class:`~edgenas.errors.MissingDataError` (naming the file) if the shared CSVs are absent.
    """
    models = reference_models(shared_dir)
    rows = measured_rows(shared_dir)
    by_id = {r.row_id: r for r in rows}
    table = cross_pair_deviations(models, rows)  # the cross-pair centres, fitted once for every calibration below
    targets: list[dict[str, Any]] = []
    for name in builtin_targets():
        base = load_target(name)
        for full in [name] + [f"{name}:{v}" for v in base.variants]:
            entry = _target_entry(load_target(full), models, by_id, table)
            entry["meets_goal"] = _meets(entry["in_sample_error"], entry["lomo_error"])
            targets.append(entry)
    pairs: list[dict[str, Any]] = []
    for core, family in calibration_pairs(rows):
        cal = calibrate(models, rows, core=core, runtime_family=family, table=table)
        pairs.append(
            {
                "core": core,
                "runtime_family": family,
                "n_rows": len(cal.row_ids),
                "n_models": len(cal.measured_cycles),
                "scales": {k: getattr(cal.scales, k) for k in ("overall", "conv", "depthwise", "fc", "output")},
                "centre": dict(cal.centre or {}),
                "rounds": sorted({by_id[i].round for i in cal.row_ids}),
                "measured_median_cycles": dict(cal.measured_cycles),
                "in_sample_error": dict(cal.in_sample_error),
                "lomo_error": dict(cal.lomo_error),
                "max_in_sample_error": cal.max_in_sample_error,
                "max_lomo_error": None if math.isnan(cal.max_lomo_error) else cal.max_lomo_error,
                "meets_goal": _meets(dict(cal.in_sample_error), dict(cal.lomo_error)),
            }
        )
    kernel_fits = _kernel_fits(models, rows)
    judged = [e["meets_goal"] for e in targets + pairs + kernel_fits if e["meets_goal"] is not None]
    return {
        "tflm_kernel_fits": kernel_fits,
        "goals": {"in_sample_error": IN_SAMPLE_GOAL, "lomo_error": LOMO_GOAL, "min_models": MIN_MODELS_FOR_GOAL},
        "ridge": DEFAULT_RIDGE,
        "rows_used": DEFAULT_ROUNDS,
        "targets": targets,
        "pairs": pairs,
        "misses": [
            f"{e.get('target') or e['core'] + ' x ' + e['runtime_family']}" for e in targets + pairs if e["meets_goal"] is False
        ]
        + [f"{k['core']} x TFLite Micro kernel model" for k in kernel_fits if k["meets_goal"] is False],
        "ok": all(judged),
    }


def _errors(errors: dict[str, float]) -> str:
    return " ".join(f"{b} {v:+.0%}" for b, v in sorted(errors.items())) or "-"


def format_check(result: dict[str, Any]) -> str:
    """Plain-text tables of :func:`check_targets` (every figure, misses marked ``MISS``)."""

    def mark(ok: bool | None) -> str:
        return {True: "ok", False: "MISS", None: "n/a"}[ok]

    lines = [
        f"Calibration: ridge {result['ridge']}, rows of each pair's {result['rows_used']} engine(s), "
        "deviations shrunk towards the other pairs' (cross-pair prior)",
        "Targets (estimate at each row's clock / measured):",
    ]
    for t in result["targets"]:
        lines.append(
            f"  {t['target']:<28} kws {t['kws_estimate_ms']:.2f} ms | in-sample {_errors(t['in_sample_error'])} | "
            f"LOMO {_errors(t['lomo_error'])} | {mark(t['meets_goal'])}"
        )
        for r in t["rows"]:
            lines.append(
                f"      {r['benchmark']:<4} {r['round']:<5} {r['submitter'][:14]:<14} {r['system'][:34]:<34} "
                f"{r['clock_hz'] / 1e6:>4.0f} MHz  est {r['estimate_ms']:>8.2f}  meas {r['measured_ms']:>8.2f}  x{r['ratio']:.2f}"
            )
    lines.append(
        "TFLite Micro + CMSIS-NN priced kernel by kernel (measured instruction table; one cycles-per-instruction "
        "figure fitted per core):"
    )
    for k in result.get("tflm_kernel_fits", []):
        lines.append(
            f"  {k['core']:<13} {', '.join(k['rounds']):<6} rows {k['n_rows']:>2} cycles/instruction "
            f"{k['cycles_per_instruction']:.3f} | in-sample {_errors(k['in_sample_error'])} | "
            f"LOMO {_errors(k['lomo_error'])} | {mark(k['meets_goal'])}{' (' + k['note'] + ')' if k['note'] else ''}"
        )
    lines.append("Every (core, runtime family) with calibration-grade rows (per-MAC-kind fits):")
    for p in result["pairs"]:
        lines.append(
            f"  {p['core']:<13} {p['runtime_family']:<18} rows {p['n_rows']:>2} models {p['n_models']} | "
            f"in-sample {_errors(p['in_sample_error'])} | LOMO {_errors(p['lomo_error'])} | {mark(p['meets_goal'])}"
        )
    goals = result["goals"]
    verdict = "all goals met" if result["ok"] else f"goal missed by: {', '.join(result['misses'])}"
    lines.append(f"Goals: in-sample within {goals['in_sample_error']:.0%}, LOMO within {goals['lomo_error']:.0%}: {verdict}")
    return "\n".join(lines)
