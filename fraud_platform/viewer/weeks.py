"""The viewer's weekly trends page: ``GET /weeks/{monday}`` and ``GET /weeks`` (the latest week).

A week is named by its Monday, written ``YYYY-MM-DD`` (the partition key of the
``weekly_fraud_trends`` asset, whose metadata links here). Its page shows, per day from
`FIRST_DAY` on: the day's accounts, its high-risk accounts (with a CSS bar, no script), its
alerts by decision state, a link to the day's dataset page and one to the alert queue filtered
to the day; then the accounts high risk on several days and the clusters that persist from one
day to the next (`fraud_platform.defs.trends.logic`), and links to the previous and next weeks.

The figures are read from the warehouse as the weekly asset computes them
(`fraud_platform.defs.trends.resources`), so the page and the asset agree. Reading is open, as
the other pages are; the page is built as they are (`fraud_platform.viewer.pages`): every value
from data through `html.escape`, nothing loaded from another host. Anything but a Monday's
canonical date, or a week wholly before `FIRST_DAY`, is the viewer's 404 page; an unreachable
warehouse is its 503 page.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pandas as pd
from starlette.requests import Request
from starlette.responses import Response as HTTPResponse
from starlette.routing import Route

from fraud_platform.defs.cases.resources import ensure_case_tables
from fraud_platform.defs.datasets.logic import dataset_id_for
from fraud_platform.defs.trends.logic import WeeklyTrends, trends_of_high_risk
from fraud_platform.defs.trends.resources import (
    DECISION_STATES,
    week_days,
    week_decisions,
    week_high_risk,
)
from fraud_platform.partitions import FIRST_DAY
from fraud_platform.tables import PARTITION_COLUMN
from fraud_platform.viewer import data
from fraud_platform.viewer.case_pages import QUEUE_PATH
from fraud_platform.viewer.pages import Column, dataset_path, document, list_table

if TYPE_CHECKING:
    from fraud_platform.storage.warehouse import PostgresWarehouse
    from fraud_platform.viewer.server import Response, ViewerApp

WEEKS_PATH = "/weeks"
#: The longest lists the page shows in full; a busy week's long tail is counted, not listed.
MAX_LISTED = 200
#: Only this spelling names a week: ``date.fromisoformat`` also takes ``20240930`` and
#: ``2024-W40-1``, which would make several URLs for one page.
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NO_WEEK = (
    "There is no such week: a week is named by its Monday, written YYYY-MM-DD, "
    "from the week of {first} on."
)


def week_path(monday: str) -> str:
    return f"{WEEKS_PATH}/{monday}"


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def queue_of_day(day: str) -> str:
    """The alert queue filtered to ``day``, every decision state included."""
    return QUEUE_PATH + "?" + urlencode({"day": day, "status": "all"})


def counted_days(text: str) -> list[str] | None:
    """The days from `FIRST_DAY` on of the week starting on ``text``; None when ``text`` is not a
    Monday written ``YYYY-MM-DD`` or its week ends before `FIRST_DAY` (no such week)."""
    if not _ISO_DAY.fullmatch(text):
        return None
    try:
        days = week_days(text)
    except (ValueError, OverflowError):  # not a date, not a Monday, or a week past year 9999
        return None
    return [day for day in days if day >= FIRST_DAY] or None


def neighbour_weeks(monday: str, *, today: dt.date) -> tuple[str | None, str | None]:
    """The previous week's Monday (None before the first week) and the next one's (None while
    it has not begun on ``today``, or past the calendar's end)."""
    start = dt.date.fromisoformat(monday)
    previous = start - dt.timedelta(days=7)
    before = previous.isoformat() if counted_days(previous.isoformat()) else None
    try:
        following = start + dt.timedelta(days=7)
    except OverflowError:
        return before, None
    return before, following.isoformat() if following <= today else None


def read_week(
    warehouse: PostgresWarehouse, days: list[str], threshold: float
) -> tuple[WeeklyTrends, pd.DataFrame, dict[str, int]]:
    """The week's trends, its alerts by decision state per day, and each published day's count
    of accounts (a day missing from it was not published)."""
    schema = warehouse.schema_name
    with warehouse.connect() as connection:
        # The warehouse tables exist from here on, as for the queue: an empty warehouse is an
        # empty week, not a failure.
        ensure_case_tables(connection, schema)
        decisions = week_decisions(connection, schema, days)
        high, accounts = week_high_risk(connection, schema, days, threshold)
    return trends_of_high_risk(high, accounts, days), decisions, accounts


# -- HTML -----------------------------------------------------------------------------------------


def _count(value: float) -> str:
    return f"{int(value):,}"


def _header(title: str) -> str:
    return (
        '<header><nav class="top"><a href="/">Datasets</a>'
        f'<a href="{QUEUE_PATH}">Alert queue</a></nav>'
        f"<h1>{escape(title)}</h1></header>"
    )


def _bar(value: int, peak: int) -> str:
    """A horizontal bar ``value / peak`` wide: CSS only (an inline width, which the viewer's
    Content-Security-Policy allows for styles), its figure stated beside it for every reader."""
    width = round(100 * value / peak) if peak else 0
    return (
        f'<span class="bar" aria-hidden="true"><span class="bar-fill" style="width: {width}%">'
        "</span></span>"
    )


def _days_table(per_day: pd.DataFrame, decisions: pd.DataFrame, published: set[str]) -> str:
    table = per_day.merge(decisions, on=PARTITION_COLUMN, how="left").fillna(0)
    peak = int(table["high_risk"].max()) if len(table) else 0
    rows = []
    for row in table.to_dict("records"):
        day = str(row[PARTITION_COLUMN])
        weekday = dt.date.fromisoformat(day).strftime("%a")
        if day in published:
            link = escape(dataset_path(dataset_id_for(day)))
            day_cell = f'<a href="{link}" class="dataset-link">{escape(day)}</a>'
            accounts = _count(row["accounts"])
        else:
            day_cell = escape(day)
            accounts = '<span class="empty">not published</span>'
        states = "".join(
            f'<td class="num" data-state="{state}">{_count(row[state])}</td>'
            for state in DECISION_STATES
        )
        alerts = sum(int(row[state]) for state in DECISION_STATES)
        rows.append(
            f'<tr data-day="{escape(day)}">'
            f'<td>{day_cell} <span class="weekday">{weekday}</span></td>'
            f'<td class="num">{accounts}</td>'
            f'<td class="num risk">{_count(row["high_risk"])}</td>'
            f'<td class="bar-cell">{_bar(int(row["high_risk"]), peak)}</td>'
            f"{states}"
            f'<td class="num"><a href="{escape(queue_of_day(day))}" class="queue-link">'
            f"{alerts:,}</a></td></tr>"
        )
    totals = "".join(
        f'<td class="num" data-state="{state}">{_count(table[state].sum())}</td>'
        for state in DECISION_STATES
    )
    all_alerts = sum(int(table[state].sum()) for state in DECISION_STATES)
    state_headings = "".join(f'<th class="num">{state}</th>' for state in DECISION_STATES)
    return (
        '<table class="week" id="days"><thead><tr><th>day</th><th class="num">accounts</th>'
        f'<th class="num">high-risk</th><th></th>{state_headings}'
        '<th class="num">alerts</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody>"
        f'<tfoot><tr><th>week</th><td class="num">{_count(table["accounts"].sum())}</td>'
        f'<td class="num risk">{_count(table["high_risk"].sum())}</td><td></td>{totals}'
        f'<td class="num">{all_alerts:,}</td></tr></tfoot></table>'
    )


_REPEAT_COLUMNS = (
    Column("account", lambda row: escape(str(row.account)), "account"),
    Column("days", lambda row: f"{int(row.days_high_risk):,}", "num"),
    Column("high risk on", lambda row: escape(str(row.days))),
    Column("max risk", lambda row: f"{float(row.max_risk):.3f}", "num risk"),
)
_CLUSTER_COLUMNS = (
    Column("from day", lambda row: escape(str(row.from_day))),
    Column("cluster", lambda row: str(int(row.from_cluster)), "num"),
    Column("to day", lambda row: escape(str(row.to_day))),
    Column("cluster", lambda row: str(int(row.to_cluster)), "num"),
    Column("overlap", lambda row: f"{float(row.overlap):.0%}", "num"),
    Column("shared high-risk accounts", lambda row: f"{int(row.shared):,}", "num"),
)


def _repeat_table(repeat: pd.DataFrame) -> str:
    empty = "No account was high risk on two or more days."
    limit = (MAX_LISTED, "accounts")
    return list_table(repeat, "repeat-accounts", "repeat", _REPEAT_COLUMNS, empty, limit=limit)


def _clusters_table(clusters: pd.DataFrame) -> str:
    empty = "No cluster persisted from one day to the next."
    limit = (MAX_LISTED, "pairs")
    return list_table(
        clusters, "persistent-clusters", "persisting", _CLUSTER_COLUMNS, empty, limit=limit
    )


def week_page(
    monday: str,
    trends: WeeklyTrends,
    decisions: pd.DataFrame,
    published: set[str],
    *,
    threshold: float,
    previous: str | None,
    following: str | None,
) -> str:
    """The week starting on ``monday``: per day, repeat accounts, persisting clusters."""
    days = trends.per_day[PARTITION_COLUMN].astype(str).tolist()
    shown = sum(day in published for day in days)
    summary = (
        f"{int(trends.per_day['high_risk'].sum()):,} high-risk account-days "
        f"(risk_score &ge; {threshold:g}) over {shown} published day(s) of {len(days)}; "
        f"{len(trends.repeat_accounts):,} account(s) high risk on two or more days; "
        f"{len(trends.persistent_clusters):,} cluster(s) persisting from one day to the next."
    )
    links = []
    if previous is not None:
        links.append(f'<a rel="prev" href="{escape(week_path(previous))}">Previous week</a>')
    if following is not None:
        links.append(f'<a rel="next" href="{escape(week_path(following))}">Next week</a>')
    body = (
        _header(f"Week of {monday}")
        + f'<main class="week-page" data-week="{escape(monday)}">'
        + f'<p class="summary" id="summary">{summary}</p>'
        + f'<nav class="pages" id="weeks">{" ".join(links)}</nav>'
        + "<section><h2>Per day</h2>"
        + _days_table(trends.per_day, decisions, published)
        + "</section><section><h2>Accounts high risk on several days</h2>"
        + _repeat_table(trends.repeat_accounts)
        + "</section><section><h2>Clusters persisting from one day to the next</h2>"
        + "<p>A day's cluster and the next day's persist when most of their high-risk "
        "accounts are the same (cluster numbers are per day).</p>"
        + _clusters_table(trends.persistent_clusters)
        + "</section></main>"
    )
    return document(f"Week of {monday}", body)


def no_weeks_page() -> str:
    """What ``/weeks`` shows before any dataset is published."""
    body = (
        _header("Weekly trends")
        + '<main><p class="empty" id="no-weeks">No dataset has been published yet.</p></main>'
    )
    return document("Weekly trends", body)


# -- routes ---------------------------------------------------------------------------------------


def week_routes(
    viewer: ViewerApp, respond: Callable[[Request, Response], HTTPResponse]
) -> list[Route]:
    """The week page's routes over ``viewer``'s warehouse; ``respond`` turns a page into HTTP
    with the viewer's security headers."""

    def answer(request: Request, work: Callable[[], Response]) -> HTTPResponse:
        return respond(request, viewer.answer(work, path=request.url.path))

    def latest_week(request: Request) -> HTTPResponse:
        """A 303 to the week of the latest published day: the link that stays current."""

        def work() -> Response:
            datasets = data.list_datasets(viewer.warehouse)
            if datasets.empty:
                return viewer.html(no_weeks_page())
            latest = dt.date.fromisoformat(str(datasets[PARTITION_COLUMN].max()))
            location = week_path(monday_of(latest).isoformat())
            link = f'<p><a href="{escape(location)}">{escape(location)}</a></p>'
            response = viewer.html(document("Weekly trends", link), 303)
            response.headers["Location"] = location
            return response

        return answer(request, work)

    def week(request: Request) -> HTTPResponse:
        def work() -> Response:
            monday = request.path_params["monday"]
            days = counted_days(monday)
            if days is None:
                first = monday_of(dt.date.fromisoformat(FIRST_DAY)).isoformat()
                return viewer.error(404, "Week not found", _NO_WEEK.format(first=first))
            trends, decisions, accounts = read_week(viewer.warehouse, days, viewer.threshold)
            previous, following = neighbour_weeks(monday, today=dt.datetime.now(dt.UTC).date())
            text = week_page(
                monday,
                trends,
                decisions,
                set(accounts),
                threshold=viewer.threshold,
                previous=previous,
                following=following,
            )
            return viewer.html(text)

        return answer(request, work)

    return [
        Route(WEEKS_PATH, latest_week, methods=["GET", "HEAD"]),
        Route(WEEKS_PATH + "/{monday}", week, methods=["GET", "HEAD"]),
    ]
