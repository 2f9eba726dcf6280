"""The analysts' pages over HTTP, on a live viewer server and PostgreSQL: login, the alert queue,
case pages, decisions through the form, and every way a write is refused (storing nothing).

Why one module of this length: it covers one surface, the analysts' pages over HTTP, and its
helpers (login, form posts, seeded days) serve every test in it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pytest
import requests
from psycopg import sql
from test_viewer import day_tables, publish
from viewer_server import Viewer

from fraud_platform.defs.alerts.logic import build_alerts
from fraud_platform.defs.alerts.resources import record_alerts
from fraud_platform.defs.cases import queue as queue_module
from fraud_platform.defs.cases.logic import DISMISS_CATEGORIES, Decision
from fraud_platform.defs.cases.resources import (
    add_analyst,
    decision_history,
    ensure_case_tables,
    record_decision,
    revoke_analyst,
)
from fraud_platform.defs.datasets.logic import high_risk_transfers
from fraud_platform.storage.warehouse import PostgresWarehouse, copy_frame
from fraud_platform.viewer import cases as cases_module
from fraud_platform.viewer import server as server_module

DAY1, DAY2, DAY3 = "2024-10-01", "2024-10-02", "2024-10-03"
#: An account id a hostile feed could carry.
HOSTILE = '<img src=x onerror="window.__pwned=1">'
#: DAY1's transfers: who paid mule-1 and whom it paid.
TRANSFERS = [
    ("payer-a", "mule-1", 300.0),
    ("payer-b", "mule-1", 200.0),
    ("proc-9", "mule-1", 150.0),
    ("mule-1", "cash-out", 600.0),
    ("payer-a", "proc-9", 20.0),
    (HOSTILE, "mule-1", 5.0),
]
ACCOUNTS = {
    "payer-a": (0, 0.10, (0.0, 0.0)),
    "payer-b": (0, 0.20, (1.0, 0.0)),
    "proc-9": (0, 0.81, (2.0, 0.0)),
    "mule-1": (0, 0.97, (3.0, 0.0)),
    "cash-out": (0, 0.30, (4.0, 0.0)),
    HOSTILE: (1, 0.85, (5.0, 0.0)),
}
RELAY_REASONS = (
    "passed on 98% of its inflow within 1 h; 12 payers in a day; account opened 3 days ago"
)
#: How many alerts DAY3 has (no dataset): enough for three pages of the queue.
DAY3_ALERTS = 230
ESCAPED = "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


#: mule-1's 28 days before DAY1: seen on 2 of 20 days, never relayed, small amounts.
MULE_HISTORY = pd.DataFrame(
    {
        "partition_date": [DAY1],
        "account": ["mule-1"],
        "history_days": [20.0],
        "days_active": [2.0],
        "days_since_first_seen": [15.0],
        "days_since_last_seen": [9.0],
        "relay_days": [0.0],
        "typical_in_amount": [40.0],
        "typical_out_amount": [35.0],
        "typical_counterparties": [1.0],
        "known_counterparty_share": [0.25],
        "new_counterparties": [4.0],
    }
)


@dataclass
class World:
    """Alerts of three days (account -> alert id per day) and DAY1's dataset id."""

    dataset_id: str
    day1: dict[str, str]
    day2: dict[str, str]
    day3: dict[str, str]


