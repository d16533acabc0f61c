"""The ``kws`` space: depthwise-separable CNNs for keyword spotting on MFCC features.

Networks follow DS-CNN ("Hello Edge", Zhang et al. 2017, arXiv:1711.07128): one regular conv,
then ``depth`` depthwise-separable blocks (depthwise conv + 1x1 pointwise conv, each with batch
norm and ReLU), global average pooling and a fully connected classifier. Two families share the
decisions:

* ``2d``: the MFCC map is an image (time x coefficient x 1 channel), as in DS-CNN;
* ``1d``: the MFCC coefficients are channels of a time series (temporal convs, as in
  TC-ResNet, Choi et al. 2019), which TFLite runs as 2-D convs on a (T, 1, C) tensor.

DS-CNN-S, the paper's small model (and MLPerf Tiny's KWS reference: 2,656,768 MACs, 22,604
parameters), is the named point ``ds-cnn-s``. Every operator is a TFLite Micro builtin with an
optimised int8 CMSIS-NN kernel, so no candidate falls back to a slow path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from edgenas.arch import Arch, Decision
from edgenas.errors import InvalidInputError
from edgenas.ir import Layer, Op
from edgenas.spaces.base import DecisionSpace
from edgenas.spaces.shapes import explicit_pads

FAMILIES = ("2d", "1d")
FIRST_CHANNELS = (16, 24, 32, 48, 64, 96)
FIRST_KERNELS = ((10, 4), (5, 3), (3, 3))  # (time, coefficient); 1-D uses the time extent
FIRST_STRIDES = ((2, 2), (2, 1), (1, 1))  # 1-D uses the time stride: (2, 1) == (2, 2) there
BLOCK_CHANNELS = (16, 24, 32, 48, 64, 96, 128)
BLOCK_KERNELS = (3, 5)
BLOCK_STRIDES = (1, 2)


class KwsSpace(DecisionSpace):
    """DS-CNN-style keyword-spotting networks (see the module docstring).

    Args:
        num_classes: Classifier outputs (12 for the ten keywords, unknown and silence).
        input_shape: MFCC features per clip, (time frames, coefficients).
        max_depth: Most depthwise-separable blocks a network may have.
    """

    name = "kws"

    def __init__(
        self,
        num_classes: int = 12,
        input_shape: tuple[int, int] = (49, 10),
        max_depth: int = 6,
    ) -> None:
        self.num_classes = num_classes
        self.input_shape = input_shape
        self.max_depth = max_depth

    # -- genotype -------------------------------------------------------------------------
    def decisions(self) -> Sequence[Decision]:
        if self.max_depth < 1 or self.num_classes < 2:
            raise InvalidInputError("kws space needs max_depth >= 1 and num_classes >= 2")
        out = [
            Decision("family", FAMILIES),
            Decision("first_channels", FIRST_CHANNELS),
            Decision("first_kernel", FIRST_KERNELS),
            Decision("first_stride", FIRST_STRIDES),
            Decision("depth", tuple(range(1, self.max_depth + 1))),
        ]
        for i in range(self.max_depth):
            out += [
                Decision(f"b{i}_channels", BLOCK_CHANNELS),
                Decision(f"b{i}_kernel", BLOCK_KERNELS),
                Decision(f"b{i}_stride", BLOCK_STRIDES),
            ]
        return out

    def normalise(self, genes: tuple[int, ...]) -> tuple[int, ...]:
        g = list(genes)
        if FAMILIES[g[0]] == "1d" and FIRST_STRIDES[g[3]][0] == 2:
            g[3] = FIRST_STRIDES.index((2, 2))
        depth = g[4] + 1
        for i in range(depth, self.max_depth):
            g[5 + 3 * i : 8 + 3 * i] = [0, 0, 0]
        return tuple(g)

    @classmethod
    def for_task(cls, input_shape: Sequence[int], num_classes: int, **options: Any) -> KwsSpace:
        """MFCC maps ``(time, coefficients)``; one-channel images ``(1, H, W)`` are searched as ``H x W`` maps."""
        shape = tuple(int(s) for s in input_shape)
        if len(shape) == 3:
            if shape[0] != 1:
                raise InvalidInputError(f"reads one channel, these are {shape[0]}-channel images: convert the images to grey")
            shape = shape[1:]
        if len(shape) != 2:
            raise InvalidInputError(f"reads (time, coefficients) maps; this task's inputs are {shape}")
        return cls(num_classes=num_classes, input_shape=shape, **options)

    def reference(self) -> tuple[str, Arch]:
        """DS-CNN-S ("Hello Edge"), the MLPerf Tiny keyword-spotting reference, at this input size."""
        return "ds-cnn-s", self.named("ds-cnn-s")

    def named(self, name: str) -> Arch:
        """A published model as a point of this space (``ds-cnn-s``)."""
        if name != "ds-cnn-s":
            raise InvalidInputError(f"unknown named kws model {name!r}. Accepted: ds-cnn-s.")
        if self.max_depth < 4:
            raise InvalidInputError("ds-cnn-s needs max_depth >= 4")
        genes = [
            FAMILIES.index("2d"),
            FIRST_CHANNELS.index(64),
            FIRST_KERNELS.index((10, 4)),
            FIRST_STRIDES.index((2, 2)),
            4 - 1,
        ]
        for i in range(self.max_depth):
            genes += [BLOCK_CHANNELS.index(64), BLOCK_KERNELS.index(3), 0] if i < 4 else [0, 0, 0]
        return self.arch(genes)

    def plan(self, arch: Arch) -> dict:
        """The network ``arch`` describes, as plain values (what ``build`` and the supernet read)."""
        return self._plan(arch)

    def _plan(self, arch: Arch) -> dict:
        self.check(arch)
        v: Mapping[str, Any] = self.values(arch)  # choice values: ints and strings by decision
        depth = int(v["depth"])
        blocks = [(int(v[f"b{i}_channels"]), int(v[f"b{i}_kernel"]), int(v[f"b{i}_stride"])) for i in range(depth)]
        return {
            "two_d": v["family"] == "2d",
            "first_channels": int(v["first_channels"]),
            "first_kernel": v["first_kernel"],
            "first_stride": v["first_stride"],
            "blocks": blocks,
        }

    def describe(self, arch: Arch) -> str:
        """A readable genotype, e.g. ``2d c64 k10x4 s2x2 / dw3 s1 c64 / ...``."""
        p = self._plan(arch)
        if p["two_d"]:
            head = "2d c{} k{}x{} s{}x{}".format(p["first_channels"], *p["first_kernel"], *p["first_stride"])
        else:
            head = "1d c{} k{} s{}".format(p["first_channels"], p["first_kernel"][0], p["first_stride"][0])
        return " / ".join([head] + [f"dw{k} s{s} c{c}" for c, k, s in p["blocks"]])

    # -- hardware IR ----------------------------------------------------------------------
    def layers(self, arch: Arch) -> list[Layer]:
        p = self._plan(arch)
        t, f = self.input_shape
        out: list[Layer] = []

        def conv(
            op: Op,
            shape: tuple[int, ...],
            channels: int,
            kernel: tuple[int, ...],
            stride: tuple[int, ...],
            name: str,
            groups: int = 1,
        ) -> tuple[int, ...]:
            """Append a conv (and the PAD the converter emits before it, if any); return its output shape."""
            spatial = shape[:-1]
            pads = explicit_pads(spatial, kernel, stride)
            if pads is not None:
                padded = tuple(s + before + after for s, (before, after) in zip(spatial, pads, strict=True)) + shape[-1:]
                out.append(Layer(Op.PAD, shape, padded, bias=False, name=f"{name}.pad"))
                shape = padded
            new = tuple(math.ceil(s / st) for s, st in zip(spatial, stride, strict=True)) + (channels,)
            out.append(Layer(op, shape, new, kernel, stride, groups=groups, activation="relu", name=name))
            return new

        if p["two_d"]:
            shape: tuple[int, ...] = conv(
                Op.CONV2D, (t, f, 1), p["first_channels"], p["first_kernel"], p["first_stride"], "conv0"
            )
            for i, (c, k, s) in enumerate(p["blocks"]):
                dw = conv(Op.DWCONV2D, shape, shape[-1], (k, k), (s, s), f"b{i}.dw", groups=shape[-1])
                shape = conv(Op.CONV2D, dw, c, (1, 1), (1, 1), f"b{i}.pw")
        else:
            shape = conv(Op.CONV1D, (t, f), p["first_channels"], p["first_kernel"][:1], p["first_stride"][:1], "conv0")
            for i, (c, k, s) in enumerate(p["blocks"]):
                dw = conv(Op.DWCONV1D, shape, shape[-1], (k,), (s,), f"b{i}.dw", groups=shape[-1])
                shape = conv(Op.CONV1D, dw, c, (1,), (1,), f"b{i}.pw")
        channels = shape[-1]
        out.append(Layer(Op.GLOBAL_AVGPOOL, shape, (channels,), bias=False, name="pool"))
        out.append(Layer(Op.FC, (channels,), (self.num_classes,), name="fc"))
        return out

    # -- torch ----------------------------------------------------------------------------
    def build(self, arch: Arch):  # -> torch.nn.Module (torch imported lazily: layers() needs none)
        from edgenas.spaces.nn.kws import KwsNet

        return KwsNet(self._plan(arch), self.input_shape, self.num_classes)
