"""Latency tables: one row per architecture, one latency column (ms) per device.

The format is deliberately generic so the shared benchmark tables, a host-measured table and a
user's own measurements all load the same way (``docs/predictors.md``):

* the **key** column is ``arch`` (else ``ArchitectureString``, else ``ops``, else the first
  column): the space's architecture text (NB201 cell string, FBNet ops string) or ``Arch.key()``;
* an optional **genotype** column (``genotype`` or ``genes``): the genes as a JSON list
  (``[0,3,1,...]``), an ``Arch.to_dict()`` object, or integers joined by ``-`` or ``,``. It is
  required where the key cannot be parsed back (``Arch.key()`` is a one-way SHA-1, so the
  ``kws`` space needs it); where both are given, ``Arch.key()`` of the genotype must match;
* every other **numeric** column is a device, in ms, except metadata: ``index``, ``macs``,
  ``params``, ``description`` and spread columns (names containing ``iqr``, ``spread`` or
  ``std``). A blank cell is a network not measured on that device.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError, MissingDataError, UnknownNameError

KEY_COLUMNS = ("arch", "ArchitectureString", "ops")
GENOTYPE_COLUMNS = ("genotype", "genes")
METADATA_COLUMNS = frozenset({"index", "macs", "params", "description", *KEY_COLUMNS, *GENOTYPE_COLUMNS})
_SPREAD = re.compile(r"iqr|spread|std", re.IGNORECASE)
_ARCH_KEY = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class LatencyTable:
    """A read latency table (see the module docstring)."""

    path: Path
    key_column: str
    keys: list[str]
    genotypes: list[str] | None
    latency_ms: dict[str, np.ndarray]  # device -> one value per row (nan where not measured)

    def devices(self) -> list[str]:
        return list(self.latency_ms)

    def column(self, device: str) -> np.ndarray:
        """The device's latencies (ms); an unknown device is an error naming the accepted ones."""
        if device not in self.latency_ms:
            close = difflib.get_close_matches(device, self.latency_ms, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(
                f"{self.path} has no latency column {device!r}.{hint} Device columns: {', '.join(self.latency_ms) or 'none'}."
            )
        return self.latency_ms[device]


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        return None


def read_latency_table(path: Path) -> LatencyTable:
    """Read a latency CSV; malformed files raise ``InvalidInputError`` naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(
            f"latency table {path} not found: pass --latency-table CSV, or set EDGENAS_SHARED_DATA to the shared data "
            f"folder (holding benchmarks/{path.name})"
        )
    try:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = [r for r in reader if r]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInputError(f"{path} is not a CSV latency table ({exc})") from None
    if not header or not rows:
        raise InvalidInputError(f"{path} is empty: a latency table needs a header and one row per architecture")
    header = [h.strip() for h in header]
    if any(len(r) != len(header) for r in rows):
        bad = next(i for i, r in enumerate(rows) if len(r) != len(header))
        raise InvalidInputError(f"{path}: row {bad + 2} has {len(rows[bad])} cells, the header {len(header)}")
    key_column = next((c for c in KEY_COLUMNS if c in header), header[0])
    genotype_column = next((c for c in GENOTYPE_COLUMNS if c in header), None)
    k = header.index(key_column)
    latency: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        if name in METADATA_COLUMNS or name == key_column or _SPREAD.search(name):
            continue
        values = [_number(r[j]) for r in rows]
        if any(v is None for v in values):
            continue  # a text column: not a device
        latency[name] = np.array(values, dtype=float)
    genotypes = None if genotype_column is None else [r[header.index(genotype_column)].strip() for r in rows]
    return LatencyTable(path, key_column, [r[k].strip() for r in rows], genotypes, latency)


def parse_genes(text: str) -> list[int]:
    """Genes from a genotype cell: a JSON list, an ``Arch.to_dict()`` object, or ints joined by '-' or ','."""
    text = text.strip()
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError:
        value = [p for p in re.split(r"[-,\s]+", text.strip("[]()")) if p]
    if isinstance(value, dict):
        value = value.get("genes")
    if isinstance(value, int):
        value = [value]
    try:
        return [int(g) for g in value]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise InvalidInputError(f"genotype {text!r} is not a list of genes (e.g. [0,3,1] or 0-3-1)") from None


def table_archs(space: Any, table: LatencyTable) -> list[Arch]:
    """The ``Arch`` of every row of ``table`` in ``space`` (from the genotype column, else the key)."""
    if table.genotypes is not None:
        archs = [space.arch(parse_genes(g)) for g in table.genotypes]
        for arch, key in zip(archs, table.keys, strict=True):
            if _ARCH_KEY.match(key) and arch.key() != key:
                raise InvalidInputError(
                    f"{table.path}: genotype {list(arch.genes)} has Arch.key() {arch.key()}, not the row's {key} "
                    f"(another space, or another version of it?)"
                )
        return archs
    parse = getattr(space, "from_string", None)
    if parse is None or (table.keys and _ARCH_KEY.match(table.keys[0])):
        raise InvalidInputError(
            f"{table.path}: the {table.key_column!r} keys cannot be turned back into {space.name} architectures "
            f"(Arch.key() is a one-way hash): add a 'genotype' column with each row's genes as a JSON list"
        )
    return [parse(k) for k in table.keys]


def select_rows(table: LatencyTable, device: str) -> np.ndarray:
    """Indices of the rows measured on ``device`` (finite, positive)."""
    y = table.column(device)
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