def build_world(warehouse: PostgresWarehouse) -> World:
    """DAY1: a dataset and three alerts; DAY2: mule-1 again; DAY3: many alerts, no dataset."""
    graph, scores = day_tables(DAY1, TRANSFERS, ACCOUNTS)
    dataset_id = publish(warehouse, graph, scores, day=DAY1)
    rows = [
        (DAY1, dataset_id, "mule-1", 0.97, "relay", RELAY_REASONS),
        (DAY1, dataset_id, HOSTILE, 0.85, "relay", "<b>bold</b> reason; second"),
        (DAY1, dataset_id, "proc-9", 0.81, "fan-in", "120 payers in a day"),
        (DAY2, "6f1c1f0e-0000-4000-8000-000000000002", "mule-1", 0.90, "relay", "again"),
    ]
    rows += [
        (DAY3, "6f1c1f0e-0000-4000-8000-000000000003", f"acct-{i:03d}", 0.99 - i / 1000, "", "")
        for i in range(DAY3_ALERTS)
    ]
    high_risk = pd.DataFrame(
        rows,
        columns=["partition_date", "dataset_id", "account", "risk_score", "pattern", "reasons"],
    )
    high_risk["cluster"] = 1
    high_risk["url"] = "http://viewer.test/datasets/x"
    alerts = build_alerts(high_risk, threshold=0.5)
    # DAY1's transfers of its high-risk accounts, an hour apart, as the datasets step stores them.
    batch = pa.RecordBatch.from_pydict(
        {
            "transaction_id": [f"t{i}" for i in range(len(TRANSFERS))],
            "timestamp": pa.array(
                [3_600_000_000 * (1 + i) for i in range(len(TRANSFERS))],
                type=pa.timestamp("us", tz="UTC"),
            ),
            "sender": [t[0] for t in TRANSFERS],
            "receiver": [t[1] for t in TRANSFERS],
            "amount": [t[2] for t in TRANSFERS],
        }
    )
    high = [a for a, (_, risk, _) in ACCOUNTS.items() if risk >= 0.5]
    with warehouse.connect() as connection:
        ensure_case_tables(connection, warehouse.schema_name)
        record_alerts(connection, warehouse.schema_name, alerts)
        copy_frame(
            connection,
            warehouse.schema_name,
            "high_risk_transfers",
            high_risk_transfers([batch], DAY1, high),
        )
        copy_frame(connection, warehouse.schema_name, "high_risk_history", MULE_HISTORY)
    by_day = {
        day: dict(zip(group["account"], group["alert_id"], strict=True))
        for day, group in alerts.groupby("partition_date")
    }
    return World(dataset_id, by_day[DAY1], by_day[DAY2], by_day[DAY3])


def make_analyst(warehouse: PostgresWarehouse, name: str = "ana") -> str:
    with warehouse.connect() as connection:
        return add_analyst(connection, warehouse.schema_name, name)


def stored(warehouse: PostgresWarehouse) -> pd.DataFrame:
    with warehouse.connect() as connection:
        return decision_history(connection, warehouse.schema_name)


def sessions(warehouse: PostgresWarehouse) -> list[str]:
    """The hashes of the stored sessions."""
    with warehouse.connect() as connection:
        rows = connection.execute(
            sql.SQL("SELECT session_hash FROM {}").format(
                sql.Identifier(warehouse.schema_name, "analyst_sessions")
            )
        ).fetchall()
    return [digest for (digest,) in rows]


def csrf_of(html: str, form: str = "") -> str:
    """The CSRF field of the page's first form (or of the form with class ``form``)."""
    found = CSRF_FIELD.findall(html.split(f'class="{form}"')[1] if form else html)
    assert found, "no CSRF field on the page"
    return found[0]


def login(viewer: Viewer, token: str, **headers: str) -> tuple[requests.Session, requests.Response]:
    """A client that fetched the login form and sent ``token``; the form's answer."""
    client = requests.Session()
    form = client.get(viewer.base + "/login", timeout=30)
    answer = client.post(
        viewer.base + "/login",
        data={"token": token, "csrf_token": csrf_of(form.text, "login"), "next": "/alerts"},
        headers=headers,
        allow_redirects=False,
        timeout=30,
    )
    return client, answer


def decide(
    viewer: Viewer, client: requests.Session, alert_id: str, **fields: str
) -> requests.Response:
    """Send the case page's decision form with its own CSRF token unless ``fields`` name one."""
    page = client.get(f"{viewer.base}/alerts/{alert_id}", timeout=30)
    data = {"csrf_token": csrf_of(page.text), **fields}
    return client.post(
        f"{viewer.base}/alerts/{alert_id}/decision", data=data, allow_redirects=False, timeout=30
    )


def queue_accounts(html: str) -> list[str]:
    return re.findall(r'<td class="account"><a href="/alerts/[^"]+">([^<]*)</a>', html)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def world(warehouse: PostgresWarehouse) -> World:
    return build_world(warehouse)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("fraud_platform.viewer")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


# -- login ----------------------------------------------------------------------------------------


