"""``report.md``: the summary for a person, every figure labelled estimated or measured."""

from __future__ import annotations


def md_cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell: an mbconv description separates stages with ``|``."""
    return text.replace("|", "\\|")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def limits_text(limits: dict) -> str:
    """``latency 5 ms, peak SRAM 204,800 B, flash 1,048,576 B`` (the limits set), or ``none``."""
    parts = []
    if limits.get("latency_ms") is not None:
        parts.append(f"latency {limits['latency_ms']:g} ms")
    if limits.get("sram_bytes") is not None:
        parts.append(f"peak SRAM {limits['sram_bytes']:,} B")
    if limits.get("flash_bytes") is not None:
        parts.append(f"flash {limits['flash_bytes']:,} B")
    if limits.get("energy_mj") is not None:
        parts.append(f"energy {limits['energy_mj']:g} mJ")
    return ", ".join(parts) or "none"


def counts_text(counts: dict) -> str:
    """``8 complete, 8 infeasible`` from a state -> count mapping."""
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def plural(n: float | None, word: str) -> str:
    """``1 epoch``, ``8 epochs``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def timing_text(timing: dict) -> str:
    """``Wall time 304 s: data 0.9 s, baseline 61 s, ...`` (summed over the run's invocations)."""
    order = ("data", "space", "prefilter", "baseline", "supernet", "search", "finalise")
    spent = timing.get("stages_s", {})
    names = [n for n in order if n in spent] + sorted(n for n in spent if n not in order)
    stages = ", ".join(f"{name} {spent[name]:.3g} s" for name in names)
    runs = timing.get("invocations", 1)
    over = f" over {runs} invocations" if runs > 1 else ""
    return f"Wall time {timing.get('wall_s', 0):.0f} s{over}" + (f" ({stages})." if stages else ".")


def _row(name: str, rec: dict | None, limits: dict, real: bool) -> list[str]:
    if rec is None:
        return [name] + ["n/a"] * (8 if real else 7)

    def with_limit(key: str, limit_key: str, fmt: str) -> str:
        value = rec.get(key)
        if value is None:
            return "n/a"
        text = fmt.format(value)
        limit = limits.get(limit_key)
        return text + (" ✗" if limit is not None and value > limit else "")

    return [
        name,
        md_cell(rec.get("description", "")),
        _pct(rec.get("accuracy")),
        _pct(rec.get("test_accuracy")),
        *([_pct(rec.get("real_speech_accuracy"))] if real else []),
        with_limit("latency_ms", "latency_ms", "{:.2f}"),
        with_limit("peak_sram_bytes", "sram_bytes", "{:,}"),
        with_limit("flash_bytes", "flash_bytes", "{:,}"),
        f"{rec.get('macs', 0):,}",
    ]


def _evaluator_note(evaluator: str) -> list[str]:
    """What scored the candidates, when it was not training each of them."""
    kind, _, rest = evaluator.partition(":")
    if kind == "zerocost":
        return [
            f"Candidates were scored by the zero-cost proxy `{rest}` at initialisation, **not by accuracy**: "
            "the Pareto table shows proxy scores. The best and the baseline were then trained with the "
            "search recipe, so their val and test accuracies are measured."
        ]
    if kind == "prefilter":
        proxy = rest.split(":")[0]
        scorer = "a weight-sharing supernet's inherited-weight accuracy" if proxy == "supernet" else "the zero-cost proxy"
        return [
            f"Candidates were pre-filtered by {scorer} `{proxy}` (the pool and its scores "
            "are in `prefilter.db`); only the best of the pool by that score were trained: their accuracies are measured."
        ]
    return []


