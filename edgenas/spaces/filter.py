"""Filter a search space by a target's operator set before the search starts.

A choice that needs an operator the target's runtime lacks (a GRU cell on a runtime without a GRU
kernel, swish on an NPU without sigmoid) would cost a training run and then fail the operator
audit, or run on a slow fallback. So such choices are removed up front, each with a message
naming what was removed and why, and the search never sees them.

What a choice needs comes from the space itself: ``choice_requirements(decision, choice)`` where
the space declares it, otherwise derived from the IR: the requirements every sampled network
with that choice active has (intersection over a fixed, seeded sample, so the result is
deterministic). Requirements every network has (global pooling, say) are checked once: if the
target lacks one, nothing of the space can run there, and that is an error.

The filtered space keeps the base space's name, decisions and gene indices, so stored trials,
checkpoints and exports stay valid. It only samples and mutates among the remaining choices,
and projects a removed choice that a strategy proposes through ``arch()`` (Optuna, RL and local
search pick indices themselves) onto the first remaining one, as ``normalise`` does for inactive
genes. Where operators arise only from a *combination* of choices, sampling and mutation also
reject networks with a non-native requirement.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgenas.arch import Arch, Decision
from edgenas.errors import InvalidInputError, UnsupportedOpError
from edgenas.opset import missing, network_requirements

log = logging.getLogger(__name__)

#: Networks drawn to derive what each choice needs (fixed seed: same space, same answer).
DERIVE_SAMPLES = 24
#: Networks drawn from the filtered space to look for non-native combinations.
CHECK_SAMPLES = 200
_MAX_DRAWS = 1000


@dataclass(frozen=True)
class Removal:
    """One choice removed from a decision, and the requirements the target lacks."""

    decision: str
    choice: object
    lacking: tuple[str, ...]

    def message(self, target_name: str) -> str:
        return f"{target_name} has no {', '.join(self.lacking)} kernel: removed choice {self.decision}={self.choice!r}"


def choice_requirements(space, samples: int = DERIVE_SAMPLES, seed: int = 0) -> dict[tuple[int, int], frozenset[str]]:
    """``(decision, choice) -> requirements`` every network with that choice active has."""
    rng = np.random.default_rng(seed)
    pool = [space.sample(rng) for _ in range(samples)]
    declared = getattr(space, "choice_requirements", None)
    out: dict[tuple[int, int], frozenset[str]] = {}
    for i, decision in enumerate(space.decisions()):
        for c in range(len(decision.choices)):
            explicit = declared(i, c) if declared is not None else None
            if explicit is not None:
                out[(i, c)] = frozenset(explicit)
                continue
            seen: list[frozenset[str]] = []
            for arch in pool:
                genes = list(arch.genes)
                genes[i] = c
                try:
                    variant = space.arch(genes)
                except InvalidInputError:
                    continue
                if variant.genes[i] == c:  # the choice is active in this network
                    seen.append(network_requirements(space.layers(variant)))
            out[(i, c)] = frozenset.intersection(*seen) if seen else frozenset()
    return out


class OpFilteredSpace:
    """``base`` without the choices whose operators the target lacks (see the module docstring)."""

    def __init__(self, base, allowed: Sequence[Sequence[int]], native: frozenset[str], reject: bool = False) -> None:
        self.base = base
        self.name = base.name
        self.allowed = tuple(tuple(a) for a in allowed)
        self.native = native
        self.reject = reject

    def __getattr__(self, item: str) -> Any:  # num_classes, input_shape, named(), values()... of the base space
        if item.startswith("__") or "base" not in self.__dict__:  # copy / unpickle look before base is set
            raise AttributeError(item)
        return getattr(self.base, item)

    def decisions(self) -> Sequence[Decision]:
        return self.base.decisions()

    def _project(self, genes: Sequence[int]) -> list[int]:
        return [g if g in ok else ok[0] for g, ok in zip(genes, self.allowed, strict=True)]

    def arch(self, genes: Sequence[int]) -> Arch:
        """Validate, project removed choices onto remaining ones, normalise."""
        checked = self.base.arch(genes)  # range checks
        return self.base.arch(self._project(checked.genes))

    def check(self, arch: Arch) -> None:
        self.base.check(arch)
        if self.arch(arch.genes) != arch:
            raise InvalidInputError(f"arch {arch.genes} uses a choice removed for this target")

    def is_native(self, arch: Arch) -> bool:
        return not missing(network_requirements(self.base.layers(arch)), self.native)

    def sample(self, rng: np.random.Generator) -> Arch:
        for _ in range(_MAX_DRAWS):
            arch = self.arch([ok[int(rng.integers(len(ok)))] for ok in self.allowed])
            if not self.reject or self.is_native(arch):
                return arch
        raise UnsupportedOpError(f"space {self.name!r}: no network of native operators found in {_MAX_DRAWS} draws")

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        movable = [i for i, ok in enumerate(self.allowed) if len(ok) > 1]
        for _ in range(100):
            if not movable:
                break
            i = movable[int(rng.integers(len(movable)))]
            genes = list(arch.genes)
            others = [c for c in self.allowed[i] if c != genes[i]]
            genes[i] = others[int(rng.integers(len(others)))]
            child = self.arch(genes)
            if child != arch and (not self.reject or self.is_native(child)):
                return child
        raise InvalidInputError(f"space {self.name!r} has no mutation of {arch.genes} among the remaining choices")

    def layers(self, arch: Arch):
        return self.base.layers(arch)

    def build(self, arch: Arch):
        return self.base.build(arch)

    def describe(self, arch: Arch) -> str:
        return self.base.describe(arch)


def filter_by_ops(space: Any, native: frozenset[str], target_name: str) -> tuple[Any, tuple[str, ...]]:
    """Remove the choices of ``space`` that need operators outside ``native``.

    Returns the space to search (``space`` itself when nothing is removed) and one message per
    removed choice. Raises ``UnsupportedOpError`` when nothing of the space can run on the target.
    """
    decisions = space.decisions()
    rng = np.random.default_rng(0)
    # The first-choice network joins the random pool: a deterministic witness, so what it lacks is
    # never called unavoidable because every random draw happened to contain it (a float32 SE
    # block somewhere among eight random blocks, say).
    pool = [space.arch([0] * len(decisions))] + [space.sample(rng) for _ in range(DERIVE_SAMPLES)]
    common = frozenset.intersection(*(network_requirements(space.layers(a)) for a in pool))
    needs = choice_requirements(space)
    # What a choice needs can be removed with that choice; only the rest of the common core is
    # unavoidable. A derived need always contains the core (every sample has it), so only what it
    # adds beyond the core counts; a declared need counts whole: it can attribute what every
    # *random* network happens to contain, such as a float32 kernel among twenty blocks.
    declared = getattr(space, "choice_requirements", None)
    attributable = frozenset().union(
        *(need if declared is not None and declared(*key) is not None else need - common for key, need in needs.items())
    )
    lacking = missing(common - attributable, native)
    if lacking:
        raise UnsupportedOpError(
            f"every network of space {space.name!r} needs {', '.join(lacking)}, which {target_name} does not run natively"
        )
    removals: list[Removal] = []
    allowed: list[list[int]] = []
    for i, decision in enumerate(decisions):
        keep = []
        for c, value in enumerate(decision.choices):
            gap = missing(needs[(i, c)], native)
            if gap:
                removals.append(Removal(decision.name, value, gap))
            else:
                keep.append(c)
        if not keep:
            what = sorted({r for rem in removals if rem.decision == decision.name for r in rem.lacking})
            raise UnsupportedOpError(
                f"space {space.name!r} on {target_name}: every choice of {decision.name!r} needs an operator "
                f"{target_name} lacks ({', '.join(what)}); nothing remains to search"
            )
        allowed.append(keep)
    filtered = OpFilteredSpace(space, allowed, native)
    check_rng = np.random.default_rng(1)
    filtered.reject = not all(filtered.is_native(filtered.sample(check_rng)) for _ in range(CHECK_SAMPLES))
    if filtered.reject:
        filtered.sample(check_rng)  # no native network at all -> UnsupportedOpError, before the search starts
    if filtered.reject:
        log.info("space %s: some combinations of choices need operators %s lacks; sampling rejects them", space.name, target_name)
    if not removals and not filtered.reject:
        return space, ()
    return filtered, grouped_messages(removals, target_name)


def grouped_messages(removals: Sequence[Removal], target_name: str) -> tuple[str, ...]:
    """One line per removed choice, except that per-layer decisions sharing a pattern (``s3b1_act``,
    ``s4b0_act``: digits differ) and a removed value collapse into one line naming how many
    decisions lost it: a 27-block space would otherwise print a line per block."""
    groups: dict[tuple[str, str], list[Removal]] = {}
    for removal in removals:
        groups.setdefault((re.sub(r"\d+", "*", removal.decision), repr(removal.choice)), []).append(removal)
    out = []
    for (pattern, choice), members in groups.items():
        if len(members) == 1:
            out.append(members[0].message(target_name))
            continue
        lacking = sorted({name for m in members for name in m.lacking})
        out.append(
            f"{target_name} has no {', '.join(lacking)} kernel: removed choice {pattern}={choice} "
            f"({len(members)} decisions: {members[0].decision} ... {members[-1].decision})"
        )
    return tuple(out)
