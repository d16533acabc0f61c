"""``edgenas dashboard``: a live web view of the search runs under a folder, which never writes to them.

A FastAPI application: two pages rendered from Jinja2 templates (the runs, one run), the JSON
they poll every two seconds (so a trial that lands shows without a reload), the report's Pareto
PNG, the page's script and Plotly.js (served from the installed ``plotly`` package: no network at
run time). What it defends against, and how:

- **writing to a run**: every figure comes from :mod:`edgenas.dashboard.views`, which opens the
  stores read-only and probes the run lock without taking it; the only file served from a run is
  its ``pareto.png``, read.
- **who may look**: loopback by default. Bound to another address it needs a token (one line
  otherwise), given once as ``?token=`` (then kept in an HttpOnly cookie, and the address bar loses
  it) or as an ``Authorization: Bearer`` header; compared in constant time; ``401`` otherwise.
- **reaching other files**: a run is named by its path under the watched folder and only names
  that :func:`edgenas.workflows.runs.find_runs` found are served.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from edgenas.dashboard.views import WatchedRun, overview, run_detail, signature, watched_runs
from edgenas.errors import EdgenasError, InvalidInputError, MissingExtraError

try:
    from fastapi import FastAPI
    from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
    from fastapi.staticfiles import StaticFiles
    from fastapi.templating import Jinja2Templates
    from starlette.requests import Request
except ImportError:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("the dashboard needs FastAPI and Jinja2: pip install 'edgenas[dashboard]'") from None

#: How often the pages ask for news, in milliseconds.
POLL_MS = 2000
#: The cookie that keeps the token after ``?token=`` (a digest of it, not the token itself).
COOKIE = "edgenas_dashboard"
#: Paths answered without the token (a probe that the process is up).
OPEN_PATHS = frozenset({"/health"})
HERE = Path(__file__).parent


@dataclass(frozen=True)
class DashboardSettings:
    """What one dashboard watches, and the token it asks for (None: no token, loopback only)."""

    root: Path
    token: str | None = None


@dataclass
class _Cache:
    """The last answer per run, kept until the run's :func:`signature` changes (polls cost a ``stat``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    details: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    overviews: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)

    def get(self, kind: str, watched: WatchedRun) -> dict[str, Any]:
        table = self.details if kind == "detail" else self.overviews
        sig = signature(watched.folder)
        with self.lock:
            hit = table.get(watched.name)
        if hit is not None and hit[0] == sig:
            return hit[1]
        answer = run_detail(watched) if kind == "detail" else overview(watched)
        with self.lock:
            table[watched.name] = (answer["signature"], answer)
        return answer


def plotly_js() -> Path:
    """The Plotly.js bundle that ships inside the ``plotly`` Python package."""
    try:
        path = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
    except ModuleNotFoundError:
        raise MissingExtraError(
            "the dashboard draws with Plotly.js from the plotly package: pip install 'edgenas[dashboard]'"
        ) from None
    if not path.is_file():
        raise MissingExtraError(f"{path}: this plotly package ships no plotly.min.js; pip install 'edgenas[dashboard]'")
    return path


def cookie_value(token: str) -> str:
    """What the cookie holds: a digest of the token, so the cookie jar never holds the token itself."""
    return hashlib.sha256(f"edgenas-dashboard:{token}".encode()).hexdigest()


