"""The viewer's HTML: the index of datasets, a dataset's page, and the error pages (the
analysts' pages are in `fraud_platform.viewer.case_pages`).

Pages are small strings built here; every value that comes from data goes through
`html.escape` (names, descriptions and, on the page, account ids are set with ``textContent``
by the script). Nothing is loaded from another host: the script, its stylesheet and plotly.js
are served by the viewer itself, and the favicon is an empty inline one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import pandas as pd

#: Where the viewer serves its own files; plotly.js is named by its version so it can be cached.
STATIC_PREFIX = "/static/"
VIEWER_SCRIPT = "viewer.js"
VIEWER_STYLE = "viewer.css"


def plotly_script_name(plotly_version: str) -> str:
    return f"plotly-{plotly_version}.min.js"


def dataset_path(dataset_id: str) -> str:
    return f"/datasets/{dataset_id}"


def document(
    title: str, body: str, *, scripts: Sequence[str] = (), body_attributes: str = ""
) -> str:
    """A whole page around ``body`` (already escaped), with the viewer's stylesheet and
    ``scripts``, all served by the viewer itself."""
    script_tags = "".join(f'<script src="{escape(src)}"></script>' for src in scripts)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        '<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="{STATIC_PREFIX}{VIEWER_STYLE}">'
        f"</head><body{body_attributes}>{body}{script_tags}</body></html>\n"
    )


def sparkline_svg(values: Sequence[float], *, width: int = 240, height: int = 40) -> str:
    """An inline SVG line of ``values`` (oldest first), scaled to its own maximum, with the last
    value marked; an empty string without values."""
    points = [0.0 if v is None or math.isnan(float(v)) else float(v) for v in values]
    if not points:
        return ""
    pad = 3.0
    top = max(points) or 1.0
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    coordinates = [
        (pad + i * step, height - pad - (value / top) * (height - 2 * pad))
        for i, value in enumerate(points)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
    last_x, last_y = coordinates[-1]
    label = (
        f"High-risk accounts per day: {len(points)} days, last {points[-1]:,.0f}, "
        f"highest {max(points):,.0f}"
    )
    return (
        f'<svg class="sparkline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
        f'<polyline fill="none" stroke="#b22222" stroke-width="1.5" points="{path}"/>'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2.5" fill="#b22222"/></svg>'
    )


def _count(value: object) -> str:
    return "" if value is None or pd.isna(value) else f"{int(value):,}"


@dataclass(frozen=True)
class Column:
    """One column of a list table, stated once for its heading and its cells.

    ``cell`` makes the cell's (escaped) content from a row of ``itertuples``; ``css`` is the
    cell's class. A numeric cell ("num" among its classes) gets a right-aligned heading.
    """

    heading: str
    cell: Callable[[Any], str]
    css: str = ""

    def heading_html(self) -> str:
        numeric = "num" in self.css.split()
        return f'<th class="num">{self.heading}</th>' if numeric else f"<th>{self.heading}</th>"

    def cell_html(self, row: Any) -> str:
        css = f' class="{self.css}"' if self.css else ""
        return f"<td{css}>{self.cell(row)}</td>"


def list_table(
    frame: pd.DataFrame,
    element_id: str,
    css_class: str,
    columns: Sequence[Column],
    empty: str,
    *,
    limit: tuple[int, str] | None = None,
) -> str:
    """A list on a page: a heading row from ``columns``, then a row of their cells for each of
    ``frame``'s rows; the ``empty`` note, same id, when there are none.

    ``limit`` ``(n, what)`` lists the first n rows, then says how many ``what`` were left out.
    """
    if frame.empty:
        return f'<p class="empty" id="{element_id}">{empty}</p>'
    listed, more = frame, ""
    if limit is not None:
        listed = frame.head(limit[0])
        if len(frame) > len(listed):
            more = f'<p class="more">and {len(frame) - len(listed):,} more {limit[1]}</p>'
    head = "".join(column.heading_html() for column in columns)
    rows = "".join(
        "<tr>" + "".join(column.cell_html(item) for column in columns) + "</tr>"
        for item in listed.itertuples(index=False)
    )
    return (
        f'<table class="{css_class}" id="{element_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>{more}"
    )


def index_page(datasets: pd.DataFrame, *, threshold: float) -> str:
    """Every dataset, newest day first, with its counts and a sparkline of high-risk counts."""
    by_day = datasets.sort_values("partition_date")
    spark = sparkline_svg(by_day["high_risk_count"].fillna(0).astype("float64").tolist())
    rows = []
    for row in by_day.iloc[::-1].itertuples(index=False):
        link = escape(dataset_path(str(row.dataset_id)))
        rows.append(
            "<tr>"
            f'<td><a href="{link}">{escape(str(row.partition_date))}</a></td>'
            f"<td>{escape(str(row.name or ''))}</td>"
            f'<td class="num">{_count(row.node_count)}</td>'
            f'<td class="num">{_count(row.edge_count)}</td>'
            f'<td class="num risk">{_count(row.high_risk_count)}</td>'
            f'<td><a href="{link}/preview.png">preview</a></td>'
            "</tr>"
        )
    if rows:
        table = (
            '<table class="datasets"><thead><tr><th>day</th><th>name</th>'
            '<th class="num">accounts</th><th class="num">transfer pairs</th>'
            '<th class="num">high-risk</th><th></th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
    else:
        table = '<p class="empty">No dataset has been published yet.</p>'
    body = (
        '<header><nav class="top"><a href="/alerts">Alert queue</a>'
        '<a href="/weeks">Weekly trends</a></nav>'
        "<h1>Fraud datasets</h1>"
        f"<p>{len(datasets):,} day(s); high risk means risk_score &ge; {threshold:g}.</p>"
        f'<div class="trend">{spark}</div></header>'
        f"<main>{table}</main>"
    )
    return document("Fraud datasets", body)


def dataset_page(summary: dict[str, object], *, plotly_script: str) -> str:
    """The interactive page of one dataset; its script fetches ``{page}/data.json``."""
    path = dataset_path(str(summary["dataset_id"]))
    attributes = (
        f' data-dataset-id="{escape(str(summary["dataset_id"]))}"'
        f' data-json-url="{escape(path)}/data.json"'
    )
    body = (
        '<header><a class="back" href="/">All datasets</a>'
        f"<h1>{escape(str(summary.get('name') or ''))}</h1>"
        f'<p class="description">{escape(str(summary.get("description") or ""))}</p>'
        '<p id="coverage" class="coverage">Loading the accounts&hellip;</p></header>'
        '<div class="controls">'
        '<label><input type="checkbox" id="high-risk-only"> '
        "High-risk accounts and their counterparties only</label>"
        '<span id="point-count" class="point-count"></span>'
        '<button type="button" id="clear-selection">Clear selection</button></div>'
        '<main class="viewer"><div id="graph" class="graph"></div>'
        '<aside><section id="details" class="details">'
        "<p>Hover over an account to see it; click it to show its counterparties.</p></section>"
        '<section><h2>Largest clusters</h2><ol id="legend" class="legend"></ol></section>'
        '<section><h2>Riskiest accounts</h2><ol id="top-accounts" class="top"></ol></section>'
        "</aside></main>"
        '<footer id="timing" class="timing"></footer>'
    )
    scripts = [f"{STATIC_PREFIX}{plotly_script}", f"{STATIC_PREFIX}{VIEWER_SCRIPT}"]
    return document(
        str(summary.get("name") or "Dataset"), body, scripts=scripts, body_attributes=attributes
    )


def error_page(status: int, title: str, message: str) -> str:
    body = (
        f"<header><h1>{status} &middot; {escape(title)}</h1></header>"
        f'<main><p>{escape(message)}</p><p><a href="/">All datasets</a></p></main>'
    )
    return document(f"{status} {title}", body)
