"""Tasks: data sets and their features, nothing else (no models, no training).

A task loader returns a :class:`TaskData`: standardised features and labels, split into
train/validation/test, with a sentence saying where the data came from. Evaluators read it; a
search space only needs ``input_shape`` and ``len(classes)``.

Loaders live in their own modules (``edgenas.tasks.kws``) and are imported on demand so that
importing this package stays cheap.
"""

from __future__ import annotations

from edgenas.tasks._base import Split, TaskData

__all__ = ["Split", "TaskData"]
