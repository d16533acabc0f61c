"""The ``kws`` space: depthwise-separable CNNs for keyword spotting on MFCC features.

Networks follow DS-CNN ("Hello Edge", Zhang et al. 2017, arXiv:1711.07128): one regular conv,
then ``depth`` depthwise-separable blocks (depthwise conv + 1x1 pointwise conv, each with batch
norm and ReLU), global average pooling and a fully connected classifier. Two families share the
decisions:

* ``2d``: the MFCC map is an image (time x coefficient x 1 channel), as in DS-CNN;
* ``1d``: the MFCC coefficients are channels of a time series (temporal convs, as in
  TC-ResNet, Choi et al. 2019), which TFLite runs as 2-D convs on a (T, 1, C) tensor.

DS-CNN-S, the paper's small model (and MLPerf Tiny's KWS reference: 2,656,768 MACs, 22,604
parameters), is the named point ``ds-cnn-s``. Every operator of the convolutional networks is a
TFLite Micro builtin with an optimised int8 CMSIS-NN kernel, so none falls back to a slow path.

With ``cells`` (the ``kws-rnn`` preset, ``--space kws-rnn``), the convolutional front may end
in one recurrent layer (GRU or LSTM, as the CRNN of "Hello Edge") over its time frames, whose
last state or mean feeds the classifier; the front may then be the first conv alone (depth 0).
The named point ``crnn`` is that CRNN with one GRU layer. The recurrent decisions come after all
the others, and a space without ``cells`` (``kws``, and every run stored before them) has exactly
the old decisions, so stored genotypes keep their meaning. TFLite Micro has no GRU kernel: the cells are
unrolled into FULLY_CONNECTED, ADD, MUL and LOGISTIC operators (``edgenas.spaces.nn.recurrent``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from edgenas.arch import Arch, Decision
from edgenas.errors import InvalidInputError
from edgenas.ir import Layer, Op
from edgenas.opset import layer_requirements
from edgenas.spaces.base import DecisionSpace
from edgenas.spaces.shapes import explicit_pads

FAMILIES = ("2d", "1d")
FIRST_CHANNELS = (16, 24, 32, 48, 64, 96)
FIRST_KERNELS = ((10, 4), (5, 3), (3, 3))  # (time, coefficient); 1-D uses the time extent
FIRST_STRIDES = ((2, 2), (2, 1), (1, 1))  # 1-D uses the time stride: (2, 1) == (2, 2) there
BLOCK_CHANNELS = (16, 24, 32, 48, 64, 96, 128)
BLOCK_KERNELS = (3, 5)
BLOCK_STRIDES = (1, 2)
CELLS = ("gru", "lstm")  # the recurrent cells of the kws-rnn preset
HIDDEN = (16, 32, 48, 64)
READOUTS = ("last", "mean")
#: Front depths: ``depth`` 0 (the first conv alone) is the last choice, and only with a recurrent cell.
RECURRENT_DEPTH = 0


class KwsSpace(DecisionSpace):
    """DS-CNN-style keyword-spotting networks (see the module docstring).

    Args:
        num_classes: Classifier outputs (12 for the ten keywords, unknown and silence).
        input_shape: MFCC features per clip, (time frames, coefficients).
        max_depth: Most depthwise-separable blocks a network may have.
        cells: Recurrent cells a network may end in (``("gru", "lstm")``); ``()`` (the default,
            and every space stored before they existed) has no recurrent decisions.
    """

    name = "kws"

    def __init__(
        self,
        num_classes: int = 12,
        input_shape: tuple[int, int] = (49, 10),
        max_depth: int = 6,
        cells: tuple[str, ...] = (),
    ) -> None:
        self.num_classes = num_classes
        self.input_shape = input_shape
        self.max_depth = max_depth
        self.cells = tuple(cells)
        unknown = [c for c in self.cells if c not in CELLS]
        if unknown or len(set(self.cells)) != len(self.cells):
            raise InvalidInputError(f"kws cells must be distinct names among {', '.join(CELLS)}, got {list(self.cells)}")
        depths = tuple(range(1, max_depth + 1)) + ((RECURRENT_DEPTH,) if self.cells else ())
        self._depths = depths
        self._plain_needs: dict[tuple[int, int], frozenset[str]] | None = None

    # -- genotype -------------------------------------------------------------------------
    def decisions(self) -> Sequence[Decision]:
        if self.max_depth < 1 or self.num_classes < 2:
            raise InvalidInputError("kws space needs max_depth >= 1 and num_classes >= 2")
        out = [
            Decision("family", FAMILIES),
            Decision("first_channels", FIRST_CHANNELS),
            Decision("first_kernel", FIRST_KERNELS),
            Decision("first_stride", FIRST_STRIDES),
            Decision("depth", self._depths),
        ]
        for i in range(self.max_depth):
            out += [
                Decision(f"b{i}_channels", BLOCK_CHANNELS),
                Decision(f"b{i}_kernel", BLOCK_KERNELS),
                Decision(f"b{i}_stride", BLOCK_STRIDES),
            ]
        if self.cells:
            out += [Decision("cell", ("none", *self.cells)), Decision("hidden", HIDDEN), Decision("readout", READOUTS)]
        return out

    def normalise(self, genes: tuple[int, ...]) -> tuple[int, ...]:
        g = list(genes)
        if FAMILIES[g[0]] == "1d" and FIRST_STRIDES[g[3]][0] == 2:
            g[3] = FIRST_STRIDES.index((2, 2))
        cell = 5 + 3 * self.max_depth  # index of the cell gene (present with cells)
        if self.cells and g[cell] == 0:  # no recurrent layer: no hidden size, no read-out, a front of >= 1 block
            g[cell + 1 : cell + 3] = [0, 0]
            if self._depths[g[4]] == RECURRENT_DEPTH:
                g[4] = 0
        depth = self._depths[g[4]]
        for i in range(depth, self.max_depth):
            g[5 + 3 * i : 8 + 3 * i] = [0, 0, 0]
        return tuple(g)

    def choice_requirements(self, decision: int, choice: int) -> frozenset[str] | None:
        """What a choice needs, for the operator filter: the recurrent layer's operators for a cell;
        nothing for a hidden size, a read-out or depth 0 (they exist only with a cell, which carries
        them); for every other choice what it needs in the space without cells. Derived from samples
        of this space instead, a rare choice (a sixth block's width) seen only in networks that also
        had a cell would be removed with the cells on a target without them."""
        if not self.cells:
            return None
        d = self.decisions()[decision]
        value = d.choices[choice]
        if d.name == "cell":
            if value == "none":
                return frozenset()
            op = Op.GRU if value == "gru" else Op.LSTM
            return frozenset(layer_requirements(Layer(op, (1, 1), (1,))))
        if d.name in ("hidden", "readout") or (d.name == "depth" and value == RECURRENT_DEPTH):
            return frozenset()
        if self._plain_needs is None:
            from edgenas.spaces.filter import choice_requirements

            plain = KwsSpace(self.num_classes, self.input_shape, self.max_depth)
            self._plain_needs = choice_requirements(plain)
        return self._plain_needs[(decision, choice)]

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

    @property
    def preset(self) -> str:
        """``kws-rnn`` with recurrent cells (the ``--space`` that searches them), else ``kws``."""
        return "kws-rnn" if self.cells else "kws"

    def reference(self) -> tuple[str, Arch]:
        """DS-CNN-S ("Hello Edge"), the MLPerf Tiny keyword-spotting reference, at this input size."""
        return "ds-cnn-s", self.named("ds-cnn-s")

    def named(self, name: str) -> Arch:
        """A published model as a point of this space (``ds-cnn-s``, and ``crnn`` with cells)."""
        if name == "crnn":
            return self._crnn()
        if name != "ds-cnn-s":
            raise InvalidInputError(f"unknown named kws model {name!r}. Accepted: ds-cnn-s, crnn.")
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
        return self.arch(genes + [0, 0, 0] * bool(self.cells))

    def _crnn(self) -> Arch:
        """The CRNN of "Hello Edge" with one GRU layer: a 10x4 conv of 48 channels, stride 2x2,
        read as time frames by a 64-unit GRU whose last state feeds the classifier (the paper's
        CRNN-S has two GRU layers of 60 and a 84-unit hidden FC layer: the nearest point here)."""
        if "gru" not in self.cells:
            raise InvalidInputError("crnn needs a kws space with the gru cell (cells=('gru', ...))")
        genes = [
            FAMILIES.index("2d"),
            FIRST_CHANNELS.index(48),
            FIRST_KERNELS.index((10, 4)),
            FIRST_STRIDES.index((2, 2)),
            self._depths.index(RECURRENT_DEPTH),
        ]
        genes += [0, 0, 0] * self.max_depth
        genes += [1 + self.cells.index("gru"), HIDDEN.index(64), READOUTS.index("last")]
        return self.arch(genes)

    def plan(self, arch: Arch) -> dict:
        """The network ``arch`` describes, as plain values (what ``build`` and the supernet read)."""
        return self._plan(arch)

    def _plan(self, arch: Arch) -> dict:
        self.check(arch)
        v: Mapping[str, Any] = self.values(arch)  # choice values: ints and strings by decision
        depth = int(v["depth"])
        blocks = [(int(v[f"b{i}_channels"]), int(v[f"b{i}_kernel"]), int(v[f"b{i}_stride"])) for i in range(depth)]
        cell = str(v.get("cell", "none"))
        return {
            "two_d": v["family"] == "2d",
            "first_channels": int(v["first_channels"]),
            "first_kernel": v["first_kernel"],
            "first_stride": v["first_stride"],
            "blocks": blocks,
            "cell": None if cell == "none" else cell,
            "hidden": int(v["hidden"]) if cell != "none" else 0,
            "readout": str(v["readout"]) if cell != "none" else "",
        }

    def describe(self, arch: Arch) -> str:
        """A readable genotype, e.g. ``2d c64 k10x4 s2x2 / dw3 s1 c64 / ...``."""
        p = self._plan(arch)
        if p["two_d"]:
            head = "2d c{} k{}x{} s{}x{}".format(p["first_channels"], *p["first_kernel"], *p["first_stride"])
        else:
            head = "1d c{} k{} s{}".format(p["first_channels"], p["first_kernel"][0], p["first_stride"][0])
        tail = [f"{p['cell']}{p['hidden']} {p['readout']}"] if p["cell"] else []
        return " / ".join([head] + [f"dw{k} s{s} c{c}" for c, k, s in p["blocks"]] + tail)

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
        if p["cell"]:  # time frames of the front's features (frequency x channels in 2-D)
            frames, hidden = (shape[0], math.prod(shape[1:])), p["hidden"]
            op = Op.GRU if p["cell"] == "gru" else Op.LSTM
            if p["readout"] == "last":
                out.append(Layer(op, frames, (hidden,), name=p["cell"]))
            else:
                out.append(Layer(op, frames, (frames[0], hidden), name=p["cell"]))
                out.append(Layer(Op.GLOBAL_AVGPOOL, (frames[0], hidden), (hidden,), bias=False, name="mean"))
            channels = hidden
        else:
            out.append(Layer(Op.GLOBAL_AVGPOOL, shape, (channels,), bias=False, name="pool"))
        out.append(Layer(Op.FC, (channels,), (self.num_classes,), name="fc"))
        return out

    # -- torch ----------------------------------------------------------------------------
    def build(self, arch: Arch):  # -> torch.nn.Module (torch imported lazily: layers() needs none)
        from edgenas.spaces.nn.kws import KwsNet

        return KwsNet(self._plan(arch), self.input_shape, self.num_classes)
