"""The dataset viewer over a live PostgreSQL: the server in a thread on a free loopback port, the
pages and JSON it serves, and its pure parts (selection, sparkline, Markdown, preview).

Why one module of this length: it covers one surface, the viewer's pages and JSON, and its
helpers (stored datasets, the server in a thread) serve every test in it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
import requests
from dagster_cli import dagster_command
from daily_runs import materialize_day
from PIL import Image
from psycopg import sql
from viewer_server import Viewer

from fraud_platform.defs.datasets.logic import build_fraud_dataset, dataset_id_for
from fraud_platform.presentation.preview import PreviewStyle
from fraud_platform.presentation.selection import (
    ROLE_HIGH_RISK,
    ROLE_NEIGHBOUR,
    ROLE_OTHER,
    select_view,
)
from fraud_platform.reporting import markdown_text
from fraud_platform.settings import Settings
from fraud_platform.storage.warehouse import (
    FRAUD_DATASET_TABLES,
    PostgresWarehouse,
    copy_frame,
    delete_days,
    ensure_warehouse_schema,
)
from fraud_platform.tables import TransactionGraph
from fraud_platform.viewer import data as data_module
from fraud_platform.viewer import pages, preview_png, top_accounts_markdown
from fraud_platform.viewer import server as server_module
from fraud_platform.viewer.server import ViewerApp, ViewerServer
from fraud_platform.viewer.view import VIEW_EXTENT

DAY = "2024-10-01"
#: Account ids a hostile file could carry: markup, script, quotes, Markdown, a tab, non-ASCII.
HOSTILE = (
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=2</script>",
    'O\'Brien & "Sons" | 50% *off* [x](javascript:alert(3))',
    "tab\there",
    "ünïcødé ✓ 🐍",
)
H0, H1, H2, H3, H4 = HOSTILE
#: sender, receiver, amount: two triangles joined by a small transfer, and the hostile accounts.
TRANSFERS = [
    ("A", "B", 100.0),
    ("B", "C", 100.0),
    ("C", "A", 100.0),
    ("D", "E", 100.0),
    ("E", "F", 100.0),
    ("F", "D", 100.0),
    ("C", "D", 1.0),
    (H0, H1, 500.0),
    (H1, H2, 400.0),
    (H2, "A", 50.0),
    (H3, H4, 10.0),
]
#: account: cluster, risk_score, position (a grid, so points never overlap on the page).
ACCOUNTS = {
    "A": (0, 0.30, (0.0, 0.0)),
    "B": (0, 0.10, (2.0, 0.0)),
    "C": (0, 0.20, (1.0, 1.0)),
    "D": (1, 0.10, (4.0, 1.0)),
    "E": (1, 0.10, (5.0, 0.0)),
    "F": (1, 0.50, (6.0, 1.0)),
    H0: (2, 0.40, (0.0, 3.0)),
    H1: (2, 0.95, (1.0, 4.0)),
    H2: (2, 0.85, (2.0, 3.0)),
    H3: (3, 0.20, (5.0, 3.0)),
    H4: (3, 0.20, (6.0, 4.0)),
}


REASONS = "passed on 97% of the money it received; <img src=x onerror=alert(1)>"


def day_tables(
    day: str = DAY,
    transfers: list[tuple[str, str, float]] = TRANSFERS,
    accounts: dict[str, tuple[int, float, tuple[float, float]]] = ACCOUNTS,
    *,
    positions: bool = True,
) -> tuple[TransactionGraph, pd.DataFrame]:
    """The day's graph edges and a scores frame (with stored positions unless told not to)."""
    edges = pd.DataFrame(
        {
            "partition_date": day,
            "sender": pd.Series([t[0] for t in transfers], dtype="str"),
            "receiver": pd.Series([t[1] for t in transfers], dtype="str"),
            "amount_total": [t[2] for t in transfers],
            "tx_count": np.ones(len(transfers), dtype="int64"),
        }
    )
    names = list(accounts)
    scores = pd.DataFrame(
        {
            "partition_date": day,
            "account": pd.Series(names, dtype="str"),
            "centrality": np.linspace(1.0, 2.0, len(names))
            / np.linspace(1.0, 2.0, len(names)).sum(),
            "cluster": [accounts[a][0] for a in names],
            "risk_score": [accounts[a][1] for a in names],
            # The model's reasons for the high-risk accounts; one is hostile markup.
            "reasons": [REASONS if accounts[a][1] >= 0.8 else "" for a in names],
        }
    )
    if positions:
        scores["x"] = [accounts[a][2][0] for a in names]
        scores["y"] = [accounts[a][2][1] for a in names]
    return TransactionGraph(nodes=pd.DataFrame(), edges=edges), scores


