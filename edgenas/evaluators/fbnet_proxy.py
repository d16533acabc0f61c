"""A proxy "accuracy" for the FBNet space, whose constrained optimum can be computed exactly.

There is no accuracy table for FBNet, so ``edgenas bench --space fbnet`` scores a network by its
**capacity**: MACs as a fraction of the largest network of the space (all ``k5_e6``), and limits
its latency *measured* on one device (HW-NAS-Bench's LUT). Why this proxy:

* It has the tension of the real problem: capacity grows with latency, so the best feasible
  network sits on the latency limit, and the best op per layer depends on the device (a 2-group
  1x1 conv saves MACs cheaply on one device and is slow on another). "Minus latency on one device
  subject to energy on another" has no such tension: the cheapest ops (skip) win on both, the
  limit never binds, and every strategy finds the all-skip corner.
* MACs track accuracy within a fixed-resolution space far better than chance (the premise of
  capacity-driven scaling), so the problem is shaped like accuracy under a latency limit.
* Both score and latency are sums over the 22 layers (plus a constant), so the optimum is a
  multiple-choice knapsack, solved *exactly* by :func:`exact_optimum` (a Pareto-front dynamic
  programme: no discretisation of the continuous latency), and regret is exact.

The evaluator reads the space's IR only (never a hardware cost), as every evaluator does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.ir import total_macs
from edgenas.spaces.fbnet import BLOCKS, OPS, FbnetSpace
from edgenas.trial import Metrics


def block_macs(space: FbnetSpace) -> tuple[np.ndarray, int]:
    """MACs of op g in layer i (a ``(22, 9)`` array) and of the fixed stem + head, from ``layers()``."""
    table = np.zeros((len(BLOCKS), len(OPS)), dtype=np.int64)
    fixed = 0
    for g in range(len(OPS)):
        for layer in space.layers(space.arch([g] * len(BLOCKS))):
            if layer.name.startswith("b"):
                table[int(layer.name[1:].split(".")[0]), g] += layer.macs
            elif g == 0:
                fixed += layer.macs
    return table, fixed


class FbnetCapacityEvaluator:
    """Score = MACs / MACs of the largest FBNet network (a fraction in (0, 1]); see the module docstring.

    Args:
        space: The ``fbnet`` space the archs belong to.
    """

    name = "fbnet_capacity"

    def __init__(self, space: FbnetSpace) -> None:
        self.space = space
        self._max_macs: int | None = None

    def max_macs(self) -> int:
        if self._max_macs is None:
            table, fixed = block_macs(self.space)
            self._max_macs = int(table.max(axis=1).sum()) + fixed
        return self._max_macs

    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        macs = total_macs(self.space.layers(arch))
        return Metrics(macs / self.max_macs(), extra={"macs": float(macs)})


@dataclass(frozen=True)
class Optimum:
    """The exact solution of :func:`exact_optimum`."""

    genes: tuple[int, ...]
    score: float
    cost: float
    front_size: int  # non-dominated partial solutions at the last layer (how hard the instance is)
    #: The exact Pareto front within the limit: total costs (fixed cost included), ascending, and their scores.
    front_cost: np.ndarray | None = None
    front_score: np.ndarray | None = None


def exact_optimum(score: np.ndarray, cost: np.ndarray, limit: float | None, fixed_cost: float = 0.0) -> Optimum:
    """Maximise ``sum score[i, g_i]`` subject to ``fixed_cost + sum cost[i, g_i] <= limit``, exactly.

    A multiple-choice knapsack with continuous costs. Layer by layer, keep only the partial
    solutions no other one dominates (no more cost for no less score, Nemhauser & Ullmann 1969),
    dropping those already over the limit (costs are non-negative). The last front's best feasible
    point is the optimum; back-pointers give its genes. Exact, with no discretisation.
    """
    layers, choices = score.shape
    if cost.shape != score.shape or (cost < 0).any():
        raise InvalidInputError("exact_optimum needs non-negative costs shaped like the scores (layers, choices)")
    budget = np.inf if limit is None else limit - fixed_cost
    front_cost, front_score = np.zeros(1), np.zeros(1)
    parents: list[np.ndarray] = []
    ops: list[np.ndarray] = []
    for i in range(layers):
        c = (front_cost[None, :] + cost[i][:, None]).ravel()
        s = (front_score[None, :] + score[i][:, None]).ravel()
        parent = np.tile(np.arange(len(front_cost)), choices)
        op = np.repeat(np.arange(choices), len(front_cost))
        ok = c <= budget
        c, s, parent, op = c[ok], s[ok], parent[ok], op[ok]
        if not len(c):
            raise InvalidInputError(
                f"no architecture meets the limit {limit:g} (the cheapest costs {fixed_cost + cost.min(axis=1).sum():g})"
            )
        order = np.lexsort((-s, c))  # by cost, best score first among equal costs
        c, s, parent, op = c[order], s[order], parent[order], op[order]
        best_before = np.concatenate(([-np.inf], np.maximum.accumulate(s)[:-1]))
        keep = s > best_before
        front_cost, front_score = c[keep], s[keep]
        parents.append(parent[keep])
        ops.append(op[keep])
    k = len(front_cost) - 1  # the highest score of the front is its last (most costly) point
    genes = []
    for i in reversed(range(layers)):
        genes.append(int(ops[i][k]))
        k = int(parents[i][k])
    genes.reverse()
    return Optimum(
        tuple(genes),
        float(front_score[-1]),
        float(front_cost[-1] + fixed_cost),
        len(front_cost),
        front_cost + fixed_cost,
        front_score,
    )
