"""Genotypes: a point in a search space, as plain integers.

A strategy sees only :class:`Decision` s and :class:`Arch` s (never torch, never hardware), so any
strategy works on any space. ``Arch.key()`` is a stable SHA-1 of the space name and the genes,
the identity used for de-duplication, caching and the store (``hash()`` changes between
processes, so it is never used).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Decision:
    """One searchable choice: a name and the values it may take (genes index ``choices``)."""

    name: str
    choices: tuple[Hashable, ...]

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError(f"decision {self.name!r} has no choices")


@dataclass(frozen=True, slots=True)
class Arch:
    """A point in a space: one choice index per decision, in ``space.decisions()`` order.

    Spaces normalise genes that have no effect (the kernel of a block beyond the chosen depth)
    to 0 before they hand an ``Arch`` out, so two genotypes that build the same network have
    the same key.
    """

    space: str
    genes: tuple[int, ...]
    # The key is asked for several times per candidate (de-duplication, caches, the store):
    # computed once here, it is not part of equality, hashing or the repr.
    _key: str = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        text = f"{self.space}:{','.join(map(str, self.genes))}"
        object.__setattr__(self, "_key", hashlib.sha1(text.encode()).hexdigest()[:16])

    def key(self) -> str:
        return self._key

    def to_dict(self) -> dict[str, object]:
        return {"space": self.space, "genes": list(self.genes)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Arch:
        genes = data["genes"]
        assert isinstance(genes, list)
        return cls(space=str(data["space"]), genes=tuple(int(g) for g in genes))
