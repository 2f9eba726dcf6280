"""The viewer's web server: a Starlette application over the warehouse, served by uvicorn.

Routes (GET and HEAD): ``/`` (index), ``/datasets/{id}`` (the page), ``/datasets/{id}/data.json``
(what the page draws), ``/datasets/{id}/preview.png``, ``/static/{name}`` (the page's script and
style, and plotly.js from the installed ``plotly`` package) and ``/healthz``. Unknown paths and
ids get a 404 page (JSON for ``data.json``), an unreachable warehouse a 503 page and any other
failure a 500 page, never a traceback. The alerts API (``/api/...``) is in
`fraud_platform.viewer.api`; the analysts' login, alert queue and case pages (``/login``,
``/logout``, ``/alerts...``) are in `fraud_platform.viewer.cases`, the weekly trends page
(``/weeks/{monday}``) in `fraud_platform.viewer.weeks`.

`ViewerApp` answers each route with a `Response` and keeps a prepared dataset (its selection,
JSON and preview) in a small LRU cache keyed by id and ``created_at``, so a re-run day is
prepared again and a reload is served from memory. `create_asgi_app` maps Starlette routes onto
it and adds what every answer carries: gzip when the client accepts it, 304 for a held ETag, and
headers that forbid sniffing, referrers and, on pages, loading anything from another origin
(Content-Security-Policy, which the browser test also checks). Its endpoints are sync, so
Starlette runs them in its threadpool and a slow warehouse query holds up no other request.
`ViewerServer` runs the application under uvicorn on a socket it binds itself (port 0 picks a
free port); it listens on loopback by default: put a TLS proxy in front to share it (one that
passes ``X-Forwarded-Proto``, so that session cookies are marked Secure and the forms' origin
check sees https).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import resources
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response as HTTPResponse
from starlette.routing import Route

from fraud_platform.presentation.preview import render_preview
from fraud_platform.presentation.selection import (
    VIEW_CAP,
    ViewSelection,
    complete_nodes,
    day_pairs,
    select_view,
)
from fraud_platform.storage.warehouse import PostgresWarehouse, WarehouseError
from fraud_platform.viewer import data, pages
from fraud_platform.viewer.api import API_PREFIX, api_routes, json_response
from fraud_platform.viewer.cases import case_routes
from fraud_platform.viewer.view import cluster_legend, view_payload
from fraud_platform.viewer.weeks import week_routes

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
CACHED_DATASETS = 8
#: The most recent days prepared when the server starts.
WARM_DATASETS = 2
PREVIEW_SIZE = (480, 360)
_GZIP_MIN_BYTES = 1024
#: plotly.js compiles its WebGL shaders with ``new Function`` (regl), hence 'unsafe-eval';
#: Plotly sets inline styles, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: On every answer, error pages and 304s included.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
SERVER_NAME = "fraud-platform-viewer"
#: How long stopping waits for requests in progress before cancelling them.
GRACEFUL_SHUTDOWN_SECONDS = 5
_NO_DATASET = "There is no dataset with this id (it may have been removed)."


@dataclass
class Response:
    """An answer of `ViewerApp`, kept apart from HTTP so that it can be cached and tested;
    `_http_response` makes what a client gets of it."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    gzipped: bytes | None = None  # the body compressed, when worth it


def _compressed(body: bytes) -> bytes | None:
    return gzip.compress(body, compresslevel=6) if len(body) >= _GZIP_MIN_BYTES else None


@dataclass
class PreparedDataset:
    """A dataset ready to serve: its selection, JSON (plain and gzipped) and, once asked, PNG."""

    created_at: Any
    selection: ViewSelection
    payload: bytes
    payload_gzipped: bytes | None
    seconds: float
    png: bytes | None = None


