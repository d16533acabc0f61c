"""The ``mbconv`` space: MobileNetV2 / MnasNet / FBNet / EfficientNet / MobileNetV3 networks.

One skeleton, one decision vocabulary, wide enough that the published models are *points* of
it (``MbconvSpace.named``), not look-alikes:

* a 3x3 stride-2 stem conv (width, activation);
* seven stages with fixed strides ``(1, 2, 2, 2, 1, 2, 1)`` (the MobileNetV2 / EfficientNet
  layout); each stage chooses its depth (stages 0 and 6 may be empty, which is how
  MobileNetV3's six and five stages fit) and its output width;
* per block: depthwise kernel 3/5/7, expansion ratio (1, 2.3, 2.5, 3, 3.67, 4, 4.5, 6; the odd
  ratios are MobileNetV3's 184/80, 200/80, 88/24 and 72/16 widths), squeeze-and-excitation
  on/off, activation (relu, relu6, hard_swish, swish) and deployment precision (int8 or float32);
* the squeeze-and-excitation style of the network: ``efficientnet`` (reduce to a quarter of the
  block's *input* channels, the block's activation, sigmoid gate; EfficientNet and MnasNet) or
  ``mobilenetv3`` (a quarter of the *expanded* channels rounded to 8, ReLU, hard-sigmoid gate);
* a 1x1 head conv (width, activation), global pooling, an optional fully connected layer before
  the classifier (MobileNetV3's 1280/1024), and the classifier.

Those are the sizes of the ``imagenet`` vocabulary (the default); ``vocabulary="micro"`` keeps
the skeleton's parts and the per-block decisions with five stages and smaller sizes for small
images and devices (:class:`Vocabulary`).

Widths follow the reference implementations: the expanded width is ``make_divisible(c_in * e, 8)``
(torchvision's ``_make_divisible``), a block has a residual add where its stride is 1 and it keeps
its channels. Input resolution is a decision whose choices are a space parameter, as are the
number of classes and input channels: ``MbconvSpace()`` is ImageNet (3 x 224..300, 1000 classes),
``MbconvSpace(num_classes=10, in_channels=1, resolutions=(28,))`` is Fashion-MNIST.

Padding is TensorFlow SAME, as everywhere in edgenas (``_padding.py``): same output sizes, MACs
and parameters as the PyTorch ``k // 2`` padding of torchvision, with an explicit PAD where SAME
would be asymmetric (stride 2 on an even size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgenas.arch import Arch, Decision
from edgenas.errors import InvalidInputError
from edgenas.ir import Layer, Op
from edgenas.spaces.base import DecisionSpace
from edgenas.spaces.shapes import explicit_pads, make_divisible

STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
#: Depth choices per stage (stages 0 and 6 may be empty: MobileNetV3 has no 320-channel stage,
#: and its Small variant no stride-1 first stage).
MIN_DEPTHS = (0, 1, 1, 1, 1, 1, 0)
MAX_DEPTHS = (2, 4, 4, 5, 5, 6, 2)
#: Output width choices per stage: the zoo's widths plus narrower ones for small devices.
STAGE_WIDTHS = (
    (8, 16, 24, 32),
    (8, 16, 24, 32, 40),
    (16, 24, 32, 40, 48, 56),
    (24, 32, 40, 48, 64, 80, 88, 96),
    (32, 48, 64, 80, 96, 112, 120, 136),
    (48, 64, 96, 128, 160, 192, 208, 232),
    (64, 128, 192, 256, 320, 352, 384),
)
STEM_WIDTHS = (8, 16, 24, 32, 40)
HEAD_WIDTHS = (128, 256, 512, 576, 960, 1024, 1280, 1408, 1536)
HEAD_FC = (0, 1024, 1280)  # a fully connected layer between pooling and classifier (0: none)
KERNELS = (3, 5, 7)
EXPANSIONS = (1, 2.3, 2.5, 3, 3.67, 4, 4.5, 6)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The sizes an ``mbconv`` space chooses from: stage layout, widths, depths, kernels, expansions.

    Why more than one: the ImageNet vocabulary (seven stages, heads up to 1536 + FC 1280) is the
    one whose points are the published models, but at 28-64 px it spends most of its blocks on
    1x1 and 2x2 feature maps and its smallest networks still miss a microcontroller's
    milliseconds. The ``micro`` vocabulary is MCUNet / Once-for-All shaped for small images and
    small devices: five stages, every stage present (so a weight-sharing supernet never feeds a
    stage another stage's channels), expansions 3/4/6, narrow widths and a small head.
    """

    name: str
    strides: tuple[int, ...]
    min_depths: tuple[int, ...]
    max_depths: tuple[int, ...]
    stage_widths: tuple[tuple[int, ...], ...]
    stem_widths: tuple[int, ...]
    head_widths: tuple[int, ...]
    head_fc: tuple[int, ...]
    kernels: tuple[int, ...]
    expansions: tuple[float, ...]


