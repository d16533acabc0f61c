"""The ``fbnet`` space: FBNet (Wu et al., CVPR 2019) in HW-NAS-Bench's CIFAR-100 form (Li et al., ICLR 2021).

A genotype is one block choice per searchable layer, 22 layers, 9 choices each (9**22 networks)::

    0 k3_e1   1 k3_e1_g2   2 k3_e3   3 k3_e6   4 k5_e1   5 k5_e1_g2   6 k5_e3   7 k5_e6   8 skip

``kK_eE(_g2)`` is FBNet's inverted-residual block: a 1x1 expansion conv to ``E x C_in`` channels
(kept at ``E = 1``, as FBNet does), a KxK depthwise conv carrying the stride, and a linear 1x1
projection; ``g2`` makes both 1x1 convs 2-group convs with a channel shuffle between them. A
residual ADD joins input and output where the block keeps channels and stride 1. ``skip`` is an
identity where the shape is kept, else a 1x1 conv (stride s) + BN + ReLU (FBNet's ``Identity``).

The macro-architecture is read off the keys of HW-NAS-Bench's look-up table (``fbnet_lut.json``),
not guessed: its CIFAR entries are a 3x3 stride-1 stem (3 -> 16) at 32x32, blocks at 32/16/8/4
pixels, a 1x1 head conv 352 -> 1504 at 4x4, a 4x4 average pool and an FC 1504 -> classes. The
ImageNet layout of the paper (stem stride 2, first stage stride 2, 224 input, 1984 head) has
H112...H7 keys in the same table; on CIFAR the stem and the first 16 -> 24 stage keep stride 1,
so 32 -> 32 -> 16 -> 8 -> 4. Per stage ``(layers, out channels, first stride)``::

    (1, 16, 1) (4, 24, 1) (4, 32, 2) (4, 64, 2) (4, 112, 1) (4, 184, 2) (1, 352, 1)

:meth:`FbnetSpace.lut_keys` names the LUT entries of a network (stem, 22 blocks, head, pool, FC):
their sum is the network's cost on each HW-NAS-Bench device, and equals the measured latencies
of HELP's 5,000-architecture table exactly (``tests/bench/test_fbnet.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgenas.arch import Arch, Decision
from edgenas.errors import InvalidInputError
from edgenas.ir import Layer, Op
from edgenas.spaces.base import DecisionSpace
from edgenas.spaces.shapes import explicit_pads

#: Block choices in HW-NAS-Bench / HELP order: (name, kernel, expansion, groups); kernel 0 = skip.
OPS: tuple[tuple[str, int, int, int], ...] = (
    ("k3_e1", 3, 1, 1),
    ("k3_e1_g2", 3, 1, 2),
    ("k3_e3", 3, 3, 1),
    ("k3_e6", 3, 6, 1),
    ("k5_e1", 5, 1, 1),
    ("k5_e1_g2", 5, 1, 2),
    ("k5_e3", 5, 3, 1),
    ("k5_e6", 5, 6, 1),
    ("skip", 0, 0, 1),
)
OP_NAMES = tuple(op[0] for op in OPS)
SKIP = len(OPS) - 1
#: CIFAR stages: (searchable layers, output channels, stride of the first layer).
STAGES = ((1, 16, 1), (4, 24, 1), (4, 32, 2), (4, 64, 2), (4, 112, 1), (4, 184, 2), (1, 352, 1))
STEM_CHANNELS = 16
HEAD_CHANNELS = 1504
INPUT_SIZE = 32


def block_shapes(input_size: int = INPUT_SIZE) -> tuple[tuple[int, int, int, int], ...]:
    """``(input size, in channels, out channels, stride)`` of each of the 22 searchable layers."""
    out, size, c = [], input_size, STEM_CHANNELS
    for n, c_out, first_stride in STAGES:
        for i in range(n):
            stride = first_stride if i == 0 else 1
            out.append((size, c, c_out, stride))
            size, c = -(-size // stride), c_out
    return tuple(out)


BLOCKS = block_shapes()
#: The decisions, one per searchable layer (a constant: ``decisions()`` is on the hot path).
DECISIONS = tuple(Decision(f"layer{i}", OP_NAMES) for i in range(len(BLOCKS)))


def block_lut_key(size: int, c_in: int, c_out: int, stride: int, op: int) -> str:
    """HW-NAS-Bench's LUT key of one searchable layer, e.g. ``ConvBlock_H32_W32_Cin16_Cout16_exp1_kernel3_stride1_group1``."""
    name, kernel, expansion, groups = OPS[op]
    if kernel == 0:
        return f"Skip_H{size}_W{size}_Cin{c_in}_Cout{c_out}_stride{stride}"
    return f"ConvBlock_H{size}_W{size}_Cin{c_in}_Cout{c_out}_exp{expansion}_kernel{kernel}_stride{stride}_group{groups}"