def _energy_lines(energy: dict | None) -> list[str]:
    """Energy per inference and average power at the frame rate (estimated), best and front, and the hypervolume."""
    if not energy:
        return []
    fps, names = energy.get("fps"), energy["front_objectives"]
    power = f"average power at {fps:g} FPS, mW (est.)" if fps is not None else None
    idle = f"; idle power between frames {energy['idle_mw']:g} mW (the target's idle_mw)" if energy.get("idle_mw") else ""
    hv = energy["hypervolume"]
    lines = [
        "",
        f"## Energy and power ({', '.join(names)} front)",
        "",
        "Energy per inference is **estimated** by the target's energy model (MACs, bytes moved and static power over "
        "the estimated latency; coefficients and sources in docs/targets.md)"
        + (f"; average power = energy x {fps:g} FPS + idle power x the idle share of each second{idle}." if power else ".")
        + f" Hypervolume of the accuracy-energy front ({hv['of']}, reference {hv['reference'][0]:g} and "
        f"{hv['reference'][1]:.4g} mJ): **{hv['value']:.4g}**"
        + (
            " (3 objectives: the front below is 3-D; the hypervolume is of its accuracy-energy projection)."
            if len(names) > 2
            else "."
        ),
        "",
        "| model | # | val acc (or proxy score) | latency ms (est.) | energy mJ (est.) |" + (f" {power} |" if power else ""),
        "|---|---|---|---|---|" + ("---|" if power else ""),
    ]
    rows = ([("best", energy["best"])] if energy.get("best") else []) + [("front", rec) for rec in energy["front"]]
    for name, rec in rows:
        signal = f"{rec['proxy_score']:.4g}" if "proxy_score" in rec else _pct(rec.get("accuracy"))
        lines.append(
            f"| {name} | {rec['number']} | {signal} | {rec['latency_ms']:.2f} | {rec['energy_mj']:.4g} |"
            + (f" {rec['average_power_mw']:.4g} |" if power and "average_power_mw" in rec else (" n/a |" if power else ""))
        )
    return lines


def _compiled_lines(compiled: dict | None) -> list[str]:
    """``--latency compiled``: what compiling the candidates cost, and what the shared tuning database saved."""
    if not compiled:
        return []
    per = compiled["compile_s_per_candidate"]
    lines = [
        "",
        "## The compiler in the loop",
        "",
        f"Every latency in this run is **measured** on the candidate's build by {compiled['measured_by']} "
        "(the tables' latency columns hold these measurements, not estimates). "
        f"{compiled['candidates']} candidates compiled in {compiled['compile_s_total']:.0f} s: "
        f"{per['all']:.2f} s a candidate on average, {per['first_third']:.2f} s over the first third of the search "
        f"and {per['last_third']:.2f} s over the last.",
    ]
    share = compiled.get("reused_share")
    if share:
        pct = {k: "n/a" if v is None else f"{100 * v:.1f} %" for k, v in share.items()}
        lines.append(
            f"Tuning shared one MetaSchedule database (`{compiled['tuning_database']}`): {compiled['reused_tasks']} of "
            f"{compiled['tasks']} tuning tasks ({pct['all']}) reused records an earlier candidate had made "
            f"({pct['first_third']} over the first third, {pct['last_third']} over the last); "
            f"{compiled['new_records']} new records in all."
        )
    return lines


