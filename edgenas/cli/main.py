"""The console entry point (``edgenas = "edgenas.cli:run"``) and its one error handler.

Whatever goes wrong, a person reads one line on stderr and the exit code says what kind:

- a usage error (unknown option or command, a value of the wrong type, a missing argument,
  a bare ``edgenas``): ``error: <message> (see 'edgenas ... --help')``, exit 2;
- an :class:`~edgenas.errors.EdgenasError` (bad input the user can fix): one red line, exit 2;
  ``--debug`` shows the traceback instead;
- Ctrl-C: one line (a search says its finished trials are kept and ``--resume`` continues), exit 130.

Anything else is a bug in edgenas and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer

from edgenas.cli.app import app
from edgenas.cli.console import Interrupted, State, err, error_line, one_line
from edgenas.errors import EdgenasError

#: Ctrl-C's exit code (128 + SIGINT).
INTERRUPTED = 130


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
        _run(args)
    finally:
        if State.answer is not None:  # give stdout back (an in-process caller goes on using it)
            sys.stdout, State.answer = State.answer, None


def _run(args: list[str]) -> None:
    try:
        code = app(args=args, prog_name="edgenas", standalone_mode=False)
    except EdgenasError as exc:
        if State.debug:
            raise
        error_line(str(exc))
        sys.exit(2)
    except Interrupted as exc:  # a search: its finished trials are in the store
        error_line(str(exc), style="yellow", label="interrupted:")
        sys.exit(INTERRUPTED)
    except KeyboardInterrupt:  # before typer ran (while importing)
        error_line("nothing was changed", style="yellow", label="interrupted:")
        sys.exit(INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("[yellow]aborted[/yellow]")
        sys.exit(INTERRUPTED)
    except CLICK_ERRORS as exc:  # usage errors: the bundled click's, whatever their kind
        error_line(usage_message(exc, args))
        sys.exit(2)
    if code == INTERRUPTED:  # typer turns Ctrl-C in a command other than search into this code
        error_line("stopped before it finished", style="yellow", label="interrupted:")
    if isinstance(code, int) and code:
        sys.exit(code)
