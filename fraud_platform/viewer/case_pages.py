"""The analysts' HTML: the login page, the alert queue and a case page.

Built as the other pages are (`fraud_platform.viewer.pages`): small strings, every value from
data through `html.escape` (accounts, reasons, notes, categories and patterns are text, never
markup), no script at all, nothing loaded from another host. Every POST form carries the
session's CSRF token in a hidden field; the queue's filters are a GET form, so a filtered queue
is a URL to share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

import pandas as pd

from fraud_platform.defs.cases.logic import DISMISS_CATEGORIES, MAX_NOTE_CHARS
from fraud_platform.defs.cases.queue import (
    STATUSES,
    Counterparties,
    CounterpartySide,
    QueueFilter,
)
from fraud_platform.viewer.pages import Column, dataset_path, document, list_table

QUEUE_PATH = "/alerts"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
_BUTTONS = (("confirmed", "Confirm"), ("dismissed", "Dismiss"), ("escalated", "Escalate"))


@dataclass(frozen=True)
class Visitor:
    """Who is looking: an analyst with their session's CSRF token, or nobody logged in."""

    analyst: str | None = None
    csrf_token: str = ""


def case_path(alert_id: str) -> str:
    return f"{QUEUE_PATH}/{alert_id}"


def split_reasons(reasons: object) -> list[str]:
    """An alert's reasons (stored as ``reason; reason; reason``) as a list."""
    if reasons is None or (isinstance(reasons, float) and math.isnan(reasons)):
        return []
    return [part.strip() for part in str(reasons).split(";") if part.strip()]


def _text(value: object) -> str:
    """``value`` escaped, a missing one as empty."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    return escape(str(value))


def _time(value: object) -> str:
    if isinstance(value, datetime | pd.Timestamp) and not pd.isna(value):
        return escape(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    return _text(value)


def _risk(value: object) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.3f}"


def _amount(value: object) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):,.2f}"


def _count(value: object) -> str:
    return "" if value is None or pd.isna(value) else f"{int(value):,}"


def decision_text(decision: object, category: object = None, silenced_by: object = None) -> str:
    """The current decision as the pages show it (escaped): ``open`` when there is none, or
    ``silenced`` for a repeat alert of a dismissed account (not sent)."""
    if decision is None or (isinstance(decision, float) and math.isnan(decision)):
        if isinstance(silenced_by, str) and silenced_by:
            return '<span class="silenced" title="a dismissal holds; not sent">silenced</span>'
        return '<span class="open">open</span>'
    label = escape(str(decision))
    if isinstance(category, str) and category:
        label += f" ({escape(category)})"
    return f'<span class="decision {escape(str(decision))}">{label}</span>'


def _hidden_token(visitor: Visitor) -> str:
    return f'<input type="hidden" name="csrf_token" value="{escape(visitor.csrf_token)}">'


def _header(visitor: Visitor, title: str, *, back_to: str = QUEUE_PATH) -> str:
    """The page's header: where to go, who is logged in (with a logout button) or a login link."""
    if visitor.analyst is not None:
        who = (
            f'<span class="who">Signed in as <strong>{escape(visitor.analyst)}</strong></span>'
            f'<form method="post" action="{LOGOUT_PATH}" class="inline">{_hidden_token(visitor)}'
            '<button type="submit" id="logout">Log out</button></form>'
        )
    else:
        login = LOGIN_PATH + "?" + urlencode({"next": back_to})
        who = f'<a href="{escape(login)}" id="login-link">Log in</a>'
    return (
        '<header><nav class="top"><a href="/">Datasets</a>'
        f'<a href="{QUEUE_PATH}">Alert queue</a><a href="/weeks">Weekly trends</a>'
        f'<span class="session">{who}</span></nav>'
        f"<h1>{title}</h1></header>"
    )


def _error(message: str | None) -> str:
    return f'<p class="error" role="alert">{escape(message)}</p>' if message else ""


