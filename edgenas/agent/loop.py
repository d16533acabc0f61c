"""The device in the loop: a cost function whose latency an ``edgenas agent`` measures on the device.

``edgenas search --latency measured --agent URL --agent-token-file F`` prices each candidate with
the analytical model (memory, MACs) and replaces its latency with a measurement on the device the
agent runs on: the candidate is built, exported to ONNX and sent to the agent, which times it
with ONNX Runtime. Measurements are cached by architecture in the run folder (as for the host's
measurements, :class:`~edgenas.measure.loop.MeasuredLatency`), so a resumed search never measures
again; the cache records which device measured it, and a cache of another device is refused.

An agent that stops answering is retried by the client with back-off; after the last try the
search stops (:class:`~edgenas.errors.DeviceUnavailableError`) with every finished trial kept,
and ``--resume`` continues where it stopped. An agent that refuses one candidate (its model, say)
fails that candidate only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgenas.agent.client import AgentClient
from edgenas.arch import Arch
from edgenas.measure.loop import MeasuredLatency
from edgenas.trial import Cost


class AgentLatency(MeasuredLatency):
    """A ``CostFunction``: ``base(arch)`` with ``latency_ms`` measured on an agent's device (ONNX Runtime).

    Args:
        space: Builds the candidate (``space.build(arch)``) and gives its input shape.
        base: The cost function whose other figures are kept (usually the analytical one).
        client: The agent that measures.
        cache: JSON file of measurements by architecture key (``None``: in memory only).
        threads, warmup, repeats: As the agent's ``measure``; the latency is the median.
    """

    name = "measured-agent"

    def __init__(
        self,
        space: Any,
        base: Callable[[Arch], Cost],
        client: AgentClient,
        cache: Path | None = None,
        threads: int = 1,
        warmup: int = 10,
        repeats: int = 50,
    ) -> None:
        super().__init__(space, base, cache, threads=threads, warmup=warmup, repeats=repeats, rounds=1)
        self.client = client
        self._device: str | None = None

    @property
    def device(self) -> str:
        """The agent's device as the cache and the report name it (``hostname (cpu model)``)."""
        if self._device is None:
            info = self.client.info()
            self._device = f"{info.device.hostname} ({info.device.cpu_model})"
        return self._device

    def measured_by(self) -> str:
        return f"agent onnxruntime on {self.device}"

    def measure(self, arch: Arch) -> dict[str, float]:
        """Build and export one architecture, and have the agent time it (no cache)."""
        import numpy as np
        import torch

        from edgenas.measure.pytorch import onnx_bytes

        shape = self.space.input_shape  # kws: an attribute; mbconv: a method (the resolution is a decision)
        example = torch.zeros(1, *(shape(arch) if callable(shape) else shape))
        with tempfile.TemporaryDirectory(prefix="edgenas-agent-") as folder:
            model = Path(folder) / "candidate.onnx"
            model.write_bytes(onnx_bytes(self.space.build(arch).eval(), example))
            result = self.client.measure(
                model, runtime="onnxruntime", threads=self.threads, warmup=self.warmup, repeats=self.repeats
            )
        times = np.asarray(result.times_ms)
        q1, q3 = np.percentile(times, [25, 75])
        return {"latency_ms": float(np.median(times)), "iqr_ms": float(q3 - q1), "finished_at": result.finished_at}