def publish(
    warehouse: PostgresWarehouse, graph: TransactionGraph, scores: pd.DataFrame, day: str = DAY
) -> str:
    """Replace the day's dataset in the warehouse as the dataset IO manager does; its id."""
    dataset = build_fraud_dataset(
        graph,
        scores,
        days=[day],
        viewer_base_url="http://viewer.test",
        high_risk_threshold=0.8,
        created_at=datetime.now(UTC),
    )
    with warehouse.connect() as connection:
        ensure_warehouse_schema(connection, warehouse.schema_name)
        delete_days(connection, warehouse.schema_name, "datasets", [day])
        for member, frame in dataset.members().items():
            copy_frame(connection, warehouse.schema_name, FRAUD_DATASET_TABLES[member], frame)
    return str(dataset.summary["dataset_id"].iloc[0])


EXTERNAL_URL = re.compile(r"(https?:)?//[a-z0-9]", re.IGNORECASE)


# --- the server over the warehouse ----------------------------------------------------------------


def test_index_lists_every_day_with_a_sparkline(viewer: Viewer, warehouse) -> None:
    first = publish(warehouse, *day_tables())
    quiet = {a: (c, min(r, 0.5), xy) for a, (c, r, xy) in ACCOUNTS.items()}
    second = publish(warehouse, *day_tables("2024-10-02", accounts=quiet), day="2024-10-02")
    response = viewer.get("/")
    assert response.status_code == 200
    html = response.text
    assert f'href="/datasets/{first}">2024-10-01</a>' in html
    assert f'href="/datasets/{second}">2024-10-02</a>' in html
    assert html.index("2024-10-02") < html.index("2024-10-01")  # newest first
    assert '<td class="num risk">2</td>' in html and '<td class="num risk">0</td>' in html
    (points,) = re.findall(r'<polyline[^>]* points="([^"]+)"', html)
    assert len(points.split()) == 2  # one point per day
    assert EXTERNAL_URL.search(html) is None


def test_an_empty_warehouse_has_an_empty_index(viewer: Viewer) -> None:
    response = viewer.get("/")
    assert response.status_code == 200
    assert "No dataset has been published yet." in response.text


def test_dataset_page_and_its_json(viewer: Viewer, warehouse) -> None:
    dataset_id = publish(warehouse, *day_tables())
    page = viewer.get(f"/datasets/{dataset_id}")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "<h1>Fraud Analysis 2024-10-01</h1>" in page.text
    assert f'data-json-url="/datasets/{dataset_id}/data.json"' in page.text
    assert re.findall(r'<script src="([^"]+)"', page.text) == [
        f"/static/{viewer.app.static.plotly_name}",
        "/static/viewer.js",
    ]
    assert EXTERNAL_URL.search(page.text) is None

    payload = viewer.get(f"/datasets/{dataset_id}/data.json").json()
    nodes = payload["nodes"]
    assert payload["dataset"]["dataset_id"] == dataset_id
    assert payload["dataset"]["node_count"] == len(nodes["account"]) == len(ACCOUNTS) == 11
    assert payload["counts"] == {
        "accounts": 11,
        "shown": 11,
        "edges": 11,
        "edges_shown": 11,
        "high_risk": 2,
        "high_risk_shown": 2,
        "neighbours": 2,
        "neighbours_shown": 2,
        "others": 7,
        "others_shown": 7,
    }
    assert set(nodes["account"]) == set(ACCOUNTS)  # hostile ids come back exactly
    at = {account: i for i, account in enumerate(nodes["account"])}
    roles = {a: nodes["role"][i] for a, i in at.items()}
    assert {a for a, r in roles.items() if r == ROLE_HIGH_RISK} == {H1, H2}
    assert {a for a, r in roles.items() if r == ROLE_NEIGHBOUR} == {H0, "A"}
    # Stored positions, scaled so the longer side (x: 0..6) spans 0..VIEW_EXTENT.
    assert (nodes["x"][at["A"]], nodes["y"][at["A"]]) == (0.0, 0.0)
    assert (nodes["x"][at["F"]], nodes["y"][at["F"]]) == (VIEW_EXTENT, round(VIEW_EXTENT / 6, 2))
    assert payload["layout"] == "stored"
    # Money in and out, not stored for this day, are summed from its pairs.
    assert (nodes["in_amount"][at["A"]], nodes["out_amount"][at["A"]]) == (150.0, 100.0)
    assert nodes["degree"][at["A"]] == 3  # B, C and H2
    edges = payload["edges"]
    pairs = {
        (nodes["account"][s], nodes["account"][t]): a
        for s, t, a in zip(edges["source"], edges["target"], edges["amount"], strict=True)
    }
    assert pairs == {(s, r): a for s, r, a in TRANSFERS}
    assert [(c["cluster"], c["accounts"], c["high_risk"]) for c in payload["clusters"]] == [
        (0, 3, 0),
        (1, 3, 0),
        (2, 3, 2),
        (3, 2, 0),
    ]


