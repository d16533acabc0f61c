"""One search at a time per run folder: an exclusive lock on ``RUN/search.lock``.

Two searches writing one store would interleave their trials and overwrite each other's
``best/``. The lock is ``flock(2)`` on a file beside the store: the operating system releases it
whenever the process ends, however it ends (SIGKILL included), so a killed search never leaves a
lock behind that blocks its ``--resume``; a lock file naming a process that is gone is simply
taken over. The file holds the pid of the holder, so the second search can say who has the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from edgenas.errors import InvalidInputError


class RunFolderBusy(InvalidInputError):
    """Another process holds the run folder's lock; the message names its pid."""


@dataclass
class RunLock:
    """The held lock of one run folder (``release`` it, or let the process end)."""

    path: Path
    fd: int | None

    @classmethod
    def acquire(cls, path: Path, folder: Path) -> RunLock:
        """Take the lock at ``path`` or raise :class:`RunFolderBusy` naming the holder's pid."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise RunFolderBusy(busy_message(folder, pid)) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(Path(path), fd)

    def release(self) -> None:
        """Let another search have the folder (idempotent)."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


def is_held(path: Path) -> bool:
    """Whether a search holds the lock at ``path`` now, asked without writing anything.

    A shared lock on a read-only descriptor fails only while another process holds the exclusive
    one; taken, it is dropped at once. A watcher (the dashboard, ``runs list``) must never write
    to a run, not even the lock file's pid, so it cannot use :meth:`RunLock.acquire`.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # no lock file: no search ever held it (or it cannot be read: then nothing says it is held)
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the shared lock if it was taken
    return False


def busy_message(folder: Path, pid: int | None) -> str:
    """Why a second search cannot use ``folder``, naming the process that holds it."""
    who = "another process" if pid is None else f"process {pid}"
    if pid is not None and not _alive(pid):  # its children still hold the lock for a moment
        who += " (ending now: try again in a few seconds)"
    return f"{folder} is in use by another edgenas search ({who}); wait for it to finish, or choose another --out"


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True