IMAGENET = Vocabulary(
    "imagenet", STAGE_STRIDES, MIN_DEPTHS, MAX_DEPTHS, STAGE_WIDTHS, STEM_WIDTHS, HEAD_WIDTHS, HEAD_FC, KERNELS, EXPANSIONS
)
MICRO = Vocabulary(
    "micro",
    strides=(1, 2, 2, 1, 2),
    min_depths=(1, 1, 1, 1, 1),
    max_depths=(1, 2, 3, 3, 2),
    stage_widths=((8, 16), (16, 24, 32), (24, 32, 40, 48), (32, 48, 64, 80), (64, 96, 128, 160)),
    stem_widths=(8, 16, 24),
    head_widths=(128, 256, 512),
    head_fc=(0,),
    kernels=(3, 5, 7),
    expansions=(3, 4, 6),
)
#: ``MbconvSpace(vocabulary=...)`` names.
VOCABULARIES = {v.name: v for v in (IMAGENET, MICRO)}
ACTIVATIONS = ("relu", "relu6", "hard_swish", "swish")
PRECISIONS = ("int8", "float32")
SE_STYLES = ("efficientnet", "mobilenetv3")
#: Activations TFLite fuses into the conv before them; the others are separate IR layers.
_FUSED = frozenset({"relu", "relu6"})
_ACT_OPS = {"hard_swish": Op.HARD_SWISH, "swish": Op.SWISH, "sigmoid": Op.SIGMOID, "hard_sigmoid": Op.HARD_SIGMOID}
_BLOCK_FIELDS = ("kernel", "expand", "se", "act", "quant")
_ACT_SHORT = {"relu": "re", "relu6": "r6", "hard_swish": "hs", "swish": "sw"}


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """One MBConv block, fully resolved: what both ``layers()`` and ``build()`` read."""

    size: int  # input height = width
    c_in: int
    c_out: int
    mid: int  # expanded width (== c_in at expansion 1: no expand conv)
    kernel: int
    stride: int
    se_channels: int  # 0: no squeeze-and-excitation
    act: str
    quant: str

    @property
    def out_size(self) -> int:
        return -(-self.size // self.stride)

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.c_in == self.c_out


@dataclass(frozen=True, slots=True)
class NetPlan:
    """A whole network, resolved from a genotype (widths, sizes and SE widths computed)."""

    in_channels: int
    resolution: int
    num_classes: int
    stem_channels: int
    stem_act: str
    stem_quant: str
    se_act: str | None  # None: the block's own activation (efficientnet style)
    se_gate: str
    blocks: tuple[BlockPlan, ...]
    head_channels: int
    head_fc: int
    head_act: str
    head_quant: str


class MbconvSpace(DecisionSpace):
    """MBConv networks in one vocabulary (see the module docstring).

    Args:
        num_classes: Classifier outputs (1000 for ImageNet, 10 for Fashion-MNIST).
        in_channels: Input image channels (3 RGB, 1 grey).
        resolutions: Input sizes (square) the ``resolution`` decision chooses from.
        activations: Activations blocks may use (a target without swish passes a subset).
        squeeze_excite: Whether blocks may use squeeze-and-excitation.
        precisions: Deployment precisions a block may take.
        vocabulary: ``imagenet`` (the published models' sizes, the default) or ``micro`` (small
            images and microcontrollers); see :class:`Vocabulary`.
    """

    name = "mbconv"

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        resolutions: Sequence[int] = (224, 240, 260, 300),
        activations: Sequence[str] = ACTIVATIONS,
        squeeze_excite: bool = True,
        precisions: Sequence[str] = PRECISIONS,
        vocabulary: str = "imagenet",
    ) -> None:
        if vocabulary not in VOCABULARIES:
            raise InvalidInputError(f"mbconv vocabulary must be one of {', '.join(VOCABULARIES)}, got {vocabulary!r}")
        self.vocabulary = vocabulary
        self.vocab = VOCABULARIES[vocabulary]
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.resolutions = tuple(int(r) for r in resolutions)
        self.activations = tuple(activations)
        self.squeeze_excite = squeeze_excite
        self.precisions = tuple(precisions)
        self._decisions: tuple[Decision, ...] | None = None
        self._requirements: dict[tuple[int, int], frozenset[str]] | None = None  # choice_requirements, built once

    # -- genotype -------------------------------------------------------------------------
    def decisions(self) -> Sequence[Decision]:
        if self._decisions is None:
            self._decisions = self._make_decisions()
        return self._decisions

    def _make_decisions(self) -> tuple[Decision, ...]:
        if self.num_classes < 2 or self.in_channels < 1 or not self.resolutions or min(self.resolutions) < 8:
            raise InvalidInputError("mbconv space needs num_classes >= 2, in_channels >= 1 and resolutions >= 8 pixels")
        bad = [a for a in self.activations if a not in ACTIVATIONS] + [p for p in self.precisions if p not in PRECISIONS]
        if bad or not self.activations or not self.precisions:
            raise InvalidInputError(
                f"mbconv space: unknown or empty choices {bad}; activations from {list(ACTIVATIONS)}, "
                f"precisions from {list(PRECISIONS)}"
            )
        se = (False, True) if self.squeeze_excite else (False,)
        v = self.vocab
        out = [
            Decision("resolution", self.resolutions),
            Decision("stem_width", v.stem_widths),
            Decision("stem_act", self.activations),
            Decision("stem_quant", self.precisions),
            Decision("se_style", SE_STYLES),
        ]
        for s in range(len(v.strides)):
            out += [
                Decision(f"s{s}_depth", tuple(range(v.min_depths[s], v.max_depths[s] + 1))),
                Decision(f"s{s}_width", v.stage_widths[s]),
            ]
        for s in range(len(v.strides)):
            for b in range(v.max_depths[s]):
                out += [
                    Decision(f"s{s}b{b}_kernel", v.kernels),
                    Decision(f"s{s}b{b}_expand", v.expansions),
                    Decision(f"s{s}b{b}_se", se),
                    Decision(f"s{s}b{b}_act", self.activations),
                    Decision(f"s{s}b{b}_quant", self.precisions),
                ]
        out += [
            Decision("head_width", v.head_widths),
            Decision("head_fc", v.head_fc),
            Decision("head_act", self.activations),
            Decision("head_quant", self.precisions),
        ]
        return tuple(out)

    def _index(self) -> dict[str, int]:
        return {d.name: i for i, d in enumerate(self.decisions())}

    def normalise(self, genes: tuple[int, ...]) -> tuple[int, ...]:
        """Zero the genes of blocks beyond a stage's depth, the width of an empty stage, and the
        SE style of a network without squeeze-and-excitation."""
        g = list(genes)
        index = self._index()
        decisions = self.decisions()
        any_se = False
        for s in range(len(self.vocab.strides)):
            depth = decisions[index[f"s{s}_depth"]].choices[g[index[f"s{s}_depth"]]]
            assert isinstance(depth, int)  # a range of ints (decisions())
            if depth == 0:
                g[index[f"s{s}_width"]] = 0
            for b in range(self.vocab.max_depths[s]):
                if b >= depth:
                    for field in _BLOCK_FIELDS:
                        g[index[f"s{s}b{b}_{field}"]] = 0
                elif decisions[index[f"s{s}b{b}_se"]].choices[g[index[f"s{s}b{b}_se"]]]:
                    any_se = True
        if not any_se:
            g[index["se_style"]] = 0
        return tuple(g)

    def from_values(self, values: dict[str, object]) -> Arch:
        """An ``Arch`` from decision values by name; decisions not named take their first choice."""
        genes = []
        for d in self.decisions():
            value = values.get(d.name, d.choices[0])
            if value not in d.choices:
                raise InvalidInputError(f"decision {d.name!r}: {value!r} is not one of {list(d.choices)} in this mbconv space")
            genes.append(d.choices.index(value))
        unknown = set(values) - {d.name for d in self.decisions()}
        if unknown:
            raise InvalidInputError(f"mbconv space has no decision(s) {sorted(unknown)}")
        return self.arch(genes)

    @classmethod
    def for_task(cls, input_shape: Sequence[int], num_classes: int, **options: Any) -> MbconvSpace:
        """Square images ``(channels, height, width)``, searched at their own resolution."""
        shape = tuple(int(s) for s in input_shape)
        if len(shape) != 3:
            raise InvalidInputError(f"searches images (channels, height, width); this task's inputs are {shape}")
        channels, height, width = shape
        if height != width:
            raise InvalidInputError(f"takes square images, these are {height}x{width}: resize them to a square")
        return cls(num_classes=num_classes, in_channels=channels, resolutions=(height,), **options)

    @property
    def preset(self) -> str:
        return "mbconv-micro" if self.vocabulary == "micro" else "mbconv"

    def reference(self) -> tuple[str, Arch]:
        """MobileNetV2 (relu6, no squeeze-and-excitation, so int8 NPUs run it too) at the space's
        largest resolution; in the micro vocabulary, MobileNetV2's blocks at micro widths."""
        from edgenas.spaces.mbconv_named import named_values

        name = "mobilenetv2-micro" if self.vocabulary == "micro" else "mobilenetv2"
        return name, self.from_values({**named_values(name, self.vocabulary), "resolution": max(self.resolutions)})

    def named(self, name: str) -> Arch:
        """A published model as a point of this space (``mobilenetv2``, ``efficientnet-b0``, ...; see ``_mbconv_named``)."""
        from edgenas.spaces.mbconv_named import named_values

        return self.from_values(named_values(name, self.vocabulary))

    def choice_requirements(self, decision: int, choice: int) -> frozenset[str]:
        """The operators choosing ``choice`` of ``decision`` adds, in fixed context networks.

        Why declared, not derived from random networks (``filter_by_ops``' default): a random
        network of this space has ~20 blocks, each with its own activation, SE and precision, so
        *every* sample needs some float32 kernel, multiplication and sigmoid, and the intersection
        over samples would blame each of those on every choice. Here the context is the space's
        first-choice network (first activation, no SE, the first precision: int8 by default,
        the deployed form) with every stage at full depth, so each decision is active; a choice
        needs what it adds there beyond what every choice of that decision needs. An SE style is
        judged with one SE block present. A precision choice is also judged in a context of each
        other precision (so int8 needs the int8 kernels even where float32 is the first choice);
        other choices only in the first precision, so a float32 block with, say, swish on a
        target without a float sigmoid is left to the filter's sampling check.
        """
        return self._requirements_table()[(decision, choice)]

    def _requirements_table(self) -> dict[tuple[int, int], frozenset[str]]:
        if self._requirements is not None:
            return self._requirements
        from edgenas.opset import network_requirements

        decisions = self.decisions()
        index = self._index()
        table: dict[tuple[int, int], frozenset[str]] = {}
        for precision in range(len(self.precisions)):
            context = [precision if d.name.endswith("quant") else 0 for d in decisions]
            for s in range(len(self.vocab.strides)):
                context[index[f"s{s}_depth"]] = len(decisions[index[f"s{s}_depth"]].choices) - 1
            for i, decision in enumerate(decisions):
                if precision and not decision.name.endswith("quant"):
                    continue
                genes = list(context)
                if decision.name == "se_style" and self.squeeze_excite:
                    genes[index["s1b0_se"]] = decisions[index["s1b0_se"]].choices.index(True)
                needs = []
                for c in range(len(decision.choices)):
                    genes[i] = c
                    needs.append(network_requirements(self.layers(self.arch(genes))))
                shared = frozenset.intersection(*needs)
                if precision == 0 or decision.name.endswith("quant"):
                    for c, need in enumerate(needs):
                        table[(i, c)] = table.get((i, c), frozenset()) | (need - shared)
        self._requirements = table
        return table

    # -- resolved plan ----------------------------------------------------------------------
    def plan(self, arch: Arch) -> NetPlan:
        """Widths, sizes and SE widths of every block (the one place they are computed)."""
        self.check(arch)
        v: Mapping[str, Any] = self.values(arch)  # choice values: ints, strings and flags by decision
        style = v["se_style"]
        size = -(-int(v["resolution"]) // 2)
        c = int(v["stem_width"])
        blocks = []
        for s, stride in enumerate(self.vocab.strides):
            depth = int(v[f"s{s}_depth"])
            for b in range(depth):
                c_out = int(v[f"s{s}_width"])
                e = v[f"s{s}b{b}_expand"]
                mid = c if e == 1 else make_divisible(c * e)
                se = 0
                if v[f"s{s}b{b}_se"]:
                    se = max(1, c // 4) if style == "efficientnet" else make_divisible(mid // 4)
                block = BlockPlan(
                    size=size,
                    c_in=c,
                    c_out=c_out,
                    mid=mid,
                    kernel=int(v[f"s{s}b{b}_kernel"]),
                    stride=stride if b == 0 else 1,
                    se_channels=se,
                    act=str(v[f"s{s}b{b}_act"]),
                    quant=str(v[f"s{s}b{b}_quant"]),
                )
                blocks.append(block)
                size, c = block.out_size, c_out
        return NetPlan(
            in_channels=self.in_channels,
            resolution=int(v["resolution"]),
            num_classes=self.num_classes,
            stem_channels=int(v["stem_width"]),
            stem_act=str(v["stem_act"]),
            stem_quant=str(v["stem_quant"]),
            se_act=None if style == "efficientnet" else "relu",
            se_gate="sigmoid" if style == "efficientnet" else "hard_sigmoid",
            blocks=tuple(blocks),
            head_channels=int(v["head_width"]),
            head_fc=int(v["head_fc"]),
            head_act=str(v["head_act"]),
            head_quant=str(v["head_quant"]),
        )

    def describe(self, arch: Arch) -> str:
        """A readable genotype in timm's spirit: ``224 c32r6 | c16 k3e1r6 | c24 k3e6r6 k3e6r6 | ... | h1280r6``.

        Each block is ``k<kernel>e<expansion><act>``, ``+se`` with squeeze-and-excitation, ``/f``
        when left in float32; a stride-2 stage starts with ``/2``.
        """
        p = self.plan(arch)
        parts = [f"{p.resolution} c{p.stem_channels}{_ACT_SHORT[p.stem_act]}" + ("/f" if p.stem_quant != "int8" else "")]
        stage: list[str] = []
        for block in p.blocks:
            if block.c_in != block.c_out or block.stride != 1 or not stage:
                if stage:
                    parts.append(" ".join(stage))
                stage = [("/2 " if block.stride == 2 else "") + f"c{block.c_out}"]
            e = round(block.mid / block.c_in, 2)
            token = f"k{block.kernel}e{e:g}{_ACT_SHORT[block.act]}" + ("+se" if block.se_channels else "")
            stage.append(token + ("/f" if block.quant != "int8" else ""))
        if stage:
            parts.append(" ".join(stage))
        head = f"h{p.head_channels}{_ACT_SHORT[p.head_act]}" + (f" fc{p.head_fc}" if p.head_fc else "")
        style = f" se:{self.values(arch)['se_style']}" if any(b.se_channels for b in p.blocks) else ""
        parts.append(head + ("/f" if p.head_quant != "int8" else "") + style)
        return " | ".join(parts)

    # -- hardware IR ----------------------------------------------------------------------
    def layers(self, arch: Arch) -> list[Layer]:
        """Deployed operators: batch norm folded, ReLU/ReLU6 fused, other activations as layers."""
        p = self.plan(arch)
        out: list[Layer] = []

        def add(layer: Layer) -> int:
            out.append(layer)
            return len(out) - 1

        def act(x: int, name: str | None, quant: str, label: str) -> int:
            """Append a separate activation layer after ``x`` unless it is fused (or absent)."""
            if name is None or name in _FUSED:
                return x
            shape = out[x].out_shape
            return add(Layer(_ACT_OPS[name], shape, shape, bias=False, dtype=quant, inputs=(x,), name=label))

        def conv(
            op: Op, x: int, shape: tuple[int, int, int], c_out: int, k: int, s: int, a: str | None, quant: str, name: str
        ) -> int:
            size = shape[0]
            pads = explicit_pads((size, size), (k, k), (s, s))
            if pads is not None:
                padded = (size + sum(pads[0]), size + sum(pads[1]), shape[2])
                x = add(Layer(Op.PAD, shape, padded, bias=False, dtype=quant, inputs=(x,), name=f"{name}.pad"))
                shape = padded
            o = -(-size // s)
            groups = shape[2] if op is Op.DWCONV2D else 1
            fused = a if a in _FUSED else None
            x = add(Layer(op, shape, (o, o, c_out), (k, k), (s, s), groups, True, fused, quant, (x,), name))
            return act(x, a, quant, f"{name}.act")

        r = p.resolution
        x = conv(Op.CONV2D, -1, (r, r, p.in_channels), p.stem_channels, 3, 2, p.stem_act, p.stem_quant, "stem")
        for i, b in enumerate(p.blocks):
            name, q = f"b{i}", b.quant
            h = x
            if b.mid != b.c_in:
                h = conv(Op.CONV2D, h, (b.size, b.size, b.c_in), b.mid, 1, 1, b.act, q, f"{name}.expand")
            h = conv(Op.DWCONV2D, h, (b.size, b.size, b.mid), b.mid, b.kernel, b.stride, b.act, q, f"{name}.dw")
            o = b.out_size
            if b.se_channels:
                se_act = p.se_act or b.act
                pooled = add(
                    Layer(Op.GLOBAL_AVGPOOL, (o, o, b.mid), (b.mid,), bias=False, dtype=q, inputs=(h,), name=f"{name}.se.pool")
                )
                fused = se_act if se_act in _FUSED else None
                g = add(
                    Layer(
                        Op.FC, (b.mid,), (b.se_channels,), activation=fused, dtype=q, inputs=(pooled,), name=f"{name}.se.reduce"
                    )
                )
                g = act(g, se_act, q, f"{name}.se.act")
                g = add(Layer(Op.FC, (b.se_channels,), (b.mid,), dtype=q, inputs=(g,), name=f"{name}.se.expand"))
                g = act(g, p.se_gate, q, f"{name}.se.gate")
                h = add(Layer(Op.MUL, (o, o, b.mid), (o, o, b.mid), bias=False, dtype=q, inputs=(h, g), name=f"{name}.se.mul"))
            h = conv(Op.CONV2D, h, (o, o, b.mid), b.c_out, 1, 1, None, q, f"{name}.project")
            if b.residual:
                h = add(Layer(Op.ADD, (o, o, b.c_out), (o, o, b.c_out), bias=False, dtype=q, inputs=(x, h), name=f"{name}.add"))
            x = h
        size, c = out[x].out_shape[0], out[x].out_shape[2]
        q = p.head_quant
        x = conv(Op.CONV2D, x, (size, size, c), p.head_channels, 1, 1, p.head_act, q, "head")
        x = add(
            Layer(
                Op.GLOBAL_AVGPOOL,
                (size, size, p.head_channels),
                (p.head_channels,),
                bias=False,
                dtype=q,
                inputs=(x,),
                name="pool",
            )
        )
        features = p.head_channels
        if p.head_fc:
            fused = p.head_act if p.head_act in _FUSED else None
            x = add(Layer(Op.FC, (features,), (p.head_fc,), activation=fused, dtype=q, inputs=(x,), name="head.fc"))
            x = act(x, p.head_act, q, "head.fc.act")
            features = p.head_fc
        add(Layer(Op.FC, (features,), (p.num_classes,), dtype=q, inputs=(x,), name="classifier"))
        return out

    # -- torch ----------------------------------------------------------------------------
    def build(self, arch: Arch):  # -> torch.nn.Module (torch imported lazily: layers() needs none)
        """The float training module (batch norm not folded). Per-block precision is a deployment
        choice: it prices the IR, it does not change the module."""
        from edgenas.spaces.nn.mbconv import MbconvNet

        return MbconvNet(self.plan(arch))

    def input_shape(self, arch: Arch) -> tuple[int, int, int]:
        """``(channels, height, width)`` of the network input (no batch)."""
        values: Mapping[str, Any] = self.values(arch)  # choice values: ints, strings and flags by decision
        r = int(values["resolution"])
        return (self.in_channels, r, r)
