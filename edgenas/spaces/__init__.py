"""Search spaces, by name: ``SPACES.create("kws", num_classes=12)``.

Third-party spaces join through the ``edgenas.spaces`` entry-point group (see
:mod:`edgenas.registry`); ``edgenas.testing.check_space`` is the contract they must pass.
"""

from __future__ import annotations

from edgenas.registry import Registry
from edgenas.spaces.base import DecisionSpace, SearchSpace
from edgenas.spaces.compiler import JOINT_SPACE, CompilerJointSpace, joint_space
from edgenas.spaces.detection import DetectionSpace
from edgenas.spaces.fbnet import FbnetSpace
from edgenas.spaces.filter import OpFilteredSpace, filter_by_ops
from edgenas.spaces.kws import KwsSpace
from edgenas.spaces.mbconv import MbconvSpace
from edgenas.spaces.nb201 import Nb201Space
from edgenas.spaces.task import rebuild_space, space_for, space_for_task, space_from_config, space_names

SPACES: Registry[SearchSpace] = Registry("space", entry_points="edgenas.spaces")
SPACES.add("kws", KwsSpace, help="DS-CNN and 1-D conv keyword spotters on MFCC maps")
SPACES.add("mbconv", MbconvSpace, help="MobileNetV2/V3, MnasNet, EfficientNet blocks on images")
SPACES.add("mbconv-micro", MbconvSpace, help="mbconv's small vocabulary for microcontrollers", vocabulary="micro")
SPACES.add("nb201", Nb201Space, help="NAS-Bench-201 cells on 32x32 RGB images")
SPACES.add("fbnet", FbnetSpace, help="HW-NAS-Bench's FBNet blocks on 32x32 RGB images")
SPACES.add("kws-rnn", KwsSpace, help="kws with a GRU or LSTM layer after the conv front (CRNN)", cells=("gru", "lstm"))
SPACES.add(JOINT_SPACE, joint_space, help="an architecture's space with compiler choices, made by --compiler-choices")
SPACES.add("detection", DetectionSpace, help="object detection: mbconv backbone + anchor-free head, NPU operators only")

__all__ = [
    "SPACES",
    "CompilerJointSpace",
    "DecisionSpace",
    "DetectionSpace",
    "FbnetSpace",
    "KwsSpace",
    "MbconvSpace",
    "Nb201Space",
    "OpFilteredSpace",
    "SearchSpace",
    "filter_by_ops",
    "rebuild_space",
    "space_for",
    "space_for_task",
    "space_from_config",
    "space_names",
]
