"""Trial storage. ``SqliteStore(path)`` is the one backend; resume = replay its trials."""

from __future__ import annotations

from edgenas.store._sqlite import SqliteStore

__all__ = ["SqliteStore"]
