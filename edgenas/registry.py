"""Name -> factory, one registry per door (spaces, strategies, evaluators, tasks, targets).

Registration is explicit (no import side effects on ``__all__``); a duplicate name is an error
rather than a silent overwrite; an unknown name gets "did you mean" and the full list. Every
entry carries a one-line help text, so command-line help and error messages are generated from
the registries and cannot drift from what is registered.

**Plug-ins.** A registry built with ``entry_points="edgenas.spaces"`` also offers the entry
points of that group, loaded on first use: a third-party package declares

.. code-block:: toml

    [project.entry-points."edgenas.spaces"]
    tiny = "my_package.spaces:TinySpace"

and ``edgenas search --space tiny`` finds it once the package is installed. The loaded object is
the factory (its docstring's first line is the help). A plug-in that fails to import, or that
reuses a built-in name, is left out with a warning naming it; it never breaks edgenas.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from edgenas.errors import UnknownNameError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered name: its factory, a one-line help and the arguments the name implies."""

    name: str
    factory: Callable[..., T]
    help: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    plugin: str | None = None  # the distribution that provided it, for plug-ins

    def create(self, **params: Any) -> T:
        return self.factory(**{**self.defaults, **params})


class Registry(Generic[T]):
    """A named collection of factories for one kind of component.

    Args:
        kind: What the entries are, for messages ("space", "strategy").
        entry_points: The entry-point group third-party packages extend it through.
    """

    def __init__(self, kind: str, entry_points: str | None = None) -> None:
        self.kind = kind
        self.group = entry_points
        self._entries: dict[str, Entry[T]] = {}
        self._plugins_loaded = entry_points is None
        self._broken: dict[str, str] = {}

    # -- registration ---------------------------------------------------------------------
    def register(self, name: str, *, help: str = "", **defaults: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            self.add(name, factory, help=help, **defaults)
            return factory

        return decorator

    def add(self, name: str, factory: Callable[..., T], *, help: str = "", **defaults: Any) -> None:
        """Register ``factory`` under ``name``; ``defaults`` are arguments the name implies
        (``mbconv-micro`` is ``mbconv`` with ``vocabulary="micro"``)."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, factory, help or _first_line(factory), dict(defaults))

    # -- plug-ins -------------------------------------------------------------------------
    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        assert self.group is not None
        for point in entry_points(group=self.group):
            where = f"{point.value} (from {point.dist.name if point.dist else 'an installed package'})"
            if point.name in self._entries:
                log.warning(
                    "plug-in %s %r from %s is ignored: edgenas already has one of that name", self.kind, point.name, where
                )
                continue
            try:
                factory = point.load()
            except Exception as exc:  # a broken plug-in must not break edgenas
                self._broken[point.name] = f"plug-in {where} failed to load: {type(exc).__name__}: {exc}"
                log.warning("%s", self._broken[point.name])
                continue
            dist = point.dist.name if point.dist else None
            self._entries[point.name] = Entry(point.name, factory, _first_line(factory), {}, plugin=dist)

    # -- lookup ---------------------------------------------------------------------------
    def entry(self, name: str) -> Entry[T]:
        self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            if name in self._broken:
                raise UnknownNameError(f"{self.kind} {name!r} is not available: {self._broken[name]}") from None
            close = difflib.get_close_matches(name, self._entries, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}.{hint} Accepted: {', '.join(self.names())}.") from None

    def get(self, name: str) -> Callable[..., T]:
        """The factory of ``name`` (with the arguments the name implies already bound)."""
        entry = self.entry(name)
        if not entry.defaults:
            return entry.factory
        return lambda **params: entry.create(**params)

    def create(self, name: str, /, **params: Any) -> T:
        return self.entry(name).create(**params)

    def names(self, sort: bool = True) -> list[str]:
        """Every name, sorted (or in registration order: built-ins first, then plug-ins)."""
        self._load_plugins()
        return sorted(self._entries) if sort else list(self._entries)

    def help(self) -> str:
        """``name (help), name (help), ...``: what command-line help prints for the option."""
        return ", ".join(f"{e.name} ({e.help})" if e.help else e.name for e in (self._entries[n] for n in self.names()))

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _first_line(factory: object) -> str:
    """A factory's help when none is given: the first sentence of its docstring."""
    doc = (getattr(factory, "__doc__", None) or "").strip()
    line = doc.splitlines()[0].strip() if doc else ""
    return line.rstrip(".")
