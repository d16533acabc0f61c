"""Cost of an FBNet architecture from HW-NAS-Bench's per-block look-up table (``fbnet_lut.json``).

HW-NAS-Bench prices the FBNet space block by block: the cost of a network on a device is the sum
of its blocks' entries (stem, 22 searchable layers, head, pool, classifier), which reproduces the
measured fpga / eyeriss / raspi4 / pixel3 latencies of HELP's 5,000 architectures exactly. So one
small JSON file prices all 9**22 networks, measured, with no model in between.

The table knows block *keys*, not layers, so the caller passes ``key``: arch -> LUT keys (the
``fbnet`` space's ``lut_keys``). Hardware never imports spaces.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError, MissingDataError, UnknownNameError
from edgenas.trial import Cost, Source

#: Metrics of the table: ``<device>_latency`` (ms) and ``<device>_energy`` (mJ).
METRICS = (
    "edgegpu_latency",
    "edgegpu_energy",
    "raspi4_latency",
    "pixel3_latency",
    "eyeriss_latency",
    "eyeriss_energy",
    "fpga_latency",
    "fpga_energy",
)


def read_fbnet_lut(lut_json: Path) -> dict[str, dict[str, float]]:
    """Metric -> {block key -> value} from HW-NAS-Bench's LUT file (other top-level entries are dropped)."""
    path = Path(lut_json)
    if not path.is_file():
        raise MissingDataError(
            f"FBNet look-up table {path} not found: set EDGENAS_SHARED_DATA to the shared data folder "
            f"(holding benchmarks/{path.name}) or pass its path"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {m: {k: float(v) for k, v in data[m].items()} for m in METRICS if isinstance(data.get(m), dict)}
    except OSError as exc:
        raise InvalidInputError(f"cannot read FBNet look-up table {path}: {exc.strerror or type(exc).__name__}") from None
    except (UnicodeDecodeError, ValueError, TypeError, AttributeError, RecursionError):
        what = f"FBNet look-up table {path}"
        raise InvalidInputError(f"{what} is not HW-NAS-Bench's LUT (JSON: metric -> block -> figure)") from None


class FbnetLutCost:
    """Prices an FBNet architecture with the sum of its blocks' LUT entries (a ``CostFunction``).

    Args:
        lut_json: HW-NAS-Bench's table (``$EDGENAS_SHARED_DATA/benchmarks/fbnet_lut.json``).
        metric_latency: The metric reported as ``latency_ms``, e.g. ``pixel3_latency``.
        metric_energy: The metric reported as ``energy_mj`` (e.g. ``fpga_energy``), or None.
        key: Arch -> the LUT keys of its blocks (``FbnetSpace().lut_keys``).
    """

    name = "fbnet_lut"

    def __init__(
        self,
        lut_json: Path,
        metric_latency: str = "pixel3_latency",
        metric_energy: str | None = None,
        key: Callable[[Arch], Sequence[str]] | None = None,
    ) -> None:
        self.lut_json = Path(lut_json)
        self.metric_latency = metric_latency
        self.metric_energy = metric_energy
        self.key = key
        self._table: dict[str, dict[str, float]] | None = None
        self._by_arch: dict[Arch, Cost] = {}

    def load(self) -> dict[str, dict[str, float]]:
        """Metric -> {block key -> value}, read once; the chosen metrics are checked here."""
        if self._table is None:
            table = read_fbnet_lut(self.lut_json)
            for flag, metric in (("metric_latency", self.metric_latency), ("metric_energy", self.metric_energy)):
                if metric is not None and metric not in table:
                    close = difflib.get_close_matches(metric, list(table), n=1)
                    hint = f" Did you mean {close[0]!r}?" if close else ""
                    raise UnknownNameError(
                        f"{flag}={metric!r} is not a metric of {self.lut_json}.{hint} Accepted: {', '.join(table)}."
                    )
            self._table = table
        return self._table

    def total(self, keys: Sequence[str], metric: str) -> float:
        """Sum of ``metric`` over the blocks ``keys`` (ms for latencies, mJ for energies)."""
        entries = self.load()[metric]
        try:
            return float(sum(entries[k] for k in keys))
        except KeyError as exc:
            raise InvalidInputError(f"block {exc.args[0]} is not in {self.lut_json} ({metric})") from None

    def __call__(self, arch: Arch) -> Cost:
        cost = self._by_arch.get(arch)
        if cost is None:
            if self.key is None:
                raise InvalidInputError("FbnetLutCost needs key= (arch -> LUT keys, e.g. FbnetSpace().lut_keys)")
            keys = self.key(arch)
            sources: dict[str, Source] = {"latency_ms": "measured"}
            energy = None
            if self.metric_energy is not None:
                energy = self.total(keys, self.metric_energy)
                sources["energy_mj"] = "measured"
            cost = Cost(0, 0, 0, 0, latency_ms=self.total(keys, self.metric_latency), energy_mj=energy, sources=sources)
            self._by_arch[arch] = cost
        return cost
