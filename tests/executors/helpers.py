"""Evaluators that misbehave on purpose, importable by worker processes (spawned interpreters)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from edgenas.testing import ToySpace
from edgenas.trial import Metrics


class ToyScore:
    """The toy space's known score; ``pid`` in the metrics says which process computed it."""

    name = "toy"

    def __init__(self, n: int = 5, k: int = 4) -> None:
        self.space = ToySpace(n=n, k=k)

    def evaluate(self, arch, *, budget: float = 1.0) -> Metrics:  # type: ignore[no-untyped-def]
        return Metrics(self.space.score(arch), {"pid": float(os.getpid())})


class DiesOnce(ToyScore):
    """Kills its own process the first time it sees a first gene of 3 (a marker file remembers)."""

    def __init__(self, marker: Path) -> None:
        super().__init__()
        self.marker = marker

    def evaluate(self, arch, *, budget: float = 1.0) -> Metrics:  # type: ignore[no-untyped-def]
        if arch.genes[0] == 3 and not self.marker.exists():
            self.marker.write_text("died")
            os._exit(9)
        return super().evaluate(arch)


class AlwaysDies(ToyScore):
    def evaluate(self, arch, *, budget: float = 1.0) -> Metrics:  # type: ignore[no-untyped-def]
        if arch.genes[0] == 3:
            os._exit(9)
        return super().evaluate(arch)


class Hangs(ToyScore):
    def evaluate(self, arch, *, budget: float = 1.0) -> Metrics:  # type: ignore[no-untyped-def]
        if arch.genes[0] == 3:
            time.sleep(600)
        return super().evaluate(arch)


class Raises(ToyScore):
    def evaluate(self, arch, *, budget: float = 1.0) -> Metrics:  # type: ignore[no-untyped-def]
        if arch.genes[0] == 3:
            raise MemoryError("simulated out of memory")
        return super().evaluate(arch)
