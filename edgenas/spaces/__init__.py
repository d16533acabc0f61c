"""Search spaces, by name. ``SPACES.create("kws", num_classes=12)``."""

from __future__ import annotations

from edgenas.registry import Registry
from edgenas.spaces._base import DecisionSpace, SearchSpace
from edgenas.spaces.kws import KwsSpace

SPACES: Registry[SearchSpace] = Registry("space")
SPACES.add("kws", KwsSpace)

__all__ = ["SPACES", "DecisionSpace", "KwsSpace", "SearchSpace"]
