"""Shape arithmetic shared by the torch blocks and the torch-free layer IR: TensorFlow SAME
padding and the channel rounding of the MobileNet family.

Where SAME padding is asymmetric (an even kernel, or stride 2 on some sizes) the torch block
zero-pads explicitly and the int8 converter keeps that as a PAD operator with its own output
tensor, which the IR must show because it occupies arena memory.
"""

from __future__ import annotations

import math


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) zero padding so that ``out = ceil(size / stride)`` (TensorFlow SAME)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def explicit_pads(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> tuple[tuple[int, int], ...] | None:
    """Per-axis pads when they must be an explicit PAD (asymmetric on some axis), else None."""
    pads = tuple(same_padding(s, k, st) for s, k, st in zip(size, kernel, stride, strict=True))
    return None if all(before == after for before, after in pads) else pads


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a width to a multiple of ``divisor``, never more than 10% down (torchvision / TF slim)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded
