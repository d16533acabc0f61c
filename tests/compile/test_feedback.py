"""``edgenas search --latency compiled --compiler tvm --feedback-rounds R``: the rounds are priced by a
model that the tuned finalists of each round refit; the records say so; a search killed after its
first round resumes with its records kept and nothing compiled twice; the bad inputs; and the
calibration model on known synthetic points.

Skipped where the ``tvm`` extra is absent. One search of six candidates in two rounds, one
finalist a round at two MetaSchedule trials (killed before it closes its second round, then
resumed): two compiles, well under a minute and a half on two shared cores.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tvm")

from edgenas.arch import Arch  # noqa: E402
from edgenas.compile.calibration import Calibration, fit_calibration, loo_errors, relative_error  # noqa: E402
from edgenas.compile.feedback import FeedbackLatency, FeedbackOptions  # noqa: E402
from edgenas.compile.search_latency import CompiledLatency  # noqa: E402
from edgenas.errors import InvalidInputError  # noqa: E402
from edgenas.objectives import Limits  # noqa: E402
from edgenas.trial import Cost, Metrics, Trial, TrialState  # noqa: E402
from edgenas.workflows.search import SearchConfig, run_search  # noqa: E402
from tests.cli.test_cli import assert_one_line_error  # noqa: E402
from tests.compile.searches import cli, compiled_search  # noqa: E402


def _config(root: Path, **options: object) -> SearchConfig:
    return compiled_search(
        root, **{"budget": 6, "feedback_rounds": 2, "finalists_per_round": 1, "tune_trials_per_finalist": 2, **options}
    )


class _Killed(RuntimeError):
    """Stands for a kill between the second round's last evaluation and its finalists' tuning."""


def _feedback_file(root: Path) -> Path:
    return root / "run" / "compiled" / "tvm" / "llvm" / "feedback.json"


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> tuple[Path, dict, dict, list[str]]:
    """A search killed as its second round closes, then resumed: (root, first record, summary, compiled on resume)."""
    root = tmp_path_factory.mktemp("feedback")
    patch = pytest.MonkeyPatch()
    original = FeedbackLatency.close_round

    def kill_at_round_two(self, number, trials, multi_objective=False):
        if number == 2:
            raise _Killed
        return original(self, number, trials, multi_objective)

    patch.setattr(FeedbackLatency, "close_round", kill_at_round_two)
    with pytest.raises(_Killed):
        run_search(_config(root))
    patch.undo()
    first = json.loads(_feedback_file(root).read_text())
    compiled: list[str] = []
    measure = CompiledLatency.measure

    def counted(self, arch):
        compiled.append(arch.key())
        return measure(self, arch)

    patch.setattr(CompiledLatency, "measure", counted)
    try:
        outcome = run_search(_config(root, resume=True))
    finally:
        patch.undo()
    return root, first, outcome.summary, compiled


def test_the_rounds_are_recorded_and_the_second_is_priced_by_the_refit_model(searched):
    root, _, summary, _ = searched
    record = json.loads(_feedback_file(root).read_text())
    first, second = record["rounds"]
    assert [first["model_before"]["points"], first["model_after"]["points"]] == [0, 1]
    assert [second["model_before"]["points"], second["model_after"]["points"]] == [1, 2]  # the training set grows
    assert first["priced_by"].startswith("the analytical estimate for host")
    assert second["priced_by"] == "log-log calibration of the host estimate, fitted on 1 tuned finalist"
    assert record["priced_by"].endswith("fitted on 2 tuned finalists")
    for r in (first, second):
        (finalist,) = r["finalists"]
        assert finalist["tuned_ms"] > 0 and r["error_before"] == relative_error(
            [finalist["predicted_ms"]], [finalist["tuned_ms"]]
        )
    assert first["finalists"][0]["predicted_ms"] == first["finalists"][0]["estimate_ms"]  # round 1: the estimate itself
    # the second round's candidates were priced by the model refit on the first round's finalist, labelled predicted
    model = Calibration(**first["model_after"])
    search = sorted((t for t in _trials(root) if t.role == "search"), key=lambda t: t.number)
    sources = [t.cost.sources["latency_ms"] for t in search]
    assert sources[:3] == ["estimated"] * 3 and set(sources[3:]) == {"predicted"}  # round 1: all evaluated
    for trial in search[3:]:
        assert trial.cost.latency_ms != pytest.approx(_estimate(root, trial))
        assert trial.cost.latency_ms == pytest.approx(float(model.predict(_estimate(root, trial))))
    feedback = summary["feedback"]
    assert [r["training_size_after"] for r in feedback["rounds"]] == [1, 2]
    assert summary["best"]["sources"]["latency_ms"] in ("measured", "predicted", "estimated")
    report = (root / "run" / "report.md").read_text()
    assert "## The feedback loop" in report and "fitted on 1 tuned finalist" in report


def _trials(root: Path) -> list[Trial]:
    from edgenas.store import RunFolder

    with RunFolder(root / "run").read_store() as store:
        return store.trials()


def _estimate(root: Path, trial: Trial) -> float:
    from edgenas.experiment import layers_cost
    from edgenas.hardware import AnalyticalCostModel, load_target
    from edgenas.spaces import space_from_config
    from edgenas.store import RunFolder

    with RunFolder(root / "run").read_store() as store:
        space = space_from_config(store.read_config() or {})
    return layers_cost(space, AnalyticalCostModel(), load_target("host"))(trial.arch).latency_ms


def test_a_resume_keeps_the_first_round_and_compiles_nothing_twice(searched, monkeypatch):
    root, first, _, compiled = searched
    record = json.loads(_feedback_file(root).read_text())
    assert record["rounds"][0] == first["rounds"][0]  # the closed round is kept as it was
    assert len(first["rounds"]) == 1 and len(record["rounds"]) == 2
    round_one = first["rounds"][0]["finalists"][0]["key"]
    assert compiled == [record["rounds"][1]["finalists"][0]["key"]] and round_one not in compiled
    cache = json.loads((root / "run" / "compiled" / "tvm" / "llvm" / "feedback_latency.json").read_text())
    assert set(cache["latency_ms_by_arch"]) == {round_one, compiled[0]}
    monkeypatch.setattr(CompiledLatency, "measure", lambda self, arch: pytest.fail("compiled again on a resume"))
    run_search(_config(root, resume=True))  # everything done: nothing to compile, the rounds as they were
    assert json.loads(_feedback_file(root).read_text())["rounds"] == record["rounds"]


def test_the_best_is_chosen_by_its_tuned_latency(tmp_path):
    """A finalist whose tuned build breaks the latency limit is not the best, whatever its price said."""
    meter = _FakeMeter({"0": 9.0, "1": 1.0})
    feedback = FeedbackLatency(lambda a: _cost(2.0), meter, FeedbackOptions(2, 2, 4, 4), tmp_path / "f.json", "host")  # type: ignore[arg-type]
    trials = [_trial(0, 0.9), _trial(1, 0.8), _trial(2, 0.7)]
    record = feedback.close_round(1, trials)
    assert [f["number"] for f in record["finalists"]] == [0, 1]  # the two most accurate, not tuned yet
    assert feedback.best(trials, Limits(latency_ms=5.0)).number == 1  # trial 0 measured 9 ms > 5 ms
    assert feedback.best(trials, Limits()).number == 0
    assert [f.number for f in feedback.finalists(trials, multi_objective=False)] == [2]  # the tuned are passed over
    assert feedback(_arch(7)).sources["latency_ms"] == "predicted"
    again = FeedbackLatency(lambda a: _cost(2.0), meter, FeedbackOptions(2, 2, 4, 4), tmp_path / "f.json", "host")  # type: ignore[arg-type]
    assert again.rounds == feedback.rounds and again.model == feedback.model  # read back
    with pytest.raises(InvalidInputError, match="--budget"):
        FeedbackLatency(lambda a: _cost(2.0), meter, FeedbackOptions(2, 2, 4, 6), tmp_path / "f.json", "host")  # type: ignore[arg-type]


class _FakeMeter:
    """Stands for CompiledLatency: tuned latencies by gene."""

    def __init__(self, by_gene: dict[str, float]) -> None:
        self.by_gene, self._records = by_gene, {}
        self.cache = None

        class _Options:
            compiler, target = "tvm", "llvm"

        self.options = _Options()

    def records(self) -> dict:
        return self._records

    def latency_ms(self, arch: Arch) -> float:
        value = self.by_gene[str(arch.genes[0])]
        self._records[arch.key()] = {"latency_ms": value, "compile_s": 1.0, "tune_s": 0.5}
        return value

    def measured_by(self) -> str:
        return "fake"


def _arch(gene: int) -> Arch:
    return Arch("toy", (gene,))


def _cost(latency_ms: float) -> Cost:
    return Cost(macs=1, params=1, peak_sram_bytes=1, flash_bytes=1, latency_ms=latency_ms, sources={"latency_ms": "estimated"})


def _trial(gene: int, accuracy: float) -> Trial:
    return Trial(gene, _arch(gene), TrialState.COMPLETE, cost=_cost(2.0), metrics=Metrics(accuracy=accuracy))


def test_the_calibration_recovers_known_points():
    rng = np.random.default_rng(0)
    estimate = np.exp(rng.uniform(np.log(0.1), np.log(20.0), 12))
    tuned = 0.4 * estimate**0.8
    model = fit_calibration(estimate, tuned)
    assert model.points == 12 and model.slope == pytest.approx(0.8, abs=0.02)
    assert relative_error(model.predict(estimate), tuned) < 0.02
    assert loo_errors(estimate, tuned).max() < 0.05
    one = fit_calibration(estimate[:1], tuned[:1])  # one point: the ratio alone, exact there
    assert one.slope == 1.0 and float(one.predict(estimate[0])) == pytest.approx(tuned[0])
    assert fit_calibration([], []).predict(3.0) == pytest.approx(3.0)  # no point: the estimate itself
    ratio = fit_calibration(estimate, tuned, kind="ratio")
    assert ratio.slope == 1.0 and loo_errors(estimate, tuned, "ratio").mean() > loo_errors(estimate, tuned).mean()
    with pytest.raises(InvalidInputError):
        fit_calibration([1.0], [-1.0])
    assert FeedbackOptions(3, budget=7).round_ends() == [2, 4, 7]


COMPILED = ["--target", "host", "--latency", "compiled", "--compiler", "tvm"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        ([*COMPILED, "--feedback-rounds", "0"], ["--feedback-rounds must be between 1 and the budget", "got 0"]),
        ([*COMPILED, "--budget", "4", "--feedback-rounds", "5"], ["--feedback-rounds", "(4", "got 5"]),
        ([*COMPILED, "--feedback-rounds", "2", "--finalists-per-round", "0"], ["--finalists-per-round", "got 0"]),
        ([*COMPILED, "--feedback-rounds", "2", "--tune-trials-per-finalist", "0"], ["--tune-trials-per-finalist", "got 0"]),
        (["--target", "host", "--feedback-rounds", "2"], ["--feedback-rounds", "--latency compiled --compiler tvm"]),
        (["--target", "host", "--latency", "compiled", "--feedback-rounds", "2"], ["--latency compiled needs --compiler tvm"]),
        ([*COMPILED, "--finalists-per-round", "2"], ["go with --feedback-rounds"]),
    ],
)
def test_bad_options_are_one_line(tmp_path, capsys, args, fragments):
    code, err = cli(capsys, "search", *args, "--out", str(tmp_path / "r"))
    assert_one_line_error(subprocess.CompletedProcess([], code, "", err), *fragments)
