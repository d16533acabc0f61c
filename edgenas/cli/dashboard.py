"""``edgenas dashboard``: watch the runs under a folder in a browser while their searches run.

Read-only: the dashboard never writes to a run. Loopback by default; bound to another address it
needs ``--token-file`` (the token is then asked of every request), because the page shows what
is being searched and where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgenas.cli.console import say


def dashboard(
    runs_dir: Annotated[Path, typer.Argument(help="A run folder, or a folder of runs (searched 3 levels deep).")] = Path("runs"),
    port: Annotated[int, typer.Option(help="TCP port (0: any free one, printed).")] = 8080,
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default; another one needs --token-file).")
    ] = "127.0.0.1",
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="File holding a token (chmod 600) that every request must give (?token= once, or a Bearer header).",
        ),
    ] = None,
) -> None:
    """Serve a live, read-only web view of the runs under RUNS_DIR (trials, fronts, best so far) until Ctrl-C."""
    from edgenas.agent.auth import is_loopback
    from edgenas.cli.console import State
    from edgenas.dashboard.app import DashboardSettings, listen, serve
    from edgenas.errors import InvalidInputError
    from edgenas.workflows.runs import find_runs

    found = find_runs(runs_dir)  # RUNS_DIR that is not a folder: one line, before anything listens
    token = None
    if token_file is not None:
        from edgenas.agent.auth import MIN_SERVER_TOKEN_CHARS, read_token_file

        token = read_token_file(token_file, min_chars=MIN_SERVER_TOKEN_CHARS)
    elif not is_loopback(host):
        raise InvalidInputError(
            f"--host {host} is reachable from other machines: give --token-file FILE (a token of 16+ characters, chmod 600)"
        )
    sock = listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    what = f"{len(found)} run(s)" if found else "no runs yet"
    say(f"edgenas dashboard on http://{shown}:{bound}/ watching {runs_dir} ({what}); read-only; Ctrl-C stops it")
    if token is not None:
        say(
            f"open http://{shown}:{bound}/?token=<the token in {token_file}> once (a cookie keeps it), "
            "or send 'Authorization: Bearer <token>'"
        )
    serve(DashboardSettings(runs_dir, token), sock, log_level="info" if State.debug else "warning")


def register(app: typer.Typer) -> None:
    """Add the ``dashboard`` command to the ``edgenas`` app."""
    app.command()(dashboard)
