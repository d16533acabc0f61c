"""Measured latency looked up in a benchmark table (HW-NAS-Bench / BRP-NAS via HELP).

The cost of a candidate is its *measured* latency on one device, read from a CSV with one row
per architecture and one column per device. The table knows architectures, not layers, so it
prices an ``Arch`` (the ``Experiment``'s cost door takes an arch for this reason) through a key
function the caller supplies (the space's architecture string): hardware never imports spaces.
Figures the table does not hold (MACs, memory) are 0 and have no entry in ``Cost.sources``.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Callable
from pathlib import Path

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError, MissingDataError, UnknownNameError
from edgenas.trial import Cost

#: Column names that hold the architecture (NB201 string, or FBNet ops joined by '-').
ARCH_COLUMNS = ("arch", "ArchitectureString", "ops")
#: Columns that are not devices.
NON_DEVICE_COLUMNS = frozenset({"index", *ARCH_COLUMNS})


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
        self._latency_ms: dict[str, float] | None = None
        self._by_arch: dict[Arch, Cost] = {}

    def devices(self) -> list[str]:
        """The device columns of the table."""
        header, _ = self._read()
        return [h for h in header if h not in NON_DEVICE_COLUMNS]

    def _read(self) -> tuple[list[str], list[dict[str, str]]]:
        if not self.latency_csv.is_file():
            raise MissingDataError(
                f"latency table {self.latency_csv} not found: set EDGENAS_SHARED_DATA to the shared data folder "
                f"(holding benchmarks/{self.latency_csv.name}) or pass --latency-table CSV"
            )
        with self.latency_csv.open(newline="") as f:
            reader = csv.DictReader(f)
            return list(reader.fieldnames or []), list(reader)

    def load(self) -> dict[str, float]:
        """Architecture text -> latency (ms) on the device (read once, then kept)."""
        if self._latency_ms is None:
            header, rows = self._read()
            devices = [h for h in header if h not in NON_DEVICE_COLUMNS]
            if self.device not in devices:
                close = difflib.get_close_matches(self.device, devices, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise UnknownNameError(
                    f"unknown device {self.device!r} in {self.latency_csv}.{hint} Accepted: {', '.join(devices)}."
                )
            arch = next((c for c in ARCH_COLUMNS if c in header), None)
            if arch is None or not rows:
                raise InvalidInputError(f"{self.latency_csv} needs rows and an architecture column ({', '.join(ARCH_COLUMNS)})")
            try:
                self._latency_ms = {row[arch].strip(): float(row[self.device]) for row in rows}
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"{self.latency_csv}: column {self.device!r} is not numeric ({exc})") from None
        return self._latency_ms

    def latency_ms(self, arch: Arch) -> float:
        text = self.key(arch)
        try:
            return self.load()[text]
        except KeyError:
            raise InvalidInputError(f"{text} is not in {self.latency_csv}") from None

    def __call__(self, arch: Arch) -> Cost:
        cost = self._by_arch.get(arch)
        if cost is None:
            cost = Cost(0, 0, 0, 0, latency_ms=self.latency_ms(arch), sources={"latency_ms": "measured"})
            self._by_arch[arch] = cost
        return cost
