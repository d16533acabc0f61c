"""The client of ``edgenas agent serve``: ask what a device offers, have a model measured on it.

Every failure is one :class:`~edgenas.errors.EdgenasError` line that says what happened and what
to do: a refused token, an upload over the agent's limit, a model the agent refused (with its
reason), an agent that stopped answering. Connection errors, ``5xx`` and ``429`` answers are
retried with exponential back-off, a bounded number of times and within a bounded total time; a
refusal (``4xx``) is not retried, since asking again would get the same answer.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgenas.agent.auth import require
from edgenas.agent.protocol import (
    MODEL_SUFFIXES,
    AgentInfo,
    AgentMeasurement,
    ProtocolError,
    TensorSpec,
    inputs_to_dict,
    parse_inputs,
)
from edgenas.errors import DeviceUnavailableError, EdgenasError, InvalidInputError


class AgentError(EdgenasError):
    """The agent refused a request, or could not be reached."""


class AgentUnreachable(AgentError, DeviceUnavailableError):
    """The agent did not answer after every retry (a search stops here, and resumes later)."""


@dataclass(frozen=True)
class Retry:
    """How hard the client tries: ``tries`` attempts at most, waits doubling from ``first_wait_s``
    up to ``max_wait_s``, and no new attempt once ``total_s`` have passed."""

    tries: int = 4
    first_wait_s: float = 0.5
    max_wait_s: float = 8.0
    total_s: float = 60.0

    def wait(self, attempt: int) -> float:
        base = min(self.max_wait_s, self.first_wait_s * 2 ** (attempt - 1))
        return base * (0.75 + 0.5 * random.random())  # jitter: clients that failed together do not retry together


class AgentClient:
    """One agent at ``url`` (``http://host:port`` or ``https://...``), with its token.

    >>> client = AgentClient("http://127.0.0.1:8765", token)            # doctest: +SKIP
    >>> client.measure(Path("model.tflite"), repeats=100).summary()     # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        retry: Retry | None = None,
        connect_timeout_s: float = 10.0,
        measure_timeout_s: float = 900.0,
        verify: bool | str = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"agent URL {url!r}: expected http://HOST:PORT or https://HOST:PORT")
        self.url = url.rstrip("/")
        self.token = token
        self.retry = retry or Retry()
        self.connect_timeout_s = connect_timeout_s
        self.measure_timeout_s = measure_timeout_s
        self.verify = verify
        self.sleep = sleep
        self.tries_made = 0

    # -- the two questions -----------------------------------------------------------------
    def info(self) -> AgentInfo:
        """What the agent offers: runtimes with versions, its device, its limits."""
        return AgentInfo.from_dict(self._request("GET", "/info", read_timeout_s=30.0))

    def health(self) -> bool:
        """Whether the agent answers at all (no token needed, no retry)."""
        httpx = require("httpx")
        try:
            with httpx.Client(verify=self.verify, timeout=self.connect_timeout_s) as http:
                return bool(http.get(f"{self.url}/health").status_code == 200)
        except httpx.HTTPError:
            return False

    def measure(
        self,
        model_path: Path,
        *,
        runtime: str | None = None,
        threads: int = 1,
        warmup: int = 10,
        repeats: int = 50,
        inputs: dict[str, TensorSpec] | None = None,
    ) -> AgentMeasurement:
        """Upload ``model_path`` and have it timed on the device (waiting for any measurement before it).

        A compiled library (``.so``, the agent's ``tvm`` runtime) declares no inputs: ``inputs``
        says what to feed it (default: the ``inputs.json`` ``edgenas compile`` wrote beside it).
        """
        from edgenas.measure.base import check_counts, check_readable

        path = Path(model_path)
        suffix = path.suffix.lower()
        if suffix not in MODEL_SUFFIXES:
            raise InvalidInputError(f"{path}: the agent measures .onnx, .tflite and compiled .so files only")
        check_counts(repeats, warmup, threads)
        check_readable(path)
        if suffix == ".so" and inputs is None:
            inputs = library_inputs(path)
        data = path.read_bytes()
        fields = {"threads": str(threads), "warmup": str(warmup), "repeats": str(repeats)}
        if runtime:
            fields["runtime"] = runtime
        if inputs is not None:
            fields["inputs"] = json.dumps(inputs_to_dict(inputs))
        answer = self._request(
            "POST",
            "/measure",
            read_timeout_s=self.measure_timeout_s,
            files={"model": (f"model{suffix}", data, "application/octet-stream")},
            data=fields,
        )
        result = AgentMeasurement.from_dict(answer, max_runs=repeats)
        if result.repeats != repeats or result.warmup != warmup or result.threads != threads:
            raise ProtocolError(f"the agent at {self.url} measured something else than asked (runs, warm-up or threads differ)")
        return result

    # -- one request, retried --------------------------------------------------------------
    def _request(self, method: str, path: str, *, read_timeout_s: float, **kwargs: Any) -> Any:
        httpx = require("httpx")
        timeout = httpx.Timeout(self.connect_timeout_s, read=read_timeout_s)
        headers = {"Authorization": f"Bearer {self.token}"}
        start = time.monotonic()
        last = ""
        attempt = 0
        with httpx.Client(verify=self.verify, timeout=timeout, headers=headers) as http:
            while True:
                attempt += 1
                self.tries_made = attempt
                wait: float | None = None
                try:
                    response = http.request(method, f"{self.url}{path}", **kwargs)
                except httpx.TimeoutException as exc:
                    last = f"no answer in time ({type(exc).__name__})"
                except httpx.TransportError as exc:
                    last = _transport_reason(exc)
                else:
                    status = response.status_code
                    if status == 200:
                        try:
                            return response.json()
                        except ValueError:
                            raise ProtocolError(
                                f"the agent at {self.url} answered {path} with something that is not JSON"
                            ) from None
                    reason = _detail(response)
                    if status == 429 or status >= 500:
                        last = f"HTTP {status}: {reason}"
                        if status == 429:
                            wait = _retry_after(response)
                    else:
                        raise self._refusal(status, reason)
                elapsed = time.monotonic() - start
                pause = wait if wait is not None else self.retry.wait(attempt)
                if attempt >= self.retry.tries or elapsed + pause > self.retry.total_s:
                    raise AgentUnreachable(
                        f"the agent at {self.url} did not answer {method} {path} after {attempt} tries "
                        f"in {elapsed:.1f} s (last: {last}); is 'edgenas agent serve' running there?"
                    )
                self.sleep(pause)

    def _refusal(self, status: int, reason: str) -> AgentError:
        if status == 401:
            return AgentError(f"the agent at {self.url} refused the token ({reason}); check --token-file against the agent's")
        if status == 413:
            return AgentError(f"the agent at {self.url} refused the upload as too large ({reason})")
        if status in (400, 422):
            return AgentError(f"the agent at {self.url} refused the request: {reason}")
        return AgentError(f"the agent at {self.url} answered HTTP {status}: {reason}")


def library_inputs(library: Path) -> dict[str, TensorSpec]:
    """The inputs of a compiled library, from the ``inputs.json`` ``edgenas compile`` writes beside it."""
    path = Path(library).with_name("inputs.json")
    if not path.is_file():
        raise InvalidInputError(
            f"{library}: a compiled library declares no inputs and {path} is missing "
            "(edgenas compile writes it; or give --inputs FILE)"
        )
    return read_inputs(path)


def read_inputs(path: Path) -> dict[str, TensorSpec]:
    """An inputs file (``{"name": {"shape": [...], "dtype": "float32"}}``), checked: one line if it is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    try:
        return parse_inputs(text, str(path))
    except ProtocolError as exc:
        raise InvalidInputError(str(exc)) from None


def _detail(response: Any) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    text = detail if isinstance(detail, str) else (response.reason_phrase or "no reason given")
    return " ".join(text.split())[:300]


def _retry_after(response: Any) -> float | None:
    try:
        return min(60.0, max(0.0, float(response.headers.get("retry-after", ""))))
    except ValueError:
        return None


def _transport_reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]
