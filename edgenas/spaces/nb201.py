"""The ``nb201`` space: the NAS-Bench-201 / NATS-Bench topology search space (Dong & Yang, ICLR 2020).

A genotype is one operation per edge of a 4-node cell (node 0 is the cell input, node 3 its
output, every node j sums ``op(node i)`` over i < j), in the order the NB201 string lists them::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|      genes: (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)

Five operations, in NB201's order: ``none`` (the edge is absent), ``skip_connect``,
``nor_conv_1x1``, ``nor_conv_3x3`` (ReLU-conv-BN) and ``avg_pool_3x3``: 5**6 = 15,625 cells.
The macro skeleton is fixed: a 3x3 stem conv (16 channels), three stages of 5 cells at 16/32/64
channels separated by residual reduction blocks (ResNet basic block, stride 2), batch norm and
ReLU, global average pooling and a classifier, for 32x32x3 input (CIFAR).

Why ``index`` needs the table: NB201's architecture index is the order in which the benchmark
authors trained the cells, not an enumeration of the genes (row 0 of the table is
``avg_pool_3x3 | nor_conv_1x1, skip_connect | ...``), so the genotype-to-index map is read from
the benchmark table (:func:`index_map`). ``ordinal`` is the gene enumeration (base 5, first edge
most significant) for code that needs a dense number without the table.

Edges that cannot influence the output are dropped in both ``layers()`` and ``build()``: an edge
is *active* when its op is not ``none``, its source is reachable from the cell input and its
target reaches the cell output through non-``none`` edges. A deployed graph would not compute the
others, and dropping them in both keeps MACs of the IR and of the module equal. A cell whose
output is unreachable outputs zeros (the module multiplies its input by 0); the IR then lets the
next layer read the cell's input, which has the same shape, so costs stay exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from edgenas.arch import Arch, Decision
from edgenas.errors import InvalidInputError
from edgenas.ir import Layer, Op
from edgenas.spaces.base import DecisionSpace

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: (target node, source node) of each gene, in NB201 string order.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_NODES = 4
#: Input-to-output paths of the cell, as gene indices (0->3, 0->1->3, 0->2->3, 0->1->2->3).
PATHS = ((3,), (0, 4), (1, 5), (0, 2, 5))
#: The decisions, one per edge (a constant: ``decisions()`` is on the hot path of every ask).
DECISIONS = tuple(Decision(f"{j}<-{i}", OPS) for j, i in EDGES)


def active_edges(genes: Sequence[int]) -> tuple[tuple[int, int, str], ...]:
    """``(target, source, op)`` of every edge that influences the cell output, in gene order."""
    live = [(j, i, OPS[g]) for (j, i), g in zip(EDGES, genes, strict=True) if OPS[g] != "none"]
    forward = {0}
    for j, i, _ in live:  # edges are sorted by target, so one pass reaches every node
        if i in forward:
            forward.add(j)
    backward = {NUM_NODES - 1}
    for j, i, _ in reversed(live):
        if j in backward:
            backward.add(i)
    return tuple((j, i, op) for j, i, op in live if i in forward and j in backward)


class Nb201Space(DecisionSpace):
    """NAS-Bench-201 cells in the fixed CIFAR skeleton (see the module docstring).

    Args:
        num_classes: Classifier outputs (10 for CIFAR-10, 100 for CIFAR-100, 120 for ImageNet16-120).
        channels: Channels of the first stage (doubled at each reduction).
        cells_per_stage: Cells per stage (N in the paper).
        input_size: Input height and width (32 for CIFAR, 16 for ImageNet16-120).
    """

    name = "nb201"

    def __init__(self, num_classes: int = 10, channels: int = 16, cells_per_stage: int = 5, input_size: int = 32) -> None:
        self.num_classes = num_classes
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self.input_size = input_size

    @classmethod
    def for_task(cls, input_shape: Sequence[int], num_classes: int, **options: Any) -> Nb201Space:
        """Square RGB images (the CIFAR skeleton: three input channels)."""
        shape = tuple(int(s) for s in input_shape)
        if len(shape) != 3 or shape[0] != 3 or shape[1] != shape[2]:
            raise InvalidInputError(f"searches square RGB images (3, H, H); this task's inputs are {shape}")
        return cls(num_classes=num_classes, input_size=shape[1], **options)

    # -- genotype -------------------------------------------------------------------------
    def decisions(self) -> Sequence[Decision]:
        return DECISIONS

    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform over the 15,625 cells, in one draw (a benchmark asks thousands a second)."""
        return Arch(self.name, tuple(rng.integers(len(OPS), size=len(EDGES)).tolist()))

    def arch_string(self, arch: Arch) -> str:
        """The NB201 string, e.g. ``|nor_conv_3x3~0|+|skip_connect~0|none~1|+|...~0|...~1|...~2|``."""
        self.check(arch)
        ops = [OPS[g] for g in arch.genes]
        nodes = ("|".join(f"{ops[k]}~{i}" for k, (j, i) in enumerate(EDGES) if j == node) for node in (1, 2, 3))
        return "+".join(f"|{n}|" for n in nodes)

    def from_string(self, text: str) -> Arch:
        """Parse an NB201 string (the inverse of :meth:`arch_string`)."""
        try:
            parts = [node.strip("|").split("|") for node in text.strip().split("+")]
            edges = [(j + 1, int(src), op) for j, node in enumerate(parts) for op, src in (e.split("~") for e in node)]
            if [(j, i) for j, i, _ in edges] != list(EDGES):
                raise ValueError("edges out of order")
            return self.arch([OPS.index(op) for _, _, op in edges])
        except (ValueError, IndexError):
            raise InvalidInputError(
                f"{text!r} is not an NB201 cell string like '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|' "
                f"with ops from {', '.join(OPS)}"
            ) from None

    def ordinal(self, arch: Arch) -> int:
        """The genes as a base-5 number (first edge most significant): dense, but *not* NB201's index."""
        self.check(arch)
        n = 0
        for g in arch.genes:
            n = n * len(OPS) + g
        return n

    def index(self, arch: Arch, index_of: Mapping[str, int]) -> int:
        """NB201's architecture index, from a string-to-row map of the benchmark table (:func:`index_map`)."""
        text = self.arch_string(arch)
        try:
            return index_of[text]
        except KeyError:
            raise InvalidInputError(f"{text} is not in the benchmark table") from None

    def describe(self, arch: Arch) -> str:
        return self.arch_string(arch)

    def features(self, arch: Arch) -> tuple[float, ...]:
        """The path encoding of White et al. 2021 (BANANAS): how many input-to-output paths carry each
        op sequence (a ``none`` edge breaks its paths). Learned predictors append it to the one-hot
        genes: it tells them which ops act in series, which the per-edge genes do not."""
        out = [0.0] * 84  # 4 + 16 + 64 op sequences of length 1, 2, 3
        genes = arch.genes
        for path, offset in zip(PATHS, (0, 4, 4, 20), strict=True):
            column = offset
            for i, k in enumerate(path):
                if not genes[k]:  # none breaks the path
                    break
                column += (genes[k] - 1) * 4**i
            else:
                out[column] += 1.0
        return tuple(out)

    # -- hardware IR ----------------------------------------------------------------------
    def input_shape(self, arch: Arch) -> tuple[int, int, int]:
        """The network's input, channels first (the same for every cell): what an exported model takes."""
        return (3, self.input_size, self.input_size)

    def layers(self, arch: Arch) -> list[Layer]:
        """Deployed operators (batch norm folded). ReLU-conv-BN is a CONV2D without a *fused* activation:
        its ReLU runs on the input, before the conv, which the IR has no field for (it costs no MACs)."""
        self.check(arch)
        cell = active_edges(arch.genes)
        out: list[Layer] = []

        def add(layer: Layer) -> int:
            out.append(layer)
            return len(out) - 1

        size, c = self.input_size, self.channels
        x = add(Layer(Op.CONV2D, (size, size, 3), (size, size, c), (3, 3), (1, 1), inputs=(-1,), name="stem"))
        for stage in range(3):
            if stage:
                x, size, c = self._reduction(add, x, size, c, f"reduce{stage}")
            for n in range(self.cells_per_stage):
                x = self._cell(add, cell, x, (size, size, c), f"s{stage}.c{n}")
        x = add(Layer(Op.GLOBAL_AVGPOOL, (size, size, c), (c,), bias=False, inputs=(x,), name="pool"))
        add(Layer(Op.FC, (c,), (self.num_classes,), inputs=(x,), name="fc"))
        return out

    @staticmethod
    def _cell(
        add: Callable[[Layer], int], cell: tuple[tuple[int, int, str], ...], x: int, shape: tuple[int, int, int], name: str
    ) -> int:
        node = {0: x}
        for j in range(1, NUM_NODES):
            terms = []
            for target, i, op in cell:
                if target != j:
                    continue
                src = node[i]
                label = f"{name}.{j}<-{i}"
                if op == "skip_connect":
                    terms.append(src)
                elif op == "avg_pool_3x3":
                    terms.append(add(Layer(Op.AVGPOOL2D, shape, shape, (3, 3), (1, 1), bias=False, inputs=(src,), name=label)))
                else:
                    k = 1 if op == "nor_conv_1x1" else 3
                    terms.append(add(Layer(Op.CONV2D, shape, shape, (k, k), (1, 1), inputs=(src,), name=label)))
            if not terms:
                continue
            acc = terms[0]
            for term in terms[1:]:
                acc = add(Layer(Op.ADD, shape, shape, bias=False, inputs=(acc, term), name=f"{name}.{j}.add"))
            node[j] = acc
        return node.get(NUM_NODES - 1, x)  # an unreachable output is zeros of the input's shape

    @staticmethod
    def _reduction(add: Callable[[Layer], int], x: int, size: int, c: int, name: str) -> tuple[int, int, int]:
        half, c2 = (size + 1) // 2, 2 * c
        a = add(Layer(Op.CONV2D, (size, size, c), (half, half, c2), (3, 3), (2, 2), inputs=(x,), name=f"{name}.a"))
        b = add(Layer(Op.CONV2D, (half, half, c2), (half, half, c2), (3, 3), (1, 1), inputs=(a,), name=f"{name}.b"))
        p = add(
            Layer(
                Op.AVGPOOL2D,
                (size, size, c),
                (size // 2, size // 2, c),
                (2, 2),
                (2, 2),
                bias=False,
                inputs=(x,),
                name=f"{name}.pool",
            )
        )
        d = add(Layer(Op.CONV2D, (half, half, c), (half, half, c2), (1, 1), (1, 1), bias=False, inputs=(p,), name=f"{name}.down"))
        return add(Layer(Op.ADD, (half, half, c2), (half, half, c2), bias=False, inputs=(d, b), name=f"{name}.add")), half, c2

    # -- torch ----------------------------------------------------------------------------
    def build(self, arch: Arch):  # -> torch.nn.Module (torch imported lazily: layers() needs none)
        from edgenas.spaces.nn.nb201 import Nb201Net

        self.check(arch)
        return Nb201Net(active_edges(arch.genes), self.channels, self.cells_per_stage, self.num_classes)


def index_map(strings: Sequence[str]) -> dict[str, int]:
    """NB201 string -> row, from a table's architecture column (row i = architecture index i)."""
    return {s.strip(): i for i, s in enumerate(strings)}
