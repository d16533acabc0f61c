"""``edgenas agent serve``: time models on this device for clients that hold the token.

A FastAPI application served by uvicorn. What it defends against, and how:

- **who may ask**: a bearer token, compared in constant time (:func:`hmac.compare_digest`),
  checked before any byte of an upload is read; ``401`` otherwise. Loopback by default.
- **how much**: the request body is counted while it streams in and refused past the limit
  (``413``); each client address gets a token bucket of requests per minute (``429``); the
  counts of runs and threads are bounded (``400``).
- **what runs**: ``.onnx`` and ``.tflite`` files, checked before a runtime loads them (a
  TFLite flatbuffer identifier, an ONNX protobuf without external data files), never a pickle.
  Compiled libraries (``.so``, the ``tvm`` runtime) are machine code: offered only when the
  owner passes ``--allow-native-code``, checked as shared objects for this machine, and run in a
  child process (:mod:`edgenas.agent.native`). The file goes to a folder only this user can
  open (``0700``) under a name the server chooses; the client's file name is read for its
  suffix and nothing else; the folder is deleted afterwards, whatever happened.
- **side by side**: one measurement at a time (a lock); the others wait their turn, because
  measurements running together would distort each other. ``/info`` and ``/health`` still answer
  meanwhile.

A model the runtime cannot load is a ``400`` with the runtime's reason, and the agent keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from edgenas.agent.protocol import (
    NATIVE_CODE_RUNTIMES,
    RUNTIME_SUFFIX,
    AgentInfo,
    AgentMeasurement,
    DeviceInfo,
    Limits,
    OpRecord,
    TensorSpec,
    parse_inputs,
)
from edgenas.errors import EdgenasError, InvalidInputError, MissingExtraError, UnknownNameError

try:
    from fastapi import FastAPI, File, Form, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
except ImportError:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("the measurement agent needs FastAPI: pip install 'edgenas[agent]'") from None

#: The Python module behind each runtime (present = offered).
RUNTIME_MODULES = {
    "onnxruntime": "onnxruntime",
    "litert": "ai_edge_litert",
    "litert-no-xnnpack": "ai_edge_litert",
    "tvm": "tvm",
}
#: How to install each runtime where it is missing.
RUNTIME_INSTALL = {
    "onnxruntime": "pip install onnxruntime",
    "litert": "pip install 'edgenas[tflite]'",
    "litert-no-xnnpack": "pip install 'edgenas[tflite]'",
    "tvm": "pip install 'edgenas[tvm]'",
}
#: Room for the form fields and multipart boundaries around the model file.
FORM_OVERHEAD_BYTES = 64 * 1024
#: The paths a client may reach without the token.
OPEN_PATHS = frozenset({"/health"})
#: How many distinct client addresses the rate limiter remembers before forgetting the idle ones.
MAX_TRACKED_CLIENTS = 10_000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class AgentSettings:
    """How one agent runs: its token, the runtimes it offers, its limits, where uploads go."""

    token: str
    runtimes: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    workdir: Path | None = None
    allow_native_code: bool = False


def available_runtimes(wanted: tuple[str, ...] = (), *, allow_native_code: bool = False) -> dict[str, str]:
    """The runtimes this device can offer (name -> ``"<package> <version>"``); ``wanted`` narrows them.

    A runtime named in ``wanted`` that is not installed is an error: the user asked for it. A
    runtime that runs machine code (``tvm``) is never offered by default: it must be named and
    ``allow_native_code`` given, since anyone holding the token can then run code on this device.
    """
    from edgenas.measure.base import runtime_version

    for name in wanted:
        if name not in RUNTIME_MODULES:
            raise UnknownNameError(f"unknown runtime {name!r} in --runtimes. Accepted: {', '.join(RUNTIME_MODULES)}.")
    native = [n for n in wanted if n in NATIVE_CODE_RUNTIMES]
    if native and not allow_native_code:
        raise InvalidInputError(
            f"--runtimes {','.join(native)} runs uploaded machine code with this agent's rights (anyone with the token "
            "could run code on this device); add --allow-native-code to accept that"
        )
    names = wanted or tuple(n for n in RUNTIME_MODULES if n not in NATIVE_CODE_RUNTIMES)
    found = {name: runtime_version(name) for name in names if find_spec(RUNTIME_MODULES[name]) is not None}
    missing = [n for n in wanted if n not in found]
    if missing:
        hints = dict.fromkeys(RUNTIME_INSTALL[n] for n in missing)  # once each, in order
        raise MissingExtraError(f"--runtimes {','.join(missing)}: not installed here ({'; '.join(hints)})")
    if not found:
        raise MissingExtraError("no runtime installed: pip install onnxruntime (or 'edgenas[tflite]' for LiteRT)")
    return found


# -- the guard in front of every request ------------------------------------------------------
def _too_large(max_upload_bytes: int) -> HTTPException:
    return HTTPException(
        413, f"the upload is larger than this agent's limit of {max_upload_bytes / 2**20:g} MiB (--max-upload-mb)"
    )


class RateLimiter:
    """A token bucket per client address: ``per_minute`` requests, refilled continuously (0: no limit)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}

    def allow(self, client: str) -> float:
        """0 if the request may go on, else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        now = self.clock()
        capacity = float(self.per_minute)
        rate = self.per_minute / 60.0
        tokens, last = self.buckets.get(client, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if len(self.buckets) >= MAX_TRACKED_CLIENTS and client not in self.buckets:
            self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < 60.0}
        if tokens < 1.0:
            self.buckets[client] = (tokens, now)
            return (1.0 - tokens) / rate
        self.buckets[client] = (tokens - 1.0, now)
        return 0.0


class Guard:
    """ASGI middleware: rate limit, then the token, then the body size, before the application reads anything."""

    def __init__(self, app: ASGIApp, token: str, max_body: int, limiter: RateLimiter) -> None:
        self.app = app
        self.token = token.encode("utf-8")
        self.max_body = max_body
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        wait = self.limiter.allow(str(client))
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            await _answer(send, 429, "too many requests from this address; slow down", {"retry-after": retry})
            return
        if scope["path"] not in OPEN_PATHS and not self._authorised(scope):
            await _answer(send, 401, "missing or wrong bearer token", {"www-authenticate": "Bearer"})
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await _drain(receive, limit=2 * self.max_body)
            await _answer(send, 413, self._too_large())
            return
        received = 0

        async def counted_receive() -> Message:
            # raised inside the application's body parsing: FastAPI turns it into the 413 answer
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _too_large(self.max_body - FORM_OVERHEAD_BYTES)
            return message

        await self.app(scope, counted_receive, send)

    def _authorised(self, scope: Scope) -> bool:
        header = b""
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                header = value
                break
        scheme, _, given = header.partition(b" ")
        # compare_digest on the whole value: the time taken does not depend on how much of it matches
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)

    def _too_large(self) -> str:
        return str(_too_large(self.max_body - FORM_OVERHEAD_BYTES).detail)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _drain(receive: Receive, limit: int) -> None:
    """Read and drop a refused body (up to ``limit`` bytes) so the client, still sending, reads the answer."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _answer(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


