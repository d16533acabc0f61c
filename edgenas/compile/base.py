"""What a compilation produced: the builds' measurements, the tuning, and where the files are.

Every latency is a :class:`~edgenas.measure.base.Measurement` taken on this host with the same
protocol as ``edgenas profile`` (warm-up, repeated timed runs, median and spread, the load
average), so a compiled model's figures sit beside a runtime's without conversion. A build that
was not run here (a cross target) has no measurement, and the record says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgenas.measure.base import Measurement

#: MetaSchedule trials ``edgenas compile`` spends on the host when ``--tune-trials`` is left out:
#: enough to tune every task of a small network a little, few enough to finish in minutes on a laptop.
DEFAULT_TUNE_TRIALS = 64


@dataclass(frozen=True)
class TuningOutcome:
    """One MetaSchedule run.

    Args:
        trials: The budget asked for (``max_trials_global``).
        seconds: Wall-clock time of the tuning (task extraction, search, builds and measured candidates).
        records: Tuning records in the database afterwards (one per measured candidate, earlier runs included).
        new_records: Records this run added.
        tasks: Tuning tasks (fused functions) MetaSchedule extracted from the model.
        database: The JSON database folder (``database_workload.json``, ``database_tuning_record.json``).
        reused_tasks: Tasks whose workload already had records in the database before this run
            (another model with the same layer shapes tuned them); counted when only the new
            workloads are tuned (the search loop), 0 otherwise.
    """

    trials: int
    seconds: float
    records: int
    new_records: int
    tasks: int
    database: Path
    reused_tasks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "trials": self.trials,
            "seconds": self.seconds,
            "records": self.records,
            "new_records": self.new_records,
            "tasks": self.tasks,
            "database": str(self.database),
            "reused_tasks": self.reused_tasks,
        }


@dataclass(frozen=True)
class CompileResult:
    """An ONNX model compiled by TVM for one target, untuned and (optionally) tuned.

    Args:
        model: What was compiled (a path).
        compiler: ``tvm`` and its version.
        target: The TVM target as TVM prints it (a JSON object).
        out: The folder the libraries and the database were written to.
        libraries: ``{"untuned": path, "tuned": path}`` of the exported ``.so`` files.
        untuned: The untuned build measured here (``None`` when it was not run here).
        tuned: The tuned build measured here (``None`` when not tuned or not run here).
        tuning: The MetaSchedule run, if any.
        ran_here: Whether the builds ran on this host.
        note: Why the builds did not run here, where they did not.
        max_abs_diff: Largest difference between the tuned and the untuned build's outputs on one input.
    """

    model: str
    compiler: str
    target: str
    out: Path
    libraries: dict[str, Path]
    untuned: Measurement | None = None
    tuned: Measurement | None = None
    tuning: TuningOutcome | None = None
    ran_here: bool = True
    note: str | None = None
    max_abs_diff: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def speedup(self) -> float | None:
        """Untuned median over tuned median (above 1: tuning made it faster); ``None`` without both."""
        if self.untuned is None or self.tuned is None or self.tuned.median_ms <= 0:
            return None
        return self.untuned.median_ms / self.tuned.median_ms

    def to_dict(self, top: int = 5) -> dict[str, Any]:
        """The JSON summary (``edgenas compile --json``): snake_case keys, units in the names."""
        return {
            "kind": "measured" if self.ran_here else "built",
            "model": self.model,
            "compiler": self.compiler,
            "target": self.target,
            "out": str(self.out),
            "libraries": {k: str(v) for k, v in self.libraries.items()},
            "ran_here": self.ran_here,
            "note": self.note,
            "untuned": None if self.untuned is None else self.untuned.to_dict(top=top),
            "tuned": None if self.tuned is None else self.tuned.to_dict(top=top),
            "speedup": self.speedup,
            "tuning": None if self.tuning is None else self.tuning.to_dict(),
            "max_abs_diff_tuned_vs_untuned": self.max_abs_diff,
            **self.extra,
        }
