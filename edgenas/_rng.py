"""Randomness is passed in, never global: one independent stream per (seed, purpose, number).

``rng_for(seed, "trial", 7)`` gives the same generator in every process and on resume, so a
trial's training does not depend on which trials ran before it in this process.
"""

from __future__ import annotations

import hashlib

import numpy as np


def seed_for(seed: int, *keys: object) -> int:
    """A 63-bit integer derived from ``seed`` and ``keys`` (stable across processes)."""
    text = ":".join([str(seed), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def rng_for(seed: int, *keys: object) -> np.random.Generator:
    """A NumPy generator for one purpose, e.g. ``rng_for(seed, "strategy")``."""
    return np.random.default_rng(seed_for(seed, *keys))
