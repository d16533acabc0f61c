"""YAML from files edgenas did not write: plain data only, no aliases, bounded nesting.

``yaml.safe_load`` builds no objects, but it still expands aliases: a 1 KB file whose aliases
nest ten deep names 10^10 items, and the expansion (or the validation of it) runs for minutes
and takes gigabytes. Nor does it bound nesting: a file of ten thousand ``[`` overflows Python's
stack. Nothing edgenas reads (target files, ``--config`` files) needs an alias, so any alias is
refused before a single node is built, and deep nesting is a YAML error like any other.

:func:`safe_load` is a drop-in for ``yaml.safe_load``: every refusal is a ``yaml.YAMLError`` (an
:class:`AliasRefused` for an alias), so a caller's existing ``except yaml.YAMLError`` holds.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.events import AliasEvent
from yaml.nodes import Node

#: Deepest nesting of lists and mappings accepted (edgenas's own files nest 4 deep).
MAX_DEPTH = 64


class AliasRefused(ComposerError):
    """The document uses an alias (``*name``); ``problem_mark`` is where."""


class _PlainLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses aliases and bounds nesting while composing, before any expansion."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise AliasRefused(None, None, f"an alias (*{event.anchor}) is not accepted: write the value out", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def safe_load(text: str) -> Any:
    """``yaml.safe_load(text)`` without aliases and with bounded nesting (see the module docstring)."""
    loader = _PlainLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