def test_a_day_without_transfers_opens_empty(viewer: Viewer, warehouse) -> None:
    dataset_id = publish(warehouse, *day_tables(transfers=[], accounts={}))
    payload = viewer.get(f"/datasets/{dataset_id}/data.json").json()
    assert payload["counts"]["accounts"] == payload["counts"]["shown"] == 0
    assert payload["nodes"]["account"] == [] and payload["clusters"] == []
    assert viewer.get(f"/datasets/{dataset_id}/preview.png").status_code == 200


def test_an_unreachable_warehouse_is_a_503_without_its_address() -> None:
    secret = "postgresql://viewer:s3cret@127.0.0.1:1/nowhere?connect_timeout=2"
    running = Viewer(PostgresWarehouse(database_url=secret))
    try:
        response = running.get("/")
    finally:
        running.close()
    assert response.status_code == 503
    assert "s3cret" not in response.text and "127.0.0.1:1" not in response.text


def test_unknown_and_malformed_ids_get_a_404(viewer: Viewer, warehouse) -> None:
    publish(warehouse, *day_tables())
    unknown = str(uuid.uuid4())
    for path in (f"/datasets/{unknown}", f"/datasets/{unknown}/preview.png", "/datasets/nope"):
        response = viewer.get(path)
        assert response.status_code == 404
        assert (
            "Dataset not found" in response.text and "text/html" in response.headers["Content-Type"]
        )
    data = viewer.get(f"/datasets/{unknown}/data.json")
    assert data.status_code == 404 and "no dataset" in data.json()["error"]
    for path in ("/nope", "/datasets/", "/static/missing.js", f"/datasets/{unknown}/other"):
        assert viewer.get(path).status_code == 404


def test_a_dataset_url_keeps_working_and_follows_a_rerun(viewer: Viewer, warehouse) -> None:
    graph, scores = day_tables()
    dataset_id = publish(warehouse, graph, scores)
    assert dataset_id == dataset_id_for(DAY)
    assert len(viewer.get(f"/datasets/{dataset_id}/data.json").json()["nodes"]["account"]) == 11
    more = {**ACCOUNTS, "G": (1, 0.1, (7.0, 0.0))}
    dataset_again = publish(
        warehouse, *day_tables(transfers=[*TRANSFERS, ("F", "G", 5.0)], accounts=more)
    )
    assert dataset_again == dataset_id
    payload = viewer.get(f"/datasets/{dataset_id}/data.json").json()
    assert len(payload["nodes"]["account"]) == 12 and payload["counts"]["edges"] == 12


