"""What the command line prints besides a command's answer, and how.

Everything meant for a person goes to stderr through :data:`err`: status lines, the search's
progress, warnings, errors. Stdout carries only the answer (a table, or with ``--json`` exactly
one JSON object, :func:`print_json`). :func:`configure_output` decides what of other libraries
reaches the terminal: nothing below an error unless ``--debug``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperOption

if TYPE_CHECKING:
    from edgenas.experiment import Progress
    from edgenas.trial import Metrics

#: The person's console: stderr (progress, status, warnings, errors).
err = Console(stderr=True)


class State:
    """What the app's callback learnt (``--debug``), read by the error handler; and, with ``--json``,
    the stream the one JSON answer goes to (anything else printed to stdout meanwhile, by a library
    such as Ray's error listener, is sent to stderr instead)."""

    debug = False
    answer: TextIO | None = None


class Interrupted(Exception):
    """Ctrl-C, with what it leaves behind (one line; exit code 130)."""


# -- printing -------------------------------------------------------------------------------
def stdout_console() -> Console:
    """A console on stdout for a command's answer (made per use: it reads ``COLUMNS`` then)."""
    return Console()


def say(message: str) -> None:
    """A status line on stderr (dim in a terminal; never Rich markup: ``[float32]`` is text)."""
    err.print(f"[dim]{escape(message)}[/dim]", highlight=False, soft_wrap=True)


def problem(head: str, detail: str = "") -> None:
    """One red line on stderr: why a check failed (``head`` in red, then the figures)."""
    tail = f" {escape(detail)}" if detail else ""
    err.print(f"[red]{escape(head)}[/red]{tail}", highlight=False, soft_wrap=True)


def error_line(message: str, style: str = "red", label: str = "error:") -> None:
    """``error: <message>`` as one line, whatever the message holds (newlines are folded)."""
    err.print(f"[{style}]{label}[/{style}] {escape(one_line(message))}", highlight=False, soft_wrap=True)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def print_json(payload: Any) -> None:
    """The ``--json`` answer: exactly one JSON object on one line of stdout."""
    stream = State.answer or sys.stdout
    stream.write(json.dumps(payload) + "\n")
    stream.flush()


def binary_size(n_bytes: float) -> str:
    """``327680`` -> ``320 KiB``, ``17179869184`` -> ``16 GiB`` (binary units, at most 4 digits)."""
    value, unit = float(n_bytes), "B"
    for name in ("KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024:
            break
        value, unit = value / 1024, name
    return f"{value:.4g} {unit}" if unit != "B" else f"{int(n_bytes):,} B"


def json_option(help: str = "Print one JSON object on stdout.") -> Any:
    """The ``--json`` flag every command shares."""
    return typer.Option("--json", help=help)


# -- help texts from the registries, computed when help is shown ---------------------------
def lazy_help(**providers: Callable[[], str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a command's options whose help is computed only when ``--help`` is shown.

    The registries behind them (evaluators, plug-ins) may import torch: parsing flags should not
    pay for that. Register the command with ``cls=LazyHelpCommand``.
    """

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        setattr(function, _LAZY_HELP, providers)
        return function

    return mark


_LAZY_HELP = "_edgenas_lazy_help"


class LazyHelpCommand(TyperCommand):
    """A command whose options marked with :func:`lazy_help` get their help text at ``--help`` time."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        providers: dict[str, Callable[[], str]] = getattr(self.callback, _LAZY_HELP, {})
        for param in self.params:
            provider = providers.get(param.name or "")
            if provider is not None and isinstance(param, TyperOption):
                param.help = escape(provider())  # help is Rich markup: registered names are text
        super().format_help(ctx, formatter)


# -- the search's progress --------------------------------------------------------------------
def signal_text(metrics: Metrics) -> str:
    """An accuracy in percent; a proxy score as what it is (it is not an accuracy)."""
    return f"{100 * metrics.accuracy:.1f}%" if metrics.is_accuracy else f"{metrics.signal} score {metrics.accuracy:.4g}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def best_text(p: Progress, number: bool = True) -> str:
    """The best model so far: ``best 72.0% @ 1.90 ms (trial 1)``."""
    best = p.best
    if best is None or best.metrics is None or best.cost is None:
        return "no feasible model yet"
    return f"best {signal_text(best.metrics)} @ {best.cost.latency_ms:.2f} ms" + (f" (trial {best.number})" if number else "")


def trial_line(p: Progress) -> str:
    """One log line for a finished trial: what happened to it, then where the search stands, e.g.
    ``trial 3: complete, val acc 71.2%, latency 2.05 ms (estimated), 12.3 s; 4/60 trained,
    best 72.0% @ 1.90 ms (trial 1), 281 trials/h, 0:00:51 elapsed`` (on one line). With several
    workers it says where the trial ran and what the workers are doing: ``... 12.3 s on local-4711
    (cuda:0); 4/60 trained, 2/2 workers busy, 3 in flight, best ...``."""
    t = p.trial
    state = str(t.state)
    if state == "complete" and t.metrics is not None:
        signal = f"val acc {signal_text(t.metrics)}" if t.metrics.is_accuracy else signal_text(t.metrics)
        what = f"complete, {signal}"
        if t.cost is not None:
            what += f", latency {t.cost.latency_ms:.2f} ms ({t.cost.sources.get('latency_ms', 'estimated')})"
        what += f", {t.duration_s:.1f} s"
    elif state == "infeasible":
        what = "infeasible, not trained: " + ("; ".join(t.violations) or "breaks a limit")
    elif state == "fail":
        what = f"failed after {t.duration_s:.1f} s: {t.error or 'no reason recorded'}"
    else:
        what = state
    evaluated = "scored" if t.metrics is not None and not t.metrics.is_accuracy else "trained"
    where = f" on {t.worker}" if t.worker not in (None, "main") else ""
    where += f" ({t.device})" if t.device not in (None, "cpu") else ""
    return (
        f"trial {t.number}: {what}{where}; {p.evaluated}/{p.budget} {evaluated}, {activity_text(p)}{best_text(p)}, "
        f"{rate_text(p)}, {_clock(p.elapsed_s)} elapsed"
    )


def activity_text(p: Progress) -> str:
    """``2/2 workers busy, 3 in flight, `` when several workers evaluate; nothing for one."""
    a = p.activity
    if a is None or a.workers <= 1:
        return ""
    return f"{a.busy}/{a.workers} workers busy, {a.in_flight} in flight, "


def rate_text(p: Progress) -> str:
    """Candidates evaluated per hour so far in this invocation."""
    per_hour = 3600.0 * p.evaluated / p.elapsed_s if p.elapsed_s > 0 else 0.0
    return f"{per_hour:.0f} trials/h"


class SearchProgress:
    """The search's progress on stderr: a Rich progress bar in a terminal, one log line per
    finished trial otherwise (so a log file shows progress). The bar starts at the first trial,
    so that an error before the search prints as one clean line."""

    def __init__(self, total: int, console: Console | None = None, live: bool | None = None) -> None:
        self.console = console or err
        self.total = total
        self.live = self.console.is_terminal if live is None else live
        self._bar: Any = None
        self._task: Any = None

    def status(self, message: str) -> None:
        target = self._bar.console if self._bar is not None else self.console
        target.print(f"[dim]{escape(message)}[/dim]", highlight=False, soft_wrap=True)

    def trial(self, p: Progress) -> None:
        if not self.live:
            self.console.print(escape(trial_line(p)), highlight=False, soft_wrap=True)
            return
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("[bold]trained"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[best]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._bar.start()
            self._task = self._bar.add_task("search", total=self.total, completed=0, best="")
        best = f"{best_text(p, number=False)} ({p.trial.number + 1} asked, {activity_text(p)}{rate_text(p)})"
        self._bar.update(self._task, completed=p.evaluated, best=best)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


# -- what of other libraries reaches the terminal ----------------------------------------------
#: Packages whose shared libraries print from native code as they load (LiteRT's converter: absl's
#: "All log messages before absl::InitializeLog() ..." and oneDNN's "custom operations are on"),
#: before any setting can quiet them (TF_CPP_MIN_LOG_LEVEL, GLOG_minloglevel do not): imported with
#: file descriptors 1 and 2 muted unless --debug.
NOISY_NATIVE_PACKAGES = ("litert_torch", "litert_converter", "ai_edge_litert", "tflite_micro")
#: Environment set (when not set already) before torch loads: its own log handler prints
#: deprecation notes of other packages' calls (``W... torch/utils/_pytree.py ...``). Logging only:
#: numerics are untouched (TF_ENABLE_ONEDNN_OPTS is deliberately left alone).
QUIET_ENV = {"TORCH_LOGS": "-all"}
_MARK = "_edgenas_cli"


class _ConsoleHandler(logging.Handler):
    """Log records as lines on :data:`err` (live-display aware; one line each without ``--debug``)."""

    def __init__(self, level: int, debug: bool) -> None:
        super().__init__(level)
        self.debug = debug
        setattr(self, _MARK, True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if self.debug:
                err.print(
                    f"[dim]{record.levelname} {escape(record.name)}:[/dim] {escape(message)}", highlight=False, soft_wrap=True
                )
            else:
                style = "red" if record.levelno >= logging.ERROR else "yellow"
                error_line(message, style=style, label=record.levelname.lower() + ":")
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


class _QuietLoader(importlib.abc.Loader):
    """A loader that runs another with stdout and stderr muted at the file descriptor."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        from edgenas.export.tflite import quiet_native_output

        with quiet_native_output():
            return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        from edgenas.export.tflite import quiet_native_output

        with quiet_native_output():
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, get_data, is_package, ...
        return getattr(self._loader, name)


class _QuietNativeImports(importlib.abc.MetaPathFinder):
    """Finds :data:`NOISY_NATIVE_PACKAGES` (and their submodules) as usual, loading them muted."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in NOISY_NATIVE_PACKAGES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


class _Quieted:
    env: dict[str, str] = {}  # what configure_output set (undone by --debug in the same process)


def configure_output(debug: bool) -> None:
    """What reaches stderr besides edgenas's own lines.

    Without ``--debug``: the ``edgenas`` loggers print warnings and errors, one line each; other
    libraries' loggers below ERROR, Python ``warnings`` (unless ``-W``/``PYTHONWARNINGS`` asks),
    torch's own log handler and the native start-up notes of :data:`NOISY_NATIVE_PACKAGES` are
    silenced. With ``--debug`` every logger prints from DEBUG up and nothing is muted. Calling it
    again (a second command in one process) replaces what the first call set.
    """
    root, ours = logging.getLogger(), logging.getLogger("edgenas")
    for logger in (root, ours):
        for handler in [h for h in logger.handlers if getattr(h, _MARK, False)]:
            logger.removeHandler(handler)
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _QuietNativeImports)]
    if debug:
        for key, value in _Quieted.env.items():
            if os.environ.get(key) == value:
                del os.environ[key]
        _Quieted.env = {}
        root.addHandler(_ConsoleHandler(logging.DEBUG, debug=True))
        root.setLevel(logging.DEBUG)
        ours.setLevel(logging.NOTSET)
        ours.propagate = True
        if not sys.warnoptions:
            warnings.simplefilter("default")
        return
    for key, value in QUIET_ENV.items():
        if key not in os.environ:
            os.environ[key] = value
            _Quieted.env[key] = value
    if "torch" in sys.modules and "TORCH_LOGS" in _Quieted.env:  # loaded already: the variable came too late
        logging.getLogger("torch").setLevel(logging.ERROR)
    ours.addHandler(_ConsoleHandler(logging.WARNING, debug=False))
    ours.setLevel(logging.WARNING)
    ours.propagate = True  # the root logger has no handler of ours: nothing prints twice (and pytest's caplog still sees them)
    root.setLevel(logging.ERROR)
    if not sys.warnoptions:
        warnings.simplefilter("ignore")
    sys.meta_path.insert(0, _QuietNativeImports())