def test_login_with_a_good_a_bad_and_a_revoked_token(
    viewer: Viewer, warehouse: PostgresWarehouse, world: World, records: Records
) -> None:
    token = make_analyst(warehouse)
    form = requests.get(viewer.base + "/login", timeout=30)
    assert form.status_code == 200 and 'type="password"' in form.text
    cookie = form.headers["Set-Cookie"]
    assert cookie.startswith("fraud_login_csrf=") and "HttpOnly" in cookie
    assert "Path=/login" in cookie and "SameSite=strict" in cookie

    client, wrong = login(viewer, token + "x")
    assert wrong.status_code == 401 and "not an active analyst" in wrong.text
    assert "fraud_session" not in client.cookies
    assert any("failed analyst login" in line for line in records.lines)
    assert not any(token in line for line in records.lines)

    client, good = login(viewer, token)
    assert good.status_code == 303 and good.headers["Location"] == "/alerts"
    cookie = good.headers["Set-Cookie"]
    session_id = client.cookies["fraud_session"]
    assert len(session_id) >= 43 and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/" in cookie and "Max-Age=43200" in cookie and "Secure" not in cookie
    with warehouse.connect() as connection:
        rows = connection.execute(
            sql.SQL("SELECT session_hash, analyst, expires_at - created_at FROM {}").format(
                sql.Identifier(warehouse.schema_name, "analyst_sessions")
            )
        ).fetchall()
    assert [(h, a) for h, a, _ in rows] == [
        (hashlib.sha256(session_id.encode()).hexdigest(), "ana")
    ]
    assert rows[0][2].total_seconds() == 12 * 3600
    queue = client.get(viewer.base + "/alerts", timeout=30)
    assert "Signed in as <strong>ana</strong>" in queue.text and 'id="logout"' in queue.text
    assert not any(token in line or session_id in line for line in records.lines)

    with warehouse.connect() as connection:
        revoke_analyst(connection, warehouse.schema_name, "ana")
    after = client.get(viewer.base + "/alerts", timeout=30)
    assert "Signed in as" not in after.text and 'id="login-link"' in after.text
    assert login(viewer, token)[1].status_code == 401
    # A new token for the revoked name does not bring the old session back.
    make_analyst(warehouse)
    assert "Signed in as" not in client.get(viewer.base + "/alerts", timeout=30).text


