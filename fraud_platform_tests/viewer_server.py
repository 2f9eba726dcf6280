"""A viewer server on a free loopback port, serving in a thread, for the viewer's and API's tests,
and the headless Chromium the browser tests open it in."""

from __future__ import annotations

from pathlib import Path

import requests

from fraud_platform.storage.warehouse import PostgresWarehouse
from fraud_platform.viewer.server import ViewerApp, ViewerServer

#: Debian's Chromium, which Playwright drives (the ``browser`` fixture); tests skip without it.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Viewer:
    """A viewer server on a free loopback port, serving in a thread."""

    def __init__(self, warehouse: PostgresWarehouse, threshold: float = 0.8) -> None:
        self.app = ViewerApp(warehouse, high_risk_threshold=threshold)
        self.server = ViewerServer(self.app, host="127.0.0.1", port=0)
        self.server.start()
        self.base = self.server.url.removesuffix("/")
        assert self.base == f"http://127.0.0.1:{self.server.address[1]}"

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(self.base + path, timeout=60, **kwargs)

    def raw(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[requests.Response, bytes]:
        """The answer and its body as sent: only ``headers`` go (no default Accept-Encoding),
        and the body is not decoded."""
        with requests.Session() as session:
            session.headers.clear()
            response = session.request(
                method, self.base + path, headers=headers, stream=True, timeout=60
            )
            return response, response.raw.read(decode_content=False)

    def close(self) -> None:
        self.server.stop()
