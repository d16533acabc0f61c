"""Evaluators: how accurate is an architecture on the task."""

from __future__ import annotations

from edgenas.evaluators.base import Evaluator, TrialFailed

__all__ = ["Evaluator", "TrialFailed"]
