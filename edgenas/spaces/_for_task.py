"""Which space a task is searched in (the task's data shape decides)."""

from __future__ import annotations

from typing import Any

from edgenas.errors import InvalidInputError
from edgenas.spaces.kws import KwsSpace


def space_for(data: Any) -> KwsSpace:
    """The space searched for a task: ``kws`` for MFCC maps ``(time, coefficients)``, and for
    one-channel images ``(1, H, W)``, whose networks then read the image as an ``H x W`` map."""
    shape = tuple(data.input_shape)
    if len(shape) == 3:
        if shape[0] != 1:
            raise InvalidInputError(
                f"{data.name}: {shape[0]}-channel images; the kws space reads one channel: convert the images to grey"
            )
        shape = shape[1:]
    return KwsSpace(num_classes=len(data.classes), input_shape=shape)  # type: ignore[arg-type]
