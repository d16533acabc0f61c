"""The device in the loop: a cost function whose latency an ``edgenas agent`` measures on the device.

``edgenas search --latency measured --agent URL --agent-token-file F`` prices each candidate with
the analytical model (memory, MACs) and replaces its latency with a measurement on the device the
agent runs on: the candidate is built, exported as the device runs it (ONNX for ONNX Runtime; a full-integer int8
``.tflite`` for LiteRT, with or without its XNNPACK delegate) and sent to the agent, which times it.
Measurements are cached by architecture in the run folder (as for the host's
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
from edgenas.agent.protocol import MODEL_RUNTIMES
from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.measure.loop import MeasuredLatency
from edgenas.trial import Cost

#: Calibration inputs of the int8 conversion: latency does not depend on their values, only on the graph.
CALIBRATION_CLIPS = 16


class AgentLatency(MeasuredLatency):
    """A ``CostFunction``: ``base(arch)`` with ``latency_ms`` measured on an agent's device.

    Args:
        space: Builds the candidate (``space.build(arch)``) and gives its input shape.
        base: The cost function whose other figures are kept (usually the analytical one).
        client: The agent that measures.
        cache: JSON file of measurements by architecture key (``None``: in memory only).
        threads, warmup, repeats: As the agent's ``measure``; the latency is the median.
        runtime: What times it on the device (one of ``MODEL_RUNTIMES``): ``onnxruntime`` on the
            float ONNX export, or ``litert`` / ``litert-no-xnnpack`` on the int8 TFLite export
            (the ``tflite`` extra; a few seconds of conversion per candidate).
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
        runtime: str = "onnxruntime",
    ) -> None:
        if runtime not in MODEL_RUNTIMES:
            raise InvalidInputError(f"--agent-runtime must be one of {', '.join(MODEL_RUNTIMES)}, got {runtime!r}")
        super().__init__(space, base, cache, threads=threads, warmup=warmup, repeats=repeats, rounds=1)
        self.client = client
        self.runtime = runtime
        self._device: str | None = None

    @property
    def device(self) -> str:
        """The agent's device as the cache and the report name it (``hostname (cpu model)``)."""
        if self._device is None:
            info = self.client.info()
            self._device = f"{info.device.hostname} ({info.device.cpu_model})"
        return self._device

    def measured_by(self) -> str:
        int8 = " int8" if self.runtime != "onnxruntime" else ""
        return f"agent {self.runtime}{int8} on {self.device}"

    def measure(self, arch: Arch) -> dict[str, float]:
        """Build and export one architecture, and have the agent time it (no cache)."""
        import numpy as np

        with tempfile.TemporaryDirectory(prefix="edgenas-agent-") as folder:
            model = self.export(arch, Path(folder))
            result = self.client.measure(
                model, runtime=self.runtime, threads=self.threads, warmup=self.warmup, repeats=self.repeats
            )
        times = np.asarray(result.times_ms)
        q1, q3 = np.percentile(times, [25, 75])
        return {"latency_ms": float(np.median(times)), "iqr_ms": float(q3 - q1), "finished_at": result.finished_at}

    def export(self, arch: Arch, folder: Path) -> Path:
        """The candidate as the device runs it (:func:`export_candidate`)."""
        return export_candidate(self.space, arch, self.runtime, folder)


def export_candidate(space: Any, arch: Arch, runtime: str, folder: Path) -> Path:
    """``arch`` of ``space`` written into ``folder`` as ``runtime`` reads it: ONNX for ONNX
    Runtime, full-integer int8 TFLite for LiteRT (the PT2E route of ``edgenas export``)."""
    import numpy as np
    import torch

    shape = space.input_shape  # kws: an attribute; mbconv: a method (the resolution is a decision)
    clip_shape = tuple(shape(arch) if callable(shape) else shape)
    module = space.build(arch).eval()
    if runtime == "onnxruntime":
        from edgenas.measure.pytorch import onnx_bytes

        model = folder / "candidate.onnx"
        model.write_bytes(onnx_bytes(module, torch.zeros(1, *clip_shape)))
        return model
    from edgenas.export.tflite import convert_int8

    # Standardised features: unit normal inputs give the converter sane ranges; the timing does not depend on them.
    calibration = np.random.default_rng(0).standard_normal((CALIBRATION_CLIPS, *clip_shape)).astype(np.float32)
    model = folder / "candidate.tflite"
    convert_int8(module, calibration, model, require_full_int8=False)  # timed as converted, float ops and all
    return model
