"""edgenas: hardware-aware neural architecture search for edge devices.

The flow: a ``SearchSpace`` turns a genotype (``Arch``) into layers (``ir.Layer``); a cost model
prices them on a ``Target``; ``objectives.check`` rejects what breaks the ``Limits`` before any
training; an ``Evaluator`` scores the rest; a ``Strategy`` proposes the next candidate; the
``Experiment`` loop runs it all and a ``SqliteStore`` keeps every trial (resume = replay).
"""

from __future__ import annotations

from edgenas.arch import Arch, Decision
from edgenas.errors import EdgenasError, InvalidInputError, MissingDataError, UnknownNameError
from edgenas.experiment import Experiment
from edgenas.ir import Layer, Op
from edgenas.objectives import Limits, check, pareto_front
from edgenas.trial import Cost, Metrics, Trial, TrialState

__version__ = "0.1.0"

__all__ = [
    "Arch",
    "Cost",
    "Decision",
    "EdgenasError",
    "Experiment",
    "InvalidInputError",
    "Layer",
    "Limits",
    "Metrics",
    "MissingDataError",
    "Op",
    "Trial",
    "TrialState",
    "UnknownNameError",
    "check",
    "pareto_front",
]