@pytest.mark.slow
def test_a_page_opened_during_a_rerun_waits_and_shows_the_new_day(warehouse) -> None:
    """A re-run replaces the day with TRUNCATE, which older snapshots see as empty: the viewer
    locks the day's partitions before its snapshot, so it waits and reads the new rows."""
    import threading

    from fraud_platform.viewer.data import dataset_tables

    publish(warehouse, *day_tables())
    more = {**ACCOUNTS, "G": (1, 0.1, (7.0, 0.0))}
    rerun = build_fraud_dataset(
        *day_tables(transfers=[*TRANSFERS, ("F", "G", 5.0)], accounts=more),
        days=[DAY],
        viewer_base_url="http://viewer.test",
        high_risk_threshold=0.8,
        created_at=datetime.now(UTC),
    )
    seen: list[int] = []
    with warehouse.connect() as loading:
        delete_days(loading, warehouse.schema_name, "datasets", [DAY])
        for member, frame in rerun.members().items():
            copy_frame(loading, warehouse.schema_name, FRAUD_DATASET_TABLES[member], frame)
        reader = threading.Thread(
            target=lambda: seen.append(len(dataset_tables(warehouse, {"partition_date": DAY})[0]))
        )
        reader.start()
        reader.join(timeout=1.0)
        assert reader.is_alive(), "the reader should wait for the load in progress"
    reader.join(timeout=30)
    assert seen == [12]


def test_a_day_without_positions_is_laid_out_by_the_viewer(viewer: Viewer, warehouse) -> None:
    dataset_id = publish(warehouse, *day_tables(positions=False))
    payload = viewer.get(f"/datasets/{dataset_id}/data.json").json()
    assert payload["layout"] == "computed by the viewer"
    xy = np.array([payload["nodes"]["x"], payload["nodes"]["y"]], dtype=float)
    assert np.isfinite(xy).all() and xy.min() >= 0.0 and xy.max() == VIEW_EXTENT


def test_an_older_warehouse_without_the_new_columns_still_opens(
    viewer: Viewer, warehouse, database_url: str
) -> None:
    dataset_id = publish(warehouse, *day_tables())
    with psycopg.connect(database_url) as connection:
        connection.execute(
            sql.SQL(
                "ALTER TABLE {} DROP COLUMN x, DROP COLUMN y, DROP COLUMN in_amount, "
                "DROP COLUMN out_amount"
            ).format(sql.Identifier(warehouse.schema_name, "dataset_nodes"))
        )
    payload = viewer.get(f"/datasets/{dataset_id}/data.json").json()
    assert payload["layout"] == "computed by the viewer"
    at = payload["nodes"]["account"].index("A")
    assert payload["nodes"]["in_amount"][at] == 150.0


@pytest.mark.slow
def test_preview_png_gzip_and_static_files(viewer: Viewer, warehouse) -> None:
    dataset_id = publish(warehouse, *day_tables())
    png = viewer.get(f"/datasets/{dataset_id}/preview.png")
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(png.content))
    assert image.size == (480, 360)
    assert np.asarray(image.convert("L")).min() < 200  # something is drawn

    raw = requests.get(
        f"{viewer.base}/datasets/{dataset_id}/data.json",
        headers={"Accept-Encoding": "gzip"},
        stream=True,
        timeout=60,
    )
    assert raw.headers["Content-Encoding"] == "gzip"
    body = json.loads(gzip.decompress(raw.raw.read()))
    assert body["dataset"]["dataset_id"] == dataset_id

    plotly = viewer.get(f"/static/{viewer.app.static.plotly_name}")
    assert plotly.status_code == 200 and plotly.text.startswith("/**\n* plotly.js v")
    assert "immutable" in plotly.headers["Cache-Control"]
    script = viewer.get("/static/viewer.js")
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert (
        viewer.get(
            "/static/viewer.js", headers={"If-None-Match": script.headers["ETag"]}
        ).status_code
        == 304
    )
    for name in ("viewer.js", "viewer.css"):
        assert EXTERNAL_URL.search(viewer.get(f"/static/{name}").text) is None


def test_head_answers_the_headers_of_a_get_without_a_body(viewer: Viewer, warehouse) -> None:
    dataset_id = publish(warehouse, *day_tables())
    paths = (
        "/",
        "/healthz",
        f"/datasets/{dataset_id}",
        f"/datasets/{dataset_id}/data.json",
        f"/datasets/{dataset_id}/preview.png",
        "/static/viewer.css",
        "/nope",
    )
    compared = ("Content-Type", "Content-Encoding", "Cache-Control", "ETag", "Vary")
    for path in paths:
        for encoding in ("identity", "gzip"):
            got, got_body = viewer.raw("GET", path, {"Accept-Encoding": encoding})
            head, head_body = viewer.raw("HEAD", path, {"Accept-Encoding": encoding})
            assert head.status_code == got.status_code, path
            assert head_body == b"" and int(head.headers["Content-Length"]) == len(got_body) > 0
            for name in (*compared, "Content-Security-Policy", "X-Content-Type-Options"):
                assert head.headers.get(name) == got.headers.get(name), (path, encoding, name)


