"""Architecture and compiler choices searched together: a space whose genotype is a network's
genes followed by how the compiler builds it.

``edgenas search --latency compiled --compiler tvm --compiler-choices layout,fusion,trials``
wraps the task's space in :class:`CompilerJointSpace`: a strategy sees the architecture's
decisions and, after them, one decision per compiler choice (``tvm.layout``, ``tvm.fusion``...),
so it searches the pair, and the compiled latency of a candidate is its network's as built with
its choices. Everything about the *network* (layers, operator requirements, the module it builds,
its input shape, its reference) is the inner space's: two genotypes that differ only in compiler
choices build the same network, which is trained once and shares its accuracy
(:class:`edgenas.evaluators.shared.SharedAccuracy`).

Choice 0 of every compiler decision is the compiler's default, so the reference network with
default settings is the build an architecture-only ``--latency compiled`` search measures. What
each choice does in TVM is :class:`edgenas.compile.tvm.BuildOptions`'s business; here they are
names and values only (a space never imports a compiler).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgenas.arch import Arch, Decision
from edgenas.errors import InvalidInputError
from edgenas.ir import Layer

if TYPE_CHECKING:
    import torch

    from edgenas.spaces.base import SearchSpace

#: The registered name of the joint space (``Arch.space`` of its genotypes).
JOINT_SPACE = "compiler-joint"


@dataclass(frozen=True)
class CompilerChoice:
    """One compiler setting the search may decide: its values, the compiler's default first."""

    name: str
    values: tuple[Any, ...]
    help: str


#: ``--compiler-choices`` names, per compiler; each changes the TVM build of a candidate
#: (docs/compile.md, "Compiler choices as decisions", gives the check on one model).
CHOICES: dict[str, tuple[CompilerChoice, ...]] = {
    "tvm": (
        CompilerChoice("layout", ("NCHW", "NHWC"), "data layout of conv2d (NHWC through Relax's ConvertLayout)"),
        CompilerChoice("fusion", ("on", "off"), "operator fusion (FuseOps and FuseTIR) before code generation"),
        CompilerChoice("opt-level", (3, 2, 1), "LLVM's optimisation level for the generated code"),
        CompilerChoice("trials", (0, 8, 32), "MetaSchedule trials for the candidate's new workloads"),
    ),
}


def choice_names(compiler: str = "tvm") -> tuple[str, ...]:
    """Every ``--compiler-choices`` name ``compiler`` has."""
    return tuple(c.name for c in CHOICES.get(compiler, ()))