# -- what a model file must look like --------------------------------------------------------
def check_model_file(path: Path, suffix: str) -> None:
    """Refuse a file that is not a self-contained model of its kind, before a runtime parses it."""
    size = path.stat().st_size
    if size == 0:
        raise InvalidInputError("the uploaded model is empty")
    if suffix == ".so":
        from edgenas.agent.native import check_library

        check_library(path)
        return
    with open(path, "rb") as f:
        head = f.read(8)
    if suffix == ".tflite":
        if len(head) < 8 or head[4:8] != b"TFL3":
            raise InvalidInputError("the upload is not a TFLite model (no TFL3 flatbuffer identifier)")
        return
    import onnx

    try:
        model = onnx.load_model_from_string(path.read_bytes())
    except Exception as exc:  # protobuf's DecodeError and onnx's own: the upload is not a model either way
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InvalidInputError(f"the upload is not an ONNX model ({first})") from None
    if not model.graph.node:
        raise InvalidInputError("the upload is not an ONNX model (no graph nodes; truncated or another file)")
    if any(t.data_location == onnx.TensorProto.EXTERNAL or t.external_data for t in _tensors(model.graph)):
        raise InvalidInputError("the ONNX model refers to external data files; the agent accepts self-contained models only")


def _tensors(graph: Any) -> list[Any]:
    """Every tensor of a graph: initializers and node attributes, subgraphs included."""
    out = list(graph.initializer)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                out.append(attr.t)
            out.extend(attr.tensors)
            if attr.HasField("g"):
                out.extend(_tensors(attr.g))
            for sub in attr.graphs:
                out.extend(_tensors(sub))
    return out


