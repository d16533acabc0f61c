"""What crosses the wire between ``edgenas agent serve`` and its client, and how it is checked.

Both sides validate: the server builds these records from its own measurement, and the client
rebuilds them from JSON with :meth:`from_dict`, refusing an answer with a missing field, a wrong
type or a figure no measurement can have (a negative time, more runs than were asked). A client
must not trust an agent blindly: it may be an old version, a different program on that port, or
a compromised device.
"""

from __future__ import annotations

import math
import os
import platform
import socket
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edgenas.errors import InvalidInputError

#: Bumped when a field changes meaning; the client refuses an agent speaking another version.
PROTOCOL_VERSION = 1
#: The model files an agent accepts (never a pickle; a compiled library only where its owner allowed native code).
MODEL_SUFFIXES = (".onnx", ".tflite", ".so")
#: The runtimes an agent can offer, and the model file each reads.
RUNTIME_SUFFIX = {"onnxruntime": ".onnx", "litert": ".tflite", "litert-no-xnnpack": ".tflite", "tvm": ".so"}
#: Runtimes whose "model" is machine code: an agent offers them only when its owner says so.
NATIVE_CODE_RUNTIMES = frozenset({"tvm"})
#: The runtimes that time a model file exported from a network (``--agent-runtime``, ``predictor
#: collect --runtime``, a target file's ``agent.runtime``); a compiled library comes from ``--latency compiled``.
MODEL_RUNTIMES = tuple(r for r in RUNTIME_SUFFIX if r not in NATIVE_CODE_RUNTIMES)
#: Bounds on the input description a client sends with a compiled library.
MAX_INPUTS = 16
MAX_RANK = 8

_T = TypeVar("_T")


class ProtocolError(InvalidInputError):
    """The other side sent something that is not what the protocol says."""


