"""Published MBConv networks as points of the ``mbconv`` space (decision values by name).

Each definition transcribes the reference implementation's table, not a paraphrase of it:

* MobileNetV2 1.0: Sandler et al. 2018, Table 2 (``t, c, n, s``); torchvision ``mobilenet_v2``.
* MobileNetV3-Large / -Small 1.0: Howard et al. 2019, Tables 1 and 2 (kernel, exp size, #out, SE,
  NL, s); torchvision ``mobilenet_v3_large`` / ``_small`` (SE width ``make_divisible(exp / 4, 8)``,
  ReLU + hard-sigmoid; 1x1 head conv, pooling, FC 1280 / 1024 with hard-swish).
* MnasNet-A1: Tan et al. 2019, Figure 7; timm ``mnasnet_a1`` (``semnasnet_100``): SE on the
  40, 112 and 160 stages, reduce to a quarter of the block input, ReLU + sigmoid.
* EfficientNet-B0..B3: Tan & Le 2019, Table 1 (B0) and the compound scaling of the reference
  code (``(width, depth, resolution)`` = (1.0, 1.0, 224), (1.0, 1.1, 240), (1.1, 1.2, 260),
  (1.2, 1.4, 300); widths ``make_divisible(c * w, 8)``, depths ``ceil(n * d)``, head
  ``4 x`` the last width); torchvision ``efficientnet_b0..b3``.

``mobilenetv2-micro`` (``MICRO_NAMED``) is the ``micro`` vocabulary's reference network, not a
published model.

MobileNetV3 fills six (Large) and five (Small) of the seven stage slots: its stage widths and
strides line up with slots 0..5 (Large: no 320-wide stage) and 1..5 (Small: its first stage
already has stride 2, so the stride-1 slot 0 is empty).

The model zoo (``ZOO``, ``zoo_entry``) records what each paper reports (top-1 accuracy, parameters,
multiply-adds) with the table it comes from; the architecture itself is
``MbconvSpace().named(entry.arch)``, and ``edgenas zoo`` (``edgenas.workflows.zoo``) times it.
Accuracies are *published* figures (single 224-or-native-resolution crop, ImageNet-1k
validation), not measured here: edgenas measures latency, not ImageNet accuracy.

The parameter counts of our modules equal the reference implementations exactly (the training
module, batch norm unfolded: torchvision's ``num_params`` for MobileNetV2/V3 and EfficientNet,
osmr/imgclsmob's ``mnasnet_a1`` for MnasNet-A1); the IR counts the *deployed* network (batch norm folded to
one bias per channel), 0.2-0.4 % fewer. ``tests/core/test_mbconv_space.py`` checks both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgenas.errors import UnknownNameError
from edgenas.spaces.shapes import make_divisible

# A block: (kernel, expansion, squeeze-excite, activation). A stage: (width, [blocks]) or None (empty).
Block = tuple[int, float, bool, str]


def _repeat(n: int, kernel: int, e: float, se: bool, act: str) -> list[Block]:
    return [(kernel, e, se, act)] * n


def _mobilenetv2() -> dict:
    stages = [(16, 1, 1), (24, 6, 2), (32, 6, 3), (64, 6, 4), (96, 6, 3), (160, 6, 3), (320, 6, 1)]
    return {
        "stem": (32, "relu6"),
        "stages": [(c, _repeat(n, 3, t, False, "relu6")) for c, t, n in stages],
        "head": (1280, 0, "relu6"),
        "se_style": "efficientnet",
        "resolution": 224,
    }


def _efficientnet(width: float, depth: float, resolution: int) -> dict:

    # EfficientNet-B0 (Tan & Le 2019, Table 1): (expansion, kernel, repeats, width) per stage.
    b0 = [(1, 3, 1, 16), (6, 3, 2, 24), (6, 5, 2, 40), (6, 3, 3, 80), (6, 5, 3, 112), (6, 5, 4, 192), (6, 3, 1, 320)]
    stages = [(make_divisible(c * width), _repeat(math.ceil(n * depth), k, e, True, "swish")) for e, k, n, c in b0]
    return {
        "stem": (make_divisible(32 * width), "swish"),
        "stages": stages,
        "head": (4 * stages[-1][0], 0, "swish"),
        "se_style": "efficientnet",
        "resolution": resolution,
    }


def _mobilenetv3_large() -> dict:
    re, hs = "relu", "hard_swish"
    return {
        "stem": (16, hs),
        "stages": [
            (16, [(3, 1, False, re)]),
            (24, [(3, 4, False, re), (3, 3, False, re)]),
            (40, _repeat(3, 5, 3, True, re)),
            (80, [(3, 6, False, hs), (3, 2.5, False, hs), (3, 2.3, False, hs), (3, 2.3, False, hs)]),
            (112, _repeat(2, 3, 6, True, hs)),
            (160, _repeat(3, 5, 6, True, hs)),
            None,
        ],
        "head": (960, 1280, hs),
        "se_style": "mobilenetv3",
        "resolution": 224,
    }


def _mobilenetv3_small() -> dict:
    re, hs = "relu", "hard_swish"
    return {
        "stem": (16, hs),
        "stages": [
            None,
            (16, [(3, 1, True, re)]),
            (24, [(3, 4.5, False, re), (3, 3.67, False, re)]),
            (40, [(5, 4, True, hs), (5, 6, True, hs), (5, 6, True, hs)]),
            (48, _repeat(2, 5, 3, True, hs)),
            (96, _repeat(3, 5, 6, True, hs)),
            None,
        ],
        "head": (576, 1024, hs),
        "se_style": "mobilenetv3",
        "resolution": 224,
    }


def _mnasnet_a1() -> dict:
    re = "relu"
    return {
        "stem": (32, re),
        "stages": [
            (16, [(3, 1, False, re)]),
            (24, _repeat(2, 3, 6, False, re)),
            (40, _repeat(3, 5, 3, True, re)),
            (80, _repeat(4, 3, 6, False, re)),
            (112, _repeat(2, 3, 6, True, re)),
            (160, _repeat(3, 5, 6, True, re)),
            (320, [(3, 6, False, re)]),
        ],
        "head": (1280, 0, re),
        "se_style": "efficientnet",
        "resolution": 224,
    }


#: Name -> definition factory. Names are lower case; ``ZOO`` below adds accuracies and citations.
NAMED = {
    "mobilenetv2": _mobilenetv2,
    "mobilenetv3-large": _mobilenetv3_large,
    "mobilenetv3-small": _mobilenetv3_small,
    "mnasnet-a1": _mnasnet_a1,
    "efficientnet-b0": lambda: _efficientnet(1.0, 1.0, 224),
    "efficientnet-b1": lambda: _efficientnet(1.0, 1.1, 240),
    "efficientnet-b2": lambda: _efficientnet(1.1, 1.2, 260),
    "efficientnet-b3": lambda: _efficientnet(1.2, 1.4, 300),
}


def _mobilenetv2_micro() -> dict:
    """MobileNetV2's blocks (3x3, expansion 6, ReLU6, no SE) at every depth of the ``micro``
    vocabulary, with MobileNetV2's widths (16, 24, 32, 64, 96) and a 256-wide head.

    Not a published model: MobileNetV2 itself does not fit the micro vocabulary (seven stages,
    1280-wide head), and the search needs a reference network it can build and a target can run.
    """
    stages = [(16, 1), (24, 2), (32, 3), (64, 3), (96, 2)]
    return {
        "stem": (16, "relu6"),
        "stages": [(c, _repeat(n, 3, 6, False, "relu6")) for c, n in stages],
        "head": (256, 0, "relu6"),
        "se_style": "efficientnet",
        "resolution": None,  # the space's first resolution
    }


#: Reference networks of the ``micro`` vocabulary (the published models are ``imagenet`` points).
MICRO_NAMED = {"mobilenetv2-micro": _mobilenetv2_micro}


def named_values(name: str, vocabulary: str = "imagenet") -> dict[str, object]:
    """Decision values (by decision name) of a named model of ``vocabulary``; int8 everywhere
    (the deployed form)."""
    key = name.lower()
    table = MICRO_NAMED if vocabulary == "micro" else NAMED
    if key not in table:
        other = NAMED if vocabulary == "micro" else MICRO_NAMED
        home = "imagenet" if vocabulary == "micro" else "micro"
        hint = f" ({name} is a point of the {home} vocabulary)" if key in other else ""
        raise UnknownNameError(f"unknown mbconv {vocabulary} model {name!r}{hint}. Accepted: {', '.join(table)}.")
    spec = table[key]()
    stem_width, stem_act = spec["stem"]
    head_width, head_fc, head_act = spec["head"]
    values: dict[str, object] = {
        "stem_width": stem_width,
        "stem_act": stem_act,
        "se_style": spec["se_style"],
        "head_width": head_width,
        "head_fc": head_fc,
        "head_act": head_act,
    }
    if spec["resolution"] is not None:
        values["resolution"] = spec["resolution"]
    for s, stage in enumerate(spec["stages"]):
        if stage is None:
            values[f"s{s}_depth"] = 0
            continue
        width, blocks = stage
        values[f"s{s}_depth"] = len(blocks)
        values[f"s{s}_width"] = width
        for b, (kernel, e, se, act) in enumerate(blocks):
            values.update({f"s{s}b{b}_kernel": kernel, f"s{s}b{b}_expand": e, f"s{s}b{b}_se": se, f"s{s}b{b}_act": act})
    return values


# --------------------------------------------------------------------------- the model zoo


@dataclass(frozen=True, slots=True)
class ZooEntry:
    """A published model: the space point it is, and what its paper reports."""

    name: str  # display name
    arch: str  # MbconvSpace.named() key
    top1: float  # published ImageNet-1k top-1 accuracy, fraction in [0, 1]
    params_m: float  # published parameters, millions (as printed in the paper)
    macs_m: float  # published multiply-adds, millions (as printed in the paper)
    resolution: int
    citation: str
    reference_params: int  # exact count of the reference implementation's module (BN unfolded)
    reference: str  # which implementation gives reference_params


_MBV3 = "Howard et al., Searching for MobileNetV3, ICCV 2019 (arXiv:1905.02244), Table 3"
# EfficientNet top-1: arXiv:1905.11946 v5 Table 2 (the ICML 2019 version printed 76.3 / 78.8 / 79.8 / 81.1
# for B0..B3, before the updated training recipe of the released checkpoints).
_EFF = "Tan & Le, EfficientNet: Rethinking Model Scaling for CNNs, ICML 2019 (arXiv:1905.11946v5), Table 2"

ZOO: tuple[ZooEntry, ...] = (
    ZooEntry(
        "MobileNetV2 1.0",
        "mobilenetv2",
        0.720,
        3.4,
        300,
        224,
        "Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks, CVPR 2018 (arXiv:1801.04381), Table 4",
        3_504_872,
        "torchvision mobilenet_v2",
    ),
    ZooEntry(
        "MobileNetV3-Large 1.0", "mobilenetv3-large", 0.752, 5.4, 219, 224, _MBV3, 5_483_032, "torchvision mobilenet_v3_large"
    ),
    ZooEntry(
        "MobileNetV3-Small 1.0", "mobilenetv3-small", 0.674, 2.5, 56, 224, _MBV3, 2_542_856, "torchvision mobilenet_v3_small"
    ),
    ZooEntry(
        "MnasNet-A1",
        "mnasnet-a1",
        0.752,
        3.9,
        312,
        224,
        "Tan et al., MnasNet: Platform-Aware Neural Architecture Search for Mobile, CVPR 2019 (arXiv:1807.11626), Table 1",
        3_887_038,
        "osmr/imgclsmob mnasnet_a1 (its test asserts 3,887,038 weights)",
    ),
    ZooEntry("EfficientNet-B0", "efficientnet-b0", 0.771, 5.3, 390, 224, _EFF, 5_288_548, "torchvision efficientnet_b0"),
    ZooEntry("EfficientNet-B1", "efficientnet-b1", 0.791, 7.8, 700, 240, _EFF, 7_794_184, "torchvision efficientnet_b1"),
    ZooEntry("EfficientNet-B2", "efficientnet-b2", 0.801, 9.2, 1000, 260, _EFF, 9_109_994, "torchvision efficientnet_b2"),
    ZooEntry("EfficientNet-B3", "efficientnet-b3", 0.816, 12.0, 1800, 300, _EFF, 12_233_232, "torchvision efficientnet_b3"),
)


def zoo_entry(name: str) -> ZooEntry:
    """Look an entry up by ``arch`` key (``efficientnet-b0``) or display name, case-insensitively."""
    key = name.strip().lower()
    for entry in ZOO:
        if key in (entry.arch, entry.name.lower()):
            return entry
    raise UnknownNameError(f"unknown zoo model {name!r}. Accepted: {', '.join(e.arch for e in ZOO)}.")
