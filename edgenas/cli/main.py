"""The console entry point (``edgenas = "edgenas.cli:run"``) and its one error handler.

Whatever goes wrong, a person reads one line on stderr and the exit code says what kind:

- a usage error (unknown option or command, a value of the wrong type, a missing argument,
  a bare ``edgenas``): ``error: <message> (see 'edgenas ... --help')``, exit 2;
- an :class:`~edgenas.errors.EdgenasError` (bad input the user can fix): one red line, exit 2;
  ``--debug`` shows the traceback instead;
- Ctrl-C: one line (a search says its finished trials are kept and ``--resume`` continues), exit 130;
  SIGTERM (``kill``, a scheduler's stop) unwinds the same way and says the same, exit 143;
- an operating-system error writing a file (disk full, read-only file system, no permission):
  one line naming the file, exit 2.

Anything else is a bug in edgenas and keeps its traceback.
"""

from __future__ import annotations

import errno
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer

from edgenas.cli.app import app
from edgenas.cli.console import Interrupted, State, err, error_line, one_line
from edgenas.errors import EdgenasError

#: Ctrl-C's exit code (128 + SIGINT).
INTERRUPTED = 130
#: SIGTERM's exit code (128 + SIGTERM).
TERMINATED = 143
#: OS errors that are the machine's state, not a bug: one line, exit 2.
_ENVIRONMENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EMFILE, errno.ENFILE}
)


def _click_errors() -> tuple[type[BaseException], ...]:
    """The ``ClickException`` base of the click that typer runs on.

    typer >= 0.29 bundles its own copy of click (``typer.BadParameter`` is not a
    ``click.ClickException``); it is found through ``typer.BadParameter``'s bases rather than a
    private module path, with the ``click`` package's own as well where it is installed.
    """
    found: list[type[BaseException]] = [c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"]
    try:
        import click

        found.append(click.ClickException)
    except ImportError:  # pragma: no cover - typer without a separate click
        pass
    return tuple(dict.fromkeys(found))


CLICK_ERRORS = _click_errors()


def _command_path(args: Sequence[str]) -> str:
    """``edgenas search`` for ``["search", "--latency-ms"]``: the (sub)command the arguments name,
    for the errors click raises without a context (an option missing its value)."""
    from typer.main import get_command

    command: Any = get_command(app)
    path = ["edgenas"]
    for arg in args:
        if arg.startswith("-"):
            continue
        commands = getattr(command, "commands", {})
        if arg not in commands:
            break
        command = commands[arg]
        path.append(arg)
    return " ".join(path)


def usage_message(exc: BaseException, args: Sequence[str] = ()) -> str:
    """A click error as one line: what is wrong, then where help is (``see 'edgenas search --help'``)."""
    ctx: Any = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None and ctx.command_path else _command_path(args)
    format_message = getattr(exc, "format_message", None)
    message = one_line(format_message() if callable(format_message) else str(exc))
    group = ctx.command if ctx is not None and hasattr(ctx.command, "list_commands") else None
    missing = type(exc).__name__ == "NoArgsIsHelpError" or message.rstrip(".").lower() == "missing command"
    if group is not None and missing:
        names = ", ".join(group.list_commands(ctx))
        return f"{command} needs a command: {names} (see '{command} --help')"
    return f"{message.rstrip('.')} (see '{command} --help')"


def run(argv: Sequence[str] | None = None) -> None:
    """Run ``edgenas`` with ``argv`` (default: the process's arguments) and exit with its code."""
    args = list(argv) if argv is not None else sys.argv[1:]
    if "--json" in args:  # stdout is the answer's alone: what libraries print meanwhile goes to stderr
        State.answer, sys.stdout = sys.stdout, sys.stderr
    try:
        with _sigterm_as_interrupt() as terminated:
            _run(args, terminated)
    finally:
        if State.answer is not None:  # give stdout back (an in-process caller goes on using it)
            sys.stdout, State.answer = State.answer, None


@contextmanager
def _sigterm_as_interrupt() -> Iterator[list[int]]:
    """While edgenas runs, SIGTERM unwinds like Ctrl-C (stores closed, the lock released, the line
    saying what was kept); the list yielded records that it came, for the label and exit code.

    Python's default is to die at once and say nothing. Only the main thread can set a handler:
    elsewhere (an embedding application's thread) SIGTERM keeps the process's own handling.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopped_by(terminated: list[int]) -> tuple[str, int]:
    """The label and exit code of a stop: SIGTERM's when it came, else Ctrl-C's."""
    return ("terminated:", TERMINATED) if terminated else ("interrupted:", INTERRUPTED)


def _run(args: list[str], terminated: list[int] | None = None) -> None:
    terminated = terminated if terminated is not None else []
    try:
        code = app(args=args, prog_name="edgenas", standalone_mode=False)
    except EdgenasError as exc:
        if State.debug:
            raise
        error_line(str(exc))
        sys.exit(2)
    except Interrupted as exc:  # a search: its finished trials are in the store
        label, status = _stopped_by(terminated)
        error_line(str(exc), style="yellow", label=label)
        sys.exit(status)
    except KeyboardInterrupt:  # before typer ran (while importing)
        label, status = _stopped_by(terminated)
        error_line("nothing was changed", style="yellow", label=label)
        sys.exit(status)
    except OSError as exc:  # a file the machine refuses to read or write (disk full, read-only): not a bug
        if State.debug or exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        from edgenas.files import os_reason

        error_line(f"{exc.filename or 'a file'}: {os_reason(exc)}")
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("[yellow]aborted[/yellow]")
        sys.exit(_stopped_by(terminated)[1])
    except CLICK_ERRORS as exc:  # usage errors: the bundled click's, whatever their kind
        error_line(usage_message(exc, args))
        sys.exit(2)
    if code == INTERRUPTED:  # typer turns Ctrl-C in a command other than search into this code
        label, status = _stopped_by(terminated)
        error_line("stopped before it finished", style="yellow", label=label)
        sys.exit(status)
    if isinstance(code, int) and code:
        sys.exit(code)
