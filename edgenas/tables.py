"""The one reader of measured tables: one row per architecture, one numeric column per measurement.

Every table edgenas reads has this shape: the shared benchmark tables (NAS-Bench-201 accuracy,
HW-NAS-Bench / BRP-NAS latency), a table measured on the host, a user's own measurements. So
one reader serves the accuracy look-up (:mod:`edgenas.evaluators.table`), the latency look-up
(:mod:`edgenas.hardware.table`) and the latency predictors (:mod:`edgenas.hardware.latency`):

* the **key** column is ``arch`` (else ``ArchitectureString``, else ``ops``, else the first
  column): the space's architecture text (NB201 cell string, FBNet ops string) or ``Arch.key()``;
* an optional **genotype** column (``genotype`` or ``genes``) holds each row's genes;
* every other **numeric** column is a measurement (a device's latency in ms, a data set's
  accuracy in %), except metadata (``index``, ``macs``, ``params``, ``description``) and spread
  columns (names containing ``iqr``, ``spread`` or ``std``). A blank cell is a row not measured.

Text columns (NB201's ``UniqueString``) are not measurements and are left out.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgenas.errors import InvalidInputError, MissingDataError, UnknownNameError
from edgenas.settings import SHARED_DATA_ENV

#: Columns that hold the architecture's text, in order of preference.
KEY_COLUMNS = ("arch", "ArchitectureString", "ops")
#: Columns that hold the genes of each row.
GENOTYPE_COLUMNS = ("genotype", "genes")
#: Numeric columns that describe a row rather than measure it.
METADATA_COLUMNS = frozenset({"index", "macs", "params", "description", *KEY_COLUMNS, *GENOTYPE_COLUMNS})
_SPREAD = re.compile(r"iqr|spread|std", re.IGNORECASE)


@dataclass(frozen=True)
class MeasuredTable:
    """A read table (see the module docstring)."""

    path: Path
    key_column: str
    keys: list[str]
    genotypes: list[str] | None
    columns: dict[str, np.ndarray]  # measurement -> one value per row (nan where not measured)

    def names(self) -> list[str]:
        """The measurement columns, in file order."""
        return list(self.columns)

    def column(self, name: str, what: str = "column") -> np.ndarray:
        """One measurement column; an unknown name is an error listing the accepted ones."""
        if name not in self.columns:
            close = difflib.get_close_matches(name, self.columns, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(f"{self.path} has no {what} {name!r}.{hint} Accepted: {', '.join(self.columns) or 'none'}.")
        return self.columns[name]

    def lookup(self, name: str, what: str = "column") -> dict[str, float]:
        """Key -> value of one column, for the rows measured in it."""
        values = self.column(name, what)
        return {k: float(v) for k, v in zip(self.keys, values, strict=True) if math.isfinite(v)}


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def read_table(path: Path | str, *, flag: str | None = None, what: str = "table") -> MeasuredTable:
    """Read a measured CSV table; a missing or malformed file raises an error naming it.

    ``flag`` is the command-line option that names the file (``--latency-table``), quoted in the
    message when the file is missing; ``what`` names the table for the user ("latency table").
    """
    path = Path(path)
    if not path.is_file():
        how = f" or pass {flag} CSV" if flag else ""
        raise MissingDataError(
            f"{what} {path} not found: set {SHARED_DATA_ENV} to the shared data folder (holding benchmarks/{path.name}){how}"
        )
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = [r for r in reader if r]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInputError(f"{path} is not a CSV {what} ({exc})") from None
    if not header or not rows:
        raise InvalidInputError(f"{path} is empty: a {what} needs a header and one row per architecture")
    header = [h.strip() for h in header]
    if any(len(r) != len(header) for r in rows):
        bad = next(i for i, r in enumerate(rows) if len(r) != len(header))
        raise InvalidInputError(f"{path}: row {bad + 2} has {len(rows[bad])} cells, the header {len(header)}")
    key_column = next((c for c in KEY_COLUMNS if c in header), header[0])
    genotype_column = next((c for c in GENOTYPE_COLUMNS if c in header), None)
    k = header.index(key_column)
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        if name in METADATA_COLUMNS or name == key_column or _SPREAD.search(name):
            continue
        values = [_number(r[j]) for r in rows]
        if any(v is None for v in values):
            continue  # a text column: not a measurement
        columns[name] = np.array(values, dtype=float)
    genotypes = None if genotype_column is None else [r[header.index(genotype_column)].strip() for r in rows]
    return MeasuredTable(path, key_column, [r[k].strip() for r in rows], genotypes, columns)