class StaticFiles:
    """The page's script and style (package files) and plotly.js, loaded and gzipped once."""

    def __init__(self) -> None:
        self._files: dict[str, Response] = {}
        self._lock = threading.Lock()
        import plotly

        self.plotly_name = pages.plotly_script_name(plotly.__version__)

    def _load(self, name: str) -> Response | None:
        if name == self.plotly_name:
            from plotly.offline import get_plotlyjs

            body = get_plotlyjs().encode("utf-8")
            cache = "public, max-age=31536000, immutable"  # the name carries the version
        elif name in (pages.VIEWER_SCRIPT, pages.VIEWER_STYLE):
            body = (resources.files("fraud_platform.viewer") / "static" / name).read_bytes()
            cache = "no-cache"  # revalidated by ETag: it changes with the package
        else:
            return None
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return Response(
            200,
            f"{kind}; charset=utf-8",
            body,
            {"Cache-Control": cache, "ETag": etag},
            _compressed(body),
        )

    def get(self, name: str) -> Response | None:
        with self._lock:
            if name not in self._files:
                loaded = self._load(name)
                if loaded is None:
                    return None
                self._files[name] = loaded
            return self._files[name]


class ViewerApp:
    """Answers viewer requests from the warehouse; thread-safe, one instance per server."""

    def __init__(
        self,
        warehouse: PostgresWarehouse,
        *,
        high_risk_threshold: float,
        cap: int = VIEW_CAP,
        cached_datasets: int = CACHED_DATASETS,
    ) -> None:
        self.warehouse = warehouse
        self.threshold = high_risk_threshold
        self.cap = cap
        self.static = StaticFiles()
        self._cache: OrderedDict[str, PreparedDataset] = OrderedDict()
        self._cache_size = cached_datasets
        self._lock = threading.Lock()

    # -- routes -----------------------------------------------------------------------------------

    def answer(self, route: Callable[[], Response], *, path: str) -> Response:
        """``route()``, its failures as error pages (never tracebacks): the warehouse's as 503."""
        try:
            return route()
        except WarehouseError as error:
            logger.error("warehouse unavailable: %s", error)
            return self.error(
                503, "Warehouse unavailable", "The warehouse cannot be reached; see the log."
            )
        except Exception:
            logger.exception("error answering %s", path)
            return self.error(500, "Internal error", "The viewer failed; see its log.")

    def index(self) -> Response:
        return self.html(
            pages.index_page(data.list_datasets(self.warehouse), threshold=self.threshold)
        )

    def health(self) -> Response:
        return Response(200, "text/plain; charset=utf-8", b"ok\n")

    def static_file(self, name: str) -> Response:
        return self.static.get(name) or self.error(404, "Not found", "There is no such file.")

    def dataset_page(self, dataset_id: str) -> Response:
        summary = self._summary(dataset_id)
        if summary is None:
            return self.error(404, "Dataset not found", _NO_DATASET)
        return self.html(pages.dataset_page(summary, plotly_script=self.static.plotly_name))

    def dataset_json(self, dataset_id: str) -> Response:
        summary = self._summary(dataset_id)
        if summary is None:
            return self._json(404, {"error": _NO_DATASET})
        prepared = self.prepared(summary)
        return Response(
            200,
            "application/json",
            prepared.payload,
            {"Cache-Control": "no-cache"},
            prepared.payload_gzipped,
        )

    def dataset_preview(self, dataset_id: str) -> Response:
        summary = self._summary(dataset_id)
        if summary is None:
            return self.error(404, "Dataset not found", _NO_DATASET)
        prepared = self.prepared(summary)
        if prepared.png is None:
            prepared.png = render_preview(
                prepared.selection, size=PREVIEW_SIZE, high_risk_threshold=self.threshold
            )
        return Response(200, "image/png", prepared.png, {"Cache-Control": "no-cache"})

    def not_found(self) -> Response:
        return self.error(404, "Not found", "There is no such page.")

    def error(self, status: int, title: str, message: str) -> Response:
        return self.html(pages.error_page(status, title, message), status)

    def _summary(self, dataset_id: str) -> dict[str, Any] | None:
        """The dataset's summary row; None for an unknown or malformed id."""
        canonical = data.parse_dataset_id(dataset_id)
        return data.dataset_summary(self.warehouse, canonical) if canonical else None

    # -- datasets ---------------------------------------------------------------------------------

    def prepared(self, summary: dict[str, Any]) -> PreparedDataset:
        """The dataset's selection and JSON, from the cache unless the day was re-run since."""
        dataset_id = str(summary["dataset_id"])
        with self._lock:
            cached = self._cache.get(dataset_id)
            if cached is not None and cached.created_at == summary["created_at"]:
                self._cache.move_to_end(dataset_id)
                return cached
        prepared = self._prepare(summary)
        with self._lock:
            self._cache[dataset_id] = prepared
            self._cache.move_to_end(dataset_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return prepared

    def warm(self, latest: int) -> None:
        """Prepare the ``latest`` days ahead of their first visit (the links alerts send)."""
        try:
            datasets = data.list_datasets(self.warehouse).tail(latest)
            for dataset_id in reversed(datasets["dataset_id"].tolist()):
                summary = data.dataset_summary(self.warehouse, dataset_id)
                if summary is not None:
                    self.prepared(summary)
        except Exception:
            logger.exception("could not prepare the latest datasets ahead of time")

    def _prepare(self, summary: dict[str, Any]) -> PreparedDataset:
        started = time.perf_counter()
        nodes, edges = data.dataset_tables(self.warehouse, summary)
        pairs = day_pairs(nodes, edges)
        nodes, computed = complete_nodes(nodes, edges, pairs=pairs)
        selection = select_view(nodes, edges, threshold=self.threshold, cap=self.cap, pairs=pairs)
        legend = cluster_legend(nodes, selection.nodes, threshold=self.threshold)
        payload = view_payload(
            summary,
            selection,
            legend,
            threshold=self.threshold,
            layout="computed by the viewer" if computed else "stored",
        )
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
        seconds = time.perf_counter() - started
        logger.info(
            "prepared dataset %s: %d of %d accounts in %.2f s",
            summary["dataset_id"],
            selection.counts["shown"],
            selection.counts["accounts"],
            seconds,
        )
        return PreparedDataset(summary["created_at"], selection, body, _compressed(body), seconds)

    # -- responses --------------------------------------------------------------------------------

    @staticmethod
    def html(text: str, status: int = 200) -> Response:
        body = text.encode("utf-8")
        return Response(
            status,
            "text/html; charset=utf-8",
            body,
            {"Cache-Control": "no-cache", "Content-Security-Policy": CONTENT_SECURITY_POLICY},
            _compressed(body),
        )

    @staticmethod
    def _json(status: int, value: object) -> Response:
        body = json.dumps(value).encode("utf-8")
        return Response(status, "application/json", body, {"Cache-Control": "no-cache"})


# -- HTTP ------------------------------------------------------------------------------------------


def _accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip: named, or covered by ``*``, with a q above 0."""
    weights: dict[str, float] = {}
    for item in (accept_encoding or "").split(","):
        coding, *parameters = (part.strip() for part in item.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if coding:
            weights[coding.lower()] = weight
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match``'s weak comparison: ``*``, or a listed tag equal to ``etag`` but for W/."""
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


def _http_response(request: Request, response: Response) -> HTTPResponse:
    """``response`` as this client gets it: 304 when it holds the ETag, gzipped if it takes gzip.

    The body is kept for HEAD too: uvicorn sends only the headers, whose Content-Length then
    matches a GET's.
    """
    headers = {**SECURITY_HEADERS, **response.headers}
    if response.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    etag = response.headers.get("ETag")
    if etag is not None and _etag_matches(request.headers.get("If-None-Match"), etag):
        return HTTPResponse(status_code=HTTPStatus.NOT_MODIFIED, headers=headers)
    body = response.body
    if response.gzipped is not None and _accepts_gzip(request.headers.get("Accept-Encoding")):
        body = response.gzipped
        headers["Content-Encoding"] = "gzip"
    return HTTPResponse(body, response.status, headers=headers, media_type=response.content_type)


def create_asgi_app(viewer: ViewerApp) -> Starlette:
    """Starlette routes onto ``viewer``'s answers, its error pages for unknown paths and methods.

    The endpoints are sync on purpose: the warehouse and preview calls block, and Starlette runs
    sync endpoints in its threadpool, so requests stay concurrent.
    """

    def route(path: str, answer: Callable[..., Response]) -> Route:
        def endpoint(request: Request) -> HTTPResponse:
            response = viewer.answer(lambda: answer(**request.path_params), path=request.url.path)
            return _http_response(request, response)

        return Route(path, endpoint, methods=["GET", "HEAD"], name=answer.__name__)

    async def refused(request: Request, exc: Exception) -> HTTPResponse:
        """A path no route matches (404) or a method other than GET and HEAD (405, with Allow)."""
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith(API_PREFIX):
            message = "no such API route" if exc.status_code == 404 else str(exc.detail)
            return json_response(exc.status_code, {"error": message}, dict(exc.headers or {}))
        if exc.status_code == HTTPStatus.NOT_FOUND:
            page = viewer.not_found()
        else:
            page = viewer.error(exc.status_code, exc.detail, "The viewer cannot answer this.")
        page.headers.update(exc.headers or {})
        return _http_response(request, page)

    async def failed(request: Request, exc: Exception) -> HTTPResponse:
        """The last resort, for a failure outside `ViewerApp.answer` (uvicorn logs its traceback);
        built without `_http_response`, which may be what failed."""
        page = viewer.error(500, "Internal error", "The viewer failed; see its log.")
        headers = {**SECURITY_HEADERS, **page.headers}
        return HTTPResponse(page.body, page.status, headers=headers, media_type=page.content_type)

    app = Starlette(
        routes=[
            route("/", viewer.index),
            route("/healthz", viewer.health),
            route(pages.STATIC_PREFIX + "{name}", viewer.static_file),
            route("/datasets/{dataset_id}", viewer.dataset_page),
            route("/datasets/{dataset_id}/data.json", viewer.dataset_json),
            route("/datasets/{dataset_id}/preview.png", viewer.dataset_preview),
            *api_routes(viewer),
            *case_routes(viewer, _http_response),
            *week_routes(viewer, _http_response),
        ],
        exception_handlers={HTTPException: refused, Exception: failed},
    )
    app.router.redirect_slashes = False  # a URL is answered as written: /healthz/ is a 404
    return app


def _listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host`` (a name, IPv4 or IPv6) and ``port``, already listening."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family, backlog=2048)


def _quiet_uvicorn() -> None:
    """Keep uvicorn's lifecycle lines (server process started, shutting down) out of the log,
    which gets one access line per request (``uvicorn.access``, INFO); a level set stands."""
    lifecycle = logging.getLogger("uvicorn.error")
    if lifecycle.level == logging.NOTSET:
        lifecycle.setLevel(logging.WARNING)


class ViewerServer:
    """``app`` under uvicorn, on a socket bound at construction: port 0 picks a free port, and
    `address` is known before serving starts. Serves in the foreground (`run`) or a thread
    (`start` / `stop`, or as a context manager)."""

    def __init__(
        self, app: ViewerApp, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
    ) -> None:
        self.app = app
        self.socket = _listening_socket(host, port)
        _quiet_uvicorn()
        config = uvicorn.Config(
            create_asgi_app(app),
            host=self.address[0],
            port=self.address[1],
            interface="asgi3",
            lifespan="off",  # no startup or shutdown hooks to run
            ws="none",
            log_config=None,  # the process's logging configuration applies
            server_header=False,
            headers=[("Server", SERVER_NAME)],
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def run(self) -> None:
        """Serve until stopped; in the main thread Ctrl-C and SIGTERM stop it gracefully, then
        act as they would have (KeyboardInterrupt, termination)."""
        self._server.run(sockets=[self.socket])

    def start(self, timeout: float = 30.0) -> None:
        """Serve in a background thread; returns once uvicorn accepts connections."""
        self._thread = threading.Thread(target=self.run, name="viewer-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the viewer server on {self.url} did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 2 * GRACEFUL_SHUTDOWN_SECONDS) -> None:
        """Stop serving, after the requests in progress (for at most the graceful shutdown time),
        and release the port."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.socket.close()

    def __enter__(self) -> ViewerServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    warehouse: PostgresWarehouse,
    *,
    high_risk_threshold: float,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    echo: Callable[[str], None] = print,
) -> None:
    """Serve until interrupted (Ctrl-C)."""
    app = ViewerApp(warehouse, high_risk_threshold=high_risk_threshold)
    server = ViewerServer(app, host=host, port=port)
    threading.Thread(target=app.warm, args=(WARM_DATASETS,), daemon=True).start()
    echo(f"Serving the fraud datasets on {server.url} (Ctrl-C stops)")
    try:
        server.run()
    except KeyboardInterrupt:
        echo("stopped")
    finally:
        server.stop()
