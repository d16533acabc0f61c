"""The ``edgenas`` Typer app and its callback (``--debug``, ``--version``).

The commands are registered on :data:`app` by ``edgenas/cli/__init__.py``, in one place.
"""

from __future__ import annotations

from typing import Annotated

import typer

from edgenas.cli.console import State, configure_output

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,  # a bare `edgenas` is a usage error (one line naming the commands), not a page of help
    pretty_exceptions_enable=False,
    help="Hardware-aware neural architecture search for edge devices.",
)


def version() -> str:
    """The installed distribution's version (the package's own when run from a source tree)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("edgenas")
    except PackageNotFoundError:
        from edgenas import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"edgenas {version()}")
        raise typer.Exit(0)


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks, debug logs and other libraries' output.")] = False,
    show_version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    """Hardware-aware neural architecture search for edge devices."""
    State.debug = debug
    configure_output(debug)