# -- login ----------------------------------------------------------------------------------------


def login_page(
    visitor: Visitor, *, login_csrf: str, next_path: str, error: str | None = None
) -> str:
    """The token form; ``login_csrf`` is also in the browser's login cookie (double submit)."""
    notice = (
        f"<p>You are signed in as <strong>{escape(visitor.analyst)}</strong>; "
        "a new token signs in someone else.</p>"
        if visitor.analyst is not None
        else ""
    )
    body = (
        _header(visitor, "Analyst login", back_to=next_path)
        + "<main>"
        + _error(error)
        + notice
        + f'<form method="post" action="{LOGIN_PATH}" class="login">'
        f'<input type="hidden" name="csrf_token" value="{escape(login_csrf)}">'
        f'<input type="hidden" name="next" value="{escape(next_path)}">'
        '<label for="token">Analyst token</label>'
        '<input type="password" id="token" name="token" autocomplete="off" required>'
        '<button type="submit" id="login">Log in</button></form>'
        "<p>A token is made by <code>fraud-platform analysts add NAME</code>.</p></main>"
    )
    return document("Analyst login", body)


# -- the queue ------------------------------------------------------------------------------------


def queue_url(filters: QueueFilter, page: int) -> str:
    """The queue's URL for ``filters`` on ``page`` (defaults left out)."""
    query: dict[str, str] = {}
    if filters.day is not None:
        query["day"] = filters.day.isoformat()
    if filters.pattern:
        query["pattern"] = filters.pattern
    if filters.status != "open":
        query["status"] = filters.status
    if page > 1:
        query["page"] = str(page)
    return QUEUE_PATH + ("?" + urlencode(query) if query else "")


def _options(values: Sequence[tuple[str, str]], selected: str) -> str:
    return "".join(
        f'<option value="{escape(value)}"{" selected" if value == selected else ""}>'
        f"{escape(label)}</option>"
        for value, label in values
    )


def _filter_form(filters: QueueFilter, patterns: Sequence[str], day_text: str) -> str:
    offered = list(patterns)
    if filters.pattern and filters.pattern not in offered:
        offered.append(filters.pattern)
    pattern_options = _options([("", "any"), *((p, p) for p in offered)], filters.pattern or "")
    status_options = _options([(s, s) for s in STATUSES], filters.status)
    return (
        f'<form method="get" action="{QUEUE_PATH}" class="filters" id="filters">'
        f'<label>Day <input type="date" name="day" id="day" value="{escape(day_text)}"></label>'
        f'<label>Pattern <select name="pattern" id="pattern">{pattern_options}</select></label>'
        f'<label>Status <select name="status" id="status">{status_options}</select></label>'
        '<button type="submit">Filter</button>'
        f'<a href="{QUEUE_PATH}">Clear</a></form>'
    )


