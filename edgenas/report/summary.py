"""The run summary (``report.json``), built from the store alone (never a live strategy)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgenas.arch import Arch
from edgenas.objectives import hypervolume_2d, pareto_front
from edgenas.spaces import space_from_config
from edgenas.store import RunFolder, SqliteStore
from edgenas.trial import Cost, Trial, TrialState


def trial_record(trial: Trial, describe: Callable[[Arch], str]) -> dict:
    """One trial as JSON: figures with units in their names, accuracies as fractions."""
    out: dict = {
        "number": trial.number,
        "arch": trial.arch.to_dict(),
        "description": describe(trial.arch),
        "state": trial.state.value,
        "feasible": not trial.violations,
        "violations": list(trial.violations),
    }
    if trial.metrics is not None and not trial.metrics.is_accuracy:
        # A proxy score is not an accuracy: it goes under its own name. "accuracy" is then only
        # the measured validation accuracy of a finalist trained after the search.
        out["proxy"] = trial.metrics.signal
        out["proxy_score"] = trial.metrics.accuracy
        if "retrain_val_accuracy" in trial.metrics.extra:
            out["accuracy"] = trial.metrics.extra["retrain_val_accuracy"]
    elif trial.metrics is not None:
        out["accuracy"] = trial.metrics.accuracy
    if trial.metrics is not None:
        for key in (
            "test_accuracy",
            "real_speech_accuracy",
            "retrain_val_accuracy",
            "onnx_max_abs_diff",
            "device_latency_ms",
            "train_s",
            "tflm_int8_test_accuracy",
            "tflm_argmax_agreement_litert",
            "tflm_int8_test_accuracy_qat",
            "qat_fake_quant_test_accuracy",
            "tflm_arena_bytes_qat",
            "tflite_file_bytes_qat",
            "tflm_argmax_agreement_litert_qat",
            "qat_s",
            "map",  # detection: the accuracy is validation mAP@0.5; these are the other COCO figures
            "test_map",
            "test_map_75",
            "tflm_int8_test_map_50",
            "tflm_int8_test_map",
            "litert_int8_test_map_50",
            "litert_int8_test_map",
            "tflm_litert_max_lsb_diff",
            "int8_fallback_operators",
        ):
            if key in trial.metrics.extra:
                out[key] = trial.metrics.extra[key]
    if trial.cost is not None:
        cost = trial.cost.to_dict()
        out.update({k: cost[k] for k in ("latency_ms", "peak_sram_bytes", "flash_bytes", "macs", "params", "energy_mj")})
        if cost.get("code_bytes") is not None:  # absent in runs stored before kernel code was estimated
            out["code_bytes"] = cost["code_bytes"]
        out["sources"] = cost["sources"]
    measured = {"tflm_arena_bytes": "arena_bytes", "tflite_file_bytes": "file_bytes"}
    if trial.metrics is not None and "tflm_arena_bytes" in trial.metrics.extra:
        out["measured"] = {name: int(trial.metrics.extra[key]) for key, name in measured.items()}
        out["measured"]["runtime"] = "TFLite Micro on the x86-64 host, reference kernels"
    if trial.error:
        out["error"] = trial.error
    if trial.worker is not None:
        out["worker"] = trial.worker
    if trial.device is not None:
        out["device"] = trial.device
    out["wall_s"] = trial.duration_s
    return out


def build_summary(store: SqliteStore, run_dir: Path, stop_reason: str = "") -> dict:
    config = store.read_config() or {}
    identity = config.get("identity", {})
    space = space_from_config(config)

    def describe(arch: Arch) -> str:
        return space.describe(arch)

    search = store.trials(role="search")
    baseline = next(iter(store.trials(role="baseline")), None)
    reference = space.reference()
    done = [t for t in search if t.state is TrialState.COMPLETE]
    feedback = feedback_summary(RunFolder(run_dir).compiled_feedback)
    tuned = {} if feedback is None else feedback["tuned_ms_by_arch"]
    limit = (config.get("limits") or {}).get("latency_ms")
    done = [t for t in done if limit is None or tuned.get(t.arch.key(), 0.0) <= limit]  # a tuned finalist over the limit
    best = max(done, key=lambda t: (t.accuracy, -t.number)) if done else None
    return {
        "best": None if best is None else with_tuned(trial_record(best, describe), tuned.get(best.arch.key())),
        "baseline": None if baseline is None else trial_record(baseline, describe),
        "constraints": config.get("limits", {}),
        "target": config.get("target", {}),
        "task": {"name": identity.get("task"), "classes": config.get("classes"), "data": config.get("data")},
        "search": {
            "strategy": identity.get("strategy"),
            "evaluator": identity.get("evaluator", "train"),
            "baseline": reference[0] if reference is not None else None,
            "seed": identity.get("seed"),
            "epochs": identity.get("epochs"),
            "trials": dict(Counter(t.state.value for t in search)),
            "stop_reason": stop_reason,
            "latency_measured_by": measured_by(RunFolder(run_dir).measured_latency)
            or measured_by(RunFolder(run_dir).compiled_latency),
            "latency_predicted_by": predicted_by(RunFolder(run_dir).latency_predictor),
        },
        "pareto_front": [trial_record(t, describe) for t in pareto_front(search)],
        "compiled": compiled_summary(RunFolder(run_dir).compiled_latency),
        "feedback": feedback,
        "energy": energy_summary(search, best, identity, config.get("target") or {}, config.get("limits") or {}, describe),
        "best_operators": None
        if best is None
        else operator_profile_of(space, best, identity.get("target") or (config.get("target") or {}).get("name")),
        "timing": timing(store.invocations()),
        "run_dir": str(run_dir),
    }


#: Margin over the largest energy of the trained models: the energy reference of the hypervolume
#: when no --energy-mj limit sets it (the costliest model still counts a sliver).
HYPERVOLUME_ENERGY_MARGIN = 1.1


def energy_summary(
    search: list[Trial],
    best: Trial | None,
    identity: dict,
    target: dict,
    limits: dict,
    describe: Callable[[Arch], str],
) -> dict | None:
    """Estimated energy per inference and average power at ``--fps`` of the best model and of the
    front, and the hypervolume of the accuracy-energy front; None where no trained model has an energy figure.

    The front is over ``--objectives`` when they include energy (three objectives: the 3-D front is
    listed, its hypervolume is that of the accuracy-energy projection), otherwise accuracy against
    energy. The hypervolume's reference is (0 accuracy, or the lowest proxy score; the
    ``--energy-mj`` limit, or 1.1 x the largest energy of the trained models).
    """
    done = [t for t in search if t.state is TrialState.COMPLETE and t.metrics and t.cost and t.cost.energy_mj is not None]
    if not done:
        return None
    from edgenas.hardware.energy import average_power_mw

    fps = identity.get("fps")
    idle_mw = ((target.get("energy") or {}).get("idle_mw")) if isinstance(target.get("energy"), dict) else None

    def energy(t: Trial) -> float:
        assert t.cost is not None and t.cost.energy_mj is not None
        return t.cost.energy_mj

    def score(t: Trial) -> float:
        assert t.metrics is not None
        return t.metrics.accuracy

    def record(t: Trial) -> dict:
        assert t.cost is not None and t.metrics is not None
        out: dict = {"number": t.number, "description": describe(t.arch), "latency_ms": t.cost.latency_ms}
        out["accuracy" if t.metrics.is_accuracy else "proxy_score"] = t.metrics.accuracy
        out["energy_mj"] = energy(t)
        if fps is not None and idle_mw is not None:
            out["average_power_mw"] = average_power_mw(energy(t), t.cost.latency_ms, float(fps), float(idle_mw))
        return out

    objectives = str(identity.get("objectives") or "")
    names = objectives.split(",") if "energy" in objectives else ["accuracy", "energy"]
    by_name: dict[str, Callable[[Trial], float]] = {
        "accuracy": lambda t: -score(t),
        "latency": lambda t: _cost_of(t).latency_ms,
        "energy": energy,
    }
    front = pareto_front(done, objectives=[by_name[n] for n in names])
    proxy = not done[0].metrics.is_accuracy if done[0].metrics else False
    score_ref = min(score(t) for t in done) if proxy else 0.0
    energy_ref = limits.get("energy_mj") or HYPERVOLUME_ENERGY_MARGIN * max(energy(t) for t in done)
    hv = hypervolume_2d([(score(t), energy(t)) for t in done], (score_ref, energy_ref))
    best_energy = best if best is not None and best.cost is not None and best.cost.energy_mj is not None else None
    return {
        "source": "estimated",
        "fps": fps,
        "idle_mw": idle_mw,
        "objectives": objectives or None,
        "best": None if best_energy is None else record(best_energy),
        "front_objectives": names,
        "front": [record(t) for t in front],
        "hypervolume": {
            "value": hv,
            "of": ("proxy score" if proxy else "accuracy") + " x energy_mj",
            "reference": [score_ref, energy_ref],
        },
    }


def _cost_of(t: Trial) -> Cost:
    assert t.cost is not None
    return t.cost


def operator_profile_of(space: Any, trial: Trial, target_name: object) -> dict | None:
    """Where a trial's estimated latency goes on its target, operator by operator, with the kernel
    each runs on; None when the target cannot be loaded again (a target file moved away)."""
    from edgenas.errors import EdgenasError
    from edgenas.hardware import load_target
    from edgenas.hardware.kernels import operator_profile, share_by_path

    if not isinstance(target_name, str):
        return None
    try:
        target = load_target(target_name)
        rows = operator_profile(space.layers(trial.arch), target)
    except (EdgenasError, OSError, ValueError):
        return None
    return {
        "target": target.name,
        "latency_source": "estimated",
        "operators": [row.to_dict() for row in rows],
        "share_by_path": share_by_path(rows),
    }


def predicted_by(copy: Path) -> dict | None:
    """The latency predictor a search ranked by (``--latency predicted``): its kind, the device and
    table it learnt, and its error on the rows that did not train it; None when latency was not predicted."""
    try:
        record = json.loads(copy.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    info = record.get("info") if isinstance(record, dict) else None
    if not isinstance(info, dict):
        return None
    keep = ("space", "device", "latency_table", "train_size", "held_out")
    return {"kind": record.get("kind"), **{k: info[k] for k in keep if k in info}}


def measured_by(cache: Path) -> str | None:
    """What measured the run's latencies (``--latency measured``): this machine's ONNX Runtime, or an
    agent's device by name; None for estimated latencies (or a cache that cannot be read)."""
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    backend = data.get("backend") if isinstance(data, dict) else None
    if not isinstance(backend, str):
        return None
    return "onnxruntime on this machine" if backend == "onnxruntime" else backend


