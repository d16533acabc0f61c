"""Hardware in the loop: a cost function whose latency is measured on this machine.

``edgenas search --target host --latency measured`` prices each candidate with the analytical
model (MACs, parameters, memory) and then replaces its latency with a *measurement*: the
candidate is built (``space.build``), exported to ONNX in memory and timed with ONNX Runtime on
one thread, as :func:`edgenas.measure.ort.measure_onnx` does. It lives here, not in
``hardware/``, because building a network needs torch and cost models never import it; the
search composes it around the analytical cost function.

Measurements are cached by ``Arch.key()`` in a JSON file in the run folder
(``RunFolder.measured_latency``), written after every
new measurement, so a resumed search (or an architecture asked twice) is never re-measured and
keeps the figure the original search decided with.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.trial import Cost

log = logging.getLogger(__name__)


class MeasuredLatency:
    """A ``CostFunction``: ``base(arch)`` with ``latency_ms`` measured by ONNX Runtime on this CPU.

    Args:
        space: Builds the candidate (``space.build(arch)``) and gives its input shape.
        base: The cost function whose other figures are kept (usually the analytical one).
        cache: JSON file of measurements by architecture key; ``None`` keeps them in memory only.
        threads: ONNX Runtime intra-op threads (1: the figure is stable and comparable).
        warmup: Untimed runs per round.
        repeats: Timed runs per round.
        rounds: Rounds per candidate; the latency is the minimum of the round medians (a load
            burst on a shared machine inflates one round, rarely all).
    """

    name = "measured-onnxruntime"
    #: What measured the figures in the cache: a cache measured elsewhere is never mixed in.
    backend = "onnxruntime"

    def measured_by(self) -> str:
        """What measures (recorded in the cache, checked when it is read back)."""
        return self.backend

    def __init__(
        self,
        space,
        base: Callable[[Arch], Cost],
        cache: Path | None = None,
        threads: int = 1,
        warmup: int = 5,
        repeats: int = 30,
        rounds: int = 3,
    ) -> None:
        self.space = space
        self.base = base
        self.cache = Path(cache) if cache is not None else None
        self.threads = threads
        self.warmup = warmup
        self.repeats = repeats
        self.rounds = rounds
        self._records: dict[str, dict[str, float]] | None = None

    def get_params(self) -> dict[str, object]:
        return {"threads": self.threads, "warmup": self.warmup, "repeats": self.repeats, "rounds": self.rounds}

    # -- cache ------------------------------------------------------------------------------
    def records(self) -> dict[str, dict[str, float]]:
        """Architecture key -> ``{"latency_ms", "iqr_ms", "load_1min"}`` measured so far."""
        if self._records is None:
            self._records = {}
            if self.cache is not None and self.cache.is_file():
                try:
                    data = json.loads(self.cache.read_text(encoding="utf-8"))
                    self._records = dict(data["latency_ms_by_arch"])
                    measured_by = str(data.get("backend", "onnxruntime"))
                except (ValueError, KeyError, TypeError, AttributeError):
                    raise InvalidInputError(f"{self.cache}: not an edgenas measured-latency cache; move it away") from None
                if measured_by != self.measured_by():
                    raise InvalidInputError(
                        f"{self.cache} holds latencies measured by {measured_by}, not {self.measured_by()}: "
                        "measure in another run folder (--out), or move the file away to measure again"
                    )
        return self._records

    def _save(self) -> None:
        if self.cache is None:
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache.with_suffix(".tmp")
        payload = {"kind": "measured", "backend": self.measured_by(), **self.get_params(), "latency_ms_by_arch": self.records()}
        tmp.write_text(json.dumps(payload, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.cache)  # atomic: a kill mid-write leaves the previous file

    # -- measurement ------------------------------------------------------------------------
    def measure(self, arch: Arch) -> dict[str, float]:
        """Build, export and time one architecture (no cache)."""
        import torch

        from edgenas.measure.ort import example_inputs, session, time_runs
        from edgenas.measure.pytorch import onnx_bytes

        shape = self.space.input_shape  # kws: an attribute; mbconv: a method (the resolution is a decision)
        example = torch.zeros(1, *(shape(arch) if callable(shape) else shape))
        sess = session(onnx_bytes(self.space.build(arch).eval(), example), threads=self.threads)
        feeds = example_inputs(sess)
        medians, iqrs = [], []
        for _ in range(self.rounds):
            times = np.asarray(time_runs(lambda: sess.run(None, feeds), self.warmup, self.repeats))
            medians.append(float(np.median(times)))
            q1, q3 = np.percentile(times, [25, 75])
            iqrs.append(float(q3 - q1))
        best = int(np.argmin(medians))
        return {"latency_ms": medians[best], "iqr_ms": iqrs[best], "load_1min": os.getloadavg()[0]}

    def latency_ms(self, arch: Arch) -> float:
        key = arch.key()
        records = self.records()
        if key not in records:
            records[key] = self.measure(arch)
            self._save()
            log.debug("measured %s: %.4f ms", key, records[key]["latency_ms"])
        return float(records[key]["latency_ms"])

    def __call__(self, arch: Arch) -> Cost:
        return self.base(arch).with_latency(self.latency_ms(arch), "measured")
