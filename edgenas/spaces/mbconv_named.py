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
"""

from __future__ import annotations

import math

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


#: Name -> definition factory. Names are lower case; ``edgenas.workflows.zoo`` adds accuracies and citations.
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
