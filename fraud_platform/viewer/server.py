"""The viewer's web server: the standard library's threading HTTP server over the warehouse.

Routes: ``/`` (index), ``/datasets/{id}`` (the page), ``/datasets/{id}/data.json`` (what the
page draws), ``/datasets/{id}/preview.png``, ``/static/...`` (the page's script and style, and
plotly.js from the installed ``plotly`` package) and ``/healthz``. Unknown ids get a 404 page.

The standard library's server is enough here: a handful of analysts, loopback by default (put a
TLS proxy in front to share it), no dependency to keep up. A prepared dataset (its selection,
JSON and preview) is kept in a small LRU cache keyed by id and ``created_at``, so a re-run day
is prepared again and a reload is served from memory. Every page forbids the browser to load
anything from another origin (Content-Security-Policy), which the browser test also checks.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from fraud_platform.storage.warehouse import PostgresWarehouse, WarehouseError
from fraud_platform.viewer import data, pages
from fraud_platform.viewer.preview import render_preview
from fraud_platform.viewer.view import (
    VIEW_CAP,
    ViewSelection,
    cluster_legend,
    complete_nodes,
    day_pairs,
    select_view,
    view_payload,
)

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
    "form-action 'none'; frame-ancestors 'none'"
)
_DATASET_ROUTE = re.compile(r"^/datasets/([^/]+)(/data\.json|/preview\.png)?$")


@dataclass
class Response:
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

    # -- routing ----------------------------------------------------------------------------------

    def respond(self, path: str) -> Response:
        """The response to a GET of ``path``; errors become error pages, never tracebacks."""
        route = urlsplit(path).path
        try:
            return self._route(route)
        except WarehouseError as error:
            logger.error("warehouse unavailable: %s", error)
            return self._error(
                503, "Warehouse unavailable", "The warehouse cannot be reached; see the log."
            )
        except Exception:
            logger.exception("error answering %s", route)
            return self._error(500, "Internal error", "The viewer failed; see its log.")

    def _route(self, route: str) -> Response:
        if route == "/":
            return self._html(
                pages.index_page(data.list_datasets(self.warehouse), threshold=self.threshold)
            )
        if route == "/healthz":
            return Response(200, "text/plain; charset=utf-8", b"ok\n")
        if route.startswith(pages.STATIC_PREFIX):
            found = self.static.get(route[len(pages.STATIC_PREFIX) :])
            return found or self._error(404, "Not found", "There is no such file.")
        match = _DATASET_ROUTE.match(route)
        if match is None:
            return self._error(404, "Not found", "There is no such page.")
        dataset_id, part = data.parse_dataset_id(match.group(1)), match.group(2)
        summary = data.dataset_summary(self.warehouse, dataset_id) if dataset_id else None
        if summary is None:
            message = "There is no dataset with this id (it may have been removed)."
            if part == "/data.json":
                return self._json(404, {"error": message})
            return self._error(404, "Dataset not found", message)
        if part is None:
            return self._html(pages.dataset_page(summary, plotly_script=self.static.plotly_name))
        prepared = self.prepared(summary)
        if part == "/data.json":
            return Response(
                200,
                "application/json",
                prepared.payload,
                {"Cache-Control": "no-cache"},
                prepared.payload_gzipped,
            )
        if prepared.png is None:
            prepared.png = render_preview(
                prepared.selection, size=PREVIEW_SIZE, high_risk_threshold=self.threshold
            )
        return Response(200, "image/png", prepared.png, {"Cache-Control": "no-cache"})

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
    def _html(text: str, status: int = 200) -> Response:
        body = text.encode("utf-8")
        return Response(
            status,
            "text/html; charset=utf-8",
            body,
            {"Cache-Control": "no-cache", "Content-Security-Policy": CONTENT_SECURITY_POLICY},
            _compressed(body),
        )

    def _error(self, status: int, title: str, message: str) -> Response:
        return self._html(pages.error_page(status, title, message), status)

    @staticmethod
    def _json(status: int, value: object) -> Response:
        body = json.dumps(value).encode("utf-8")
        return Response(status, "application/json", body, {"Cache-Control": "no-cache"})


class ViewerRequestHandler(BaseHTTPRequestHandler):
    """GET and HEAD through `ViewerApp`; gzip when the client takes it; ETags for files."""

    server_version = "fraud-platform-viewer"
    app: ViewerApp  # set on the subclass `make_server` builds

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        response = self.app.respond(self.path)
        etag = response.headers.get("ETag")
        if etag is not None and self.headers.get("If-None-Match") == etag:
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        body = response.body
        accepts_gzip = "gzip" in (self.headers.get("Accept-Encoding") or "")
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.gzipped is not None:
            self.send_header("Vary", "Accept-Encoding")
            if accepts_gzip:
                body = response.gzipped
                self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


class ViewerHTTPServer(ThreadingHTTPServer):
    """One thread per request; a browser that goes away mid-answer is not an error."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # broken pipe, reset by peer
            logger.debug("client %s went away", client_address)
            return
        logger.exception("error serving %s", client_address)


def make_server(
    app: ViewerApp, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> ViewerHTTPServer:
    """A bound, not yet serving, server for ``app``; port 0 picks a free port."""
    handler = type("BoundViewerRequestHandler", (ViewerRequestHandler,), {"app": app})
    return ViewerHTTPServer((host, port), handler)


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
    server = make_server(app, host=host, port=port)
    threading.Thread(target=app.warm, args=(WARM_DATASETS,), daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    echo(f"Serving the fraud datasets on http://{bound_host}:{bound_port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        echo("stopped")
    finally:
        server.server_close()
