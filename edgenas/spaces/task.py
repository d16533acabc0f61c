"""Which space a task is searched in, its reference network, and how to rebuild it from a run.

The task's data shape decides the default: MFCC maps ``(time, coefficients)`` are searched in
``kws``; images ``(C, H, W)`` in ``mbconv`` (MobileNetV2 / MnasNet / EfficientNet blocks at the
images' resolution), in its ``micro`` vocabulary (five stages, narrow widths, a small head; see
:class:`~edgenas.spaces.mbconv.Vocabulary`) up to ``MICRO_MAX_PX`` pixels and in the
``imagenet`` one above. ``--space mbconv`` / ``mbconv-micro`` choose the vocabulary;
``--space kws`` still searches one-channel images as ``H x W`` maps, the behaviour before
``mbconv`` was wired in.
"""

from __future__ import annotations

from typing import Any

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.spaces.kws import KwsSpace
from edgenas.spaces.mbconv import MbconvSpace

#: ``--space`` values: ``auto`` lets the data decide.
TASK_SPACES = ("auto", "kws", "mbconv", "mbconv-micro")
#: The reference network trained beside every search, per space (and ``mbconv`` vocabulary): a
#: model the target can run (DS-CNN-S for keyword spotting; MobileNetV2, relu6 and no
#: squeeze-and-excitation, so int8 NPUs run it too; in the micro vocabulary MobileNetV2's blocks
#: at micro widths), at the task's input size.
BASELINES = {"kws": "ds-cnn-s", "mbconv": "mobilenetv2", "mbconv-micro": "mobilenetv2-micro"}
#: ``auto`` searches images up to this size in the ``micro`` vocabulary. Why: at 28 x 28
#: Fashion-MNIST on npu-int8, a train-every search of ``micro`` networks found a best of 84.4 %
#: val (median 83.2 %, 76 networks) where the ``imagenet`` vocabulary's best of 60 was 82.9 %,
#: at about a third of the CPU per network, and only the ``micro`` supernet learns
#: (``benchmarks/results/vision_scenario.md``, ``evaluators.md``).
MICRO_MAX_PX = 64


def space_for(data: Any, name: str = "auto") -> KwsSpace | MbconvSpace:
    """The space searched for a task (see the module docstring); ``name`` is ``--space``."""
    if name not in TASK_SPACES:
        raise InvalidInputError(f"--space must be one of {', '.join(TASK_SPACES)}, got {name!r}")
    shape = tuple(data.input_shape)
    image = len(shape) == 3
    if name == "auto":
        name = ("mbconv-micro" if max(shape[1:]) <= MICRO_MAX_PX else "mbconv") if image else "kws"
    if name.startswith("mbconv"):
        if not image:
            raise InvalidInputError(
                f"{data.name}: --space {name} searches images (channels, height, width); this task's inputs are {shape}"
            )
        channels, height, width = shape
        if height != width:
            raise InvalidInputError(
                f"{data.name}: mbconv networks take square images, these are {height}x{width}: resize them to a square"
            )
        vocabulary = "micro" if name == "mbconv-micro" else "imagenet"
        return MbconvSpace(num_classes=len(data.classes), in_channels=channels, resolutions=(height,), vocabulary=vocabulary)
    if image:
        if shape[0] != 1:
            raise InvalidInputError(
                f"{data.name}: {shape[0]}-channel images; the kws space reads one channel: convert the images to grey"
            )
        shape = shape[1:]
    return KwsSpace(num_classes=len(data.classes), input_shape=shape)  # type: ignore[arg-type]


def space_params(space: Any) -> dict[str, Any]:
    """The constructor arguments that rebuild ``space`` (``SPACES.create(space.name, **params)``):
    stored in run configs and checkpoints, so reports and exports describe genes the same way."""
    base = getattr(space, "base", space)  # an operator-filtered space keeps its base's genes
    if isinstance(base, MbconvSpace):
        params = {"num_classes": base.num_classes, "in_channels": base.in_channels, "resolutions": list(base.resolutions)}
        return params | ({"vocabulary": base.vocabulary} if base.vocabulary != "imagenet" else {})
    return {"num_classes": base.num_classes, "input_shape": list(base.input_shape)}


def space_from_config(config: dict[str, Any]) -> KwsSpace | MbconvSpace:
    """The space a run searched, rebuilt from its stored name and constructor arguments (a run
    from before they were stored searched ``kws`` for its classes)."""
    from edgenas.spaces import SPACES  # the package imports this module: import at call time

    params = config.get("space_params") or {"num_classes": len(config.get("classes", [])) or 12}
    return SPACES.create(config.get("space", "kws"), **{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})


def space_flag(config: dict[str, Any]) -> str:
    """The ``--space`` value that searches a stored run's space again."""
    params = config.get("space_params") or {}
    return "mbconv-micro" if params.get("vocabulary") == "micro" else str(config.get("space", "kws"))


def baseline_arch(space: Any) -> tuple[str, Arch]:
    """The space's reference network (``BASELINES``) at the space's input size, and its name."""
    base = getattr(space, "base", space)
    if isinstance(base, MbconvSpace):
        from edgenas.spaces.mbconv_named import named_values

        name = BASELINES["mbconv-micro" if base.vocabulary == "micro" else "mbconv"]
        values = {**named_values(name, base.vocabulary), "resolution": max(base.resolutions)}
        return name, base.from_values(values)
    return BASELINES["kws"], base.named(BASELINES["kws"])