def test_gzip_only_for_clients_that_accept_it(viewer: Viewer, warehouse) -> None:
    dataset_id = publish(warehouse, *day_tables())
    path = f"/datasets/{dataset_id}/data.json"
    plain, plain_body = viewer.raw("GET", path, {})
    assert "Content-Encoding" not in plain.headers and plain.headers["Vary"] == "Accept-Encoding"
    assert json.loads(plain_body)["dataset"]["dataset_id"] == dataset_id
    negotiated = {
        "gzip": True,
        "GZIP": True,
        "deflate, gzip;q=0.5": True,
        "*": True,
        "br, *;q=0.1": True,
        "identity": False,
        "deflate": False,
        "gzip;q=0": False,
        "*;q=0": False,
        "gzip;q=0, *": False,
    }
    for accept, gzipped in negotiated.items():
        response, body = viewer.raw("GET", path, {"Accept-Encoding": accept})
        assert (response.headers.get("Content-Encoding") == "gzip") is gzipped, accept
        assert response.headers["Vary"] == "Accept-Encoding"
        assert int(response.headers["Content-Length"]) == len(body)
        assert (gzip.decompress(body) if gzipped else body) == plain_body
    # An answer too small to compress is the same for every client, so it does not vary.
    small, body = viewer.raw("GET", "/healthz", {"Accept-Encoding": "gzip"})
    assert body == b"ok\n" and "Content-Encoding" not in small.headers
    assert "Vary" not in small.headers


def test_static_files_are_revalidated_by_their_etag(viewer: Viewer) -> None:
    script, body = viewer.raw("GET", "/static/viewer.js", {})
    etag = script.headers["ETag"]
    assert script.status_code == 200 and script.headers["Cache-Control"] == "no-cache"
    for held in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        for method in ("GET", "HEAD"):
            answer, body = viewer.raw(method, "/static/viewer.js", {"If-None-Match": held})
            assert answer.status_code == 304 and body == b"", (method, held)
            assert answer.headers["ETag"] == etag and answer.headers["Cache-Control"] == "no-cache"
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
    changed, body = viewer.raw("GET", "/static/viewer.js", {"If-None-Match": '"stale"'})
    assert changed.status_code == 200 and body.startswith(b"/*")


def test_error_answers_keep_the_security_headers(viewer: Viewer) -> None:
    for path in ("/nope", "/datasets/nope", "/static/missing.js", "/healthz/", "/datasets/"):
        response = viewer.get(path, allow_redirects=False)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert response.headers["Content-Security-Policy"] == server_module.CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["Server"] == "fraud-platform-viewer"
    missing = viewer.get("/datasets/nope/data.json")
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/json"
    assert missing.headers["X-Content-Type-Options"] == "nosniff"
    assert missing.headers["Referrer-Policy"] == "no-referrer"
    for method in ("POST", "PUT", "DELETE"):
        refused = requests.request(method, viewer.base + "/", timeout=60)
        assert refused.status_code == 405 and "405" in refused.text
        assert set(refused.headers["Allow"].split(", ")) == {"GET", "HEAD"}
        assert refused.headers["Content-Security-Policy"] == server_module.CONTENT_SECURITY_POLICY
        assert refused.headers["X-Content-Type-Options"] == "nosniff"


