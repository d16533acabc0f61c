"""The ``detection`` space: an ``mbconv`` backbone with an anchor-free head an int8 NPU runs whole.

Why this shape: an embedded NPU with a short operator list (``npu-int8``: convolutions, depthwise
convolutions, additions, ReLU clamps, padding) has no upsampling, no concatenation and no sigmoid,
so the usual FPN necks and SSD/YOLO heads would fall back to the CPU. The head here is
FCOS/CenterNet-shaped and uses only what the backbone already uses:

* the **backbone** is an :class:`~edgenas.spaces.mbconv.MbconvSpace` network (its decisions,
  plan and torch blocks, composed, not copied) without its classifier: stem, then the MBConv
  stages up to the deepest feature level the head reads (later stages would be dead weight, so
  their genes are inactive and normalised to 0);
* one **head per feature level** (decision ``levels``: output stride 8, 16, or both in the
  ``micro`` vocabulary; 8/16/32 and adjacent pairs in ``imagenet``): ``head_depth`` times a
  depthwise ``head_kernel`` x ``head_kernel`` conv and a 1x1 conv to ``head_width`` channels
  (ReLU fused), then a 1x1 conv giving ``num_classes`` class logits and 4 box values per cell.
  Each level is its own network output: no concatenation;
* the **input resolution** is the backbone's ``resolution`` decision: the data's own size and
  the sizes of (64, 96, 128) below it (:meth:`DetectionSpace.for_task`). The host resizes the
  camera frame to it before the int8 graph, as it would crop or scale a sensor's image.

Sigmoid, box decoding and non-maximum suppression run on the host after the graph
(:mod:`edgenas.tasks.detection_decode`); ``build()``'s module returns the raw per-level maps, so
unlike the classification spaces its output is a tuple of ``(batch, num_classes + 4, H, W)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgenas.arch import Arch, Decision
from edgenas.errors import InvalidInputError
from edgenas.ir import Layer, Op
from edgenas.spaces.base import DecisionSpace
from edgenas.spaces.mbconv import ACTIVATIONS, PRECISIONS, VOCABULARIES, MbconvSpace, NetPlan

#: Input sizes the ``resolution`` decision offers below the data's own size (which it always offers).
RESOLUTIONS = (64, 96, 128)
HEAD_WIDTHS = (16, 24, 32, 48, 64)
HEAD_DEPTHS = (1, 2, 3)
HEAD_KERNELS = (3, 5)
#: Box values per cell: centre offset (x, y) in strides and log width, log height in strides.
BOX_VALUES = 4
#: The head's activation: a ReLU clamp, fused into the conv before it on every int8 runtime.
HEAD_ACT = "relu"
#: Output strides a head may read (the backbone's stride-8 maps and coarser).
MIN_LEVEL_STRIDE = 8
#: The backbone's classifier decisions, which a detection network does not have.
_CLASSIFIER = ("head_width", "head_fc", "head_act", "head_quant")


@dataclass(frozen=True, slots=True)
class LevelPlan:
    """One feature level and its head, resolved: what both ``layers()`` and ``build()`` read."""

    stride: int  # output stride of the level (input pixels per cell)
    size: int  # feature map side (cells)
    block: int  # index of the backbone block whose output the head reads
    c_in: int  # backbone channels there
    width: int
    depth: int
    kernel: int
    outputs: int  # num_classes + BOX_VALUES


@dataclass(frozen=True, slots=True)
class DetectionPlan:
    """A whole detection network: the backbone's plan (blocks up to the deepest level) and the heads."""

    backbone: NetPlan
    levels: tuple[LevelPlan, ...]
    num_classes: int

    @property
    def strides(self) -> tuple[int, ...]:
        return tuple(level.stride for level in self.levels)


