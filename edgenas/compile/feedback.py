"""The compiler's feedback loop: the finalists' tuned latencies teach the model that ranks the next round.

``edgenas search --latency compiled --compiler tvm --feedback-rounds R`` compiles only a few
candidates instead of every one. The budget is split into ``R`` rounds; within a round each
candidate is priced by a cheap **latency model** (no compile): in the first round the
analytical estimate of the search's target, afterwards a calibration of that estimate
(:mod:`edgenas.compile.calibration`) learnt from every tuned measurement so far. At the end of a
round its **finalists** (the ``K`` best feasible candidates of the search so far that are not
tuned yet: by accuracy, or the accuracy-latency front for a multi-objective strategy) are
compiled, MetaSchedule-tuned with the search's shared database (``CompiledLatency``) and timed
here; their tuned latencies join the model's points and it is refit, so the next round's
prices, and the latency limit they are checked against, use it.

What each latency is stays labelled: a price from the calibration is *predicted* (the rounds
record which model gave it and on how many points), the estimate in the first round is
*estimated*, and a finalist's tuned latency is *measured*; the best model is chosen with the
tuned measurement where it has one (a finalist whose tuned latency breaks the limit is not the
best).

``feedback.json`` (beside the tuning database) records every round: the finalists, the model's
prediction of each before the refit and the tuned measurement (the model's error on candidates
it had not seen: the evidence the loop learns), the fit, and the compile and tuning seconds. It
also keeps the price each architecture was first given, so a resumed search prices every
architecture its strategy asks again exactly as the killed one did, and rounds continue where
they stopped; the finalists' measurements are cached by ``CompiledLatency``, never compiled twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgenas.arch import Arch
from edgenas.compile.calibration import Calibration, fit_calibration, relative_error
from edgenas.errors import InvalidInputError
from edgenas.objectives import Limits, pareto_front
from edgenas.trial import Cost, Trial, TrialState

if TYPE_CHECKING:
    from edgenas.compile.search_latency import CompiledLatency
    from edgenas.experiment import Experiment, Progress

#: Defaults of ``--finalists-per-round`` and ``--tune-trials-per-finalist``.
DEFAULT_FINALISTS = 3
DEFAULT_TUNE_TRIALS = 32
#: The model kind the loop fits (the benchmark compares it with ``ratio``).
MODEL_KIND = "loglinear"
FILE_FORMAT = "edgenas-compiled-feedback"


@dataclass(frozen=True)
class FeedbackOptions:
    """How the feedback loop splits and closes the search's rounds.

    Args:
        rounds: Rounds the budget is split into (``--feedback-rounds``).
        finalists: Finalists tuned at the end of each round (``--finalists-per-round``).
        tune_trials: MetaSchedule trials each finalist's new workloads get (``--tune-trials-per-finalist``).
        budget: The search's budget (evaluated candidates), which the rounds share.
    """

    rounds: int
    finalists: int = DEFAULT_FINALISTS
    tune_trials: int = DEFAULT_TUNE_TRIALS
    budget: int = 1

    @classmethod
    def of(cls, config: Any) -> FeedbackOptions | None:
        """The options of a :class:`~edgenas.workflows.config.SearchConfig` (None without ``--feedback-rounds``)."""
        if config.feedback_rounds is None:
            return None
        return cls(config.feedback_rounds, config.finalists_per_round, config.tune_trials_per_finalist, config.budget)

    def check(self) -> None:
        """One line for a count that cannot split the budget."""
        from edgenas.compile.tuning import MAX_TRIALS

        if not 1 <= self.rounds <= self.budget:
            raise InvalidInputError(
                f"--feedback-rounds must be between 1 and the budget ({self.budget}: each round evaluates at least one "
                f"candidate), got {self.rounds}"
            )
        if self.finalists < 1:
            raise InvalidInputError(f"--finalists-per-round must be at least 1, got {self.finalists}")
        if not 1 <= self.tune_trials <= MAX_TRIALS:
            raise InvalidInputError(
                f"--tune-trials-per-finalist must be between 1 and {MAX_TRIALS:,} (the finalists are tuned), "
                f"got {self.tune_trials}"
            )

    def round_ends(self) -> list[int]:
        """Evaluated candidates at the end of each round (the budget split as evenly as whole numbers allow)."""
        return [self.budget * r // self.rounds for r in range(1, self.rounds + 1)]


@dataclass(frozen=True)
class Finalist:
    """One tuned finalist: what the model predicted before its refit, and what the tuned build measured."""

    number: int
    key: str
    accuracy: float
    estimate_ms: float  # the analytical estimate
    predicted_ms: float  # the model of the round, before the refit
    tuned_ms: float  # measured on the TVM build, tuned
    compile_s: float
    tune_s: float
    compiled_now: bool  # False: read from the cache (a resume)


class FeedbackLatency:
    """A ``CostFunction`` whose latency model is refit on the tuned finalists at the end of each round.

    Args:
        base: The analytical cost (its latency is the estimate the model calibrates).
        meter: Compiles, tunes and times a finalist (its cache and tuning database are the search's).
        options: Rounds, finalists per round, tuning trials per finalist, budget.
        path: ``feedback.json`` (read back on a resume).
        estimate_of: The target whose estimate is calibrated (named in the labels).
    """

    name = "feedback-tvm"

    def __init__(
        self, base: Callable[[Arch], Cost], meter: CompiledLatency, options: FeedbackOptions, path: Path, estimate_of: str
    ) -> None:
        options.check()
        self.base = base
        self.meter = meter
        self.options = options
        self.path = Path(path)
        self.estimate_of = estimate_of
        self.rounds: list[dict[str, Any]] = []
        self.points: list[dict[str, Any]] = []  # {"key", "number", "estimate_ms", "tuned_ms"}
        self.prices: dict[str, tuple[float, str]] = {}  # key -> (latency_ms, source) it was first given
        self.model = Calibration(MODEL_KIND)
        self._load()

    # -- the cost function ----------------------------------------------------------------------
    def __call__(self, arch: Arch) -> Cost:
        cost = self.base(arch)
        key = arch.key()
        if key not in self.prices:
            if self.model.points == 0:
                self.prices[key] = (cost.latency_ms, "estimated")
            else:
                self.prices[key] = (float(self.model.predict(cost.latency_ms)), "predicted")
        latency, source = self.prices[key]
        return cost if source == "estimated" else cost.with_latency(latency, "predicted")

    @property
    def tuned(self) -> dict[str, float]:
        """Architecture key -> tuned latency (ms) of every finalist so far."""
        return {p["key"]: float(p["tuned_ms"]) for p in self.points}

    def priced_by(self) -> str:
        """What prices the candidates now (the model and its number of tuned points)."""
        return self.model.describe(self.estimate_of)

    # -- rounds -------------------------------------------------------------------------------
    def finalists(self, trials: Sequence[Trial], multi_objective: bool) -> list[Trial]:
        """The ``K`` best COMPLETE trials not tuned yet: by accuracy, or (multi-objective) the accuracy-latency front."""
        tuned = self.tuned
        done = [t for t in trials if t.state is TrialState.COMPLETE and t.metrics is not None and t.arch.key() not in tuned]
        if multi_objective:
            done = pareto_front(done, (_minus_accuracy, _latency))
        ranked = sorted(done, key=lambda t: (-_accuracy(t), t.number))
        return ranked[: self.options.finalists]

    def close_round(self, number: int, trials: Sequence[Trial], multi_objective: bool = False) -> dict[str, Any]:
        """Tune the round's finalists, add their measurements to the model's points and refit it (once per round)."""
        if number <= len(self.rounds):  # closed before a resume
            return self.rounds[number - 1]
        started = time.perf_counter()
        before = self.model
        priced_by = self.priced_by()
        rows: list[Finalist] = []
        for trial in self.finalists(trials, multi_objective):
            key = trial.arch.key()
            compiled_now = key not in self.meter.records()
            tuned = self.meter.latency_ms(trial.arch)
            record = self.meter.records()[key]
            estimate = self.base(trial.arch).latency_ms
            rows.append(
                Finalist(
                    trial.number, key, _accuracy(trial), estimate, float(before.predict(estimate)), tuned,
                    float(record.get("compile_s", 0.0)), float(record.get("tune_s", 0.0)), compiled_now,
                )
            )  # fmt: skip
        self.points += [{"key": r.key, "number": r.number, "estimate_ms": r.estimate_ms, "tuned_ms": r.tuned_ms} for r in rows]
        self.model = self._fit()
        tuned_ms = [r.tuned_ms for r in rows]
        record_ = {
            "round": number,
            "evaluated": sum(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials),
            "priced_by": priced_by,
            "model_before": before.to_dict(),
            "model_after": self.model.to_dict(),
            "refit_priced_by": self.priced_by(),
            "finalists": [r.__dict__ for r in rows],
            "error_before": relative_error([r.predicted_ms for r in rows], tuned_ms),
            "error_after": relative_error([float(self.model.predict(r.estimate_ms)) for r in rows], tuned_ms),
            "estimate_error": relative_error([r.estimate_ms for r in rows], tuned_ms),
            "compile_s": sum(r.compile_s for r in rows if r.compiled_now),
            "tune_s": sum(r.tune_s for r in rows if r.compiled_now),
            "compiled": sum(r.compiled_now for r in rows),
            "seconds": time.perf_counter() - started,
        }
        self.rounds.append(record_)
        self._save()
        return record_

    def best(self, trials: Sequence[Trial], limits: Limits) -> Trial | None:
        """The most accurate COMPLETE trial whose tuned latency (where it has one) is within the latency limit."""
        tuned = self.tuned
        done = [
            t
            for t in trials
            if t.state is TrialState.COMPLETE
            and t.metrics is not None
            and (limits.latency_ms is None or tuned.get(t.arch.key(), 0.0) <= limits.latency_ms)
        ]
        return max(done, key=lambda t: (_accuracy(t), -t.number)) if done else None

    # -- the file ----------------------------------------------------------------------------
    def _fit(self) -> Calibration:
        return fit_calibration([p["estimate_ms"] for p in self.points], [p["tuned_ms"] for p in self.points], MODEL_KIND)

    def _settings(self) -> dict[str, Any]:
        o = self.options
        return {
            "rounds": o.rounds,
            "finalists_per_round": o.finalists,
            "tune_trials_per_finalist": o.tune_trials,
            "budget": o.budget,
        }

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != FILE_FORMAT:
                raise ValueError
            settings, rounds, points = dict(data["settings"]), list(data["rounds"]), list(data["points"])
            prices = {str(k): (float(v[0]), str(v[1])) for k, v in dict(data["prices"]).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
            raise InvalidInputError(
                f"{self.path}: not an edgenas feedback record; move it away to start the rounds again"
            ) from None
        if settings != self._settings():
            differ = ", ".join(f"{k} {settings.get(k)} (now {v})" for k, v in self._settings().items() if settings.get(k) != v)
            raise InvalidInputError(
                f"{self.path}: the rounds were split with {differ}: resume with the same --budget, --feedback-rounds, "
                "--finalists-per-round and --tune-trials-per-finalist, or search into another --out"
            )
        self.rounds, self.points, self.prices = rounds, points, prices
        self.model = self._fit()

    def _save(self) -> None:
        payload = {
            "format": FILE_FORMAT,
            "settings": self._settings(),
            "estimate_of": self.estimate_of,
            "compiler": self.meter.options.compiler,
            "compile_target": self.meter.options.target,
            "measured_by": self.meter.measured_by(),
            "latency_cache": str(self.meter.cache),
            "model": self.model.to_dict(),
            "priced_by": self.priced_by(),
            "rounds": self.rounds,
            "points": self.points,
            "prices": {k: [v, s] for k, (v, s) in sorted(self.prices.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a kill mid-write leaves the previous rounds


def round_line(record: dict[str, Any], rounds: int) -> str:
    """The line a search prints as it closes a round."""
    rows = record["finalists"]
    if not rows:
        return f"feedback round {record['round']}/{rounds}: no feasible candidate to tune; the model stays {record['priced_by']}"

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f} %"

    reused = len(rows) - record["compiled"]
    cached = f" ({reused} from the cache)" if reused else ""
    return (
        f"feedback round {record['round']}/{rounds}: {len(rows)} finalist{'s' if len(rows) != 1 else ''} tuned{cached} in "
        f"{record['compile_s']:.0f} s (tuning {record['tune_s']:.0f} s); model error on them {pct(record['error_before'])} "
        f"before the refit (the estimate's {pct(record['estimate_error'])}); next round priced by {record['refit_priced_by']}"
    )


def run_rounds(
    experiment: Experiment,
    feedback: FeedbackLatency,
    multi_objective: bool,
    callback: Callable[[Progress], None] | None = None,
    deadline: float | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> None:
    """Run ``experiment`` round by round, closing each round (tune, refit) before the next is asked.

    A resumed experiment has replayed its stored trials: rounds already closed are passed over
    (their trials are evaluated, their finalists in the record), and the first open one goes on.
    """
    ends = feedback.options.round_ends()
    total = feedback.options.budget

    def told(progress: Progress) -> None:  # progress counts against the search's budget, not the round's end
        if callback is not None:
            callback(dataclasses.replace(progress, budget=total))

    for number, end in enumerate(ends, 1):
        experiment.budget = end
        experiment.run(told, deadline=deadline)
        if experiment.evaluated < end:  # a time limit, or the space ran out: the round stays open
            return
        closed = number <= len(feedback.rounds)
        record = feedback.close_round(number, experiment.trials, multi_objective)
        if not closed:
            say(round_line(record, len(ends)))


def _accuracy(trial: Trial) -> float:
    assert trial.metrics is not None
    return trial.metrics.accuracy


def _minus_accuracy(trial: Trial) -> float:
    return -_accuracy(trial)


def _latency(trial: Trial) -> float:
    assert trial.cost is not None
    return trial.cost.latency_ms