def test_a_failure_is_a_500_page_without_a_traceback(viewer: Viewer, monkeypatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("the secret detail of a failure")

    monkeypatch.setattr(data_module, "list_datasets", broken)
    # In answering a route, and (the last resort) in turning an answer into HTTP.
    for path, patch in (("/", None), ("/healthz", "_http_response")):
        if patch is not None:
            monkeypatch.setattr(server_module, patch, broken)
        response = viewer.get(path)
        assert response.status_code == 500 and "Internal error" in response.text, path
        assert "secret detail" not in response.text and "Traceback" not in response.text
        assert response.headers["Content-Security-Policy"] == server_module.CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_slow_request_holds_up_no_other(viewer: Viewer, monkeypatch) -> None:
    """The warehouse calls block: they run in Starlette's threadpool, beside other requests."""
    entered, release = threading.Event(), threading.Event()
    list_datasets = data_module.list_datasets

    def slow(warehouse: PostgresWarehouse) -> pd.DataFrame:
        entered.set()
        release.wait(60)
        return list_datasets(warehouse)

    monkeypatch.setattr(data_module, "list_datasets", slow)
    answers: list[requests.Response] = []
    waiting = threading.Thread(target=lambda: answers.append(viewer.get("/")))
    waiting.start()
    try:
        assert entered.wait(30)
        assert viewer.get("/healthz").status_code == 200
        assert viewer.get("/static/viewer.css").status_code == 200
        assert waiting.is_alive() and answers == []
    finally:
        release.set()
        waiting.join(60)
    assert answers[0].status_code == 200


class Records(logging.Handler):
    """Every record that reaches it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_log_has_one_access_line_per_request_and_no_banner(warehouse) -> None:
    records, uvicorn_logger, root = Records(), logging.getLogger("uvicorn"), logging.getLogger()
    level = root.level
    uvicorn_logger.addHandler(records)
    root.setLevel(logging.INFO)  # as `fraud-platform serve` configures it
    try:
        running = Viewer(warehouse)
        try:
            for path in ("/healthz", "/nope", "/static/viewer.css"):
                running.get(path)
        finally:
            running.close()
    finally:
        uvicorn_logger.removeHandler(records)
        root.setLevel(level)
    lines = [(record.name, record.levelno, record.getMessage()) for record in records.records]
    assert [line[:2] for line in lines] == [("uvicorn.access", logging.INFO)] * 3, lines
    assert '"GET /healthz HTTP/1.1" 200' in lines[0][2]
    assert '"GET /nope HTTP/1.1" 404' in lines[1][2]
    assert '"GET /static/viewer.css HTTP/1.1" 200' in lines[2][2]


def test_the_server_binds_and_releases_its_port(warehouse) -> None:
    app = ViewerApp(warehouse, high_risk_threshold=0.8)
    with ViewerServer(app, host="127.0.0.1", port=0) as server:
        port = server.address[1]
        assert port > 0 and server.url == f"http://127.0.0.1:{port}/"
        assert requests.get(f"{server.url}healthz", timeout=30).text == "ok\n"
        with pytest.raises(OSError):
            ViewerServer(app, host="127.0.0.1", port=port)  # taken
    again = ViewerServer(app, host="127.0.0.1", port=port)  # released
    again.stop()


@pytest.mark.slow
def test_a_materialized_day_opens_in_the_viewer(
    storage_dir: Path, database_url: str, warehouse_schema: str, warehouse, monkeypatch
) -> None:
    """The pipeline end to end: landing file → materialize → the URL it published serves it."""
    monkeypatch.setenv("FRAUD_DATABASE_URL", database_url)
    settings = Settings(
        storage_url=str(storage_dir),
        database_url=database_url,
        viewer_base_url="http://viewer.test",
        high_risk_threshold=0.8,
        database_schema=warehouse_schema,
    )
    folder = storage_dir / "landing" / "transactions" / f"date={DAY}"
    folder.mkdir(parents=True)
    with (folder / "part-000.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["transaction_id", "timestamp", "sender", "receiver", "amount"])
        for i, (sender, receiver, amount) in enumerate(TRANSFERS):
            writer.writerow([f"T{i:02d}", f"{DAY}T0{i % 9}:00:00Z", sender, receiver, amount])
    assert materialize_day(settings, DAY).success
    with psycopg.connect(database_url) as connection:
        (url, node_count) = connection.execute(
            sql.SQL("SELECT url, node_count FROM {}").format(
                sql.Identifier(warehouse_schema, "datasets")
            )
        ).fetchone()
    path = url.removeprefix("http://viewer.test")
    assert path == f"/datasets/{dataset_id_for(DAY)}"
    running = Viewer(warehouse)
    try:
        assert f'href="{path}"' in running.get("/").text
        assert running.get(path).status_code == 200
        payload = running.get(f"{path}/data.json").json()
    finally:
        running.close()
    assert node_count == len(ACCOUNTS)
    assert sorted(payload["nodes"]["account"]) == sorted(ACCOUNTS)
    assert np.isfinite(np.array(payload["nodes"]["x"], dtype=float)).all()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_the_serve_command_serves(database_url: str, warehouse, tmp_path: Path) -> None:
    dataset_id = publish(warehouse, *day_tables())
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    env |= {
        "FRAUD_DATABASE_URL": database_url,
        "FRAUD_DATABASE_SCHEMA": warehouse.schema_name,
        "FRAUD_STORAGE_URL": str(tmp_path),
    }
    cli = Path(dagster_command("fraud-platform"))
    process = subprocess.Popen(
        [str(cli), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the viewer did not start within 60 s"
            time.sleep(0.3)
        page = requests.get(f"http://127.0.0.1:{port}/datasets/{dataset_id}", timeout=30)
        assert page.status_code == 200
    finally:
        process.terminate()
        try:
            output = process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:  # a loaded machine; what is tested is the serving
            process.kill()
            output = process.communicate()[0]
    assert f"Serving the fraud datasets on http://127.0.0.1:{port}/ (Ctrl-C stops)" in output
    assert f'"GET /datasets/{dataset_id} HTTP/1.1" 200' in output  # uvicorn's access line
    assert "Uvicorn running" not in output and "Started server process" not in output


# --- pure parts -----------------------------------------------------------------------------------


def selection_day() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ten accounts: h1, h2 high risk; n1-n3 their counterparties; o1-o5 the others."""
    names = ["h1", "h2", "n1", "n2", "n3", "o1", "o2", "o3", "o4", "o5"]
    nodes = pd.DataFrame(
        {
            "account": names,
            "risk_score": [0.9, 0.99, 0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1],
            "cluster": 0,
            "x": 0.0,
            "y": 0.0,
        }
    )
    edges = pd.DataFrame(
        {
            "sender": ["h1", "n2", "h2", "o1", "o2", "o4"],
            "receiver": ["n1", "h1", "n3", "o2", "o3", "o5"],
            "amount_total": [10.0, 30.0, 20.0, 1.0, 1.0, 1.0],
            "tx_count": [1, 2, 1, 1, 1, 1],
        }
    )
    return nodes, edges


def test_select_view_keeps_high_risk_then_strongest_neighbours_then_a_sample() -> None:
    nodes, edges = selection_day()
    every = select_view(nodes, edges, threshold=0.8, cap=100)
    assert len(every.nodes) == 10 and len(every.edges) == 6
    assert dict(zip(every.nodes["account"], every.nodes["role"], strict=True)) == {
        "h1": ROLE_HIGH_RISK, "h2": ROLE_HIGH_RISK, "n1": ROLE_NEIGHBOUR, "n2": ROLE_NEIGHBOUR,
        "n3": ROLE_NEIGHBOUR, "o1": ROLE_OTHER, "o2": ROLE_OTHER, "o3": ROLE_OTHER,
        "o4": ROLE_OTHER, "o5": ROLE_OTHER,
    }  # fmt: skip
    four = select_view(nodes, edges, threshold=0.8, cap=4)
    assert list(four.nodes["account"]) == ["h1", "h2", "n2", "n3"]  # 30 and 20 with high risk
    assert four.counts == {
        "accounts": 10, "shown": 4, "edges": 6, "edges_shown": 2,
        "high_risk": 2, "high_risk_shown": 2, "neighbours": 3, "neighbours_shown": 2,
        "others": 5, "others_shown": 0,
    }  # fmt: skip
    seven = select_view(nodes, edges, threshold=0.8, cap=7, seed=1)
    assert set(seven.nodes["account"]) >= {"h1", "h2", "n1", "n2", "n3"}
    assert seven.counts["others_shown"] == 2
    assert list(select_view(nodes, edges, threshold=0.8, cap=7, seed=1).nodes["account"]) == list(
        seven.nodes["account"]
    )
    one = select_view(nodes, edges, threshold=0.8, cap=1)
    assert list(one.nodes["account"]) == ["h2"]  # the riskiest first
    with pytest.raises(ValueError, match="cap"):
        select_view(nodes, edges, threshold=0.8, cap=0)


def test_sparkline_scales_to_its_maximum() -> None:
    svg = pages.sparkline_svg([0, 5, 10], width=100, height=20)
    (points,) = re.findall(r'points="([^"]+)"', svg)
    assert points == "3.0,17.0 50.0,10.0 97.0,3.0"
    assert 'cx="97.0" cy="3.0"' in svg and "last 10, highest 10" in svg
    assert pages.sparkline_svg([]) == ""


def test_pages_escape_what_comes_from_data() -> None:
    summary = {"dataset_id": str(uuid.uuid4()), "name": H1, "description": H0}
    html = pages.dataset_page(summary, plotly_script="plotly-x.min.js")
    assert "<script>window" not in html and "<img" not in html
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned=2&lt;/script&gt;" in html
    frame = pd.DataFrame(
        [{"dataset_id": summary["dataset_id"], "partition_date": DAY, "name": H2,
          "node_count": 3, "edge_count": 2, "high_risk_count": 1}]
    )  # fmt: skip
    index = pages.index_page(frame, threshold=0.8)
    assert "O&#x27;Brien &amp; &quot;Sons&quot;" in index and "<img" not in index


def test_markdown_text_shows_ids_verbatim() -> None:
    assert markdown_text("a|b") == "a\\|b"
    assert markdown_text("<b>*x*</b>") == "\\<b\\>\\*x\\*\\<\\/b\\>"
    assert markdown_text("line\nbreak") == "line\\\\x0abreak"
    assert markdown_text("ünï") == "ünï"


def test_top_accounts_markdown_is_a_table_of_the_riskiest() -> None:
    nodes = pd.DataFrame(
        {
            "account": ["low", "a|b", "top"],
            "risk_score": [0.1, 0.9, 0.95],
            "centrality": [0.5, 0.25, 0.25],
            "cluster": [2, 1, 0],
            "in_amount": [1.0, 1234.5, np.nan],
            "out_amount": [0.0, 1000.0, 5.0],
        }
    )
    assert top_accounts_markdown(nodes, n=2).splitlines() == [
        "| # | account | risk_score | centrality | cluster | in_amount | out_amount |",
        "|---|---|---|---|---|---|---|",
        "| 1 | top | 0.950 | 0.25 | 0 |  | 5.00 |",
        "| 2 | a\\|b | 0.900 | 0.25 | 1 | 1,234.50 | 1,000.00 |",
    ]


def test_a_crowded_preview_keeps_the_high_risk_accounts() -> None:
    graph, scores = day_tables()
    dataset = build_fraud_dataset(
        graph, scores, days=[DAY], viewer_base_url="http://v", high_risk_threshold=0.8,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    two = PreviewStyle(max_points=2)
    image = Image.open(io.BytesIO(preview_png(dataset.nodes, dataset.edges, style=two)))
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    assert ((pixels[:, 0] > 90) & (pixels[:, 1] < 40) & (pixels[:, 2] < 40)).any()
    drawn = (pixels < 200).any(axis=1).sum()
    hundred = PreviewStyle(max_points=100)
    everything = np.asarray(
        Image.open(io.BytesIO(preview_png(dataset.nodes, dataset.edges, style=hundred))).convert(
            "RGB"
        )
    ).reshape(-1, 3)
    assert (everything < 200).any(axis=1).sum() > drawn  # more accounts, more ink


def test_preview_png_draws_the_day() -> None:
    graph, scores = day_tables()
    dataset = build_fraud_dataset(
        graph, scores, days=[DAY], viewer_base_url="http://v", high_risk_threshold=0.8,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    png = preview_png(dataset.nodes, dataset.edges, size=(200, 100))
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (200, 100)
    pixels = np.asarray(image).reshape(-1, 3).astype(int)
    # The high-risk accounts are outlined in dark red: such pixels exist.
    assert ((pixels[:, 0] > 90) & (pixels[:, 1] < 40) & (pixels[:, 2] < 40)).any()
    # Without stored positions the picture is still drawn (a layout is computed).
    no_xy = dataset.nodes.drop(columns=["x", "y"])
    assert Image.open(io.BytesIO(preview_png(no_xy, dataset.edges))).size == (480, 360)