class DetectionSpace(DecisionSpace):
    """An ``mbconv`` backbone and an NPU-friendly anchor-free head (see the module docstring).

    Args:
        num_classes: Object classes (the head's class logits per cell).
        in_channels: Input image channels.
        resolutions: Input sizes (square) the ``resolution`` decision chooses from.
        activations: Activations the backbone's blocks may use.
        squeeze_excite: Whether backbone blocks may use squeeze-and-excitation.
        precisions: Deployment precisions a backbone block may take (the head is int8).
        vocabulary: The backbone's ``mbconv`` vocabulary: ``micro`` (the default) or ``imagenet``.
    """

    name = "detection"

    def __init__(
        self,
        num_classes: int = 4,
        in_channels: int = 3,
        resolutions: Sequence[int] = (64, 96),
        activations: Sequence[str] = ACTIVATIONS,
        squeeze_excite: bool = True,
        precisions: Sequence[str] = PRECISIONS,
        vocabulary: str = "micro",
    ) -> None:
        if vocabulary not in VOCABULARIES:
            raise InvalidInputError(f"detection vocabulary must be one of {', '.join(VOCABULARIES)}, got {vocabulary!r}")
        if num_classes < 1:
            raise InvalidInputError(f"detection space needs at least one object class, got {num_classes}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.resolutions = tuple(int(r) for r in resolutions)
        self.activations = tuple(activations)
        self.squeeze_excite = squeeze_excite
        self.precisions = tuple(precisions)
        self.vocabulary = vocabulary
        # the backbone's classifier is dropped, so its class count is any valid one
        self.backbone = MbconvSpace(
            num_classes=2,
            in_channels=in_channels,
            resolutions=self.resolutions,
            activations=self.activations,
            squeeze_excite=squeeze_excite,
            precisions=self.precisions,
            vocabulary=vocabulary,
        )
        self._decisions: tuple[Decision, ...] | None = None
        self._head_requirements: dict[tuple[int, int], frozenset[str]] | None = None

    # -- genotype -------------------------------------------------------------------------
    def _stage_strides(self) -> tuple[int, ...]:
        """Output stride after each backbone stage (the stem halves the input)."""
        out, stride = [], 2
        for s in self.backbone.vocab.strides:
            stride *= s
            out.append(stride)
        return tuple(out)

    def level_choices(self) -> tuple[str, ...]:
        """``levels`` choices: each stride of at least 8 the backbone reaches, then adjacent pairs."""
        strides = sorted({s for s in self._stage_strides() if s >= MIN_LEVEL_STRIDE})
        pairs = [f"{a}+{b}" for a, b in zip(strides, strides[1:], strict=False)]
        return (*(str(s) for s in strides), *pairs)

    def decisions(self) -> Sequence[Decision]:
        if self._decisions is None:
            backbone = tuple(self.backbone.decisions())
            if tuple(d.name for d in backbone[-len(_CLASSIFIER) :]) != _CLASSIFIER:  # pragma: no cover - mbconv's layout
                raise AssertionError("mbconv's classifier decisions are expected last")
            self._decisions = (
                *backbone[: -len(_CLASSIFIER)],
                Decision("levels", self.level_choices()),
                Decision("head_width", HEAD_WIDTHS),
                Decision("head_depth", HEAD_DEPTHS),
                Decision("head_kernel", HEAD_KERNELS),
            )
        return self._decisions

    @property
    def _backbone_genes(self) -> int:
        return len(self.backbone.decisions()) - len(_CLASSIFIER)

    def backbone_arch(self, genes: Sequence[int]) -> Arch:
        """The backbone's genotype (classifier genes 0) for this space's ``genes``."""
        n = self._backbone_genes
        return self.backbone.arch((*genes[:n], *(0,) * len(_CLASSIFIER)))

    def _strides_of(self, genes: Sequence[int]) -> tuple[int, ...]:
        choice = self.decisions()[self._backbone_genes].choices[genes[self._backbone_genes]]
        return tuple(int(s) for s in str(choice).split("+"))

    def normalise(self, genes: tuple[int, ...]) -> tuple[int, ...]:
        """The backbone's normalisation, after zeroing the stages beyond the deepest level read."""
        g = list(genes)
        index = {d.name: i for i, d in enumerate(self.decisions())}
        deepest = max(self._strides_of(g))
        last_stage = max(s for s, stride in enumerate(self._stage_strides()) if stride == deepest)
        for s in range(last_stage + 1, len(self.backbone.vocab.strides)):
            g[index[f"s{s}_depth"]] = g[index[f"s{s}_width"]] = 0
            for b in range(self.backbone.vocab.max_depths[s]):
                for field in ("kernel", "expand", "se", "act", "quant"):
                    g[index[f"s{s}b{b}_{field}"]] = 0
        n = self._backbone_genes
        return (*self.backbone_arch(g).genes[:n], *g[n:])

    def choice_requirements(self, decision: int, choice: int) -> frozenset[str]:
        """The backbone's declared requirements for its decisions; for the head's, what a choice
        adds to the space's first-choice network (int8 convolutions and ReLU: nothing, by design)."""
        if decision < self._backbone_genes:
            return self.backbone.choice_requirements(decision, choice)
        if self._head_requirements is None:
            from edgenas.opset import network_requirements

            table: dict[tuple[int, int], frozenset[str]] = {}
            for i, d in enumerate(self.decisions()):
                if i < self._backbone_genes:
                    continue
                needs = []
                for c in range(len(d.choices)):
                    genes = [0] * len(self.decisions())
                    genes[i] = c
                    needs.append(network_requirements(self.layers(self.arch(genes))))
                shared = frozenset.intersection(*needs)
                table.update({(i, c): need - shared for c, need in enumerate(needs)})
            self._head_requirements = table
        return self._head_requirements[(decision, choice)]

    # -- resolved plan ----------------------------------------------------------------------
    def plan(self, arch: Arch) -> DetectionPlan:
        """The backbone's blocks up to the deepest level, and each level's head."""
        self.check(arch)
        backbone = self.backbone.plan(self.backbone_arch(arch.genes))
        v: Mapping[str, Any] = self.values(arch)
        ends: dict[int, int] = {}  # output stride -> last block at it
        stride = 2
        for i, block in enumerate(backbone.blocks):
            stride *= block.stride
            ends[stride] = i
        levels = []
        for s in self._strides_of(arch.genes):
            block = backbone.blocks[ends[s]]
            levels.append(
                LevelPlan(
                    stride=s,
                    size=block.out_size,
                    block=ends[s],
                    c_in=block.c_out,
                    width=int(v["head_width"]),
                    depth=int(v["head_depth"]),
                    kernel=int(v["head_kernel"]),
                    outputs=self.num_classes + BOX_VALUES,
                )
            )
        last = max(level.block for level in levels)
        return DetectionPlan(dataclasses.replace(backbone, blocks=backbone.blocks[: last + 1]), tuple(levels), self.num_classes)

    def describe(self, arch: Arch) -> str:
        """The backbone's blocks as ``mbconv`` writes them (up to the deepest level), then the head:
        ``96 c16r6 | c16 k3e6r6 | ... | det s8+16 w32 d2 k3``."""
        p = self.plan(arch)
        parts = self.backbone.describe(self.backbone_arch(arch.genes)).split(" | ")
        kept, blocks = [parts[0]], 0
        for part in parts[1:-1]:  # stages; the last part is mbconv's classifier head
            tokens: list[str] = []
            for token in part.split(" "):
                if token.startswith("k"):  # a block token (k<kernel>e<expansion><act>)
                    if blocks == len(p.backbone.blocks):
                        break
                    blocks += 1
                tokens.append(token)
            if any(t.startswith("k") for t in tokens):
                kept.append(" ".join(tokens))
        level = p.levels[0]
        head = f"det s{'+'.join(map(str, p.strides))} w{level.width} d{level.depth} k{level.kernel}"
        return " | ".join([*kept, head])

    # -- hardware IR ----------------------------------------------------------------------
    def layers(self, arch: Arch) -> list[Layer]:
        """The backbone's deployed layers up to the deepest level, then each level's head (int8,
        ReLU fused); each head's last 1x1 conv is a network output."""
        p = self.plan(arch)
        backbone = self.backbone.layers(self.backbone_arch(arch.genes))
        ends = {}  # block -> index of its output layer (the add of a residual block, else the projection)
        for i, layer in enumerate(backbone):
            block = layer.name.split(".")[0]
            if block[:1] == "b" and block[1:].isdigit():
                ends[int(block[1:])] = i
        out = backbone[: ends[max(level.block for level in p.levels)] + 1]

        def conv(op: Op, x: int, size: int, c: int, c_out: int, k: int, act: str | None, name: str) -> int:
            """Append a stride-1 int8 conv (SAME, symmetric: no PAD at odd kernels) reading layer ``x``."""
            groups = c if op is Op.DWCONV2D else 1
            out.append(Layer(op, (size, size, c), (size, size, c_out), (k, k), (1, 1), groups, True, act, "int8", (x,), name))
            return len(out) - 1

        for level in p.levels:
            x, c, size = ends[level.block], level.c_in, level.size
            for d in range(level.depth):
                name = f"det{level.stride}.{d}"
                x = conv(Op.DWCONV2D, x, size, c, c, level.kernel, HEAD_ACT, f"{name}.dw")
                x = conv(Op.CONV2D, x, size, c, level.width, 1, HEAD_ACT, f"{name}.pw")
                c = level.width
            conv(Op.CONV2D, x, size, c, level.outputs, 1, None, f"det{level.stride}.out")
        return out

    # -- torch ----------------------------------------------------------------------------
    def build(self, arch: Arch):  # -> torch.nn.Module (torch imported lazily: layers() needs none)
        """The float training module: a tuple of ``(batch, num_classes + 4, H, W)`` maps, one per level."""
        from edgenas.spaces.nn.detection import DetectionNet

        return DetectionNet(self.plan(arch))

    def input_shape(self, arch: Arch) -> tuple[int, int, int]:
        """``(channels, height, width)`` of the network input (no batch)."""
        return self.backbone.input_shape(self.backbone_arch(arch.genes))

    def strides(self, arch: Arch) -> tuple[int, ...]:
        """Output stride of each network output, in output order."""
        return self._strides_of(arch.genes)

    # -- self-description -------------------------------------------------------------------
    def reference(self) -> tuple[str, Arch]:
        """The backbone's reference (MobileNetV2's blocks, relu6, no SE: int8 NPUs run it) at the
        largest resolution, with a one-level stride-8 head of width 32, depth 1, kernel 3."""
        name, backbone = self.backbone.reference()
        n = self._backbone_genes
        head = (0, HEAD_WIDTHS.index(32), 0, 0)
        return f"{name}-det", self.arch((*backbone.genes[:n], *head))

    @classmethod
    def for_task(cls, input_shape: Sequence[int], num_classes: int, **options: Any) -> DetectionSpace:
        """Square images ``(channels, height, width)``, searched at their own size and at the sizes
        of ``RESOLUTIONS`` below it (the evaluator resizes images and boxes to the chosen one)."""
        shape = tuple(int(s) for s in input_shape)
        if len(shape) != 3:
            raise InvalidInputError(f"searches images (channels, height, width); this task's inputs are {shape}")
        channels, height, width = shape
        if height != width:
            raise InvalidInputError(f"takes square images, these are {height}x{width}: resize them to a square")
        if height < 16:
            raise InvalidInputError(f"needs images of at least 16 x 16 pixels, these are {height}x{width}")
        resolutions = tuple(sorted({r for r in RESOLUTIONS if r < height} | {height}))
        return cls(num_classes=num_classes, in_channels=channels, resolutions=resolutions, **options)