def queue_page(
    visitor: Visitor,
    filters: QueueFilter,
    alerts: pd.DataFrame,
    *,
    has_next: bool,
    patterns: Sequence[str],
    page_size: int,
    day_text: str = "",
    error: str | None = None,
) -> str:
    """One page of the queue with its filter form and links to the previous and next pages."""
    rows = []
    for row in alerts.itertuples(index=False):
        reasons = split_reasons(row.reasons)
        link = escape(case_path(str(row.alert_id)))
        rows.append(
            f'<tr data-alert-id="{escape(str(row.alert_id))}">'
            f"<td>{_text(row.partition_date)}</td>"
            f'<td class="account"><a href="{link}">{_text(row.account)}</a></td>'
            f'<td class="num risk">{_risk(row.risk_score)}</td>'
            f"<td>{_text(row.pattern)}</td>"
            f"<td>{escape(reasons[0]) if reasons else ''}</td>"
            f"<td>{decision_text(row.decision, row.category, row.suppressed_by)}</td>"
            f'<td><a href="{link}">case</a></td></tr>'
        )
    if rows:
        table = (
            '<table class="queue" id="queue"><thead><tr><th>day</th><th>account</th>'
            '<th class="num">risk</th><th>pattern</th><th>first reason</th><th>decision</th>'
            f"<th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    else:
        table = '<p class="empty" id="queue-empty">No alert matches these filters.</p>'
    first = (filters.page - 1) * page_size + 1
    shown = f"Alerts {first:,}&ndash;{first + len(alerts) - 1:,}" if len(alerts) else "No alerts"
    links = []
    if filters.page > 1:
        links.append(
            f'<a rel="prev" href="{escape(queue_url(filters, filters.page - 1))}">Previous</a>'
        )
    links.append(f'<span class="page">{shown}</span>')
    if has_next:
        links.append(
            f'<a rel="next" href="{escape(queue_url(filters, filters.page + 1))}">Next</a>'
        )
    body = (
        _header(visitor, "Alert queue", back_to=queue_url(filters, filters.page))
        + "<main>"
        + _filter_form(filters, patterns, day_text)
        + _error(error)
        + table
        + f'<nav class="pages">{" ".join(links)}</nav></main>'
    )
    return document("Alert queue", body)


# -- a case ---------------------------------------------------------------------------------------


def account_link(account: object, alert_id: object, graph: str | None) -> str:
    """A counterparty as a link to its own case when it has an alert that day, else to itself
    in the day's graph (``graph``: the dataset page's path), else as plain text."""
    name = _text(account)
    if isinstance(alert_id, str) and alert_id:
        return f'<a href="{escape(case_path(alert_id))}">{name}</a>'
    if graph is not None:
        return f'<a href="{escape(graph_focus(graph, str(account)))}">{name}</a>'
    return name


def graph_focus(graph: str, account: str) -> str:
    """The day's graph page with ``account`` selected (the page reads ``#account=``)."""
    return f"{graph}#account={quote(account, safe='')}"


def _counterparty_table(
    side: CounterpartySide, title: str, role: str, element_id: str, graph: str | None = None
) -> str:
    count = side.pairs
    heading = (
        f"<h3>{title}: {count:,} {role}{'' if count == 1 else 's'}, "
        f"{_amount(side.amount)} in all</h3>"
    )
    if not count:
        return heading + f'<p class="empty" id="{element_id}">None that day.</p>'
    rows = []
    for row in side.rows.itertuples(index=False):
        name = account_link(row.counterparty, row.alert_id, graph)
        rows.append(
            f'<tr><td class="account">{name}</td><td class="num">{_amount(row.amount_total)}</td>'
            f'<td class="num">{_count(row.tx_count)}</td></tr>'
        )
    left_out = count - len(side.rows)
    more = f'<p class="more">and {left_out:,} more, smaller</p>' if left_out > 0 else ""
    return (
        heading + f'<table class="counterparties" id="{element_id}"><thead><tr><th>{role}</th>'
        '<th class="num">amount</th><th class="num">transfers</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{more}"
    )


_OTHER_ALERT_COLUMNS = (
    Column(
        "day",
        lambda row: (
            f'<a href="{escape(case_path(str(row.alert_id)))}">{_text(row.partition_date)}</a>'
        ),
    ),
    Column("risk", lambda row: _risk(row.risk_score), "num risk"),
    Column("pattern", lambda row: _text(row.pattern)),
    Column("decision", lambda row: decision_text(row.decision, row.category)),
)
_DECISION_COLUMNS = (
    Column("when", lambda row: _time(row.decided_at)),
    Column("analyst", lambda row: _text(row.analyst)),
    Column("decision", lambda row: decision_text(row.decision)),
    Column("category", lambda row: _text(row.category)),
    Column("note", lambda row: _text(row.note), "note"),
)


def _other_alerts(frame: pd.DataFrame) -> str:
    empty = "No alerts on other days."
    return list_table(frame, "other-alerts", "others", _OTHER_ALERT_COLUMNS, empty)


def _history(frame: pd.DataFrame) -> str:
    """Every decision on the alert, newest first; notes as text, line breaks kept by CSS."""
    newest_first = frame.iloc[::-1]
    return list_table(newest_first, "history", "history", _DECISION_COLUMNS, "No decision yet.")


def _decision_form(alert_id: str, visitor: Visitor, values: Mapping[str, str]) -> str:
    if visitor.analyst is None:
        login = LOGIN_PATH + "?" + urlencode({"next": case_path(alert_id)})
        return f'<p><a href="{escape(login)}">Log in</a> to decide on this alert.</p>'
    categories = _options(
        [("", "(choose one to dismiss)"), *((c, c) for c in DISMISS_CATEGORIES)],
        values.get("category", ""),
    )
    buttons = "".join(
        f'<button type="submit" name="decision" value="{value}" id="decide-{value}">'
        f"{label}</button>"
        for value, label in _BUTTONS
    )
    return (
        f'<form method="post" action="{escape(case_path(alert_id))}/decision" '
        f'class="decision" id="decision-form">{_hidden_token(visitor)}'
        '<label for="category">What the account is (needed to dismiss)</label>'
        f'<select name="category" id="category">{categories}</select>'
        '<label for="note">Note</label>'
        f'<textarea name="note" id="note" rows="3" maxlength="{MAX_NOTE_CHARS}">'
        f"{escape(values.get('note', ''))}</textarea>"
        f'<div class="buttons">{buttons}</div></form>'
    )


def _timeline(transfers: pd.DataFrame, total: int, day: str, graph: str | None = None) -> str:
    """The account's transfers of the day in time order: in and out, counterparty, amount."""
    heading = f"<h2>Transfers on {escape(day)}</h2>"
    if transfers.empty:
        return heading + '<p class="empty" id="timeline">No transfers stored for this day.</p>'
    rows = []
    for row in transfers.itertuples(index=False):
        name = account_link(row.counterparty, row.alert_id, graph)
        arrow = "&larr; from" if row.direction == "in" else "&rarr; to"
        rows.append(
            f'<tr class="{escape(str(row.direction))}"><td>{_time(row.timestamp)}</td>'
            f'<td>{arrow}</td><td class="account">{name}</td>'
            f'<td class="num">{_amount(row.amount)}</td><td>{_text(row.transaction_id)}</td></tr>'
        )
    more = (
        f'<p class="more">the first {len(transfers):,} of {total:,} transfers</p>'
        if total > len(transfers)
        else ""
    )
    return (
        heading + '<table class="timeline" id="timeline"><thead><tr><th>time</th><th></th>'
        '<th>counterparty</th><th class="num">amount</th><th>transfer</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{more}"
    )


def _behaviour(history: Mapping[str, Any] | None) -> str:
    """The account's 28 days before, beside the day itself (what changed is the evidence)."""
    heading = "<h2>Behaviour over the days before</h2>"
    if history is None:
        return heading + '<p class="empty" id="behaviour">No history stored for this day.</p>'

    def number(name: str) -> float:
        value = history.get(name)
        return math.nan if value is None else float(value)

    window = number("history_days")
    if not window:
        return heading + (
            '<p class="empty" id="behaviour">The platform had no earlier day to compare with.</p>'
        )
    active, first, last = (
        number("days_active"),
        number("days_since_first_seen"),
        number("days_since_last_seen"),
    )
    seen = (
        f"first seen {first:.0f} day(s) before, last seen {last:.0f} day(s) before"
        if active
        else "never seen before"
    )
    share = number("known_counterparty_share")
    rows = [
        ("active", f"on {active:.0f} of the {window:.0f} days before; {seen}"),
        ("relayed money", f"on {number('relay_days'):.0f} of those days"),
        (
            "money in",
            f"{_amount(history.get('in_amount'))} that day; typically "
            f"{_amount(number('typical_in_amount'))} on an active day",
        ),
        (
            "money out",
            f"{_amount(history.get('out_amount'))} that day; typically "
            f"{_amount(number('typical_out_amount'))} on an active day",
        ),
        (
            "counterparties",
            f"{number('new_counterparties'):.0f} new that day"
            + ("" if math.isnan(share) else f", {100 * share:.0f}% known from before")
            + f"; typically {number('typical_counterparties'):.0f} on an active day",
        ),
    ]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return heading + f'<dl class="case" id="behaviour">{items}</dl>'


def case_page(
    visitor: Visitor,
    alert: Mapping[str, Any],
    parties: Counterparties,
    others: pd.DataFrame,
    history: pd.DataFrame,
    *,
    transfers: pd.DataFrame | None = None,
    transfer_count: int = 0,
    behaviour: Mapping[str, Any] | None = None,
    error: str | None = None,
    form_values: Mapping[str, str] | None = None,
) -> str:
    """One alert as an analyst works it: what, why, with whom, before and after, who decided."""
    alert_id = str(alert["alert_id"])
    day = str(alert["partition_date"])
    # The graph page selects the account named in the fragment: its neighbourhood, highlighted.
    day_graph = dataset_path(str(alert["dataset_id"])) if alert.get("dataset_present") else None
    focus = graph_focus(dataset_path(str(alert["dataset_id"])), str(alert["account"]))
    graph = (
        f'<a href="{escape(focus)}" id="graph-link">Its neighbourhood in the day\'s graph</a>'
        if alert.get("dataset_present")
        else "The day's dataset is no longer in the warehouse."
    )
    reasons = "".join(f"<li>{escape(r)}</li>" for r in split_reasons(alert.get("reasons")))
    facts = (
        '<dl class="case" id="case-facts">'
        f'<dt>account</dt><dd class="account" id="account">{_text(alert["account"])}</dd>'
        f"<dt>day</dt><dd>{escape(day)}</dd>"
        f'<dt>risk score</dt><dd class="risk">{_risk(alert["risk_score"])}</dd>'
        f"<dt>pattern</dt><dd>{_text(alert.get('pattern')) or 'not named'}</dd>"
        f"<dt>cluster</dt><dd>{_text(alert.get('cluster'))}</dd>"
        f"<dt>alerted</dt><dd>{_time(alert.get('created_at'))}</dd>"
        f'<dt>decision</dt><dd id="current-decision">'
        f"{decision_text(alert.get('decision'), alert.get('category'), alert.get('suppressed_by'))}"
        "</dd></dl>"
    )
    body = (
        _header(visitor, f"Case &middot; {escape(day)}", back_to=case_path(alert_id))
        + f'<main class="case-page" data-alert-id="{escape(alert_id)}">'
        + _error(error)
        + facts
        + f"<p>{graph}</p>"
        + "<section><h2>Why it was flagged</h2>"
        + (f'<ul class="reasons" id="reasons">{reasons}</ul>' if reasons else "<p>No reasons.</p>")
        + "</section><section><h2>Decide</h2>"
        + _decision_form(alert_id, visitor, form_values or {})
        + "</section><section>"
        + _behaviour(behaviour)
        + "</section><section>"
        + _timeline(
            transfers if transfers is not None else pd.DataFrame(), transfer_count, day, day_graph
        )
        + f"</section><section><h2>Counterparties on {escape(day)}</h2>"
        + _counterparty_table(parties.money_in, "Money in", "sender", "money-in", day_graph)
        + _counterparty_table(parties.money_out, "Money out", "receiver", "money-out", day_graph)
        + "</section><section><h2>The account's alerts on other days</h2>"
        + _other_alerts(others)
        + "</section><section><h2>Decision history</h2>"
        + _history(history)
        + "</section></main>"
    )
    return document(f"Case {alert['account']}", body)
