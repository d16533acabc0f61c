"""Generated data sets cached as ``.npz``: a key from the parameters, an atomic write, a safe read.

Why one module: every synthetic task (keyword spotting, detection) caches what it made the same
way, and a cache file is untrusted input (a disk can fill up half-way, another process can write
the same name, a file can be swapped): the name carries a hash of the parameters, a write is a
rename of a finished file, and a read checks sizes before NumPy allocates anything.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: Most bytes a cache file may unpack to (the default KWS data set is about 15 MB, detection's 55 MB).
MAX_CACHE_BYTES = 1 << 30


def params_hash(params: dict[str, object]) -> str:
    """12 hex digits of the SHA-1 of ``params`` as sorted JSON: the cache file's key."""
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def save_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a uniquely named temporary file in the same folder, then rename: a reader never
    sees half a file, and two processes generating at once cannot clobber each other's file.
    (Plain ``open`` rather than ``mkstemp``, so the file gets the user's umask, not 0600.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub: a ** key could be allow_pickle (bool)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_npz_sizes(path: Path) -> None:
    """Raise ``ValueError`` when an array in the ``.npz`` declares more data than its member holds
    (NumPy allocates the declared size before reading) or the members unpack beyond :data:`MAX_CACHE_BYTES`."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if sum(m.file_size for m in members) > MAX_CACHE_BYTES:
            raise ValueError(f"unpacks to more than {MAX_CACHE_BYTES:,} B")
        for member in members:
            with archive.open(member) as f:
                version = np.lib.format.read_magic(f)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(f)
                if math.prod(shape) * dtype.itemsize > member.file_size:
                    raise ValueError(f"{member.filename} declares {shape} {dtype} in {member.file_size:,} B")


def read_cache(
    path: Path, params: dict[str, object], valid: Callable[[dict[str, np.ndarray]], bool]
) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None (and a warning) when the file is missing, unreadable, made with
    other parameters (its ``params_json`` array) or fails ``valid`` (shapes, finite values)."""
    if not path.is_file():
        return None
    try:
        check_npz_sizes(path)
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        ok = json.loads(str(arrays["params_json"])) == params and valid(arrays)
    except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("cache file %s is unreadable (%s); regenerating it", path, exc)
        return None
    if not ok:
        logger.warning("cache file %s does not match its parameters; regenerating it", path)
        return None
    return arrays
