"""Accuracy looked up in a tabular benchmark (NAS-Bench-201): a strategy comparison where the answer is known.

No training: ``evaluate`` is a dictionary look-up, so thousands of candidates a second can be
"evaluated" and a strategy's regret measured against the table's exact optimum. The table is read
on first use (constructors only store parameters), from the path the caller gives: benchmark
tables live outside the repository (``$EDGENAS_SHARED_DATA/benchmarks``).
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Callable
from pathlib import Path

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError, MissingDataError, UnknownNameError
from edgenas.spaces.base import SearchSpace
from edgenas.trial import Metrics

#: Dataset name -> accuracy column of the NB201 table (test accuracy %, 200 epochs, mean over seeds).
DATASET_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}
#: Column names that hold the architecture (NB201 string, or FBNet ops joined by '-').
ARCH_COLUMNS = ("ArchitectureString", "arch", "ops")


def read_csv_columns(path: Path, flag: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV, with a message naming the file and how to point elsewhere when it is absent."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(
            f"benchmark table {path} not found: set EDGENAS_SHARED_DATA to the shared data folder "
            f"(holding benchmarks/{path.name}) or pass {flag} CSV"
        )
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    if not rows:
        raise InvalidInputError(f"{path} ({flag}) has no rows")
    return header, rows


def arch_column(header: list[str], path: Path) -> str:
    for name in ARCH_COLUMNS:
        if name in header:
            return name
    raise InvalidInputError(
        f"{path} has no architecture column: expected one of {', '.join(ARCH_COLUMNS)}; found {', '.join(header)}"
    )


class TableEvaluator:
    """Accuracy (as a fraction) of an architecture, read from a benchmark table in percent.

    Args:
        space: The space whose architectures the table describes.
        accuracy_csv: The table: one row per architecture, an architecture column
            (``ArchitectureString``) and one accuracy column (%) per dataset.
        dataset: ``cifar10``, ``cifar100``, ``ImageNet16-120``, or any accuracy column's exact name.
        key: The table's architecture text of an arch; default ``space.describe``.
    """

    name = "table"

    def __init__(
        self, space: SearchSpace, accuracy_csv: Path, dataset: str = "cifar10", key: Callable[[Arch], str] | None = None
    ) -> None:
        self.space = space
        self.accuracy_csv = Path(accuracy_csv)
        self.dataset = dataset
        self.key = key
        self._accuracy: dict[str, float] | None = None
        self._by_arch: dict[Arch, float] = {}

    def load(self) -> dict[str, float]:
        """Architecture text -> accuracy fraction (read once, then kept)."""
        if self._accuracy is None:
            header, rows = read_csv_columns(self.accuracy_csv, "--accuracy-table")
            column = DATASET_COLUMNS.get(self.dataset, self.dataset)
            if column not in header:
                names = sorted(set(DATASET_COLUMNS) | {h for h in header if h not in ARCH_COLUMNS})
                close = difflib.get_close_matches(self.dataset, names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise UnknownNameError(
                    f"unknown dataset {self.dataset!r} in {self.accuracy_csv}.{hint} Accepted: {', '.join(names)}."
                )
            arch = arch_column(header, self.accuracy_csv)
            try:
                self._accuracy = {row[arch].strip(): float(row[column]) / 100.0 for row in rows}
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"{self.accuracy_csv}: column {column!r} is not numeric ({exc})") from None
        return self._accuracy

    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        accuracy = self._by_arch.get(arch)
        if accuracy is None:
            text = (self.key or self.space.describe)(arch)
            try:
                accuracy = self.load()[text]
            except KeyError:
                raise InvalidInputError(f"{text} is not in {self.accuracy_csv}") from None
            self._by_arch[arch] = accuracy
        return Metrics(accuracy)