class FbnetSpace(DecisionSpace):
    """FBNet blocks in the fixed HW-NAS-Bench CIFAR skeleton (see the module docstring).

    Args:
        num_classes: Classifier outputs (100 for CIFAR-100, the table's dataset; the LUT also has 10).
    """

    name = "fbnet"

    def __init__(self, num_classes: int = 100) -> None:
        self.num_classes = num_classes

    @classmethod
    def for_task(cls, input_shape: Sequence[int], num_classes: int, **options: Any) -> FbnetSpace:
        """RGB images at HW-NAS-Bench's CIFAR size (3, 32, 32): the skeleton's shapes are fixed."""
        shape = tuple(int(s) for s in input_shape)
        if shape != (3, INPUT_SIZE, INPUT_SIZE):
            raise InvalidInputError(f"searches (3, {INPUT_SIZE}, {INPUT_SIZE}) images; this task's inputs are {shape}")
        return cls(num_classes=num_classes, **options)

    # -- genotype -------------------------------------------------------------------------
    def decisions(self) -> Sequence[Decision]:
        return DECISIONS

    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform over the 9**22 networks, in one draw (a benchmark asks thousands a second)."""
        return Arch(self.name, tuple(rng.integers(len(OPS), size=len(BLOCKS)).tolist()))

    def ops_string(self, arch: Arch) -> str:
        """The ``ops`` column of HELP's FBNet table: the 22 op indices joined by '-'."""
        self.check(arch)
        return "-".join(str(g) for g in arch.genes)

    def from_string(self, text: str) -> Arch:
        """Parse an ``ops`` string such as ``7-8-1-...`` (the inverse of :meth:`ops_string`)."""
        try:
            return self.arch([int(part) for part in text.strip().split("-")])
        except (ValueError, InvalidInputError):
            raise InvalidInputError(
                f"{text!r} is not an FBNet ops string: {len(BLOCKS)} op indices 0..{SKIP} joined by '-' "
                f"({', '.join(f'{i} {n}' for i, n in enumerate(OP_NAMES))})"
            ) from None

    def describe(self, arch: Arch) -> str:
        """The ``ops`` string: it is the key of the benchmark table, and short enough for a report."""
        return self.ops_string(arch)

    def lut_keys(self, arch: Arch) -> list[str]:
        """HW-NAS-Bench LUT keys of the whole network (stem, 22 blocks, head conv, pool, classifier)."""
        self.check(arch)
        last = BLOCKS[-1]
        size, c = -(-last[0] // last[3]), last[2]
        return [
            f"ConvNorm_H{INPUT_SIZE}_W{INPUT_SIZE}_Cin3_Cout{STEM_CHANNELS}_kernel3_stride1_group1",
            *(block_lut_key(*shape, op) for shape, op in zip(BLOCKS, arch.genes, strict=True)),
            f"ConvNorm_H{size}_W{size}_Cin{c}_Cout{HEAD_CHANNELS}_kernel1_stride1_group1",
            f"AvgP_H{size}_W{size}_Cin{HEAD_CHANNELS}_Cout{HEAD_CHANNELS}_kernel{size}_stride1",
            f"FC_Cin{HEAD_CHANNELS}_Cout{self.num_classes}",
        ]

    # -- hardware IR ----------------------------------------------------------------------
    def input_shape(self, arch: Arch) -> tuple[int, int, int]:
        """The network's input, channels first (the same for every network): what an exported model takes."""
        return (3, INPUT_SIZE, INPUT_SIZE)

    def layers(self, arch: Arch) -> list[Layer]:
        """Deployed operators (batch norm folded, ReLU fused; the g2 channel shuffle is a free permutation and not listed)."""
        self.check(arch)
        out: list[Layer] = []

        def conv(
            op: Op, x: int, shape: tuple[int, int, int], c_out: int, k: int, s: int, groups: int, act: str | None, name: str
        ) -> int:
            """Append a conv (after the PAD the converter emits where SAME padding is asymmetric); return its index."""
            size = shape[0]
            pads = explicit_pads((size, size), (k, k), (s, s))
            if pads is not None:
                padded = (size + sum(pads[0]), size + sum(pads[1]), shape[2])
                out.append(Layer(Op.PAD, shape, padded, bias=False, inputs=(x,), name=f"{name}.pad"))
                x, shape = len(out) - 1, padded
            o = -(-size // s)
            out.append(Layer(op, shape, (o, o, c_out), (k, k), (s, s), groups, activation=act, inputs=(x,), name=name))
            return len(out) - 1

        x = conv(Op.CONV2D, -1, (INPUT_SIZE, INPUT_SIZE, 3), STEM_CHANNELS, 3, 1, 1, "relu", "stem")
        for i, ((size, c_in, c_out, stride), g) in enumerate(zip(BLOCKS, arch.genes, strict=True)):
            _, kernel, expansion, groups = OPS[g]
            shape, name = (size, size, c_in), f"b{i}"
            if kernel == 0:
                if c_in != c_out or stride != 1:
                    x = conv(Op.CONV2D, x, shape, c_out, 1, stride, 1, "relu", f"{name}.skip")
                continue
            mid = c_in * expansion
            h = conv(Op.CONV2D, x, shape, mid, 1, 1, groups, "relu", f"{name}.pw")
            h = conv(Op.DWCONV2D, h, (size, size, mid), mid, kernel, stride, mid, "relu", f"{name}.dw")
            o = -(-size // stride)
            h = conv(Op.CONV2D, h, (o, o, mid), c_out, 1, 1, groups, None, f"{name}.pwl")
            if c_in == c_out and stride == 1:
                out.append(Layer(Op.ADD, (o, o, c_out), (o, o, c_out), bias=False, inputs=(x, h), name=f"{name}.add"))
                h = len(out) - 1
            x = h
        size, c = out[x].out_shape[0], out[x].out_shape[2]
        x = conv(Op.CONV2D, x, (size, size, c), HEAD_CHANNELS, 1, 1, 1, "relu", "head")
        out.append(Layer(Op.GLOBAL_AVGPOOL, (size, size, HEAD_CHANNELS), (HEAD_CHANNELS,), bias=False, inputs=(x,), name="pool"))
        out.append(Layer(Op.FC, (HEAD_CHANNELS,), (self.num_classes,), inputs=(len(out) - 1,), name="fc"))
        return out

    # -- torch ----------------------------------------------------------------------------
    def build(self, arch: Arch):  # -> torch.nn.Module (torch imported lazily: layers() needs none)
        from edgenas.spaces.nn.fbnet import FbnetNet

        self.check(arch)
        return FbnetNet(
            tuple(OPS[g][1:] for g in arch.genes),
            BLOCKS,
            stem_channels=STEM_CHANNELS,
            head_channels=HEAD_CHANNELS,
            input_size=INPUT_SIZE,
            num_classes=self.num_classes,
        )