def parse_choices(text: str | Sequence[str], compiler: str = "tvm") -> tuple[str, ...]:
    """``layout,fusion`` -> ``("layout", "fusion")``; unknown or repeated names -> one line."""
    names = [n.strip() for n in text.split(",")] if isinstance(text, str) else [str(n).strip() for n in text]
    names = [n for n in names if n]
    known = choice_names(compiler)
    if not names:
        raise InvalidInputError(f"--compiler-choices names none: give some of {', '.join(known)}")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInputError(f"--compiler-choices: {compiler} has no choice {unknown[0]!r}; known: {', '.join(known)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidInputError(f"--compiler-choices names {', '.join(repeated)} twice; name each choice once")
    return tuple(names)


class CompilerJointSpace:
    """``inner``'s decisions followed by the compiler's (see the module docstring).

    Args:
        inner: The architecture's space (target-filtered where the search filtered it).
        choices: The compiler choices searched (``--compiler-choices`` names), in this order.
        compiler: The compiler whose choices they are.
    """

    name = JOINT_SPACE

    def __init__(self, inner: SearchSpace, choices: Sequence[str] = choice_names(), compiler: str = "tvm") -> None:
        if isinstance(inner, CompilerJointSpace):
            raise InvalidInputError("a compiler-joint space wraps an architecture's space, not another joint space")
        self.inner = inner
        self.compiler = compiler
        self.choices = parse_choices(choices, compiler)
        by_name = {c.name: c for c in CHOICES[compiler]}
        self._compiler_decisions = tuple(Decision(f"{compiler}.{name}", by_name[name].values) for name in self.choices)
        self._n_inner = len(inner.decisions())

    def __getattr__(self, item: str) -> Any:  # num_classes, in_channels... of the architecture's space
        if item.startswith("__") or "inner" not in self.__dict__:  # copy / unpickle look before inner is set
            raise AttributeError(item)
        return getattr(self.inner, item)

    # -- genotypes ---------------------------------------------------------------------------
    def decisions(self) -> Sequence[Decision]:
        return (*self.inner.decisions(), *self._compiler_decisions)

    def split(self, arch: Arch) -> tuple[Arch, tuple[int, ...]]:
        """The inner network's genotype and the compiler genes of a joint genotype."""
        if arch.space != self.name:
            raise InvalidInputError(f"arch belongs to space {arch.space!r}, not {self.name!r}")
        return Arch(self.inner.name, arch.genes[: self._n_inner]), arch.genes[self._n_inner :]

    def inner_arch(self, arch: Arch) -> Arch:
        """The network a joint genotype builds (its accuracy is this genotype's)."""
        return self.split(arch)[0]

    def joint(self, inner: Arch, compiler_genes: Sequence[int] | None = None) -> Arch:
        """A network of the inner space with compiler genes (default: the compiler's defaults)."""
        genes = tuple(compiler_genes) if compiler_genes is not None else (0,) * len(self._compiler_decisions)
        return self.arch((*inner.genes, *genes))

    def compiler_values(self, arch: Arch) -> dict[str, Any]:
        """The compiler choices of a joint genotype, by ``--compiler-choices`` name."""
        _, genes = self.split(arch)
        return {name: d.choices[g] for name, d, g in zip(self.choices, self._compiler_decisions, genes, strict=True)}

    def arch(self, genes: Sequence[int]) -> Arch:
        """Validate and normalise: the inner genes by the inner space, the compiler genes by range."""
        genes = tuple(int(g) for g in genes)
        n = self._n_inner + len(self._compiler_decisions)
        if len(genes) != n:
            raise InvalidInputError(f"space {self.name!r} has {n} decisions, got {len(genes)} genes")
        inner = self.inner.arch(genes[: self._n_inner])
        for gene, decision in zip(genes[self._n_inner :], self._compiler_decisions, strict=True):
            if not 0 <= gene < len(decision.choices):
                raise InvalidInputError(
                    f"gene {gene} is out of range for decision {decision.name!r} (0..{len(decision.choices) - 1})"
                )
        return Arch(self.name, (*inner.genes, *genes[self._n_inner :]))

    def check(self, arch: Arch) -> None:
        if arch.space != self.name:
            raise InvalidInputError(f"arch belongs to space {arch.space!r}, not {self.name!r}")
        if self.arch(arch.genes) != arch:
            raise InvalidInputError(f"arch {arch.genes} is not normalised for space {self.name!r}")

    def sample(self, rng: np.random.Generator) -> Arch:
        inner = self.inner.sample(rng)
        return self.joint(inner, [int(rng.integers(len(d.choices))) for d in self._compiler_decisions])

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one decision: an architecture's (by the inner space's mutation) or a compiler
        choice, in proportion to how many each side has."""
        inner, genes = self.split(arch)
        total = self._n_inner + len(genes)
        if not genes or int(rng.integers(total)) < self._n_inner:
            return self.joint(self.inner.mutate(inner, rng), genes)
        i = int(rng.integers(len(genes)))
        n = len(self._compiler_decisions[i].choices)
        changed = list(genes)
        changed[i] = (changed[i] + int(rng.integers(1, n))) % n
        return self.joint(inner, changed)

    # -- the network: the inner space's ------------------------------------------------------
    def layers(self, arch: Arch) -> list[Layer]:
        return self.inner.layers(self.inner_arch(arch))

    def build(self, arch: Arch) -> torch.nn.Module:
        return self.inner.build(self.inner_arch(arch))

    @property
    def input_shape(self) -> Any:
        """The inner space's input shape: a tuple, or (where a decision sets it) a function of a joint genotype."""
        shape = getattr(self.inner, "input_shape")  # noqa: B009  (not every space has one; those that build do)
        if callable(shape):
            return lambda arch: shape(self.inner_arch(arch))
        return shape

    def choice_requirements(self, decision: int, choice: int) -> frozenset[str] | None:
        """A compiler choice needs no operator; an architecture's choice needs what the inner space says."""
        if decision >= self._n_inner:
            return frozenset()
        declared = getattr(self.inner, "choice_requirements", None)
        return declared(decision, choice) if declared is not None else None

    def values(self, arch: Arch) -> dict[str, object]:
        inner = self.inner_arch(arch)
        values = getattr(self.inner, "values", None)
        own = dict(values(inner)) if values is not None else {}
        return {**own, **{f"{self.compiler}.{k}": v for k, v in self.compiler_values(arch).items()}}

    def describe(self, arch: Arch) -> str:
        settings = ", ".join(f"{k} {v}" for k, v in self.compiler_values(arch).items())
        return f"{self.inner.describe(self.inner_arch(arch))} | {self.compiler}: {settings}"

    # -- self-description --------------------------------------------------------------------
    def params(self) -> dict[str, object]:
        """The inner space's arguments, beside its name and the compiler choices (flat: a checkpoint keeps them)."""
        return {
            **self.inner.params(),
            "inner_space": self.inner.name,
            "compiler": self.compiler,
            "compiler_choices": list(self.choices),
        }

    @property
    def preset(self) -> str:
        return self.name

    def reference(self) -> tuple[str, Arch] | None:
        """The inner space's reference network, built with the compiler's defaults."""
        reference = self.inner.reference()
        if reference is None:
            return None
        name, inner = reference
        return name, self.joint(inner)

    @classmethod
    def for_task(cls, input_shape: Sequence[int], num_classes: int, **options: Any) -> CompilerJointSpace:
        """The task's own space (``--space auto``) with every compiler choice of ``tvm``."""
        from edgenas.spaces.task import AUTO, space_for_task

        return cls(space_for_task(AUTO, input_shape, num_classes), **options)


def joint_space(
    inner_space: str = "kws", compiler: str = "tvm", compiler_choices: Sequence[str] | None = None, **inner_params: Any
) -> CompilerJointSpace:
    """Architecture x compiler choices (built by --compiler-choices; rebuilt from a run folder)."""
    from edgenas.spaces.task import rebuild_space

    if inner_space == JOINT_SPACE:
        raise InvalidInputError("a compiler-joint space wraps an architecture's space, not another joint space")
    inner = rebuild_space(inner_space, inner_params)
    return CompilerJointSpace(inner, choice_names(compiler) if compiler_choices is None else compiler_choices, compiler)
