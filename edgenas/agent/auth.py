"""The shared secret between an agent and its clients: a token read from a private file.

The token never appears on a command line (where ``ps`` shows it to every user of the machine),
only in a file that only its owner may read: a file readable by the group or by others is refused
as ``ssh`` refuses such a private key, because anyone who can read the token can run models on the
device.
"""

from __future__ import annotations

import importlib
import ipaddress
import secrets
import stat
from pathlib import Path
from types import ModuleType

from edgenas.errors import InvalidInputError, MissingExtraError

#: Shortest token ``edgenas agent serve`` accepts (a guessable token defeats the point).
MIN_SERVER_TOKEN_CHARS = 16


def read_token_file(path: Path, *, min_chars: int = 1) -> str:
    """The token in ``path`` (surrounding whitespace stripped), or one line saying what is wrong with the file."""
    path = Path(path)
    flag = f"--token-file {path}"
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InvalidInputError(f"{flag}: no such file (write a token into it: see 'edgenas agent serve --help')") from None
    except OSError as exc:
        raise InvalidInputError(f"{flag}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInputError(f"{flag}: not a regular file")
    if info.st_mode & 0o077:
        raise InvalidInputError(
            f"{flag}: readable by other users (mode {stat.S_IMODE(info.st_mode):03o}); run 'chmod 600 {path}' first"
        )
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{flag}: cannot read it ({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    if not token:
        raise InvalidInputError(f"{flag}: the file is empty (write a token into it, e.g. {new_token()!r})")
    if any(c.isspace() for c in token) or not token.isprintable() or not token.isascii():
        raise InvalidInputError(f"{flag}: the token must be one word of printable ASCII characters")
    if len(token) < min_chars:
        raise InvalidInputError(f"{flag}: the token has {len(token)} characters; use at least {min_chars} (e.g. {new_token()!r})")
    return token


def new_token() -> str:
    """A fresh random token (32 bytes, URL-safe text)."""
    return secrets.token_urlsafe(32)


def require(module: str) -> ModuleType:
    """Import a module of the ``agent`` extra, or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"the measurement agent needs {module.split('.')[0]}: pip install 'edgenas[agent]'") from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (a server bound elsewhere needs a token, or TLS)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
