import pytest

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.objectives import Limits, check, pareto_front
from edgenas.trial import Cost, Metrics, Trial, TrialState


def cost(latency, sram=1000, flash=1000):
    return Cost(macs=1, params=1, peak_sram_bytes=sram, flash_bytes=flash, latency_ms=latency)


def test_check_names_every_broken_limit():
    limits = Limits(latency_ms=5, sram_bytes=2000, flash_bytes=500)
    got = check(cost(6.0, sram=1000, flash=900), limits)
    assert [v.name for v in got] == ["latency_ms", "flash_bytes"]
    assert str(got[0]) == "latency_ms 6 > 5"
    assert check(cost(5.0), Limits(latency_ms=5)) == []


def test_energy_limit_checks_the_energy_figure_and_never_passes_a_missing_one():
    with_energy = Cost(1, 1, 1000, 1000, latency_ms=1.0, energy_mj=3.0)
    assert check(with_energy, Limits(energy_mj=4)) == []
    [broken] = check(with_energy, Limits(energy_mj=2))
    assert str(broken) == "energy_mj 3 > 2"
    [unknown] = check(cost(1.0), Limits(energy_mj=2))
    assert "unknown" in str(unknown) and unknown.name == "energy_mj"
    assert Limits(energy_mj=2).to_dict()["energy_mj"] == 2


def test_limits_must_be_positive():
    with pytest.raises(InvalidInputError, match="sram_bytes"):
        Limits(sram_bytes=-1)


def test_pareto_front_keeps_only_non_dominated():
    def t(n, acc, lat):
        return Trial(n, Arch("x", (n,)), TrialState.COMPLETE, cost=cost(lat), metrics=Metrics(acc))

    trials = [t(0, 0.9, 5.0), t(1, 0.8, 2.0), t(2, 0.7, 3.0), t(3, 0.95, 9.0), t(4, 0.9, 5.0)]
    trials.append(Trial(5, Arch("x", (5,)), TrialState.INFEASIBLE, cost=cost(1.0)))
    assert [x.number for x in pareto_front(trials)] == [3, 0, 1]


def test_hypervolume_2d_is_the_dominated_staircase_area():
    from edgenas.objectives import hypervolume_2d

    # (score, cost): two points make an L-shaped area against reference (0, 10).
    assert hypervolume_2d([(0.5, 2.0), (0.8, 6.0)], (0.0, 10.0)) == pytest.approx(4 * 0.5 + 4 * 0.8)
    # A dominated point and points outside the reference add nothing; order does not matter.
    assert hypervolume_2d([(0.8, 6.0), (0.4, 7.0), (0.5, 2.0), (-1.0, 1.0), (0.9, 11.0)], (0.0, 10.0)) == pytest.approx(5.2)
    assert hypervolume_2d([], (0.0, 10.0)) == 0.0
