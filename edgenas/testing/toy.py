"""A tiny torch-free space with a known optimum, for strategy sanity tests (NNI's test_sanity)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from edgenas.arch import Arch, Decision
from edgenas.ir import Layer, Op
from edgenas.spaces.base import DecisionSpace

if TYPE_CHECKING:
    from edgenas.strategies.base import Strategy


class ToySpace(DecisionSpace):
    """``n`` decisions of ``k`` choices; ``score`` peaks at 1.0 when every gene is ``k - 1``.

    ``layers`` gives a chain of FC layers whose width grows with the genes, so a cost limit makes
    the high-scoring corner infeasible (the constrained optimum is then known too).
    """

    name = "toy"

    def __init__(self, n: int = 4, k: int = 4) -> None:
        self.n = n
        self.k = k

    def decisions(self) -> Sequence[Decision]:
        return [Decision(f"g{i}", tuple(range(self.k))) for i in range(self.n)]

    def score(self, arch: Arch) -> float:
        return sum(arch.genes) / (self.n * (self.k - 1))

    def layers(self, arch: Arch) -> list[Layer]:
        width = [8 * (g + 1) for g in arch.genes]
        dims = [4, *width]
        return [Layer(Op.FC, (a,), (b,), name=f"fc{i}") for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False))]

    def build(self, arch: Arch):  # pragma: no cover - the toy space is never trained
        raise NotImplementedError("ToySpace has no torch realisation")

    def describe(self, arch: Arch) -> str:
        return "toy " + "-".join(map(str, arch.genes))


def best_found(strategy: Strategy, space: ToySpace, queries: int) -> float:
    """Best toy score a strategy reaches in ``queries`` asks, every ask told as COMPLETE (no loop, no store)."""
    from edgenas.trial import Metrics, Trial, TrialState

    best = 0.0
    for number in range(queries):
        arch = strategy.ask()
        best = max(best, space.score(arch))
        strategy.tell(Trial(number, arch, TrialState.COMPLETE, metrics=Metrics(space.score(arch))))
    return best
