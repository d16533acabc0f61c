"""Accuracy looked up in a tabular benchmark (NAS-Bench-201): a strategy comparison where the answer is known.

No training: ``evaluate`` is a dictionary look-up, so thousands of candidates a second can be
"evaluated" and a strategy's regret measured against the table's exact optimum. The table is read
on first use (constructors only store parameters), from the path the caller gives: benchmark
tables live outside the repository (``$EDGENAS_SHARED_DATA/benchmarks``). Its format is
:mod:`edgenas.tables`' (one row per architecture, one accuracy column (%) per data set).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.spaces.base import SearchSpace
from edgenas.tables import read_table
from edgenas.trial import Metrics

#: Dataset name -> accuracy column of the NB201 table (test accuracy %, 200 epochs, mean over seeds).
DATASET_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}


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
        """Architecture text -> accuracy fraction, for the rows measured on the dataset (read once, then kept)."""
        if self._accuracy is None:
            table = read_table(self.accuracy_csv, flag="--accuracy-table", what="accuracy table")
            percent = table.lookup(self.dataset, "dataset", aliases=DATASET_COLUMNS)
            self._accuracy = {arch: value / 100.0 for arch, value in percent.items()}
        return self._accuracy

    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        accuracy = self._by_arch.get(arch)
        if accuracy is None:
            text = (self.key or self.space.describe)(arch)
            try:
                accuracy = self.load()[text]
            except KeyError:
                raise InvalidInputError(f"{text} is not measured on {self.dataset!r} in {self.accuracy_csv}") from None
            self._by_arch[arch] = accuracy
        return Metrics(accuracy)
