"""Where edgenas finds what is not in the repository: the shared measurements and the data cache.

Both are settings, never the current directory: a command run from any folder finds the same
files. The shared data (third-party measurements that tests, ``targets --check``, ``bench`` and
the latency predictors read) is looked up in this order:

1. a path the caller passes (a command-line flag such as ``--latency-table``, or a function
   argument);
2. ``$EDGENAS_SHARED_DATA``;
3. the package's own default: the ``shared/data`` folder beside the source checkout the package
   was installed from (``<checkout>/../shared/data``), which is where the project keeps it.

A file that is not there is reported by :func:`shared_file` with its name and the setting to
change, never as a bare ``FileNotFoundError``. The data cache (synthesised speech) is
``$EDGENAS_CACHE`` or ``~/.cache/edgenas``.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgenas.errors import MissingDataError

SHARED_DATA_ENV = "EDGENAS_SHARED_DATA"
CACHE_ENV = "EDGENAS_CACHE"


def package_shared_data() -> Path:
    """The package's default shared-data folder: ``shared/data`` beside its source checkout."""
    checkout = Path(__file__).resolve().parent.parent  # <checkout>/edgenas/settings.py -> <checkout>
    return checkout.parent / "shared" / "data"


def shared_data_dir(explicit: Path | str | None = None) -> Path:
    """The shared-data folder: ``explicit``, else ``$EDGENAS_SHARED_DATA``, else the package's default."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        return Path(env)
    return package_shared_data()


def shared_file(relative: str | Path, *, flag: str | None = None, explicit: Path | str | None = None) -> Path:
    """``<shared data>/<relative>``, or :class:`MissingDataError` naming the file and how to supply it.

    ``flag`` is the command-line option that points at the file directly, where there is one.
    """
    path = shared_data_dir(explicit) / relative
    if not path.exists():
        how = f"pass {flag} PATH, or set " if flag else "set "
        raise MissingDataError(
            f"{path} not found: {how}{SHARED_DATA_ENV} to the shared data folder (the one holding {Path(relative)})"
        )
    return path


def cache_dir(explicit: Path | str | None = None) -> Path:
    """Where generated data is cached: ``explicit``, ``$EDGENAS_CACHE`` or ``~/.cache/edgenas``."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgenas"