# -- validation helpers ---------------------------------------------------------------------
def _get(d: Mapping[str, Any], key: str, kind: type[_T] | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise ProtocolError(f"{where}: the field {key!r} is missing")
    value = d[key]
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ProtocolError(f"{where}: the field {key!r} is a boolean, not a number")
    if not isinstance(value, kind):
        raise ProtocolError(f"{where}: the field {key!r} has type {type(value).__name__}")
    return value


def _number(d: Mapping[str, Any], key: str, where: str, *, optional: bool = False, minimum: float = 0.0) -> float | None:
    if optional and d.get(key) is None:
        return None
    value = float(_get(d, key, (int, float), where))
    if not math.isfinite(value) or value < minimum:
        raise ProtocolError(f"{where}: the field {key!r} is {value}, not a finite number >= {minimum:g}")
    return value


def _count(d: Mapping[str, Any], key: str, where: str, minimum: int = 0) -> int:
    value = _get(d, key, int, where)
    if value < minimum:
        raise ProtocolError(f"{where}: the field {key!r} is {value}, below {minimum}")
    return int(value)


def _text(d: Mapping[str, Any], key: str, where: str, *, optional: bool = False, limit: int = 4096) -> str | None:
    if optional and d.get(key) is None:
        return None
    value = _get(d, key, str, where)
    if len(value) > limit:
        raise ProtocolError(f"{where}: the field {key!r} is {len(value):,} characters long (at most {limit:,})")
    return str(value)


def _numbers(values: Any, key: str, where: str, limit: int) -> tuple[float, ...]:
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise ProtocolError(f"{where}: the field {key!r} is not a list")
    if len(values) > limit:
        raise ProtocolError(f"{where}: the field {key!r} has {len(values):,} entries (at most {limit:,})")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ProtocolError(f"{where}: the field {key!r} holds {v!r}, not a finite number >= 0")
        out.append(float(v))
    return tuple(out)


# -- the inputs of a compiled library -------------------------------------------------------
@dataclass(frozen=True)
class TensorSpec:
    """One input of a compiled library: its shape and NumPy element type.

    An ONNX or TFLite file declares its inputs; a TVM library does not, so the client (which
    compiled it and holds ``inputs.json``) says what to feed it.
    """

    shape: tuple[int, ...]
    dtype: str = "float32"


def parse_inputs(raw: Any, where: str = "the inputs") -> dict[str, TensorSpec]:
    """``{"name": {"shape": [1, 3, 32, 32], "dtype": "float32"}, ...}`` (a JSON text or a mapping), checked."""
    import json

    from edgenas.measure.base import INPUT_DTYPES, MAX_INPUT_ELEMENTS

    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ProtocolError(f"{where} are not JSON ({exc})") from None
    if not isinstance(raw, Mapping) or not raw:
        raise ProtocolError(f'{where} must be a JSON object of input names, e.g. {{"input": {{"shape": [1, 3, 32, 32]}}}}')
    if len(raw) > MAX_INPUTS:
        raise ProtocolError(f"{where} name {len(raw)} inputs (at most {MAX_INPUTS})")
    out: dict[str, TensorSpec] = {}
    total = 0
    for name, spec in raw.items():
        if not isinstance(name, str) or not 0 < len(name) <= 255:
            raise ProtocolError(f"{where}: an input name must be text of 1 to 255 characters")
        if not isinstance(spec, Mapping):
            raise ProtocolError(f"{where}: input {name!r} is not a JSON object with 'shape' (and 'dtype')")
        shape = spec.get("shape")
        if (
            not isinstance(shape, list)
            or not 1 <= len(shape) <= MAX_RANK
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        ):
            raise ProtocolError(f"{where}: input {name!r} needs 'shape', a list of 1 to {MAX_RANK} positive whole numbers")
        dtype = spec.get("dtype", "float32")
        if dtype not in INPUT_DTYPES:
            raise ProtocolError(f"{where}: input {name!r} has dtype {dtype!r}; accepted: {', '.join(INPUT_DTYPES)}")
        total += math.prod(shape)
        if total > MAX_INPUT_ELEMENTS:
            raise ProtocolError(f"{where} hold more than {MAX_INPUT_ELEMENTS:,} values in all")
        out[name] = TensorSpec(tuple(shape), dtype)
    return out


def inputs_to_dict(specs: Mapping[str, TensorSpec]) -> dict[str, dict[str, Any]]:
    """The JSON form :func:`parse_inputs` reads."""
    return {name: {"shape": list(s.shape), "dtype": s.dtype} for name, s in specs.items()}


# -- the device -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceInfo:
    """The machine an agent runs on, as far as ``/proc`` and ``/sys`` tell (``None``: not exposed).

    Frequency and temperature change with load and heat: they are read at the time of the answer
    so a slow measurement can be told apart from a throttled device.
    """

    hostname: str
    machine: str
    cpu_model: str
    cpu_count: int
    cpu_freq_mhz: tuple[float, ...] = ()
    temperature_c: float | None = None
    load_avg: tuple[float, ...] = ()
    system: str = ""

    @classmethod
    def here(cls) -> DeviceInfo:
        from edgenas.measure.base import host_info

        host = host_info()
        load = tuple(float(x) for x in host["load_avg_1_5_15"] if math.isfinite(float(x)))  # type: ignore[attr-defined]
        return cls(
            hostname=socket.gethostname(),
            machine=platform.machine(),
            cpu_model=str(host["processor"]),
            cpu_count=os.cpu_count() or 1,
            cpu_freq_mhz=cpu_frequencies_mhz(),
            temperature_c=temperature_c(),
            load_avg=load,
            system=f"{platform.system()} {platform.release()}",
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cpu_freq_mhz"] = list(self.cpu_freq_mhz)
        d["load_avg"] = list(self.load_avg)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> DeviceInfo:
        where = "the agent's device description"
        if not isinstance(d, Mapping):
            raise ProtocolError(f"{where} is not a JSON object")
        return cls(
            hostname=_text(d, "hostname", where, limit=255) or "",
            machine=_text(d, "machine", where, limit=64) or "",
            cpu_model=_text(d, "cpu_model", where, limit=255) or "",
            cpu_count=_count(d, "cpu_count", where, minimum=1),
            cpu_freq_mhz=_numbers(d.get("cpu_freq_mhz", []), "cpu_freq_mhz", where, limit=4096),
            temperature_c=_number(d, "temperature_c", where, optional=True, minimum=-273.15),
            load_avg=_numbers(d.get("load_avg", []), "load_avg", where, limit=3),
            system=_text(d, "system", where, limit=255) or "",
        )


def cpu_frequencies_mhz(root: Path = Path("/sys/devices/system/cpu")) -> tuple[float, ...]:
    """Each core's current frequency (``cpufreq/scaling_cur_freq``, kHz in the file); empty where not exposed."""
    out = []
    for path in sorted(root.glob("cpu[0-9]*/cpufreq/scaling_cur_freq"), key=lambda p: int(p.parent.parent.name[3:])):
        try:
            out.append(int(path.read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    return tuple(out)


def temperature_c(root: Path = Path("/sys/class/thermal")) -> float | None:
    """The hottest thermal zone (``thermal_zone*/temp``, millidegrees in the file); ``None`` where none is exposed."""
    temps = []
    for path in root.glob("thermal_zone*/temp"):
        try:
            temps.append(int(path.read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    return max(temps) if temps else None


# -- what the agent offers ------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    """What an agent accepts in one request (checked by the server, shown by ``GET /info``)."""

    max_upload_bytes: int = 64 * 1024 * 1024
    max_repeats: int = 10_000
    max_warmup: int = 10_000
    max_threads: int = 64
    rate_limit_per_minute: int = 600

    @classmethod
    def from_dict(cls, d: Any) -> Limits:
        where = "the agent's limits"
        if not isinstance(d, Mapping):
            raise ProtocolError(f"{where} are not a JSON object")
        return cls(
            **{
                k: _count(d, k, where)
                for k in ("max_upload_bytes", "max_repeats", "max_warmup", "max_threads", "rate_limit_per_minute")
            }
        )


@dataclass(frozen=True)
class AgentInfo:
    """``GET /info``: the runtimes the device offers (name -> version), the device, the limits."""

    runtimes: dict[str, str]
    device: DeviceInfo
    limits: Limits
    edgenas_version: str
    protocol: int = PROTOCOL_VERSION
    suffixes: tuple[str, ...] = MODEL_SUFFIXES

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "edgenas_version": self.edgenas_version,
            "runtimes": dict(self.runtimes),
            "suffixes": list(self.suffixes),
            "device": self.device.to_dict(),
            "limits": asdict(self.limits),
        }

    @classmethod
    def from_dict(cls, d: Any) -> AgentInfo:
        where = "the agent's /info answer"
        protocol = _check_envelope(d, where)
        runtimes = _get(d, "runtimes", dict, where)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in runtimes.items()):
            raise ProtocolError(f"{where}: 'runtimes' must map names to version strings")
        suffixes = _get(d, "suffixes", list, where)
        return cls(
            runtimes={str(k): str(v)[:255] for k, v in runtimes.items()},
            device=DeviceInfo.from_dict(d.get("device")),
            limits=Limits.from_dict(d.get("limits")),
            edgenas_version=_text(d, "edgenas_version", where, limit=64) or "",
            protocol=protocol,
            suffixes=tuple(str(s) for s in suffixes),
        )


# -- one measurement ------------------------------------------------------------------------
@dataclass(frozen=True)
class OpRecord:
    """One operator's time per run (or ``ms_per_run`` 0 where the runtime only lists operators)."""

    name: str
    op_type: str
    ms_per_run: float
    calls_per_run: float = 1.0


@dataclass(frozen=True)
class AgentMeasurement:
    """A model timed on the agent's device: every timed run and the figures derived from them.

    ``started_at`` and ``finished_at`` are the agent's wall clock (Unix seconds) around the
    measurement, so a reader can check that two measurements never overlapped. ``peak_rss_mb`` is
    the agent process's peak resident memory during the measurement (the runtime, the model and
    the agent itself), ``None`` where the system does not expose it.
    """

    runtime: str
    runtime_version: str
    threads: int
    warmup: int
    times_ms: tuple[float, ...]
    device: DeviceInfo
    ops: tuple[OpRecord, ...] = ()
    ops_note: str | None = None
    input_shape: tuple[int, ...] = ()
    peak_rss_mb: float | None = None
    model_bytes: int = 0
    model_sha256: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0
    cpu_times_ms: tuple[float, ...] = field(default=())

    @property
    def repeats(self) -> int:
        return len(self.times_ms)

    def as_measurement(self, label: str = "") -> Any:
        """The same figures as a host :class:`edgenas.measure.Measurement` (medians, spread, bottlenecks)."""
        from edgenas.measure.base import Measurement, OpTime

        load = tuple(self.device.load_avg) if len(self.device.load_avg) == 3 else (math.nan,) * 3
        return Measurement(
            backend=self.runtime,
            model=label or f"model {self.model_sha256[:12]} on {self.device.hostname}",
            threads=self.threads,
            warmup=self.warmup,
            times_ms=self.times_ms,
            ops=tuple(OpTime(o.name, o.op_type, o.ms_per_run, o.calls_per_run) for o in self.ops),
            ops_note=self.ops_note,
            input_shape=self.input_shape,
            load_avg=load,  # type: ignore[arg-type]
            cpu_times_ms=self.cpu_times_ms if len(self.cpu_times_ms) == len(self.times_ms) else (),
        )

    def summary(self) -> dict[str, float]:
        """Median, IQR, min, max and mean latency in milliseconds."""
        m = self.as_measurement()
        return {"median": m.median_ms, "iqr": m.iqr_ms, "min": m.min_ms, "max": m.max_ms, "mean": m.mean_ms}

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL_VERSION,
            "runtime": self.runtime,
            "runtime_version": self.runtime_version,
            "threads": self.threads,
            "warmup": self.warmup,
            "repeats": self.repeats,
            "latency_ms": self.summary(),
            "times_ms": list(self.times_ms),
            "cpu_times_ms": list(self.cpu_times_ms),
            "operators": [asdict(o) for o in self.ops],
            "operators_note": self.ops_note,
            "input_shape": list(self.input_shape),
            "peak_rss_mb": self.peak_rss_mb,
            "model_bytes": self.model_bytes,
            "model_sha256": self.model_sha256,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "device": self.device.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Any, *, max_runs: int = 1_000_000) -> AgentMeasurement:
        where = "the agent's measurement"
        _check_envelope(d, where)
        times = _numbers(_get(d, "times_ms", list, where), "times_ms", where, max_runs)
        if not times:
            raise ProtocolError(f"{where}: no timed run")
        if _count(d, "repeats", where, minimum=1) != len(times):
            raise ProtocolError(f"{where}: 'repeats' does not match the number of timed runs")
        cpu = _numbers(d.get("cpu_times_ms", []), "cpu_times_ms", where, max_runs)
        ops_raw = _get(d, "operators", list, where)
        if len(ops_raw) > 100_000:
            raise ProtocolError(f"{where}: {len(ops_raw):,} operators")
        ops = []
        for o in ops_raw:
            if not isinstance(o, Mapping):
                raise ProtocolError(f"{where}: an operator is not a JSON object")
            ops.append(
                OpRecord(
                    name=_text(o, "name", where, limit=1024) or "",
                    op_type=_text(o, "op_type", where, limit=255) or "",
                    ms_per_run=_number(o, "ms_per_run", where) or 0.0,
                    calls_per_run=_number(o, "calls_per_run", where) or 0.0,
                )
            )
        shape = _get(d, "input_shape", list, where)
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise ProtocolError(f"{where}: 'input_shape' must be a list of counts")
        started = _number(d, "started_at", where) or 0.0
        finished = _number(d, "finished_at", where) or 0.0
        if finished < started:
            raise ProtocolError(f"{where}: it finished before it started")
        return cls(
            runtime=_text(d, "runtime", where, limit=64) or "",
            runtime_version=_text(d, "runtime_version", where, limit=255) or "",
            threads=_count(d, "threads", where, minimum=1),
            warmup=_count(d, "warmup", where),
            times_ms=times,
            device=DeviceInfo.from_dict(d.get("device")),
            ops=tuple(ops),
            ops_note=_text(d, "operators_note", where, optional=True),
            input_shape=tuple(int(s) for s in shape),
            peak_rss_mb=_number(d, "peak_rss_mb", where, optional=True),
            model_bytes=_count(d, "model_bytes", where),
            model_sha256=_text(d, "model_sha256", where, limit=64) or "",
            started_at=started,
            finished_at=finished,
            cpu_times_ms=cpu,
        )


def _check_envelope(d: Any, where: str) -> int:
    """An answer is a JSON object in this edgenas's protocol version (else one clear error); its version."""
    if not isinstance(d, Mapping):
        raise ProtocolError(f"{where} is not a JSON object")
    protocol = _count(d, "protocol", where)
    if protocol != PROTOCOL_VERSION:
        raise ProtocolError(
            f"the agent speaks protocol {protocol}; this edgenas speaks {PROTOCOL_VERSION} (upgrade the older one)"
        )
    return protocol
