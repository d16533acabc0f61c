"""An example edgenas plug-in: one component of each kind, registered through entry points.

* ``tiny-mlp`` (space): multilayer perceptrons on flattened inputs;
* ``grid`` (strategy): every architecture in lexicographic gene order;
* ``negparams`` (evaluator): the negated parameter count, a proxy that prefers small networks;
* ``blobs`` (task): three Gaussian blobs in 16 dimensions, made from the seed;
* ``demo-board`` (target): the built-in Cortex-M7 under another name.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgenas.arch import Arch, Decision
from edgenas.ir import Layer, Op, total_params
from edgenas.spaces import DecisionSpace
from edgenas.tasks import Split, TaskData
from edgenas.trial import Metrics, Trial

WIDTHS = (8, 16, 32)


class TinyMlpSpace(DecisionSpace):
    """Multilayer perceptrons on flattened inputs (one or two hidden layers)."""

    name = "tiny-mlp"

    def __init__(self, num_classes: int = 3, input_shape: Sequence[int] = (16,)) -> None:
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape)

    @classmethod
    def for_task(cls, input_shape: Sequence[int], num_classes: int, **options: Any) -> TinyMlpSpace:
        return cls(num_classes=num_classes, input_shape=input_shape)

    def decisions(self) -> Sequence[Decision]:
        return [Decision("depth", (1, 2)), Decision("width0", WIDTHS), Decision("width1", WIDTHS)]

    def normalise(self, genes: tuple[int, ...]) -> tuple[int, ...]:
        return genes if genes[0] == 1 else (genes[0], genes[1], 0)

    def _widths(self, arch: Arch) -> list[int]:
        v = self.values(arch)
        return [int(v["width0"]), int(v["width1"])][: int(v["depth"])]

    def describe(self, arch: Arch) -> str:
        return "tiny-mlp " + "-".join(map(str, self._widths(arch)))

    def layers(self, arch: Arch) -> list[Layer]:
        dims = [math.prod(self.input_shape), *self._widths(arch), self.num_classes]
        out = []
        for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False)):
            last = i == len(dims) - 2
            out.append(Layer(Op.FC, (a,), (b,), activation=None if last else "relu", name=f"fc{i}"))
        return out

    def build(self, arch: Arch) -> Any:
        from torch import nn

        dims = [math.prod(self.input_shape), *self._widths(arch), self.num_classes]
        modules: list[nn.Module] = [nn.Flatten()] if len(self.input_shape) > 1 else []
        for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False)):
            modules.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                modules.append(nn.ReLU())
        return nn.Sequential(*modules)


class GridSearch:
    """Every architecture of the space in lexicographic gene order (deterministic; resumes by replay)."""

    name = "grid"

    def __init__(self, space: Any, seed: int = 0) -> None:
        self.space = space
        self._told: set[str] = set()

    def ask(self) -> Arch:
        sizes = [range(len(d.choices)) for d in self.space.decisions()]
        for genes in itertools.product(*sizes):
            arch = self.space.arch(genes)
            if arch.key() not in self._told:
                return arch
        return self.space.arch([0] * len(sizes))  # exhausted: a repeat stops the search

    def tell(self, trial: Trial) -> None:
        self._told.add(trial.arch.key())


class _NegParams:
    name = "negparams"

    def __init__(self, space: Any) -> None:
        self.space = space

    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        return Metrics(-float(total_params(self.space.layers(arch))), signal="demo:negparams")


def negparams(context: Any, argument: str | None = None) -> _NegParams:
    """The negated parameter count: a proxy that prefers small networks."""
    return _NegParams(context.space)


def load_blobs(data_dir: Any = None, *, seed: int = 0, cache_dir: Any = None) -> TaskData:
    """Three Gaussian blobs in 16 dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(3, 16))

    def split(n: int) -> Split:
        y = np.repeat(np.arange(3), n // 3)
        return Split((centres[y] + rng.normal(size=(len(y), 16))).astype(np.float32), y.astype(np.int64))

    train, val, test = split(240), split(90), split(90)
    zeros, ones = np.zeros(16, np.float32), np.ones(16, np.float32)
    return TaskData("blobs", ("a", "b", "c"), train, val, test, (16,), zeros, ones, source="three Gaussian blobs (demo plug-in)")


def demo_board() -> Any:
    """The built-in Cortex-M7, renamed: a board package would ship its own YAML."""
    from edgenas.hardware import load_target

    return dataclasses.replace(load_target("cortex-m7"), name="demo-board", description="demo board (a plug-in's target)")
