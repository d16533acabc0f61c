"""Which space a task is searched in, and how a run's space is rebuilt from what it stored.

``--space`` takes any registered space name (``SPACES``, plug-ins included) or ``auto``, which
lets the task's data decide: detection data (images with boxes) in ``detection``; MFCC maps
``(time, coefficients)`` in ``kws``; images ``(C, H, W)`` in ``mbconv`` (MobileNetV2 / MnasNet /
EfficientNet blocks at the images' resolution), in its ``micro`` vocabulary (``mbconv-micro``: five
stages, narrow widths, a small head) up to ``MICRO_MAX_PX`` pixels and in the ``imagenet`` one above. The space itself builds
for the data (its ``for_task``) or says why it cannot; nothing here knows a space's class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edgenas.errors import InvalidInputError
from edgenas.spaces.base import SearchSpace

#: ``--space auto``: the data decide.
AUTO = "auto"
#: ``auto`` searches images up to this size in the ``micro`` vocabulary. Why: at 28 x 28
#: Fashion-MNIST on npu-int8, a train-every search of ``micro`` networks found a best of 84.4 %
#: val (median 83.2 %, 76 networks) where the ``imagenet`` vocabulary's best of 60 was 82.9 %,
#: at about a third of the CPU per network, and only the ``micro`` supernet learns
#: (``benchmarks/results/vision_scenario.md``, ``evaluators.md``).
MICRO_MAX_PX = 64


def space_names() -> list[str]:
    """What ``--space`` accepts: ``auto`` and every registered space, in registration order."""
    from edgenas.spaces import SPACES

    return [AUTO, *SPACES.names(sort=False)]


def auto_space(input_shape: Sequence[int]) -> str:
    """The space ``--space auto`` picks for inputs of ``input_shape``."""
    shape = tuple(input_shape)
    if len(shape) == 3:
        return "mbconv-micro" if max(shape[1:]) <= MICRO_MAX_PX else "mbconv"
    return "kws"


def check_space_name(name: str) -> None:
    """An unknown ``--space`` is an error listing every accepted name."""
    names = space_names()
    if name not in names:
        raise InvalidInputError(f"--space must be one of {', '.join(names)}, got {name!r}")


def space_for_task(name: str, input_shape: Sequence[int], num_classes: int, task: str = "task") -> SearchSpace:
    """The space ``--space name`` searches for a task's data (``auto``: the data decide)."""
    from edgenas.spaces import SPACES

    check_space_name(name)
    chosen = auto_space(input_shape) if name == AUTO else name
    entry = SPACES.entry(chosen)
    for_task = getattr(entry.factory, "for_task", None)
    if for_task is None:
        raise InvalidInputError(f"{task}: --space {chosen} cannot be built for a task's data (the space has no for_task)")
    try:
        return for_task(tuple(input_shape), num_classes, **entry.defaults)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{task}: --space {chosen} {exc}") from None


#: Tasks no space searches yet, and the one line that says so (none today: detection has its space).
UNSEARCHABLE_TASKS: dict[str, str] = {}
#: Spaces of object detectors: the ones detection data are searched in (``auto`` takes the first).
DETECTION_SPACES = ("detection",)


def check_task_searchable(task: str) -> None:
    """One clear line for a task whose data no space can search yet."""
    if task in UNSEARCHABLE_TASKS:
        raise InvalidInputError(UNSEARCHABLE_TASKS[task])


def space_for(data: Any, name: str = AUTO) -> SearchSpace:
    """:func:`space_for_task` for a task's data (anything with ``input_shape``, ``classes`` and ``name``).

    Detection data (``task = "detection"``: boxes, not one label per input) are searched in a
    detection space, ``auto`` included; a classification space cannot read them, nor a detection
    space a classification task's labels.
    """
    kind = str(getattr(data, "task", ""))
    check_task_searchable(kind)
    label = getattr(data, "name", "task")
    if kind == "detection":
        check_space_name(name)
        if name == AUTO:
            name = DETECTION_SPACES[0]
        elif name not in DETECTION_SPACES:
            raise InvalidInputError(
                f"--task detection is searched in --space {' or '.join(DETECTION_SPACES)} (a backbone with a detection "
                f"head); --space {name} searches classifiers"
            )
    elif name in DETECTION_SPACES:
        raise InvalidInputError(
            f"--space {name} searches object detectors: use it with --task detection, or --space auto for {label}"
        )
    return space_for_task(name, data.input_shape, len(data.classes), label)


def rebuild_space(name: str, params: dict[str, Any]) -> SearchSpace:
    """A space from its registered name and stored constructor arguments (lists read back as tuples)."""
    from edgenas.spaces import SPACES

    return SPACES.create(name, **{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})


def space_from_config(config: dict[str, Any]) -> SearchSpace:
    """The space a run searched, rebuilt from its stored configuration (a run from before the
    arguments were stored searched ``kws`` for its classes)."""
    params = config.get("space_params") or {"num_classes": len(config.get("classes", [])) or 12}
    return rebuild_space(str(config.get("space", "kws")), params)
