"""Writing the files a run keeps so that a kill, a crash or a full disk never leaves half of one.

Every artefact (models, C source, reports, plots, ``config.yaml``) is written to a temporary file
beside its destination and renamed over it only once complete: a reader sees the old file or the
new one, never a truncated model, and a failed write leaves the earlier file as it was. An
operating-system error while writing (disk full, read-only file system, no permission, a folder
where a file should be) becomes one :class:`OutputError` line naming the file, rather than a
traceback.

:func:`check_writable` answers, before any work starts, whether an output path can be written, so
a command fails in a second rather than after preparing data or training.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgenas.errors import EdgenasError


class OutputError(EdgenasError):
    """A file or folder edgenas cannot write: the message names it and says what to do."""


#: What to tell a person for the operating-system errors a write meets, by errno.
_REASONS = {
    errno.ENOSPC: "no space left on the device: free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is exceeded: free some space or write elsewhere",
    errno.EFBIG: "the file is larger than this process may write (file size limit)",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EACCES: "no permission to write there",
    errno.EPERM: "no permission to write there",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "not a place files can be written",
    errno.EIO: "an input/output error on the device",
}


def os_reason(exc: OSError) -> str:
    """What an operating-system error means for a person, and what to do."""
    return _REASONS.get(exc.errno or 0) or (exc.strerror or type(exc).__name__)


def output_error(exc: OSError, path: Path | str, flag: str = "") -> OutputError:
    """``exc`` raised while writing ``path`` as one line (``flag``, when given, names the option)."""
    reason = os_reason(exc)
    where = f"{flag} {path}" if flag else f"cannot write {path}"
    return OutputError(f"{where}: {reason}")


@contextlib.contextmanager
def atomic_path(path: Path | str, flag: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` to write the whole file to; renamed over ``path`` on success.

    For writers that want a file name (``torch.save``, ``savefig``, an ONNX or TFLite exporter).
    On any error the temporary file is removed and ``path`` is untouched; an ``OSError`` becomes an
    :class:`OutputError`. The file is flushed to the disk before the rename, so the rename never
    publishes a file whose content the disk has not got.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        os.close(os.open(staged, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # the umask's permissions
    except OSError as exc:
        raise output_error(exc, path, flag) from None
    try:
        yield staged
        _sync(staged)
        os.replace(staged, path)
    except OSError as exc:
        raise output_error(exc, path, flag) from None
    except RuntimeError as exc:  # torch.save reports a refused write as its own RuntimeError
        if not _failed_write(exc):
            raise
        raise output_error(OSError(_why_refused(path.parent), "write failed"), path, flag) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()


def _failed_write(exc: RuntimeError) -> bool:
    """Whether a library's RuntimeError is a write the operating system refused (PyTorch's
    stream writer says 'file write failed' or 'unexpected pos' when the disk fills)."""
    text = str(exc)
    return "write failed" in text or "unexpected pos" in text


def _why_refused(folder: Path) -> int:
    """The likely errno of a write refused without one: ENOSPC when the device is (nearly) full."""
    with contextlib.suppress(OSError):
        stats = os.statvfs(folder)
        if stats.f_bavail * stats.f_frsize < 1 << 20:
            return errno.ENOSPC
    return errno.EFBIG


def write_bytes(path: Path | str, data: bytes, flag: str = "") -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); return the path."""
    with atomic_path(path, flag) as staged:
        staged.write_bytes(data)
    return Path(path)


def write_text(path: Path | str, text: str, flag: str = "") -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`); return the path."""
    return write_bytes(path, text.encode("utf-8"), flag)


def _sync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def check_writable(path: Path | str, flag: str, *, folder: bool = False) -> Path:
    """Refuse, before any work, an output that cannot be written: an empty path, a folder where a
    file is expected (or a file where a folder is), a read-only or virtual file system, a full disk.

    Nothing is created: a test file is opened and removed unseen in the nearest folder that exists.
    Returns ``path`` as a :class:`~pathlib.Path`.
    """
    kind = "folder" if folder else "file"
    if not str(path).strip():
        raise OutputError(f"{flag}: an empty path; name the {kind} to write")
    path = Path(path)
    if path.exists():
        if folder and not path.is_dir():
            raise OutputError(f"{flag} {path}: a file, not a folder; name a folder")
        if not folder and path.is_dir():
            raise OutputError(f"{flag} {path}: a folder; name the file to write")
    existing = path if folder and path.is_dir() else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{flag} {path}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        stats = os.statvfs(existing)
    except OSError as exc:
        raise output_error(exc, path, flag) from None
    if stats.f_bavail == 0 and stats.f_blocks > 0:
        raise output_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), path, flag)
    return path


#: ``atomic_path``'s temporary files: ``.NAME.<pid>.<8 hex>.tmp``.
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")


def sweep_temporaries(folder: Path | str) -> list[Path]:
    """Delete what writers killed mid-write left under ``folder``: temporary files of
    :func:`atomic_path` whose process is gone (the files they were to replace are intact). A
    process still running keeps its own; nothing else is touched. Returns what was deleted."""
    removed = []
    for path in Path(folder).rglob(".*.tmp"):
        match = _TEMPORARY.match(path.name)
        if match is None or not path.is_file() or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError, PermissionError):
            path.unlink()
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process, or not a pid at all
        return True
    return True
