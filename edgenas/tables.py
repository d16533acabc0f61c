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
  columns (names containing ``iqr``, ``spread`` or ``std``) and columns without a name. A blank
  cell is a row not measured; a cell that says ``nan`` or ``inf`` is *written* but not a finite
  number, which :meth:`MeasuredTable.invalid_rows` tells apart from a blank one.

Text columns (NB201's ``UniqueString``) are not measurements and are left out; asking for one
(or for a metadata or spread column) is an error that says why it is not a measurement.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
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
_ENCODING = "utf-8-sig"  # a spreadsheet's byte-order mark is not part of the first column's name

#: Why a column of the file is not a measurement, as ``MeasuredTable.skipped`` records it.
_WHY = {
    "key": "is the architecture (key) column",
    "genotype": "is the genotype column",
    "metadata": "is metadata (index, macs, params, description), not a measurement",
    "spread": "is a spread column (iqr, spread, std), not a measurement",
    "text": "holds text, not numbers",
    "unnamed": "has no name in the header",
}
#: Why a row's cell holds no usable value, as ``MeasuredTable.invalid_rows`` keys it.
BLANK = "blank (not measured)"
NOT_FINITE = "not a finite number"


@dataclass(frozen=True)
class MeasuredTable:
    """A read table (see the module docstring)."""

    path: Path
    key_column: str
    keys: list[str]
    genotypes: list[str] | None
    columns: dict[str, np.ndarray]  # measurement -> one value per row (nan where not measured)
    skipped: dict[str, str] = field(default_factory=dict)  # column of the file -> why it is not a measurement
    nan_cells: dict[str, np.ndarray] = field(default_factory=dict)  # measurement -> rows whose cell says nan (not blank)

    def names(self) -> list[str]:
        """The measurement columns, in file order."""
        return list(self.columns)

    def column_name(self, name: str, what: str = "column", aliases: Mapping[str, str] | None = None) -> str:
        """The measurement column ``name`` (or its alias) stands for; an unknown name is an error listing the accepted ones.

        ``aliases`` maps short names to columns (``cifar10`` -> ``CIFAR10TestAccuracy200Epochs``);
        those whose column the table holds are accepted (and offered) too. An alias whose column
        the table lacks is reported as that column missing: another alias that happens to be
        spelt alike (``cifar100``) is another measurement, never a suggestion.
        """
        aliases = dict(aliases or {})
        column = aliases.get(name, name)
        if column in self.columns:
            return column
        if not self.columns:
            raise UnknownNameError(
                f"{self.path} has no {what} {name!r}: it has no measurement column at all "
                f"(a {what} is a numeric column beside the architecture column; see docs/predictors.md)"
            )
        present = {a: c for a, c in aliases.items() if c in self.columns}
        accepted = ", ".join([*present, *self.columns])
        if column in self.skipped:
            that = "that column" if column == name else f"its column {column!r}"
            raise UnknownNameError(
                f"{self.path} has no {what} {name!r} ({that} {_WHY[self.skipped[column]]}). Accepted: {accepted}."
            )
        if column != name:
            raise UnknownNameError(f"{self.path} has no {what} {name!r}: it lacks the column {column!r}. Accepted: {accepted}.")
        close = difflib.get_close_matches(name, [*present, *self.columns], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"{self.path} has no {what} {name!r}.{hint} Accepted: {accepted}.")

    def column(self, name: str, what: str = "column", aliases: Mapping[str, str] | None = None) -> np.ndarray:
        """One measurement column (see :meth:`column_name` for ``aliases`` and the errors)."""
        return self.columns[self.column_name(name, what, aliases)]

    def invalid_rows(
        self,
        name: str,
        what: str = "column",
        *,
        lowest: float = 0.0,
        lowest_allowed: bool = False,
        highest: float = math.inf,
        aliases: Mapping[str, str] | None = None,
    ) -> dict[str, np.ndarray]:
        """The rows of a column that hold no usable value, by why (only the reasons that occur, in this order):

        ``BLANK`` (not measured: a gap, not an error), ``NOT_FINITE`` (a written nan or inf), then
        values below ``lowest`` (or equal to it unless ``lowest_allowed``) and above ``highest``.
        """
        column = self.column_name(name, what, aliases)
        values = self.columns[column]
        written_nan = np.zeros(len(values), dtype=bool)
        written_nan[self.nan_cells.get(column, np.empty(0, dtype=int))] = True
        finite = np.isfinite(values)
        low = finite & ((values < lowest) if lowest_allowed else (values <= lowest))
        too_low = f"below {lowest:g}" if lowest_allowed else "not positive" if lowest == 0 else f"not above {lowest:g}"
        reasons = {
            BLANK: np.isnan(values) & ~written_nan,
            NOT_FINITE: np.isinf(values) | written_nan,
            too_low: low,
            f"above {highest:g}": finite & (values > highest),
        }
        return {why: np.flatnonzero(rows) for why, rows in reasons.items() if rows.any()}

    def lookup(self, name: str, what: str = "column", aliases: Mapping[str, str] | None = None) -> dict[str, float]:
        """Key -> value of one column, for the rows measured in it (blank cells are left out)."""
        values = self.column(name, what, aliases)
        return {k: v for k, v in zip(self.keys, values.tolist(), strict=True) if math.isfinite(v)}


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def _role(name: str, key_column: str, genotype_column: str | None) -> str | None:
    """Why column ``name`` is not a measurement (a ``_WHY`` key), or None where it may be one."""
    if name == key_column:
        return "key"
    if not name:
        return "unnamed"
    if name == genotype_column:
        return "genotype"
    if name in METADATA_COLUMNS:
        return "metadata"
    if _SPREAD.search(name):
        return "spread"
    return None


def read_table(path: Path | str, *, flag: str | None = None, what: str = "table") -> MeasuredTable:
    """Read a measured CSV table; a missing or malformed file raises an error naming it.

    ``flag`` is the command-line option that names the file (``--latency-table``), quoted in the
    message when the file is missing; ``what`` names the table for the user ("latency table").
    """
    path = Path(path)
    if path.is_dir():
        how = f": pass {flag} CSV with the file's path" if flag else ""
        raise InvalidInputError(f"{what} {path} is a directory, not a CSV file{how}")
    if not path.is_file():
        how = f" or pass {flag} CSV" if flag else ""
        raise MissingDataError(
            f"{what} {path} not found: set {SHARED_DATA_ENV} to the shared data folder (holding benchmarks/{path.name}){how}"
        )
    try:
        return _read_fast(path) or _read_exact(path, what)
    except OSError as exc:  # the file is there but cannot be read (permissions, an I/O error, a special file)
        raise InvalidInputError(f"cannot read {what} {path}: {exc.strerror or type(exc).__name__}") from None


def _read_exact(path: Path, what: str) -> MeasuredTable:
    """The reference reader: every cell through Python's ``csv`` and ``float`` (exact errors, text columns)."""
    try:
        with path.open(newline="", encoding=_ENCODING) as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = [r for r in reader if r]
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path} is not a CSV {what}: it is not UTF-8 text; save it as UTF-8 CSV") from None
    except csv.Error as exc:
        raise InvalidInputError(f"{path} is not a CSV {what} ({exc})") from None
    if header is None or not any(h.strip() for h in header) or not any(c.strip() for r in rows for c in r):
        article = "an" if what[:1] in ("a", "e", "i", "o", "u") else "a"
        raise InvalidInputError(f"{path} is empty: {article} {what} needs a header line and one row per architecture")
    header = [h.strip() for h in header]
    if any(len(r) != len(header) for r in rows):
        bad = next(i for i, r in enumerate(rows) if len(r) != len(header))
        raise InvalidInputError(f"{path}: row {bad + 2} has {len(rows[bad])} cells, the header {len(header)}")
    key_column = next((c for c in KEY_COLUMNS if c in header), header[0])
    genotype_column = next((c for c in GENOTYPE_COLUMNS if c in header), None)
    columns: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    nan_cells: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        role = _role(name, key_column, genotype_column)
        if role is None:
            values = [_number(r[j]) for r in rows]
            if any(v is None for v in values):
                role = "text"
            else:
                columns[name] = np.array(values, dtype=float)
                written = np.array([bool(r[j].strip()) for r in rows])
                nan_cells[name] = np.flatnonzero(np.isnan(columns[name]) & written)
        if role is not None:
            skipped.setdefault(name, role)
    k = header.index(key_column)
    genotypes = None if genotype_column is None else [r[header.index(genotype_column)].strip() for r in rows]
    nan_cells = {name: rows_ for name, rows_ in nan_cells.items() if len(rows_)}
    return MeasuredTable(path, key_column, [r[k].strip() for r in rows], genotypes, columns, skipped, nan_cells)


