"""The model zoo: published ImageNet classifiers as named points of the ``mbconv`` space.

Each entry records what the paper reports (top-1 accuracy, parameters, multiply-adds) with the
table it comes from; the architecture itself is ``MbconvSpace().named(entry.arch)``. Accuracies
are *published* figures (single 224-or-native-resolution crop, ImageNet-1k validation), not
measured here: edgenas measures latency, not ImageNet accuracy.

The parameter counts of our modules equal the reference implementations exactly (the training
module, batch norm unfolded: torchvision's ``num_params`` for MobileNetV2/V3 and EfficientNet,
osmr/imgclsmob's ``mnasnet_a1`` for MnasNet-A1); the IR counts the *deployed* network (batch norm folded to
one bias per channel), 0.2-0.4 % fewer. ``tests/core/test_mbconv_space.py`` checks both.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgenas.errors import UnknownNameError


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