# -- one measurement, alone ------------------------------------------------------------------
def _peak_rss_reset() -> bool:
    """Reset this process's peak resident size (Linux ``clear_refs``), so the next read covers what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass
class _Queue:
    """One measurement at a time: ``lock`` orders them; ``active`` and ``most_active`` prove it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    active: int = 0
    most_active: int = 0
    done: int = 0


def _measure(
    path: Path,
    runtime: str,
    counts: dict[str, int],
    queue: _Queue,
    digest: str,
    size: int,
    inputs: dict[str, TensorSpec] | None = None,
) -> AgentMeasurement:
    from edgenas.agent.native import measure_library, peak_rss_mb
    from edgenas.measure import measure_model

    with queue.lock:
        queue.active += 1
        queue.most_active = max(queue.most_active, queue.active)
        try:
            reset = _peak_rss_reset()
            started = time.time()
            try:
                if runtime == "tvm":  # machine code: in a child process, whose own peak is the figure
                    m, peak = measure_library(path, inputs or {}, **counts)
                else:
                    m = measure_model(path, runtime, per_op=True, **counts)
            except EdgenasError:
                raise
            except Exception as exc:  # a model that loads but fails to run is the client's input, not the agent's fault
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise InvalidInputError(f"the runtime failed on this model ({first})") from None
            finished = time.time()
            if runtime != "tvm":
                peak = peak_rss_mb() if reset else None
        finally:
            queue.active -= 1
            queue.done += 1
    ops = tuple(OpRecord(o.name, o.op_type, o.ms_per_run, o.calls_per_run) for o in m.ops)
    if not ops and runtime.startswith("litert"):
        from edgenas.measure.litert import NO_OPS_NOTE

        note: str | None = NO_OPS_NOTE
    else:
        note = m.ops_note
    return AgentMeasurement(
        runtime=runtime,
        runtime_version=m.runtime,
        threads=m.threads,
        warmup=m.warmup,
        times_ms=m.times_ms,
        device=DeviceInfo.here(),
        ops=ops,
        ops_note=note,
        input_shape=m.input_shape,
        peak_rss_mb=peak,
        model_bytes=size,
        model_sha256=digest,
        started_at=started,
        finished_at=finished,
        cpu_times_ms=m.cpu_times_ms,
    )


def _check_request(
    runtime: str | None, suffix: str, offered: dict[str, str], limits: Limits, counts: dict[str, int], inputs: str | None = None
) -> tuple[str, dict[str, TensorSpec] | None]:
    """The runtime that will measure the upload, and the inputs of a compiled library; a bad request -> one line."""
    from edgenas.measure.base import check_counts

    accepted = sorted({RUNTIME_SUFFIX[r] for r in offered})
    if suffix not in accepted:
        shown = suffix or "no suffix"
        native = " (compiled .so libraries only where it was started with --runtimes tvm --allow-native-code)"
        raise InvalidInputError(
            f"only {', '.join(accepted)} models are accepted here (got {shown}); the agent never loads pickles"
            + ("" if ".so" in accepted else native)
        )
    name = runtime or next((r for r, s in RUNTIME_SUFFIX.items() if s == suffix and r in offered), "")
    if not name:
        raise InvalidInputError(f"this agent offers no runtime for {suffix} files (it offers {', '.join(offered)})")
    if name not in offered:
        raise InvalidInputError(f"runtime {name!r} is not offered by this agent (it offers {', '.join(offered)})")
    if RUNTIME_SUFFIX[name] != suffix:
        raise InvalidInputError(f"runtime {name!r} cannot run a {suffix} file (it reads {RUNTIME_SUFFIX[name]})")
    check_counts(counts["repeats"], counts["warmup"], counts["threads"])
    for key, most in (("repeats", limits.max_repeats), ("warmup", limits.max_warmup), ("threads", limits.max_threads)):
        if counts[key] > most:
            raise InvalidInputError(f"--{key} {counts[key]} is over this agent's limit of {most}")
    if name not in NATIVE_CODE_RUNTIMES:
        if inputs is not None:
            raise InvalidInputError(f"'inputs' describes a compiled library's inputs; a {suffix} file declares its own")
        return name, None
    if inputs is None:
        raise InvalidInputError("a compiled library needs 'inputs' (the inputs.json edgenas compile wrote beside it)")
    return name, parse_inputs(inputs, "the library's inputs")