def compiled_summary(cache: Path) -> dict | None:
    """What compiling every candidate cost (``--latency compiled``), and how much the shared tuning
    database saved: compile seconds per candidate and the share of tuning tasks whose workload an
    earlier candidate had tuned, over the whole search and its first and last thirds (in compile
    order); None when the run did not compile its candidates."""
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        records = sorted(data["latency_ms_by_arch"].values(), key=lambda r: r.get("order", 0))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not records:
        return None
    third = max(1, len(records) // 3)
    parts = {"all": records, "first_third": records[:third], "last_third": records[-third:]}

    def mean(rows: list[dict], key: str) -> float:
        return sum(float(r.get(key, 0.0)) for r in rows) / len(rows)

    def share(rows: list[dict]) -> float | None:
        tasks = sum(int(r.get("tasks", 0)) for r in rows)
        return None if tasks == 0 else sum(int(r.get("reused_tasks", 0)) for r in rows) / tasks

    tuned = int(data.get("tune_trials_per_candidate") or 0) > 0
    return {
        "measured_by": data.get("backend"),
        "compiler": data.get("compiler"),
        "compile_target": data.get("compile_target"),
        "tune_trials_per_candidate": data.get("tune_trials_per_candidate"),
        "tuning_database": data.get("tuning_database") if tuned else None,
        "candidates": len(records),
        "compile_s_total": sum(float(r.get("compile_s", 0.0)) for r in records),
        "compile_s_per_candidate": {name: mean(rows, "compile_s") for name, rows in parts.items()},
        "tune_s_per_candidate": {name: mean(rows, "tune_s") for name, rows in parts.items()} if tuned else None,
        "tasks": sum(int(r.get("tasks", 0)) for r in records) if tuned else None,
        "reused_tasks": sum(int(r.get("reused_tasks", 0)) for r in records) if tuned else None,
        "new_records": sum(int(r.get("new_records", 0)) for r in records) if tuned else None,
        "reused_share": {name: share(rows) for name, rows in parts.items()} if tuned else None,
    }


def feedback_summary(path: Path | None) -> dict | None:
    """The feedback loop's rounds (``--feedback-rounds``): per round the finalists, the model's error
    on them before its refit (and the analytical estimate's), the model's training size, and the
    compile and tuning seconds; with the reuse of the shared tuning database over the finalists.
    None when the run had no feedback loop (or its file cannot be read)."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rounds = list(data["rounds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    compiled = compiled_summary(Path(data["latency_cache"])) if data.get("latency_cache") else None
    return {
        "settings": data.get("settings"),
        "estimate_of": data.get("estimate_of"),
        "measured_by": data.get("measured_by"),
        "priced_by": data.get("priced_by"),
        "rounds": [
            {
                k: r.get(k)
                for k in (
                    "round",
                    "evaluated",
                    "priced_by",
                    "refit_priced_by",
                    "error_before",
                    "error_after",
                    "estimate_error",
                    "compile_s",
                    "tune_s",
                    "compiled",
                    "finalists",
                )
            }
            | {
                "training_size_before": r["model_before"]["points"],
                "training_size_after": r["model_after"]["points"],
                "model_after": r["model_after"],
            }
            for r in rounds
        ],  # fmt: skip
        "tuned_ms_by_arch": {p["key"]: float(p["tuned_ms"]) for p in data.get("points", [])},
        "compile_s_total": sum(float(r.get("compile_s", 0.0)) for r in rounds),
        "tune_s_total": sum(float(r.get("tune_s", 0.0)) for r in rounds),
        "tuning": compiled,
    }


def with_tuned(record: dict, tuned_ms: float | None) -> dict:
    """A trial's record with its tuned latency where the feedback loop measured one (the price it was ranked by kept)."""
    if tuned_ms is None or "latency_ms" not in record:
        return record
    sources = {**record.get("sources", {}), "latency_ms": "measured"}
    return {**record, "latency_ms": tuned_ms, "priced_latency_ms": record["latency_ms"], "sources": sources}


def timing(invocations: list[dict]) -> dict:
    """The run's wall time and each stage's, summed over its invocations (a resumed run has several), seconds."""
    stages: dict[str, float] = {}
    for record in invocations:
        for name, seconds in record.get("stages_s", {}).items():
            stages[name] = stages.get(name, 0.0) + float(seconds)
    return {
        "wall_s": sum(float(r.get("wall_s", 0.0)) for r in invocations),
        "stages_s": stages,
        "invocations": len(invocations),
    }