def test_login_is_protected_and_goes_back_only_to_this_server(
    viewer: Viewer, warehouse: PostgresWarehouse
) -> None:
    token = make_analyst(warehouse)
    # Without the login cookie's twin in the form (or without the cookie): refused.
    client = requests.Session()
    page = client.get(viewer.base + "/login", timeout=30)
    for data, cookies in (
        ({"token": token}, None),
        ({"token": token, "csrf_token": "forged-forged-forged-forged"}, None),
        ({"token": token, "csrf_token": csrf_of(page.text, "login")}, {}),
    ):
        sender = client if cookies is None else requests
        refused = sender.post(viewer.base + "/login", data=data, allow_redirects=False, timeout=30)
        assert refused.status_code == 403, data
    foreign = client.post(
        viewer.base + "/login",
        data={"token": token, "csrf_token": csrf_of(page.text, "login")},
        headers={"Origin": "http://evil.example"},
        allow_redirects=False,
        timeout=30,
    )
    assert foreign.status_code == 403 and "fraud_session" not in client.cookies
    for wanted, landed in (
        ("/alerts/x?day=1", "/alerts/x?day=1"),
        ("//evil.example/x", "/alerts"),
        ("https://evil.example/", "/alerts"),
        ("/\\evil.example", "/alerts"),
    ):
        answer = client.post(
            viewer.base + "/login",
            data={"token": token, "csrf_token": csrf_of(page.text, "login"), "next": wanted},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 303 and answer.headers["Location"] == landed, wanted
        page = client.get(viewer.base + "/login", timeout=30)  # a new form after each login
    # Each login replaced the browser's session: one is left, the last one.
    assert sessions(warehouse) == [
        hashlib.sha256(client.cookies["fraud_session"].encode()).hexdigest()
    ]


def test_the_session_cookie_is_secure_behind_a_tls_proxy(
    viewer: Viewer, warehouse: PostgresWarehouse
) -> None:
    token = make_analyst(warehouse)
    port = viewer.server.address[1]
    proxied = {"X-Forwarded-Proto": "https", "Origin": f"https://127.0.0.1:{port}"}
    _, answer = login(viewer, token, **proxied)
    assert answer.status_code == 303 and "Secure" in answer.headers["Set-Cookie"]
    # The proxy's https origin is this server's; plain http from that page is another origin.
    _, mixed = login(viewer, token, Origin=f"https://127.0.0.1:{port}")
    assert mixed.status_code == 403


# -- the queue ------------------------------------------------------------------------------------


def test_the_queue_filters_by_day_status_and_pattern(
    viewer: Viewer, warehouse: PostgresWarehouse, world: World
) -> None:
    open_day1 = viewer.get(f"/alerts?day={DAY1}")
    assert open_day1.status_code == 200
    assert queue_accounts(open_day1.text) == ["mule-1", ESCAPED, "proc-9"]
    assert HOSTILE not in open_day1.text
    row = open_day1.text.split(f'data-alert-id="{world.day1["mule-1"]}"')[1].split("</tr>")[0]
    for cell in (DAY1, "0.970", "relay", "passed on 98% of its inflow within 1 h", "open"):
        assert cell in row
    assert "12 payers" not in row  # the first reason only
    assert f'href="/alerts/{world.day1["mule-1"]}"' in row

    # Every day, newest first, then by risk.
    everything = viewer.get("/alerts")
    accounts = queue_accounts(everything.text)
    assert accounts[:2] == ["acct-000", "acct-001"] and len(accounts) == 100
    assert 'name="status"' in everything.text and 'method="get"' in everything.text

    schema = warehouse.schema_name
    with warehouse.connect() as connection:
        ensure_case_tables(connection, schema)
        add_analyst(connection, schema, "bo")
        record_decision(
            connection, schema, world.day1["proc-9"], Decision("dismissed", "payroll", ""), "bo"
        )
        record_decision(
            connection, schema, world.day1["mule-1"], Decision("escalated", None, ""), "bo"
        )
        record_decision(
            connection, schema, world.day1["mule-1"], Decision("confirmed", None, ""), "bo"
        )

    def listed(query: str) -> list[str]:
        answer = viewer.get("/alerts?" + query)
        assert answer.status_code == 200, query
        return queue_accounts(answer.text)

    assert listed(f"day={DAY1}") == [ESCAPED]
    assert listed(f"day={DAY1}&status=confirmed") == ["mule-1"]  # the newest decision counts
    assert listed(f"day={DAY1}&status=escalated") == []
    assert listed(f"day={DAY1}&status=dismissed") == ["proc-9"]
    assert listed(f"day={DAY1}&status=all") == ["mule-1", ESCAPED, "proc-9"]
    assert listed("status=all&pattern=relay") == ["mule-1", "mule-1", ESCAPED]
    assert listed("pattern=fan-in&status=all") == ["proc-9"]
    assert listed("pattern=nothing") == []
    dismissed = viewer.get(f"/alerts?day={DAY1}&status=dismissed").text
    assert "dismissed (payroll)" in dismissed
    patterns = viewer.get("/alerts").text.split('id="pattern">')[1].split("</select>")[0]
    assert re.findall(r'<option value="([^"]*)"', patterns) == ["", "fan-in", "relay"]

    for bad in ("day=yesterday", "status=maybe", "page=0", "page=x"):
        refused = viewer.get("/alerts?" + bad)
        assert refused.status_code == 422 and 'class="error"' in refused.text, bad
        assert bad.split("=")[0] + ":" in refused.text


def test_the_queue_pages_by_one_hundred(viewer: Viewer, world: World) -> None:
    first = viewer.get(f"/alerts?day={DAY3}")
    assert len(queue_accounts(first.text)) == 100 and 'rel="prev"' not in first.text
    assert f'rel="next" href="/alerts?day={DAY3}&amp;page=2"' in first.text
    assert "Alerts 1&ndash;100" in first.text
    third = viewer.get(f"/alerts?day={DAY3}&page=3")
    assert queue_accounts(third.text) == [f"acct-{i:03d}" for i in range(200, DAY3_ALERTS)]
    assert 'rel="next"' not in third.text and "Alerts 201&ndash;230" in third.text
    assert f'rel="prev" href="/alerts?day={DAY3}&amp;page=2"' in third.text
    pages = [queue_accounts(viewer.get(f"/alerts?day={DAY3}&page={n}").text) for n in (1, 2, 3)]
    assert [a for p in pages for a in p] == [f"acct-{i:03d}" for i in range(DAY3_ALERTS)]
    assert queue_accounts(viewer.get(f"/alerts?day={DAY3}&page=4").text) == []


# -- a case ---------------------------------------------------------------------------------------


def test_a_case_page_shows_the_account_its_counterparties_other_days_and_history(
    viewer: Viewer, warehouse: PostgresWarehouse, world: World
) -> None:
    schema = warehouse.schema_name
    with warehouse.connect() as connection:
        add_analyst(connection, schema, "bo")
        record_decision(
            connection, schema, world.day2["mule-1"], Decision("escalated", None, ""), "bo"
        )
        record_decision(
            connection,
            schema,
            world.day1["mule-1"],
            Decision("escalated", None, "first look"),
            "bo",
        )
        record_decision(
            connection,
            schema,
            world.day1["mule-1"],
            Decision("dismissed", "payroll", "pays staff"),
            "bo",
        )
    page = viewer.get(f"/alerts/{world.day1['mule-1']}")
    assert page.status_code == 200
    html = page.text
    assert '<dd class="account" id="account">mule-1</dd>' in html
    assert "0.970" in html and "relay" in html
    assert re.findall(r"<li>([^<]*)</li>", html.split('id="reasons">')[1].split("</ul>")[0]) == [
        "passed on 98% of its inflow within 1 h",
        "12 payers in a day",
        "account opened 3 days ago",
    ]
    assert f'href="/datasets/{world.dataset_id}#account=mule-1" id="graph-link"' in html

    money_in = html.split('id="money-in">')[1].split("</table>")[0]
    cells = re.findall(
        r"<tr><td class=\"account\">(.*?)</td><td class=\"num\">([^<]*)</td><td class=\"num\">([^<]*)</td>",
        money_in,
    )
    graph = f"/datasets/{world.dataset_id}#account="
    assert cells == [
        (f'<a href="{graph}payer-a">payer-a</a>', "300.00", "1"),
        (f'<a href="{graph}payer-b">payer-b</a>', "200.00", "1"),
        (f'<a href="/alerts/{world.day1["proc-9"]}">proc-9</a>', "150.00", "1"),
        (
            f'<a href="/alerts/{world.day1[HOSTILE]}">&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;</a>',
            "5.00",
            "1",
        ),
    ]
    assert "Money in: 4 senders, 655.00 in all" in html
    money_out = html.split('id="money-out">')[1].split("</table>")[0]
    assert "cash-out" in money_out and "600.00" in money_out
    assert "Money out: 1 receiver, 600.00 in all" in html

    others = html.split('id="other-alerts">')[1].split("</table>")[0]
    assert f'<a href="/alerts/{world.day2["mule-1"]}">{DAY2}</a>' in others
    assert "0.900" in others and "escalated" in others and world.day1["mule-1"] not in others

    history = html.split('id="history">')[1].split("</table>")[0]
    rows = re.findall(
        r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>(.*?)</td><td>([^<]*)</td><td class=\"note\">([^<]*)</td></tr>",
        history,
    )
    assert [(r[1], re.sub("<[^>]+>", "", r[2]), r[3], r[4]) for r in rows] == [
        ("bo", "dismissed", "payroll", "pays staff"),  # newest first
        ("bo", "escalated", "", "first look"),
    ]
    assert rows[0][0].endswith(" UTC")
    assert 'id="current-decision"><span class="decision dismissed">dismissed (payroll)' in html
    # Without a session the page offers a login instead of the form.
    assert (
        'id="decision-form"' not in html
        and f"/login?next=%2Falerts%2F{world.day1['mule-1']}" in html
    )

    hostile = viewer.get(f"/alerts/{world.day1[HOSTILE]}").text
    assert HOSTILE not in hostile and "<b>bold</b>" not in hostile
    assert "<li>&lt;b&gt;bold&lt;/b&gt; reason</li><li>second</li>" in hostile
    far = viewer.get(f"/alerts/{world.day3['acct-005']}").text  # its day has no dataset
    assert 'id="graph-link"' not in far and "no longer in the warehouse" in far
    assert "Money in: 0 senders" in far

    for unknown in ("00000000-0000-4000-8000-000000000000", "not-an-id"):
        missing = viewer.get(f"/alerts/{unknown}")
        assert missing.status_code == 404 and "Alert not found" in missing.text


def test_the_pages_carry_the_security_headers(viewer: Viewer, world: World) -> None:
    for path in ("/alerts", "/login", f"/alerts/{world.day1['mule-1']}", "/alerts/nope"):
        response = viewer.get(path)
        assert response.headers["Content-Security-Policy"] == server_module.CONTENT_SECURITY_POLICY
        assert "form-action 'self'" in response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "<script" not in response.text
        head = requests.head(viewer.base + path, timeout=30)
        assert head.status_code == response.status_code and head.text == ""
    assert 'href="/alerts"' in viewer.get("/").text  # the index links the queue
    assert requests.put(viewer.base + "/login", timeout=30).status_code == 405
    assert requests.get(f"{viewer.base}/alerts/x/decision", timeout=30).status_code == 405


# -- decisions ------------------------------------------------------------------------------------


def test_a_decision_through_the_form_is_stored_with_the_analysts_name(
    viewer: Viewer, warehouse: PostgresWarehouse, world: World, records: Records
) -> None:
    client, _ = login(viewer, make_analyst(warehouse))
    alert_id = world.day1["proc-9"]
    page = client.get(f"{viewer.base}/alerts/{alert_id}", timeout=30).text
    assert 'id="decision-form"' in page
    options = re.findall(
        r'<option value="([^"]*)"', page.split('id="category">')[1].split("</select>")[0]
    )
    assert options == ["", *DISMISS_CATEGORIES]

    answer = decide(
        viewer,
        client,
        alert_id,
        decision="dismissed",
        category="payment processor",
        note="settles\nmerchants",
    )
    assert answer.status_code == 303 and answer.headers["Location"] == f"/alerts/{alert_id}"
    history = stored(warehouse)
    assert history[["alert_id", "decision", "category", "note", "analyst"]].values.tolist() == [
        [alert_id, "dismissed", "payment processor", "settles\nmerchants", "ana"]
    ]
    shown = client.get(f"{viewer.base}/alerts/{alert_id}", timeout=30).text
    assert "dismissed (payment processor)" in shown and "settles\nmerchants" in shown
    assert any("ana dismissed alert" in line for line in records.lines)

    # A category sent with a confirmation is not kept: it names what a dismissed account is.
    assert (
        decide(viewer, client, alert_id, decision="confirmed", category="payroll").status_code
        == 303
    )
    assert pd.isna(stored(warehouse)["category"].tolist()[-1])
    # A dismissal without a category, or an unknown decision: the page again, with the error.
    for fields, message in (
        ({"decision": "dismissed", "note": "kept note"}, "category: a dismissal needs a category"),
        ({"decision": "fraud"}, "decision: must be one of"),
        ({}, "decision: must be one of"),
    ):
        refused = decide(viewer, client, alert_id, **fields)
        assert refused.status_code == 422 and message in refused.text, fields
        assert 'id="decision-form"' in refused.text and 'class="error"' in refused.text
    assert (
        "kept note</textarea>"
        in decide(viewer, client, alert_id, decision="dismissed", note="kept note").text
    )
    assert len(stored(warehouse)) == 2
    unknown = client.post(
        f"{viewer.base}/alerts/00000000-0000-4000-8000-000000000000/decision",
        data={"csrf_token": csrf_of(page), "decision": "confirmed"},
        allow_redirects=False,
        timeout=30,
    )
    assert unknown.status_code == 404
    assert len(stored(warehouse)) == 2


def test_writes_without_a_session_or_its_csrf_token_or_from_another_origin_store_nothing(
    viewer: Viewer, warehouse: PostgresWarehouse, world: World
) -> None:
    token = make_analyst(warehouse)
    alert_id = world.day1["mule-1"]
    url = f"{viewer.base}/alerts/{alert_id}/decision"
    body = {"decision": "confirmed"}

    anonymous = requests.post(
        url, data={**body, "csrf_token": "x" * 43}, allow_redirects=False, timeout=30
    )
    assert anonymous.status_code == 401 and "nothing was stored" in anonymous.text

    client, _ = login(viewer, token)
    token_field = csrf_of(client.get(f"{viewer.base}/alerts/{alert_id}", timeout=30).text)
    port = viewer.server.address[1]
    refusals = [
        ({**body}, {}),  # no CSRF token
        ({**body, "csrf_token": "x" * 43}, {}),  # someone else's
        ({**body, "csrf_token": token_field}, {"Origin": "http://evil.example"}),
        ({**body, "csrf_token": token_field}, {"Origin": "null"}),
        ({**body, "csrf_token": token_field}, {"Origin": f"http://127.0.0.1:{port + 1}"}),
        ({**body, "csrf_token": token_field}, {"Referer": "http://evil.example/page"}),
    ]
    for data, headers in refusals:
        answer = client.post(url, data=data, headers=headers, allow_redirects=False, timeout=30)
        assert answer.status_code == 403, (data, headers)
    # The session's own token, from its own origin, is accepted.
    same = {"Origin": viewer.base, "Referer": viewer.base + f"/alerts/{alert_id}"}
    accepted = client.post(
        url,
        data={**body, "csrf_token": token_field},
        headers=same,
        allow_redirects=False,
        timeout=30,
    )
    assert accepted.status_code == 303
    assert len(stored(warehouse)) == 1

    # A revoked analyst's live session writes nothing.
    with warehouse.connect() as connection:
        revoke_analyst(connection, warehouse.schema_name, "ana")
    revoked = client.post(
        url, data={**body, "csrf_token": token_field}, allow_redirects=False, timeout=30
    )
    assert revoked.status_code == 401
    assert len(stored(warehouse)) == 1


def test_a_large_note_or_body_is_refused_clearly(
    viewer: Viewer, warehouse: PostgresWarehouse, world: World
) -> None:
    client, _ = login(viewer, make_analyst(warehouse))
    alert_id = world.day1["mule-1"]
    big = decide(viewer, client, alert_id, decision="confirmed", note="x" * 1_000_000)
    assert big.status_code == 422
    assert "note: must be at most 10,000 characters" in big.text
    assert "x" * 10_001 not in big.text  # the refused note is not sent back
    token_field = csrf_of(big.text)
    huge = client.post(
        f"{viewer.base}/alerts/{alert_id}/decision",
        data={
            "csrf_token": token_field,
            "decision": "confirmed",
            "note": "x" * (cases_module.MAX_FORM_BYTES + 1),
        },
        allow_redirects=False,
        timeout=60,
    )
    assert huge.status_code == 413 and "nothing was stored" in huge.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield f"csrf_token={token_field}&decision=confirmed&note=".encode()
        for _ in range(40):
            yield b"y" * 65536

    streamed = client.post(
        f"{viewer.base}/alerts/{alert_id}/decision",
        data=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
        timeout=60,
    )
    assert streamed.status_code == 413
    assert stored(warehouse).empty
    ok = decide(viewer, client, alert_id, decision="confirmed", note="y" * 10_000)
    assert ok.status_code == 303 and len(stored(warehouse)) == 1


def test_a_note_with_markup_is_shown_as_text(
    viewer: Viewer, warehouse: PostgresWarehouse, world: World
) -> None:
    client, _ = login(viewer, make_analyst(warehouse))
    alert_id = world.day1["mule-1"]
    note = '<script>window.__pwned=3</script><b>payroll</b> & "co"'
    assert decide(viewer, client, alert_id, decision="escalated", note=note).status_code == 303
    html = client.get(f"{viewer.base}/alerts/{alert_id}", timeout=30).text
    assert (
        "&lt;script&gt;window.__pwned=3&lt;/script&gt;&lt;b&gt;payroll&lt;/b&gt; &amp; &quot;co&quot;"
        in html
    )
    assert "<script" not in html and "<b>payroll" not in html
    assert stored(warehouse)["note"].tolist() == [note]


def test_logout_ends_the_session(
    viewer: Viewer, warehouse: PostgresWarehouse, world: World
) -> None:
    client, _ = login(viewer, make_analyst(warehouse))
    session_id = client.cookies["fraud_session"]
    queue = client.get(viewer.base + "/alerts", timeout=30).text
    wrong = client.post(
        viewer.base + "/logout", data={"csrf_token": "x" * 43}, allow_redirects=False, timeout=30
    )
    assert wrong.status_code == 403
    assert "Signed in as" in client.get(viewer.base + "/alerts", timeout=30).text
    out = client.post(
        viewer.base + "/logout",
        data={"csrf_token": csrf_of(queue)},
        allow_redirects=False,
        timeout=30,
    )
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    assert (
        'fraud_session=""' in out.headers["Set-Cookie"] and "Max-Age=0" in out.headers["Set-Cookie"]
    )
    # The old cookie, replayed, is nobody's now.
    replayed = requests.Session()
    replayed.cookies.set("fraud_session", session_id)
    assert "Signed in as" not in replayed.get(viewer.base + "/alerts", timeout=30).text
    refused = replayed.post(
        f"{viewer.base}/alerts/{world.day1['mule-1']}/decision",
        data={"csrf_token": csrf_of(queue), "decision": "confirmed"},
        allow_redirects=False,
        timeout=30,
    )
    assert refused.status_code == 401 and stored(warehouse).empty
    assert sessions(warehouse) == []


def test_the_case_page_shows_the_days_transfers_in_time_order(viewer: Viewer, world: World) -> None:
    page = viewer.get(f"/alerts/{world.day1['mule-1']}").text
    timeline = page[
        page.index('id="timeline"') : page.index("</table>", page.index('id="timeline"'))
    ]
    rows = re.findall(r"<tr class=\"(in|out)\">(.*?)</tr>", timeline)
    # TRANSFERS in order, one hour apart, from mule-1's side.
    assert [direction for direction, _ in rows] == ["in", "in", "in", "out", "in"]
    assert "01:00:00 UTC" in rows[0][1] and "payer-a" in rows[0][1] and "300.00" in rows[0][1]
    assert "cash-out" in rows[3][1] and "600.00" in rows[3][1]
    # A counterparty with its own alert that day links to its case; a hostile id stays text.
    assert f'href="/alerts/{world.day1["proc-9"]}"' in rows[2][1]
    # One without an alert opens the day's graph with it selected.
    assert f'href="/datasets/{world.dataset_id}#account=payer-a"' in rows[0][1]
    assert ESCAPED in rows[4][1] and HOSTILE not in page
    empty = viewer.get(f"/alerts/{world.day2['mule-1']}").text
    assert "No transfers stored for this day." in empty


def test_silenced_repeat_alerts_leave_the_open_queue(
    viewer: Viewer, world: World, warehouse: PostgresWarehouse
) -> None:
    repeat = pd.DataFrame(
        {
            "partition_date": [DAY2],
            "dataset_id": ["6f1c1f0e-0000-4000-8000-000000000002"],
            "account": ["proc-9"],
            "risk_score": [0.82],
            "cluster": [1],
            "url": ["http://viewer.test/datasets/x"],
            "suppressed_by": ["7b1c1f0e-0000-4000-8000-0000000000aa"],
        }
    )
    silenced = build_alerts(repeat, threshold=0.5)
    with warehouse.connect() as connection:
        record_alerts(connection, warehouse.schema_name, silenced)
    alert_id = silenced["alert_id"].iloc[0]
    assert alert_id not in viewer.get(f"/alerts?day={DAY2}").text
    listed = viewer.get(f"/alerts?day={DAY2}&status=silenced").text
    assert alert_id in listed and ">silenced<" in listed
    assert alert_id in viewer.get(f"/alerts?day={DAY2}&status=all").text
    assert ">silenced<" in viewer.get(f"/alerts/{alert_id}").text


def test_the_case_page_compares_the_day_with_the_days_before(viewer: Viewer, world: World) -> None:
    page = viewer.get(f"/alerts/{world.day1['mule-1']}").text
    section = page[page.index('id="behaviour"') : page.index("</dl>", page.index('id="behaviour"'))]
    assert "on 2 of the 20 days before; first seen 15 day(s) before" in section
    assert "on 0 of those days" in section  # it never relayed before
    assert "655.00 that day; typically 40.00 on an active day" in section  # money in
    assert "4 new that day, 25% known from before" in section
    other = viewer.get(f"/alerts/{world.day1['proc-9']}").text
    assert "No history stored for this day." in other


def test_a_long_timeline_shows_its_first_transfers_and_counts_them_all(
    world: World, warehouse: PostgresWarehouse
) -> None:
    with warehouse.connect() as connection:
        first, total = queue_module.timeline(
            connection, warehouse.schema_name, DAY1, "mule-1", shown=2
        )
        whole, same = queue_module.timeline(connection, warehouse.schema_name, DAY1, "mule-1")
    assert (len(first), total, len(whole), same) == (2, 5, 5, 5)
    assert first["counterparty"].tolist() == ["payer-a", "payer-b"]