async def _save_upload(upload: Any, folder: Path, suffix: str, limit: int) -> tuple[Path, str, int]:
    """Copy the upload into ``folder`` under a name the server chooses; return its path, SHA-256 and size."""
    dest = folder / f"model{suffix}"
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            digest.update(chunk)
            out.write(chunk)
    return dest, digest.hexdigest(), size


def _edgenas_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("edgenas")
    except PackageNotFoundError:
        from edgenas import __version__

        return __version__


def create_app(settings: AgentSettings) -> Any:
    """The agent as an ASGI application (FastAPI behind the :class:`Guard` middleware)."""
    if not settings.token:
        raise InvalidInputError("the agent needs a token")
    offered = available_runtimes(settings.runtimes, allow_native_code=settings.allow_native_code)
    limits = settings.limits
    queue = _Queue()
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    version = _edgenas_version()
    suffixes = tuple(sorted({RUNTIME_SUFFIX[r] for r in offered}))

    @api.exception_handler(EdgenasError)
    async def refused(request: Request, exc: EdgenasError) -> JSONResponse:
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=400)

    @api.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse({"detail": f"malformed request: {where or 'body'}: {first.get('msg', 'invalid')}"}, status_code=400)

    @api.get("/health")
    async def health() -> dict[str, object]:
        return {"ok": True}

    @api.get("/info")
    async def info() -> dict[str, object]:
        answer = AgentInfo(
            runtimes=offered, device=DeviceInfo.here(), limits=limits, edgenas_version=version, suffixes=suffixes
        ).to_dict()
        answer["queue"] = {"active": queue.active, "most_active": queue.most_active, "done": queue.done}
        return answer

    @api.post("/measure")
    async def measure(
        model: UploadFile = File(...),
        runtime: str | None = Form(None),
        threads: int = Form(1),
        warmup: int = Form(10),
        repeats: int = Form(50),
        inputs: str | None = Form(None),
    ) -> dict[str, object]:
        counts = {"threads": threads, "warmup": warmup, "repeats": repeats}
        suffix = os.path.splitext(os.path.basename((model.filename or "").replace("\\", "/")))[1].lower()
        name, specs = _check_request(runtime, suffix, offered, limits, counts, inputs)
        folder = Path(tempfile.mkdtemp(prefix="edgenas-agent-", dir=settings.workdir))  # 0700, a name of the server's
        try:
            path, digest, size = await _save_upload(model, folder, suffix, limits.max_upload_bytes)
            try:
                await asyncio.to_thread(check_model_file, path, suffix)
                result = await asyncio.to_thread(_measure, path, name, counts, queue, digest, size, specs)
            except EdgenasError as exc:  # the reason, without the agent's private folder in it
                raise InvalidInputError(str(exc).replace(str(path), "the uploaded model")) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return result.to_dict()

    limiter = RateLimiter(limits.rate_limit_per_minute)
    return Guard(api, settings.token, limits.max_upload_bytes + FORM_OVERHEAD_BYTES, limiter)


def serve(
    settings: AgentSettings,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    log_level: str = "warning",
) -> None:
    """Run the agent until interrupted (uvicorn, one process: measurements must not run side by side)."""
    from edgenas.agent.auth import require

    uvicorn = require("uvicorn")
    if (tls_cert is None) != (tls_key is None):
        raise InvalidInputError("--tls-cert and --tls-key go together: give both or neither")
    for flag, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not Path(path).is_file():
            raise InvalidInputError(f"{flag} {path}: no such file")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_level=log_level,
        access_log=False,
        server_header=False,
        limit_concurrency=64,
        timeout_keep_alive=5,
    )
    uvicorn.Server(config).run()
