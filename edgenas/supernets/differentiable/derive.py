"""Deriving one architecture from the learned distribution, given the limits it must meet.

Why not only the per-decision argmax: on the KWS scenario every argmax the search derived sat
far under its latency limit (0.3-3.9 ms for limits of 2-8 ms) while evolution's best used
2-2.8 ms with wider, deeper networks. Weight sharing favours paths that train fast in the shared
weights (small, shallow ones), and a constraint that is already met exerts no pull (the
Lagrangian multipliers end at 0). The limit is known, and the deployed model may use it, so
derivation should spend the budget where the learned distribution is least sure.

* ``argmax``: the most probable choice of every decision (the classical DARTS/FBNet rule).
* ``grow`` (:func:`grow`): the mirror image of :func:`~edgenas.supernets.differentiable.search.repair`.
  Starting from the argmax, change one decision at a time, taking the change that buys the most
  estimated latency per unit of log-probability lost under the learned distribution, as long as
  the result still meets every limit (estimates); stop when no change fits. Latency is the
  capacity measure here because it is the budget being spent, and in this space it rises with
  every capacity knob (width, depth, kernel, resolution).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from edgenas.arch import Arch
from edgenas.objectives import Limits, check
from edgenas.spaces.kws import KwsSpace
from edgenas.trial import Cost

DERIVATIONS = ("argmax", "grow")


def _block(name: str) -> int | None:
    """The block index of a ``b{i}_...`` decision, None for the stem-level ones."""
    head = name.split("_")[0]
    return int(head[1:]) if head[:1] == "b" and head[1:].isdigit() else None


def _active(space: KwsSpace, genes: Sequence[int]) -> list[int]:
    """Indices of the decisions that shape the network ``genes`` describe (blocks past the depth do not)."""
    names = [d.name for d in space.decisions()]
    depth = int(genes[names.index("depth")]) + 1
    return [i for i, n in enumerate(names) if (block := _block(n)) is None or block < depth]


def log_probability(space: KwsSpace, genes: Sequence[int], logp: Sequence[Sequence[float]]) -> float:
    """log p of the network: the sum over its *active* decisions (inactive ones do not change it)."""
    return float(sum(logp[i][genes[i]] for i in _active(space, genes)))


def grow(
    space: KwsSpace,
    probs: Mapping[str, torch.Tensor],
    cost: Callable[[Arch], Cost],
    limits: Limits,
    max_steps: int = 64,
    measure: Callable[[Cost], float] | None = None,
    fixed: tuple[str, ...] = ("family",),
) -> tuple[Arch, int]:
    """Greedy growth of the argmax towards the latency limit (see the module docstring).

    The full gene vector is kept un-normalised, so a block switched on by a depth change takes
    its own most probable kernel, stride and width rather than the space's placeholder zeros.
    Returns the grown architecture and the number of changes; the argmax itself when it already
    breaks a limit (``repair`` handles that) or when no change fits. ``measure`` replaces the
    estimated latency as the capacity being bought (e.g. parameters), for comparisons.

    ``fixed`` decisions keep their argmax. The family by default: the two families have separate
    weights, so once the search has settled on one, the other's probability says little, and a
    family switch is a huge latency step that the ratio rule takes first. Measured where it
    happened (KWS, 5 ms: seed 1 at the old 2-epoch warm-up, the 4-epoch warm-up, the band loss):
    the 2-D network grown from a 1-D argmax scored 6-18 points below the 1-D growth of the same
    distribution (78.1 / 68.7 / 77.7 against 90.0 / 86.7 / 83.8 % val).
    """
    size = measure or (lambda c: c.latency_ms)
    names = [d.name for d in space.decisions()]
    logp = [torch.log(probs[n].detach().double().clamp_min(1e-12)).tolist() for n in names]
    genes = [max(range(len(row)), key=row.__getitem__) for row in logp]
    arch = space.arch(genes)
    if check(cost(arch), limits):
        return arch, 0
    steps = 0
    while steps < max_steps:
        here_lat, here_lp = size(cost(arch)), log_probability(space, genes, logp)
        best: tuple[float, list[int], Arch] | None = None
        for i in range(len(names)):
            if names[i] in fixed:
                continue
            for j in range(len(logp[i])):
                if j == genes[i]:
                    continue
                cand_genes = genes[:i] + [j] + genes[i + 1 :]
                cand = space.arch(cand_genes)
                if cand == arch:
                    continue
                c = cost(cand)
                gain = size(c) - here_lat
                if gain <= 0 or check(c, limits):
                    continue
                value = gain / max(here_lp - log_probability(space, cand_genes, logp), 1e-3)
                if best is None or value > best[0]:
                    best = (value, cand_genes, cand)
        if best is None:
            break
        genes, arch, steps = best[1], best[2], steps + 1
    return arch, steps
