"""Hardware in the loop: measured latency as a cost, labelled measured, cached by architecture."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgenas.errors import InvalidInputError
from edgenas.experiment import Experiment, layers_cost
from edgenas.hardware import AnalyticalCostModel, load_target
from edgenas.measure.loop import MeasuredLatency
from edgenas.objectives import Limits
from edgenas.spaces import KwsSpace, MbconvSpace
from edgenas.store import SqliteStore
from edgenas.strategies import STRATEGIES
from edgenas.trial import Metrics, TrialState
from edgenas.workflows.search import SearchConfig, run_search

FAST = {"warmup": 1, "repeats": 3, "rounds": 2}


class MacsEvaluator:
    """Scores by MACs (no training): the loop, not accuracy, is under test here."""

    def __init__(self, space):
        self.space = space

    def evaluate(self, arch, *, budget=1.0):
        return Metrics(min(1.0, sum(layer.macs for layer in self.space.layers(arch)) / 5e6))


def test_host_target_loads_and_estimates():
    target = load_target("host")
    assert target.name == "host" and target.kernels == "reference"
    space = KwsSpace()
    cost = AnalyticalCostModel().estimate(space.layers(space.named("ds-cnn-s")), target)
    assert cost.latency_ms > 0 and cost.sources["latency_ms"] == "estimated"


def test_measured_cost_keeps_the_estimates_and_labels_latency_measured(tmp_path, monkeypatch):
    space = KwsSpace()
    arch = space.sample(np.random.default_rng(0))
    base = layers_cost(space, AnalyticalCostModel(), load_target("host"))
    measured = MeasuredLatency(space, base, tmp_path / "measured_latency.json", **FAST)
    cost = measured(arch)
    estimate = base(arch)
    assert cost.latency_ms > 0 and cost.sources["latency_ms"] == "measured"
    assert (cost.macs, cost.peak_sram_bytes, cost.flash_bytes) == (estimate.macs, estimate.peak_sram_bytes, estimate.flash_bytes)
    assert cost.sources["macs"] == "estimated" and cost.energy_mj is None
    record = json.loads((tmp_path / "measured_latency.json").read_text())["latency_ms_by_arch"][arch.key()]
    assert record["latency_ms"] == cost.latency_ms and record["iqr_ms"] >= 0

    again = MeasuredLatency(space, base, tmp_path / "measured_latency.json", **FAST)
    monkeypatch.setattr(again, "measure", lambda a: pytest.fail("a cached architecture was measured again"))
    assert again(arch).latency_ms == cost.latency_ms


def test_an_mbconv_network_is_measured_at_its_own_resolution(tmp_path):
    # mbconv's input shape is a method of the architecture (resolution is a decision), kws' an attribute.
    space = MbconvSpace(num_classes=10, in_channels=1, resolutions=(16,))
    arch = space.sample(np.random.default_rng(0))
    base = layers_cost(space, AnalyticalCostModel(), load_target("host"))
    cost = MeasuredLatency(space, base, tmp_path / "measured_latency.json", **FAST)(arch)
    assert cost.latency_ms > 0 and cost.sources["latency_ms"] == "measured"


def test_a_corrupt_cache_is_a_user_error(tmp_path):
    (tmp_path / "c.json").write_text("{not json")
    space = KwsSpace()
    measured = MeasuredLatency(space, lambda a: None, tmp_path / "c.json")
    with pytest.raises(InvalidInputError, match="measured-latency cache"):
        measured.latency_ms(space.named("ds-cnn-s"))


def test_a_search_with_measured_latency_resumes_without_measuring_again(tmp_path, monkeypatch):
    space = KwsSpace()
    base = layers_cost(space, AnalyticalCostModel(), load_target("host"))

    def experiment(budget):
        store = SqliteStore(tmp_path / "trials.db")
        strategy = STRATEGIES.create("random", space=space, seed=1)
        cost = MeasuredLatency(space, base, tmp_path / "measured_latency.json", **FAST)
        return Experiment(space, strategy, MacsEvaluator(space), cost, Limits(latency_ms=1e3), store, budget=budget), cost

    first, _ = experiment(3)
    first.run()
    first.store.close()
    assert all(t.state is TrialState.COMPLETE and t.cost.sources["latency_ms"] == "measured" for t in first.trials)

    second, cost = experiment(3)  # resumed with the same budget: nothing new to measure
    monkeypatch.setattr(cost, "measure", lambda a: pytest.fail("resume re-measured a stored trial"))
    second.run()
    assert [t.cost.latency_ms for t in second.trials] == [t.cost.latency_ms for t in first.trials]
    second.store.close()


def test_measured_latency_needs_the_host_target(tmp_path):
    with pytest.raises(InvalidInputError, match="--target host"):
        run_search(SearchConfig(target="cortex-m7", latency="measured", out=tmp_path / "r"))
    with pytest.raises(InvalidInputError, match="--latency must be one of"):
        run_search(SearchConfig(target="host", latency="guessed", out=tmp_path / "r"))
