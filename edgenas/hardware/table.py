"""Measured latency looked up in a benchmark table (HW-NAS-Bench / BRP-NAS via HELP).

The cost of a candidate is its *measured* latency on one device, read from a CSV with one row
per architecture and one column per device (the format of :mod:`edgenas.tables`). The table knows
architectures, not layers, so it prices an ``Arch`` (the ``Experiment``'s cost door takes an arch
for this reason) through a key function the caller supplies (the space's architecture string):
hardware never imports spaces. Figures the table does not hold (MACs, memory) are 0 and have no
entry in ``Cost.sources``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.tables import MeasuredTable, read_table
from edgenas.trial import Cost


class TableLatency:
    """Prices an architecture with its measured latency on ``device`` (a ``CostFunction``).

    Args:
        latency_csv: The table: an architecture column (``arch``) and one latency column (ms) per device.
        device: The device column, e.g. ``pixel3``.
        key: The table's architecture text of an arch (``space.describe`` for nb201).
    """

    name = "table"

    def __init__(self, latency_csv: Path, device: str, key: Callable[[Arch], str]) -> None:
        self.latency_csv = Path(latency_csv)
        self.device = device
        self.key = key
        self._table: MeasuredTable | None = None
        self._latency_ms: dict[str, float] | None = None
        self._by_arch: dict[Arch, Cost] = {}

    def table(self) -> MeasuredTable:
        """The whole table (read once, then kept)."""
        if self._table is None:
            self._table = read_table(self.latency_csv, flag="--latency-table", what="latency table")
        return self._table

    def devices(self) -> list[str]:
        """The device columns of the table."""
        return self.table().names()

    def load(self) -> dict[str, float]:
        """Architecture text -> latency (ms) on the device, for the rows measured on it (read once, then kept)."""
        if self._latency_ms is None:
            self._latency_ms = self.table().lookup(self.device, "device")
        return self._latency_ms

    def latency_ms(self, arch: Arch) -> float:
        text = self.key(arch)
        try:
            return self.load()[text]
        except KeyError:
            raise InvalidInputError(f"{text} is not measured on {self.device!r} in {self.latency_csv}") from None

    def __call__(self, arch: Arch) -> Cost:
        cost = self._by_arch.get(arch)
        if cost is None:
            cost = Cost(0, 0, 0, 0, latency_ms=self.latency_ms(arch), sources={"latency_ms": "measured"})
            self._by_arch[arch] = cost
        return cost