def create_app(settings: DashboardSettings) -> Any:
    """The dashboard as an ASGI application watching ``settings.root``."""
    root = Path(settings.root)
    if not root.is_dir():
        raise InvalidInputError(f"{root}: not a folder (pass a run folder or a folder of runs, e.g. runs/)")
    script = plotly_js()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["poll_ms"] = POLL_MS
    cache = _Cache()
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    api.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def runs() -> dict[str, WatchedRun]:
        return watched_runs(root)

    def one(name: str) -> WatchedRun:
        found = runs().get(name)
        if found is None:
            raise _NotFound(f"no run named {name!r} under {root}")
        return found

    @api.exception_handler(EdgenasError)
    async def refused(request: Request, exc: EdgenasError) -> JSONResponse:
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=400)

    @api.exception_handler(_NotFound)
    async def missing(request: Request, exc: _NotFound) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        page = templates.TemplateResponse(request, "missing.html", {"message": str(exc), "root": str(root)})
        page.status_code = 404
        return page

    if settings.token is not None:
        _guard(api, settings.token)

    @api.get("/health")
    def health() -> dict[str, object]:
        return {"ok": True}

    @api.get("/")
    def index(request: Request) -> Response:
        listed = [cache.get("overview", w) for w in runs().values()]
        return templates.TemplateResponse(request, "index.html", {"root": str(root), "runs": listed})

    @api.get("/run/{name:path}")
    def run_page(request: Request, name: str) -> Response:
        watched = one(name)
        detail = cache.get("detail", watched)
        context = {"root": str(root), "run": detail, "api_url": f"/api/runs/{quote(watched.name)}"}
        return templates.TemplateResponse(request, "run.html", context)

    @api.get("/api/runs")
    def api_runs() -> dict[str, Any]:
        return {"root": str(root), "runs": [cache.get("overview", w) for w in runs().values()]}

    @api.get("/api/runs/{name:path}")
    def api_run(name: str, since: str | None = None) -> dict[str, Any]:
        watched = one(name)
        if since is not None and since == signature(watched.folder):
            return {"unchanged": True, "signature": since}
        detail = cache.get("detail", watched)
        return detail | {"pareto_url": f"/files/pareto/{quote(watched.name)}?{urlencode({'v': detail['signature']})}"}

    @api.get("/files/pareto/{name:path}")
    def pareto(name: str) -> Response:
        png = one(name).folder.pareto_png
        if not png.is_file():
            raise _NotFound(f"{png}: no Pareto plot yet (the report writes it when the search ends)")
        return FileResponse(png, media_type="image/png")

    @api.get("/vendor/plotly.min.js")
    def plotly() -> Response:
        return FileResponse(script, media_type="text/javascript", headers={"cache-control": "max-age=86400"})

    return api


class _NotFound(Exception):
    """A run (or its file) that the watched folder does not hold: a 404, never a 500."""


def _guard(api: Any, token: str) -> None:
    """Refuse every request without the token (``401``); a right ``?token=`` sets the cookie and drops
    itself from the address by a redirect."""
    expected = token.encode()
    expected_cookie = cookie_value(token).encode()

    @api.middleware("http")
    async def check(request: Request, call_next: Any) -> Response:
        if request.url.path in OPEN_PATHS:
            return await call_next(request)
        given = request.query_params.get("token")
        if given is not None and hmac.compare_digest(given.encode(), expected):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            answer = RedirectResponse(target, status_code=303)
            answer.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="strict")
            return answer
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        cookie = request.cookies.get(COOKIE, "")
        if (scheme.lower() == "bearer" and hmac.compare_digest(bearer.strip().encode(), expected)) or (
            cookie and hmac.compare_digest(cookie.encode(), expected_cookie)
        ):
            return await call_next(request)
        detail = "this dashboard needs its token: open it once with ?token=TOKEN, or send 'Authorization: Bearer TOKEN'"
        return JSONResponse({"detail": detail}, status_code=401, headers={"www-authenticate": "Bearer"})


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``, bound before the server starts, so that a port in use is
    one clear line rather than a server that logs and exits."""
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"--port must be between 0 and 65535, got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInputError(f"--host {host}: not an address of this machine ({exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48):  # EADDRINUSE on Linux, macOS
            raise InvalidInputError(
                f"--port {port}: already in use on {host}; stop what listens there or choose another --port"
            ) from None
        raise InvalidInputError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    return sock


def serve(settings: DashboardSettings, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Serve the dashboard on ``sock`` until interrupted."""
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise MissingExtraError("the dashboard is served by uvicorn: pip install 'edgenas[dashboard]'") from None
    app = create_app(settings)
    config = uvicorn.Config(app, log_level=log_level, access_log=False, server_header=False, timeout_keep_alive=5)
    uvicorn.Server(config).run(sockets=[sock])
