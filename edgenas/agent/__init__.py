"""The measurement agent: a small HTTP server on the target device, and its client.

``edgenas agent serve`` runs :func:`edgenas.agent.server.serve` on the device (a Raspberry Pi, a
phone under Termux, a board): it receives an ``.onnx`` or ``.tflite`` file, times it with
:mod:`edgenas.measure` (one measurement at a time) and answers with the records of
:mod:`.protocol`. :class:`edgenas.agent.client.AgentClient` is the other end, used by
``edgenas agent info`` and ``edgenas agent measure``. The server and the client need the
``agent`` extra (FastAPI, uvicorn, httpx), imported only when used: the rest of edgenas works
without it.
"""

from __future__ import annotations

from edgenas.agent.auth import read_token_file
from edgenas.agent.protocol import AgentInfo, AgentMeasurement, DeviceInfo, Limits

__all__ = ["AgentInfo", "AgentMeasurement", "DeviceInfo", "Limits", "read_token_file"]
