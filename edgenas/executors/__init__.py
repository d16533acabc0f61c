"""Where candidates are evaluated: in this process, in local worker processes, or on a Ray cluster.

``Experiment`` hands each round of candidates to an :class:`Executor` and gets one
:class:`Outcome` per candidate back, in the order it asked them, whatever order they finished in:
the trials a search stores depend on the seed and the batch size, never on the executor.
"""

from __future__ import annotations

from edgenas.executors.base import Activity, Executor, Outcome, OutcomeCallback, SerialExecutor, describe, torch_threads

__all__ = ["Activity", "Executor", "Outcome", "OutcomeCallback", "SerialExecutor", "describe", "torch_threads"]
