"""The ``edgenas`` command: parse flags, call the library, format the answer.

One module per command group (``search``, ``targets``, ``bench``, ``deploy``: export, verify and
audit, ``latency_predictor``: the ``predictor`` group, ``profile``, ``zoo``, ``agent``: the
measurement agent and its client), the app and its
callback in ``app``, what is printed and how in ``console``, and the one error handler in
``main`` (``run``, the console entry point). Every command is registered here, in one place.

Errors a user can fix print one line on stderr and exit 2 (``--debug`` shows the traceback);
``--json`` prints exactly one JSON object on stdout; progress goes to stderr. Exit codes: 0
success, 1 a search or check that ran but did not meet its goal, 2 bad input or usage, 130 Ctrl-C.
"""

from __future__ import annotations

import typer

from edgenas.cli.agent import register as register_agent
from edgenas.cli.app import app
from edgenas.cli.bench import bench
from edgenas.cli.compile import compile_command
from edgenas.cli.console import LazyHelpCommand
from edgenas.cli.dashboard import register as register_dashboard
from edgenas.cli.deploy import audit, export, verify
from edgenas.cli.latency_predictor import GROUP_HELP, collect, evaluate, fit
from edgenas.cli.main import run
from edgenas.cli.profile import profile
from edgenas.cli.runs import register as register_runs
from edgenas.cli.search import search
from edgenas.cli.targets import targets
from edgenas.cli.zoo import zoo

app.command(cls=LazyHelpCommand)(search)
app.command()(targets)
app.command()(bench)
app.command()(export)
app.command()(verify)
app.command()(profile)
app.command()(audit)
app.command()(zoo)
app.command("compile")(compile_command)

predictor = typer.Typer(no_args_is_help=False, help=GROUP_HELP)
predictor.command()(fit)
predictor.command("eval")(evaluate)
predictor.command()(collect)
app.add_typer(predictor, name="predictor")
register_agent(app)
register_runs(app)
register_dashboard(app)

__all__ = ["app", "run"]