def _read_fast(path: Path) -> MeasuredTable | None:
    """The same table parsed by numpy's C reader, or None where it cannot be sure (then ``_read_exact`` reads it).

    A column is read as numbers when its first row's cell is a number; a blank cell, a later text
    cell, a ragged row, or a number only Python's ``float`` accepts makes numpy fail, and the
    exact reader takes over, so both give the same table (``tests/test_tables.py`` compares them).
    A table without a measurement column, or with a cell that says nan, is left to the exact
    reader too: it tells an empty file and a written nan from a blank cell.
    """
    try:
        with path.open(newline="", encoding=_ENCODING) as f:
            reader = csv.reader(f)
            header = next(reader, None)
            first = next((r for r in reader if r), None)
    except (UnicodeDecodeError, csv.Error):
        return None
    if not header or first is None or len(first) != len(header) or any("\n" in h or "\r" in h for h in header):
        return None
    header = [h.strip() for h in header]
    key_column = next((c for c in KEY_COLUMNS if c in header), header[0])
    genotype_column = next((c for c in GENOTYPE_COLUMNS if c in header), None)
    # a column is a measurement's when its first row's cell is a number; numpy checks the other rows
    roles = [
        _role(name, key_column, genotype_column) or ("text" if _number(cell) is None else None)
        for name, cell in zip(header, first, strict=True)
    ]
    dtype = [(f"c{j}", object if role else float) for j, role in enumerate(roles)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "input contained no data" and the like: let the exact reader say it
            data = np.loadtxt(
                path, delimiter=",", skiprows=1, dtype=dtype, quotechar='"', comments=None, ndmin=1, encoding=_ENCODING
            )
    except (ValueError, TypeError, UnicodeDecodeError, UserWarning):
        return None
    columns = {
        name: data[f"c{j}"].astype(float) for j, (name, role) in enumerate(zip(header, roles, strict=True)) if role is None
    }
    if not columns or any(np.isnan(c).any() for c in columns.values()):
        return None  # no measurement (is it empty?), or a written nan (not a blank): the exact reader says which
    skipped: dict[str, str] = {}
    for name, role in zip(header, roles, strict=True):
        if role is not None:
            skipped.setdefault(name, role)
    keys = [str(k).strip() for k in data[f"c{header.index(key_column)}"]]
    genotypes = None if genotype_column is None else [str(g).strip() for g in data[f"c{header.index(genotype_column)}"]]
    return MeasuredTable(path, key_column, keys, genotypes, columns, skipped)
