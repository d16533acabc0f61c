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


def test_limits_must_be_positive():
    with pytest.raises(InvalidInputError, match="sram_bytes"):
        Limits(sram_bytes=-1)


def test_pareto_front_keeps_only_non_dominated():
    def t(n, acc, lat):
        return Trial(n, Arch("x", (n,)), TrialState.COMPLETE, cost=cost(lat), metrics=Metrics(acc))

    trials = [t(0, 0.9, 5.0), t(1, 0.8, 2.0), t(2, 0.7, 3.0), t(3, 0.95, 9.0), t(4, 0.9, 5.0)]
    trials.append(Trial(5, Arch("x", (5,)), TrialState.INFEASIBLE, cost=cost(1.0)))
    assert [x.number for x in pareto_front(trials)] == [3, 0, 1]
