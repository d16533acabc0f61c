"""Architectures as feature vectors, derived from ``space.decisions()`` alone, for learned predictors.

The one-hot encoding (one column per choice of every decision) is the generic one: it needs
nothing but the decisions, so a predictor built on it works on every space. White et al. (2020,
"A Study on Encodings for Neural Architecture Search", NeurIPS) found this "adjacency one-hot"
encoding as good as the path encoding for predictor-guided search on NAS-Bench-201, whose
decisions are exactly its edges' operations.

A space may offer richer features through an optional ``features(arch) -> Sequence[float]``
method (a path encoding, say); they are appended to the one-hot columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgenas.arch import Arch
from edgenas.spaces.base import SearchSpace


class OneHotEncoder:
    """One column per (decision, choice); a gene sets its column to 1; then the space's ``features``, if any
    (and ``space_features``).

    >>> from edgenas.testing import ToySpace
    >>> space = ToySpace(n=2, k=3)
    >>> OneHotEncoder(space).encode([space.arch([0, 2])]).tolist()
    [[1.0, 0.0, 0.0, 0.0, 0.0, 1.0]]
    """

    def __init__(self, space: SearchSpace, space_features: bool = True) -> None:
        self.space = space
        sizes = [len(d.choices) for d in space.decisions()]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.width = int(sum(sizes))
        self._extra = getattr(space, "features", None) if space_features else None

    def encode(self, archs: Sequence[Arch]) -> np.ndarray:
        """An ``(len(archs), width [+ extra])`` float matrix."""
        genes = np.array([a.genes for a in archs], dtype=np.int64).reshape(len(archs), len(self._offsets))
        out = np.zeros((len(archs), self.width))
        out[np.arange(len(archs))[:, None], genes + self._offsets] = 1.0
        if self._extra is not None and len(archs):
            out = np.hstack([out, np.array([self._extra(a) for a in archs], dtype=float)])
        return out


__all__ = ["OneHotEncoder"]
