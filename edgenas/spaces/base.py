"""The search-space protocol: genotype in, layers (for cost) or a torch module (for training) out.

Contract (checked for every registered space by ``edgenas.testing.check_space``):

* ``sample`` and ``mutate`` return valid, *normalised* genotypes (genes that have no effect are 0),
  so equal networks have equal ``Arch.key()``.
* ``layers`` is pure, cheap and torch-free: it is called for every candidate, before training.
* ``build`` returns an ``nn.Module`` whose deployed form (batch norm folded) has exactly the MACs
  and parameters that ``layers`` reports, and whose output is ``(batch, num_classes)`` logits.

A space also describes itself, so that reports, checkpoints, exports and ``--resume`` rebuild it
without knowing its class: ``params()`` gives the constructor arguments that rebuild it
(``SPACES.create(space.name, **space.params())``), ``preset`` the ``--space`` name that searches
it again, ``reference()`` the published network trained beside a search as its baseline (if the
space has one), and the class method ``for_task(input_shape, num_classes)`` builds the space for a
task's data or says why it cannot. :class:`DecisionSpace` gives all four a default.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from edgenas.arch import Arch, Decision
from edgenas.errors import InvalidInputError
from edgenas.ir import Layer

if TYPE_CHECKING:
    import torch


@runtime_checkable
class SearchSpace(Protocol):
    name: str

    def decisions(self) -> Sequence[Decision]: ...

    def arch(self, genes: Sequence[int]) -> Arch: ...

    def sample(self, rng: np.random.Generator) -> Arch: ...

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch: ...

    def layers(self, arch: Arch) -> list[Layer]: ...

    def build(self, arch: Arch) -> torch.nn.Module: ...

    def describe(self, arch: Arch) -> str: ...

    def params(self) -> dict[str, object]: ...

    @property
    def preset(self) -> str: ...

    def reference(self) -> tuple[str, Arch] | None: ...


class DecisionSpace:
    """Shared mechanics for spaces defined by a flat list of decisions.

    Subclasses provide ``decisions()`` and ``normalise(genes)``; sampling and mutation follow:
    sample draws every gene uniformly; mutate re-draws one *active* gene to a different value
    (retrying until the normalised genotype changes, as in Real et al. 2019's aging evolution,
    where a mutation always changes the architecture).
    """

    name: str

    def decisions(self) -> Sequence[Decision]:
        raise NotImplementedError

    def normalise(self, genes: tuple[int, ...]) -> tuple[int, ...]:
        return genes

    def arch(self, genes: Sequence[int]) -> Arch:
        """Validate and normalise ``genes`` into an ``Arch`` of this space."""
        decisions = self.decisions()
        genes = tuple(int(g) for g in genes)
        if len(genes) != len(decisions):
            raise InvalidInputError(f"space {self.name!r} has {len(decisions)} decisions, got {len(genes)} genes")
        for gene, decision in zip(genes, decisions, strict=True):
            if not 0 <= gene < len(decision.choices):
                raise InvalidInputError(
                    f"gene {gene} is out of range for decision {decision.name!r} (0..{len(decision.choices) - 1})"
                )
        return Arch(self.name, self.normalise(genes))

    def check(self, arch: Arch) -> None:
        if arch.space != self.name:
            raise InvalidInputError(f"arch belongs to space {arch.space!r}, not {self.name!r}")
        if self.arch(arch.genes) != arch:
            raise InvalidInputError(f"arch {arch.genes} is not normalised for space {self.name!r}")

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.arch([int(rng.integers(len(d.choices))) for d in self.decisions()])

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        decisions = self.decisions()
        for _ in range(100):
            genes = list(arch.genes)
            i = int(rng.integers(len(decisions)))
            n = len(decisions[i].choices)
            if n < 2:
                continue
            genes[i] = (genes[i] + int(rng.integers(1, n))) % n
            child = self.arch(genes)
            if child != arch:
                return child
        raise InvalidInputError(f"space {self.name!r} has no mutation of {arch.genes}")

    def choice_requirements(self, decision: int, choice: int) -> frozenset[str] | None:
        """Operators (``edgenas.opset`` requirements) choosing ``choice`` of ``decision`` always adds.

        ``None`` (the default) lets ``edgenas.spaces.filter_by_ops`` derive them from ``layers()``;
        a space overrides this where a choice needs an operator its IR cannot show.
        """
        return None

    def values(self, arch: Arch) -> dict[str, object]:
        """The chosen value of every decision, by name."""
        return {d.name: d.choices[g] for d, g in zip(self.decisions(), arch.genes, strict=True)}

    # -- self-description -------------------------------------------------------------------
    def params(self) -> dict[str, object]:
        """The constructor arguments that rebuild this space, JSON-ready (tuples as lists).

        Read from the attributes named like the constructor's parameters (scikit-learn's
        ``get_params`` convention: a constructor stores its arguments unchanged).
        """
        out: dict[str, object] = {}
        for name in inspect.signature(type(self).__init__).parameters:
            if name == "self" or not hasattr(self, name):
                continue
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    @property
    def preset(self) -> str:
        """The ``--space`` name that searches this space again (a registry name)."""
        return self.name

    def reference(self) -> tuple[str, Arch] | None:
        """The published network trained beside a search in this space (name, genotype), or None."""
        return None

    @classmethod
    def for_task(cls, input_shape: Sequence[int], num_classes: int, **options: Any) -> DecisionSpace:
        """This space for a task whose inputs have ``input_shape``.

        Where it cannot be, an ``InvalidInputError`` whose message completes the sentence
        "--space NAME ..." (``searches images (channels, height, width); ...``) says why.
        """
        raise InvalidInputError("cannot be searched on a task's data (the space has no for_task)")