def _feedback_lines(feedback: dict | None) -> list[str]:
    """``--feedback-rounds``: per round, the tuned finalists and the latency model's error on them before and after its refit."""
    if not feedback:
        return []

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f} %"

    settings = feedback.get("settings") or {}
    lines = [
        "",
        "## The feedback loop",
        "",
        f"The budget ran in {settings.get('rounds')} rounds. Within a round the candidates' latencies are **predicted** "
        f"(the first round: **estimated**, the analytical estimate for {feedback.get('estimate_of')}); at its end up to "
        f"{settings.get('finalists_per_round')} finalists were compiled and tuned ({settings.get('tune_trials_per_finalist')} "
        f"MetaSchedule trials each) and **measured** by {feedback.get('measured_by')}, and the model was refit on every "
        f"tuned finalist so far. Now priced by: {feedback.get('priced_by')}. The best model is chosen, and its latency "
        "given, by its tuned measurement where it has one. The model's error on a round's finalists is measured before "
        "they train it: what the next round can expect.",
        "",
        "| round | priced by | finalists (trial: predicted → tuned ms) | model error before refit | estimate error | "
        "after refit | compile s | tuning s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in feedback["rounds"]:
        finalists = ", ".join(f"{f['number']}: {f['predicted_ms']:.3f} → {f['tuned_ms']:.3f}" for f in r["finalists"]) or "none"
        lines.append(
            f"| {r['round']} | {md_cell(str(r['priced_by']))} | {finalists} | {pct(r['error_before'])} | "
            f"{pct(r['estimate_error'])} | {pct(r['error_after'])} | {r['compile_s']:.1f} | {r['tune_s']:.1f} |"
        )
    return lines


def _operator_lines(profile: dict | None) -> list[str]:
    """The best model's estimated latency per operator, with the kernel each runs on."""
    if not profile:
        return []
    by_share = sorted(profile["share_by_path"].items(), key=lambda kv: -kv[1])
    paths = ", ".join(f"{path} {100 * share:.0f} %" for path, share in by_share)
    lines = [
        "",
        f"## Where the best model's estimated latency goes ({profile['target']})",
        "",
        f"Estimated by the target's analytical model, per operator, with the kernel it runs on; by kind of kernel: {paths}.",
        "",
        "| # | operator | builtin | kernel | kind | MACs | ms (est.) | share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in profile["operators"]:
        lines.append(
            f"| {row['index']} | {md_cell(row['name'])} | {row['builtin']} | {md_cell(row['kernel'])} | {row['path']} | "
            f"{row['macs']:,} | {row['latency_ms']:.3f} | {100 * row['share']:.1f} % |"
        )
    return lines


def render_markdown(summary: dict) -> str:
    limits = summary["constraints"]
    target = summary.get("target", {})
    search = summary["search"]
    evaluator = search.get("evaluator", "train")
    proxy = evaluator.split(":")[1] if evaluator.startswith("zerocost:") else None
    real = any(rec is not None and "real_speech_accuracy" in rec for rec in (summary["best"], summary["baseline"]))
    # detection ranks by validation mAP@0.5 in the accuracy field: the columns say so
    val, test = ("val mAP@0.5", "test mAP@0.5") if summary.get("task", {}).get("name") == "detection" else ("val acc", "test acc")
    rows = [_row("best", summary["best"], limits, real)]
    if search.get("baseline") is not None or summary["baseline"] is not None:
        rows.append(_row(f"{search.get('baseline') or 'reference'} baseline", summary["baseline"], limits, real))
    lines = [
        f"# edgenas search: {summary['task']['name']} on {target.get('name', '?')}",
        "",
        f"Target: {target.get('description', '')} — latency and memory model: {target.get('runtime', '?')}.",
        f"Latency coefficients: {target.get('latency_source', 'see docs/targets.md')}"
        + (
            f" ({len(target['latency_rows'])} measured rows, listed in report.json under target.latency_rows)."
            if target.get("latency_rows")
            else "."
        ),
        f"Limits: {limits_text(limits)}.",
        f"Strategy `{search['strategy']}`, seed {search['seed']}, {plural(search['epochs'], 'epoch')} per candidate; "
        f"trials: {counts_text(search['trials'])}. Stopped: {search['stop_reason']}.",
        *([timing_text(summary["timing"])] if summary.get("timing", {}).get("invocations") else []),
        *_evaluator_note(search.get("evaluator", "train")),
        "",
        "Latency, peak SRAM and flash are **estimates** of the analytical cost model for the target "
        "(int8, TFLite Micro execution; see docs/targets.md), not measurements. Accuracies are "
        "**measured**: validation (the search signal), test (the held-out test split, finalists only)"
        + (
            " and real Speech Commands clips of the ten keywords (the synthetic default's check on real voices)." if real else "."
        ),
        "",
        f"| model | architecture | {val} | {test} | "
        + ("real speech | " if real else "")
        + "latency ms (est.) | peak SRAM B (est.) | flash B (est.) | MACs |",
        "|---|---|---|---|" + ("---|" if real else "") + "---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        "✗ = over the limit."
        + (" The baseline is trained with the same recipe in the same run, whatever its cost." if len(rows) > 1 else ""),
        "",
        f"## Pareto front ({f'{proxy} score' if proxy else val.replace('val ', 'validation ')} "
        "vs estimated latency and peak SRAM)",
        "",
        "| # | architecture | "
        + (f"{proxy} score (not an accuracy)" if proxy else val)
        + " | latency ms (est.) | peak SRAM B (est.) | flash B (est.) | MACs | params |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rec in summary["pareto_front"]:
        signal = f"{rec['proxy_score']:.4g}" if "proxy_score" in rec else _pct(rec.get("accuracy"))
        lines.append(
            f"| {rec['number']} | {md_cell(rec['description'])} | {signal} | {rec['latency_ms']:.2f} | "
            f"{rec['peak_sram_bytes']:,} | {rec['flash_bytes']:,} | {rec['macs']:,} | {rec['params']:,} |"
        )
    best = summary["best"]
    lines += _energy_lines(summary.get("energy"))
    lines += _compiled_lines(summary.get("compiled"))
    lines += _feedback_lines(summary.get("feedback"))
    lines += _operator_lines(summary.get("best_operators"))
    if best is not None:
        lines += [
            "",
            "## Best model",
            "",
            f"`{best['description']}` (trial {best['number']}, genes {best['arch']['genes']}).",
            "Figure sources: " + ", ".join(f"{k}: {v}" for k, v in sorted(best.get("sources", {}).items())) + ".",
        ]
        if "proxy_score" in best:
            lines.append(
                f"Found by its {best['proxy']} score {best['proxy_score']:.4g}; val acc is of its training after the search."
            )
        elif "retrain_val_accuracy" in best:
            same = "yes" if best["retrain_val_accuracy"] == best["accuracy"] else "NO"
            lines.append(f"Retrained from scratch for export: validation accuracy reproduced exactly: {same}.")
        if "measured" in best and "tflm_int8_test_map_50" in best:
            m = best["measured"]
            fallback = int(best.get("int8_fallback_operators", 0))
            lines.append(
                f"Detection, int8 on TFLite Micro ({m['runtime']}): minimum tensor arena {m['arena_bytes']:,} B "
                f"(estimated {best['peak_sram_bytes']:,} B), int8 .tflite {m['file_bytes']:,} B "
                f"(estimated {best['flash_bytes']:,} B); "
                f"test mAP@0.5 fp32 {100 * best.get('test_accuracy', float('nan')):.1f} %, int8 LiteRT "
                f"{100 * best['litert_int8_test_map_50']:.1f} %, int8 TFLite Micro {100 * best['tflm_int8_test_map_50']:.1f} % "
                f"(largest TFLite Micro - LiteRT difference {int(best.get('tflm_litert_max_lsb_diff', 0))} int8 steps); "
                + (
                    "every operator native on the target. "
                    if not fallback
                    else f"**{fallback} operator(s) not native on the target.** "
                )
                + "Box decoding and NMS run on the host after the int8 graph. `best/model_int8.tflite`."
            )
        elif "measured" in best:
            m = best["measured"]
            acc = best.get("tflm_int8_test_accuracy")
            lines.append(
                f"Measured on TFLite Micro ({m['runtime']}): minimum tensor arena {m['arena_bytes']:,} B "
                f"(estimated {best['peak_sram_bytes']:,} B), int8 .tflite {m['file_bytes']:,} B "
                f"(estimated {best['flash_bytes']:,} B"
                + (f"; plus {best['code_bytes']:,} B of kernel code, estimated" if best.get("code_bytes") else "")
                + ")"
                + (f", int8 test accuracy {100 * acc:.1f} %" if acc is not None else "")
                + f", TFLM/LiteRT same class on {100 * best.get('tflm_argmax_agreement_litert', 0):.1f} % of test clips. "
                "`best/model_int8.tflite`; `edgenas export RUN --format c` writes the C array."
            )
            qat = best.get("tflm_int8_test_accuracy_qat")
            if qat is not None:
                ptq = f"{100 * acc:.1f} %" if acc is not None else "n/a"
                lines.append(
                    f"Quantization-aware training (`--qat`): int8 test accuracy on TFLite Micro {100 * qat:.1f} % "
                    f"against {ptq} by post-training quantization; arena {int(best['tflm_arena_bytes_qat']):,} B, "
                    f".tflite {int(best['tflite_file_bytes_qat']):,} B. `best/model_int8_qat.tflite`."
                )
            if limits.get("sram_bytes") is not None and m["arena_bytes"] > limits["sram_bytes"]:
                lines.append(
                    f"**The measured arena exceeds the SRAM limit of {limits['sram_bytes']:,} B** (the estimate did not)."
                )
        if "onnx_max_abs_diff" in best:
            lines.append(
                f"`best/model.onnx` vs PyTorch on 8 clips (ONNX Runtime): max |Δlogit| = {best['onnx_max_abs_diff']:.2e}."
            )
    lines += ["", "![Pareto front](pareto.png)", ""]
    return "\n".join(lines)
