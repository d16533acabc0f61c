"""Latency tables for the predictors: one row per architecture, one latency column (ms) per device.

The tables are read by :func:`edgenas.tables.read_table` (``MeasuredTable``: the key column, the
optional genotype column, one measurement column per device), so the shared benchmark tables, a
host-measured table and a user's own measurements all load the same way (``docs/predictors.md``).
What is specific to the predictors lives here: turning rows back into architectures
(:func:`table_archs`, through the **genotype** column where the key is ``Arch.key()``, a one-way
SHA-1, as in the ``kws`` space: genes as a JSON list ``[0,3,1,...]``, an ``Arch.to_dict()`` object,
or integers joined by ``-`` or ``,``; where both are given, ``Arch.key()`` of the genotype must
match), picking the rows measured on a device and splitting them into training and held-out rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.tables import MeasuredTable

_ARCH_KEY = re.compile(r"^[0-9a-f]{16}$")


def parse_genes(text: str) -> list[int]:
    """Genes from a genotype cell: a JSON list, an ``Arch.to_dict()`` object, or ints joined by '-' or ','."""
    text = text.strip()
    try:
        value: Any = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        value = [p for p in re.split(r"[-,\s]+", text.strip("[]()")) if p]
    if isinstance(value, dict):
        value = value.get("genes")
    if isinstance(value, int):
        value = [value]
    try:
        return [int(g) for g in value]
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError("a genotype cell is not a list of genes (e.g. [0,3,1] or 0-3-1)") from None


def table_archs(space: Any, table: MeasuredTable) -> list[Arch]:
    """The ``Arch`` of every row of ``table`` in ``space`` (from the genotype column, else the key).

    A cell that is not one of ``space``'s architectures is an error naming its row, never
    quoting the cell: a table may be any file a user was handed.
    """
    if table.genotypes is not None:

        def from_genotype(cell: str) -> Arch:
            return space.arch(parse_genes(cell))

        archs = [_row(table, i, "genotype", space, from_genotype, g) for i, g in enumerate(table.genotypes)]
        for i, (arch, key) in enumerate(zip(archs, table.keys, strict=True)):
            if _ARCH_KEY.match(key) and arch.key() != key:
                raise InvalidInputError(
                    f"{table.path}: row {i + 2}: the genotype's Arch.key() is not the row's {table.key_column!r} "
                    f"(another space, or another version of it?)"
                )
        return archs
    parse = getattr(space, "from_string", None)
    if parse is None or (table.keys and _ARCH_KEY.match(table.keys[0])):
        raise InvalidInputError(
            f"{table.path}: the {table.key_column!r} keys cannot be turned back into {space.name} architectures "
            f"(Arch.key() is a one-way hash): add a 'genotype' column with each row's genes as a JSON list"
        )
    return [_row(table, i, repr(table.key_column), space, parse, k) for i, k in enumerate(table.keys)]


def _row(table: MeasuredTable, index: int, column: str, space: Any, make: Callable[[str], Arch], cell: str) -> Arch:
    """``make(cell)``, or an error naming the row (numbered as in the file, the header being row 1)."""
    try:
        return make(cell)
    except (InvalidInputError, ValueError, TypeError, IndexError):
        raise InvalidInputError(
            f"{table.path}: row {index + 2}: the {column} cell is not an architecture of the {space.name} space "
            f"(see docs/predictors.md for the accepted forms)"
        ) from None


def select_rows(table: MeasuredTable, device: str) -> np.ndarray:
    """Indices of the rows measured on ``device`` (finite, positive)."""
    y = table.column(device, "latency column")
    return np.flatnonzero(np.isfinite(y) & (y > 0))


def split_rows(rows: Sequence[int] | np.ndarray, train_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``rows`` into ``train_size`` training rows and the held-out rest."""
    rows = np.asarray(rows)
    if train_size < 2:
        raise InvalidInputError(f"--train-size must be at least 2, got {train_size}")
    if train_size > len(rows):
        raise InvalidInputError(f"--train-size {train_size} is larger than the table ({len(rows)} measured architectures)")
    perm = np.random.default_rng(seed).permutation(len(rows))
    return np.sort(rows[perm[:train_size]]), np.sort(rows[perm[train_size:]])
