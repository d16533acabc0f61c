"""One exception tree for everything a user can cause.

The CLI turns any :class:`EdgenasError` into one red line and exit code 2; anything else is a
bug in edgenas and keeps its traceback. So raise these for *bad input* (an unknown name, a
malformed file, a folder without data), never for internal invariants.
"""

from __future__ import annotations


class EdgenasError(Exception):
    """Base class: a problem the user can fix; the message says what and how."""


class InvalidInputError(EdgenasError, ValueError):
    """A parameter, file or folder that edgenas cannot use."""


class UnknownNameError(InvalidInputError, KeyError):
    """A registry lookup failed; the message lists what is accepted."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnsupportedOpError(EdgenasError):
    """An operator the target's runtime cannot execute natively."""


class MissingExtraError(EdgenasError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class MissingDataError(InvalidInputError, FileNotFoundError):
    """A data file or folder edgenas needs is absent; the message names it."""


class DeviceUnavailableError(EdgenasError):
    """A device that measures candidates stopped answering. Not one candidate's fault: a search
    stops with what it finished kept, and ``--resume`` continues once the device is back."""
