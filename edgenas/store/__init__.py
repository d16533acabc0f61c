"""Trial storage: ``SqliteStore(path)`` is the one backend (resume = replay its trials), and
``RunFolder`` names every file a run keeps beside it."""

from __future__ import annotations

from edgenas.store._sqlite import SqliteStore, StoreWriteError
from edgenas.store.lock import RunFolderBusy, RunLock
from edgenas.store.run_folder import RunFolder

__all__ = ["RunFolder", "RunFolderBusy", "RunLock", "SqliteStore", "StoreWriteError"]
