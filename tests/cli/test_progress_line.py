"""The per-trial line of a parallel search: where the trial ran (and on which device, when not
the CPU), how busy the workers are and how many trials are in flight; nothing of that with one."""

from __future__ import annotations

from edgenas.arch import Arch
from edgenas.cli.console import trial_line
from edgenas.executors import Activity
from edgenas.experiment import Progress
from edgenas.trial import Cost, Metrics, Trial, TrialState

COST = Cost(macs=1, params=1, peak_sram_bytes=1, flash_bytes=1, latency_ms=2.05, sources={"latency_ms": "estimated"})


def _trial(**where: str) -> Trial:
    return Trial(3, Arch("kws", (0,)), TrialState.COMPLETE, cost=COST, metrics=Metrics(0.712), duration_s=12.3, **where)


def test_several_workers_show_how_busy_they_are_and_what_is_in_flight() -> None:
    trial = _trial(worker="local-42", device="cuda:0")
    line = trial_line(Progress(trial, 3, 60, trial, 83.0, Activity(workers=2, busy=2, queued=3)))
    assert "12.3 s on local-42 (cuda:0); 3/60 trained, 2/2 workers busy, 5 in flight, best 71.2%" in line
    assert line.endswith("130 trials/h, 0:01:23 elapsed")


def test_one_worker_on_the_cpu_says_nothing_of_workers_or_devices() -> None:
    trial = _trial(worker="main", device="cpu")
    line = trial_line(Progress(trial, 3, 60, trial, 83.0, Activity(workers=1, busy=0, queued=0)))
    assert line == (
        "trial 3: complete, val acc 71.2%, latency 2.05 ms (estimated), 12.3 s; 3/60 trained, "
        "best 71.2% @ 2.05 ms (trial 3), 130 trials/h, 0:01:23 elapsed"
    )
