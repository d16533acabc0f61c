"""Per-choice cost tables of the ``kws`` space, and the expected cost under the architecture weights.

Why tables: the latency term of a differentiable search must be a function of the choice
probabilities ``p`` that autograd can follow. The analytical cost model prices a *list of layers*;
here it prices every layer group once, for every combination of the few decisions that group's
shape depends on, and the search only looks these numbers up.

Which decisions a group depends on (read off ``KwsSpace.layers``):

* ``conv0`` (and its PAD): family, first_channels, first_kernel, first_stride;
* block ``i`` (dw PAD, depthwise, pointwise): family, first_stride, the number ``r`` of stride-2
  blocks before it (its input resolution), its input channels (``first_channels`` for block 0,
  else ``b{i-1}_channels``), and its own kernel, stride and channels; it exists when depth > i;
* the head (AVERAGE_POOL_2D + FULLY_CONNECTED) of a depth-``d`` network: family, first_stride, the stride-2
  count after ``d`` blocks and ``b{d-1}_channels``.

Every table cell is computed from the IR that ``space.layers(arch)`` returns for a genotype that
realises that combination, with the target's own analytical functions, so a table sum is the
normal cost model's figure, not a re-implementation of it. Decisions are independent categorical
variables under the search distribution, so the expectation factorises: a product of marginals
per cell, with the distribution of ``r`` obtained by a short dynamic programme over the stride
probabilities. At one-hot probabilities the expected latency *is* the estimated latency.

Peak SRAM is a max over layers, not a sum. The surrogate is an upper bound of its expectation:
for a chain, the live bytes at layer ``l`` are ``m_l`` = its input + output buffers (+ scratch);
``max_l m_l <= (sum_l m_l^p)^(1/p)``, and by Jensen ``E[(sum m^p)^(1/p)] <= (E[sum m^p])^(1/p)``,
whose inner expectation is linear, hence a table look-up like the latency. With ``p = 16`` the
bound is loose by at most ``n^(1/p)`` (about 1.18 for 14 layers), and far less when one layer
dominates, as it does in these networks. The persistent arena tail is additive and exact.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.hardware import Target, latency_breakdown_ms, persistent_bytes
from edgenas.hardware.analytical import scratch_bytes
from edgenas.hardware.tflite_graph import lower
from edgenas.ir import Layer
from edgenas.spaces.kws import BLOCK_STRIDES, KwsSpace

#: Exponent of the p-norm that bounds the max over layers (see the module docstring).
SRAM_NORM_P = 16


@dataclass(frozen=True)
class ExpectedCost:
    """Differentiable expectations under the architecture distribution (scalar tensors).

    ``latency_ms`` is exact in expectation; ``sram_bytes`` is an upper bound of the expected
    peak arena (estimated, like the model it comes from).
    """

    latency_ms: torch.Tensor
    sram_bytes: torch.Tensor


@dataclass(frozen=True)
class _Group:
    factors: tuple[str, ...]  # decision names, or "r{i}": the stride-2 count before block i
    table: np.ndarray  # shape (*factor sizes, 3): latency_ms, sum (m/scale)^p, persistent bytes
    active_from: int | None  # block i: present when the depth gene >= i; None: always
    head_depth: int | None = None  # head of a depth-d network: weighted by p(depth = d)


class KwsCostTable:
    """Cost look-up tables of a ``kws`` space on a target (built once, a few seconds).

    Args:
        space: The space whose decisions the supernet mixes.
        target: Whose analytical coefficients price each layer.
        sram_scale_bytes: Live bytes are divided by this before the p-th power (keeps the
            numbers in range); any positive value gives the same bound.
    """

    def __init__(self, space: KwsSpace, target: Target, sram_scale_bytes: float = 65536.0) -> None:
        # A target-filtered view of the space prices through its base: its removed choices keep a
        # (never used) entry, since the supernet gives them probability 0.
        base = getattr(space, "base", space)
        if not isinstance(base, KwsSpace):
            raise InvalidInputError(f"differentiable search supports the kws space, not {getattr(space, 'name', space)!r}")
        self.space = base
        self.target = target
        self.scale = float(sram_scale_bytes)
        self.names = [d.name for d in space.decisions()]
        self.sizes = {d.name: len(d.choices) for d in space.decisions()}
        self._pos = {n: i for i, n in enumerate(self.names)}
        self._live_cache: dict[Layer, float] = {}
        mem = target.memory
        self._persistent_const = float(mem.tensor_record_bytes + mem.allocator_overhead_bytes)
        self.groups = self._build()
        self._tensors = [torch.from_numpy(g.table) for g in self.groups]

    # -- building -------------------------------------------------------------------------
    def _genes(self, **values: int) -> list[int]:
        genes = [0] * len(self.names)
        for name, value in values.items():
            genes[self._pos[name]] = value
        return genes

    def _live(self, layer: Layer) -> float:
        """The layer's own buffers while it runs (input, output, kernel scratch; arena-aligned), to the p-th power.

        Priced in place, not as a network of one layer: alone, a layer would be lowered with the
        network input's layout copy, a buffer it never has inside a network.
        """
        if layer not in self._live_cache:
            align = self.target.memory.tensor_alignment_bytes
            element = 4 if layer.dtype == "float32" else 1
            buffers = (layer.in_elements * element, layer.out_elements * element, scratch_bytes(layer, self.target))
            live = sum(-(-size // align) * align for size in buffers if size > 0)
            self._live_cache[layer] = (live / self.scale) ** SRAM_NORM_P
        return self._live_cache[layer]

    def _measure(self, genes: list[int], prefix: tuple[str, ...]) -> tuple[float, float, float]:
        arch = self.space.arch(genes)
        layers = self.space.layers(arch)
        lat = latency_breakdown_ms(layers, self.target)
        idx = [i for i, layer in enumerate(layers) if layer.name.split(".")[0] in prefix]
        group = [layers[i] for i in idx]
        persistent = persistent_bytes(group, self.target) - self._persistent_const
        _, ops = lower(layers)  # a layer the converter folds away (a 2-D PAD) holds no buffer of its own
        emitted = {id(op.layer) for op in ops if op.layer is not None}
        live = sum(self._live(layer) for layer in group if id(layer) in emitted)
        return sum(lat[i] for i in idx), live, persistent

    def _fill(self, factors: tuple[str, ...], genes_of, prefix: tuple[str, ...]) -> np.ndarray:
        shape = tuple(self._size(f) for f in factors)
        table = np.zeros(shape + (3,), dtype=np.float64)
        for combo in itertools.product(*(range(n) for n in shape)):
            table[combo] = self._measure(genes_of(dict(zip(factors, combo, strict=True))), prefix)
        return table

    def _size(self, factor: str) -> int:
        return int(factor[1:]) + 1 if factor.startswith("r") else self.sizes[factor]

    def _strides(self, r: int) -> dict[str, int]:
        """Stride genes for a resolution count ``r``: the first ``r`` blocks have stride 2."""
        two = BLOCK_STRIDES.index(2)
        return {f"b{j}_stride": two for j in range(r)}

    def _build(self) -> list[_Group]:
        depth_max = self.space.max_depth
        groups = [
            _Group(
                ("family", "first_channels", "first_kernel", "first_stride"),
                self._fill(("family", "first_channels", "first_kernel", "first_stride"), lambda v: self._genes(**v), ("conv0",)),
                None,
            )
        ]
        factors: tuple[str, ...]
        for i in range(depth_max):
            cin = "first_channels" if i == 0 else f"b{i - 1}_channels"
            factors = ("family", "first_stride", f"r{i}", cin, f"b{i}_kernel", f"b{i}_stride", f"b{i}_channels")

            def genes_of(v: dict[str, int], i: int = i, cin: str = cin) -> list[int]:
                fixed = {k: v[k] for k in v if not k.startswith("r")}
                return self._genes(**{**self._strides(v[f"r{i}"]), **fixed, "depth": i})

            groups.append(_Group(factors, self._fill(factors, genes_of, (f"b{i}",)), active_from=i))
        for d in range(1, depth_max + 1):
            factors = ("family", "first_stride", f"r{d}", f"b{d - 1}_channels")

            def head_genes(v: dict[str, int], d: int = d) -> list[int]:
                return self._genes(**{**self._strides(v[f"r{d}"]), "family": v["family"], "first_stride": v["first_stride"],
                                      f"b{d - 1}_channels": v[f"b{d - 1}_channels"], "depth": d - 1})  # fmt: skip

            groups.append(_Group(factors, self._fill(factors, head_genes, ("pool", "fc")), None, head_depth=d))
        return groups

    # -- expectations ---------------------------------------------------------------------
    def _resolution(self, probs: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        """Distribution of the stride-2 count before each block (index i) and after the last."""
        two = BLOCK_STRIDES.index(2)
        dist = [torch.ones(1, dtype=torch.float64)]
        for j in range(self.space.max_depth):
            q = probs[f"b{j}_stride"][two].double()
            prev = dist[-1]
            zero = torch.zeros(1, dtype=torch.float64)
            dist.append(torch.cat([prev * (1 - q), zero]) + torch.cat([zero, prev * q]))
        return dist

    def expected_parts(self, probs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Expected (latency ms, sum of scaled live bytes^p, persistent bytes), a 3-vector.

        Priced on the CPU in float64 whichever device holds ``probs`` (a GPU supernet's logits):
        the tables are small, and float64 is not on every accelerator. Gradients flow back.
        """
        probs = {name: p.cpu() for name, p in probs.items()}
        res = self._resolution(probs)
        depth = probs["depth"].double()
        total = torch.zeros(3, dtype=torch.float64)
        for group, table in zip(self.groups, self._tensors, strict=True):
            marginals = [res[int(f[1:])] if f.startswith("r") else probs[f].double() for f in group.factors]
            letters = "abcdefghijk"[: len(marginals)]
            value = torch.einsum(f"{letters}z,{','.join(letters)}->z", table, *marginals)
            if group.active_from is not None:
                value = value * depth[group.active_from :].sum()
            if group.head_depth is not None:
                value = value * depth[group.head_depth - 1]
            total = total + value
        return total

    def expected(self, probs: Mapping[str, torch.Tensor]) -> ExpectedCost:
        """E[latency] (exact) and an upper bound of E[peak SRAM], differentiable in ``probs``."""
        lat, live_p, persistent = self.expected_parts(probs)
        sram = self.scale * live_p.clamp_min(1e-300) ** (1.0 / SRAM_NORM_P) + persistent + self._persistent_const
        return ExpectedCost(latency_ms=lat, sram_bytes=sram)

    def one_hot(self, arch: Arch) -> dict[str, torch.Tensor]:
        """The degenerate distribution on ``arch`` (for checks: expected == estimated)."""
        return {
            name: torch.nn.functional.one_hot(torch.tensor(g), self.sizes[name]).double()
            for name, g in zip(self.names, arch.genes, strict=True)
        }
