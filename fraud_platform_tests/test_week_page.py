"""The weekly trends page over HTTP, on a live viewer server and PostgreSQL: a week of three
published days with a repeat high-risk account, a persisting cluster and decided alerts; the
404s, the redirect of ``/weeks``, escaping, the security headers and a real browser."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import pairwise
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from test_viewer import day_tables, publish
from viewer_server import Viewer

from fraud_platform.defs.alerts.logic import build_alerts
from fraud_platform.defs.alerts.resources import record_alerts
from fraud_platform.defs.cases.logic import parse_decision
from fraud_platform.defs.cases.resources import add_analyst, ensure_case_tables, record_decision
from fraud_platform.defs.datasets.logic import dataset_id_for
from fraud_platform.storage.warehouse import PostgresWarehouse
from fraud_platform.viewer import server as server_module

if TYPE_CHECKING:
    from playwright.sync_api import Browser

WEEK = "2024-09-30"  # its days from FIRST_DAY (2024-10-01) on count
DAY1, DAY2, DAY3 = "2024-10-01", "2024-10-02", "2024-10-03"
HOSTILE = "<script>window.__pwned=1</script>"
#: account: cluster, risk_score, position. DAY1's cluster 3 is DAY2's cluster 7 (same members).
ACCOUNTS = {
    DAY1: {
        "M1": (3, 0.90, (0.0, 0.0)),
        "M2": (3, 0.85, (1.0, 0.0)),
        HOSTILE: (3, 0.95, (2.0, 0.0)),
        "X": (1, 0.10, (3.0, 0.0)),
    },
    DAY2: {
        "M1": (7, 0.97, (0.0, 0.0)),
        "M2": (7, 0.81, (1.0, 0.0)),
        HOSTILE: (7, 0.90, (2.0, 0.0)),
        "Y": (0, 0.82, (3.0, 0.0)),
        "Z": (0, 0.10, (4.0, 0.0)),
    },
    DAY3: {"W": (2, 0.99, (0.0, 0.0)), "V": (2, 0.20, (1.0, 0.0))},
}
#: The per-day table's text: day, accounts, high-risk, bar, confirmed, dismissed, escalated,
#: open, silenced, alerts.
EXPECTED_DAYS = [
    ["2024-10-01 Tue", "4", "3", "", "1", "1", "0", "1", "0", "3"],
    ["2024-10-02 Wed", "5", "4", "", "0", "0", "1", "0", "1", "2"],
    ["2024-10-03 Thu", "2", "1", "", "0", "0", "0", "0", "0", "0"],
    ["2024-10-04 Fri", "not published", "0", "", "0", "0", "0", "0", "0", "0"],
    ["2024-10-05 Sat", "not published", "0", "", "0", "0", "0", "0", "0", "0"],
    ["2024-10-06 Sun", "not published", "0", "", "0", "0", "0", "0", "0", "0"],
]


class Tables(HTMLParser):
    """A page's tables (by id: rows of cell texts), links (href -> text) and bar widths."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: dict[str, str] = {}
        self.bars: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._href: str | None = None
        self._link: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self._table = found.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "a":
            self._href, self._link = found.get("href"), []
        elif tag == "span" and found.get("class") == "bar-fill":
            self.bars.append(found.get("style") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "a" and self._href is not None:
            self.links[self._href] = "".join(self._link)
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._href is not None:
            self._link.append(data)


@dataclass
class Week:
    """The published week: each day's dataset id and alert ids (account -> id)."""

    datasets: dict[str, str]
    alerts: dict[str, dict[str, str]] = field(default_factory=dict)


def build_week(warehouse: PostgresWarehouse) -> Week:
    """Three published days; alerts decided on DAY1 (confirmed, dismissed, open) and DAY2
    (escalated, and a silenced repeat of DAY1's dismissed account)."""
    datasets = {}
    for day, accounts in ACCOUNTS.items():
        names = list(accounts)
        transfers = [(a, b, 100.0) for a, b in pairwise(names)]
        datasets[day] = publish(warehouse, *day_tables(day, transfers, accounts), day=day)
    rows = [
        (DAY1, "M1", 0.90),
        (DAY1, "M2", 0.85),
        (DAY1, HOSTILE, 0.95),
        (DAY2, "M1", 0.97),
        (DAY2, "M2", 0.81),
    ]
    high_risk = pd.DataFrame(rows, columns=["partition_date", "account", "risk_score"])
    high_risk["dataset_id"] = high_risk["partition_date"].map(datasets)
    high_risk["cluster"] = 3
    high_risk["url"] = "http://viewer.test/datasets/x"
    alerts = build_alerts(high_risk, threshold=0.8)
    week = Week(datasets)
    for day, group in alerts.groupby("partition_date"):
        week.alerts[str(day)] = dict(zip(group["account"], group["alert_id"], strict=True))
    # DAY2's M2 repeats DAY1's dismissal: recorded, but silenced.
    silenced = alerts["alert_id"] == week.alerts[DAY2]["M2"]
    alerts.loc[silenced, "suppressed_by"] = week.alerts[DAY1]["M2"]
    schema = warehouse.schema_name
    with warehouse.connect() as connection:
        ensure_case_tables(connection, schema)
        assert record_alerts(connection, schema, alerts) == 5
        add_analyst(connection, schema, "ana")
        decisions = [
            (DAY1, "M1", {"decision": "dismissed", "category": "payroll"}),
            (DAY1, "M1", {"decision": "confirmed", "note": "the newest decision counts"}),
            (DAY1, "M2", {"decision": "dismissed", "category": "payment processor"}),
            (DAY2, "M1", {"decision": "escalated"}),
        ]
        for day, account, body in decisions:
            alert_id = week.alerts[day][account]
            assert record_decision(connection, schema, alert_id, parse_decision(body), "ana")
    return week


@pytest.fixture
def week(warehouse: PostgresWarehouse) -> Week:
    return build_week(warehouse)


def assert_page_headers(response) -> None:
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == server_module.CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Server"] == "fraud-platform-viewer"


def test_the_week_page_shows_each_day_repeat_accounts_and_persisting_clusters(
    viewer: Viewer, week: Week
) -> None:
    response = viewer.get(f"/weeks/{WEEK}")
    assert response.status_code == 200, response.text
    assert_page_headers(response)
    assert "<script" not in response.text  # no script at all, and the hostile id is text
    page = Tables(response.text)

    header, *days, total = page.tables["days"]
    assert header[:4] == ["day", "accounts", "high-risk", ""]
    assert header[4:] == ["confirmed", "dismissed", "escalated", "open", "silenced", "alerts"]
    assert days == EXPECTED_DAYS
    assert total == ["week", "11", "8", "", "1", "1", "1", "1", "1", "5"]
    # Bars scale to the week's busiest day (DAY2's 4 high-risk accounts).
    assert page.bars == [f"width: {w}%" for w in (75, 100, 25, 0, 0, 0)]

    # Each published day links to its dataset page; every day to its alerts in the queue.
    for day in (DAY1, DAY2, DAY3):
        assert week.datasets[day] == dataset_id_for(day)
        assert page.links[f"/datasets/{dataset_id_for(day)}"] == day
    assert f"/datasets/{dataset_id_for('2024-10-04')}" not in page.links
    assert page.links[f"/alerts?day={DAY1}&status=all"] == "3"
    assert page.links[f"/alerts?day={DAY2}&status=all"] == "2"
    assert f'href="/alerts?day={DAY1}&amp;status=all"' in response.text
    # The first week has no previous one; the next one has begun.
    assert page.links["/weeks/2024-10-07"] == "Next week"
    assert not any(link.startswith("/weeks/2024-09-23") for link in page.links)

    # Most days first, then the highest risk: Y and W were high risk on one day only.
    assert page.tables["repeat-accounts"] == [
        ["account", "days", "high risk on", "max risk"],
        ["M1", "2", f"{DAY1}, {DAY2}", "0.970"],
        [HOSTILE, "2", f"{DAY1}, {DAY2}", "0.950"],
        ["M2", "2", f"{DAY1}, {DAY2}", "0.850"],
    ]
    assert page.tables["persistent-clusters"][1:] == [[DAY1, "3", DAY2, "7", "100%", "3"]]
    summary = response.text[response.text.index('id="summary"') :]
    assert "8 high-risk account-days (risk_score &ge; 0.8) over 3 published day(s) of 6" in summary
    assert "3 account(s) high risk on two or more days; 1 cluster(s) persisting" in summary

    # The hostile account is shown as text, never as markup.
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in response.text

    head = viewer.raw("HEAD", f"/weeks/{WEEK}", {})
    assert head[0].status_code == 200 and head[1] == b""
    assert head[0].headers["Content-Length"] == str(len(response.content))


def test_a_week_after_the_first_links_both_ways_and_can_be_empty(
    viewer: Viewer, week: Week
) -> None:
    response = viewer.get("/weeks/2024-10-07")
    assert response.status_code == 200
    page = Tables(response.text)
    assert page.links["/weeks/2024-09-30"] == "Previous week"
    assert page.links["/weeks/2024-10-14"] == "Next week"
    _, *days, total = page.tables["days"]
    assert [row[0] for row in days] == [
        "2024-10-07 Mon",
        "2024-10-08 Tue",
        "2024-10-09 Wed",
        "2024-10-10 Thu",
        "2024-10-11 Fri",
        "2024-10-12 Sat",
        "2024-10-13 Sun",
    ]
    assert total == ["week", "0", "0", "", "0", "0", "0", "0", "0", "0"]
    assert "No account was high risk on two or more days." in response.text
    assert "No cluster persisted from one day to the next." in response.text


def test_weeks_redirects_to_the_latest_week_and_the_index_links_it(
    viewer: Viewer, warehouse: PostgresWarehouse
) -> None:
    empty = viewer.get("/weeks", allow_redirects=False)
    assert empty.status_code == 200
    assert "No dataset has been published yet." in empty.text
    assert_page_headers(empty)
    # An empty warehouse has empty weeks, not failures.
    assert viewer.get(f"/weeks/{WEEK}").status_code == 200

    build_week(warehouse)
    later = {"L": (0, 0.9, (0.0, 0.0))}
    publish(warehouse, *day_tables("2024-10-16", [], later), day="2024-10-16")  # a Wednesday
    redirect = viewer.get("/weeks", allow_redirects=False)
    assert redirect.status_code == 303
    assert redirect.headers["Location"] == "/weeks/2024-10-14"
    assert_page_headers(redirect)
    followed = viewer.get("/weeks")
    assert followed.status_code == 200 and followed.url.endswith("/weeks/2024-10-14")
    assert '<a href="/weeks">Weekly trends</a>' in viewer.get("/").text


@pytest.mark.parametrize(
    "path",
    [
        "/weeks/2024-10-01",  # a Tuesday
        "/weeks/nonsense",
        "/weeks/20240930",  # the right Monday, another spelling
        "/weeks/2024-W40-1",
        "/weeks/2024-02-30",
        "/weeks/2024-09-23",  # wholly before the first day
        "/weeks/9999-12-27",  # its last days are past the calendar
        "/weeks/%3Cscript%3E",
        "/weeks/",
        "/weeks/2024-09-30/more",
    ],
)
def test_anything_but_a_monday_is_a_404_page(viewer: Viewer, path: str) -> None:
    response = viewer.get(path, allow_redirects=False)
    assert response.status_code == 404, path
    assert_page_headers(response)
    assert "<script>" not in response.text
    assert "404" in response.text


def test_an_unreachable_warehouse_is_a_503_without_its_address() -> None:
    secret = "postgresql://viewer:s3cret@127.0.0.1:1/nowhere?connect_timeout=2"
    running = Viewer(PostgresWarehouse(database_url=secret))
    try:
        answers = [
            running.get(path, allow_redirects=False) for path in ("/weeks", "/weeks/" + WEEK)
        ]
    finally:
        running.close()
    for response in answers:
        assert response.status_code == 503
        assert_page_headers(response)
        assert "s3cret" not in response.text and "127.0.0.1:1" not in response.text


# -- in a real browser ----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_week_page_renders_in_chromium_without_errors(
    browser: Browser, warehouse: PostgresWarehouse
) -> None:
    """The page under the viewer's Content-Security-Policy (a violation is a console error): its
    bars drawn, the hostile account as text, nothing loaded from another host."""
    from test_viewer_browser import ARTIFACTS, Recorder, open_page

    build_week(warehouse)
    viewer = Viewer(warehouse)
    recorder = Recorder()
    problems: list[str] = []
    try:
        page, seen = open_page(browser, recorder)
        problems = seen
        page.on(
            "console",
            lambda message: (
                message.type in ("error", "warning") and problems.append(f"console: {message.text}")
            ),
        )
        page.goto(f"{viewer.base}/")
        page.click('a[href="/weeks"]')
        page.wait_for_url(f"{viewer.base}/weeks/{WEEK}")
        assert page.locator("#days tbody tr").count() == 6
        widths = page.eval_on_selector_all(
            "#days .bar-fill", "bars => bars.map(b => b.getBoundingClientRect().width)"
        )
        assert widths[1] > widths[0] > widths[2] > 0 and widths[3:] == [0, 0, 0]
        accounts = page.locator("#repeat-accounts td.account").all_text_contents()
        assert HOSTILE in accounts
        assert page.evaluate("window.__pwned") is None
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "week-page.png"), full_page=True)
        page.click(f'a[href="/alerts?day={DAY1}&status=all"]')
        page.wait_for_url(f"**/alerts?day={DAY1}&status=all")
        assert page.locator("#queue tbody tr").count() == 3
    finally:
        viewer.close()
    assert problems == []
    assert recorder.refused == []
