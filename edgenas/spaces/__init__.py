"""Search spaces, by name. ``SPACES.create("kws", num_classes=12)``."""

from __future__ import annotations

from edgenas.registry import Registry
from edgenas.spaces.base import DecisionSpace, SearchSpace
from edgenas.spaces.fbnet import FbnetSpace
from edgenas.spaces.filter import OpFilteredSpace, filter_by_ops
from edgenas.spaces.kws import KwsSpace
from edgenas.spaces.mbconv import MbconvSpace
from edgenas.spaces.nb201 import Nb201Space
from edgenas.spaces.task import space_for

SPACES: Registry[SearchSpace] = Registry("space")
SPACES.add("fbnet", FbnetSpace)
SPACES.add("kws", KwsSpace)
SPACES.add("mbconv", MbconvSpace)
SPACES.add("nb201", Nb201Space)

__all__ = ["SPACES", "DecisionSpace", "KwsSpace", "MbconvSpace", "OpFilteredSpace", "SearchSpace", "filter_by_ops", "space_for"]
