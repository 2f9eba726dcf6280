"""Text summaries of a day's scores for the Dagster UI: a Markdown table of the riskiest accounts
and where to see the day's picture.

`account_scores` and `fraud_dataset` put them in their metadata. It lives outside ``defs/`` and
``viewer/`` because data walks one way: the Dagster definitions feed the viewer and never import
it (``fraud_platform_tests/test_layering.py``); ``fraud_platform.viewer`` re-exports these names.
Pure functions of a DataFrame: no Dagster, no database, no web server.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def markdown_text(value: object) -> str:
    """Text that Markdown shows verbatim inside a table cell.

    Every ASCII punctuation character is backslash-escaped (CommonMark allows it for each one),
    which neutralizes emphasis, links, HTML tags, entities and the cell separator ``|``;
    control characters (a line break would end the row) are shown as ``\\xNN``.
    """
    text = _ASCII_PUNCTUATION.sub(r"\\\1", str(value))
    return _CONTROL.sub(lambda match: f"\\\\x{ord(match.group()):02x}", text)


def top_accounts_markdown(nodes: pd.DataFrame, n: int = 20) -> str:
    """A Markdown table of the ``n`` riskiest accounts: risk score, centrality, cluster and,
    when the rows have them, money in and out. Ties are broken by account id."""
    columns = ["account", "risk_score", "centrality", "cluster"]
    amounts = [c for c in ("in_amount", "out_amount") if c in nodes.columns]
    risk = nodes["risk_score"].to_numpy(dtype=np.float64)
    if len(risk) > n:
        # Only rows that can make the top n are sorted: a string sort of millions of accounts
        # takes seconds, and ties at the n-th score are all kept for the id tie-break.
        nth = np.partition(np.nan_to_num(risk, nan=-np.inf), len(risk) - n)[len(risk) - n]
        nodes = nodes[risk >= nth]
    top = nodes.sort_values(["risk_score", "account"], ascending=[False, True]).head(n)
    header = ["#", "account", "risk_score", "centrality", "cluster", *amounts]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, row in enumerate(top[columns + amounts].itertuples(index=False), start=1):
        cells = [
            str(rank),
            markdown_text(row.account),
            f"{row.risk_score:.3f}",
            f"{row.centrality:.3g}",
            str(row.cluster),
        ]
        cells += ["" if pd.isna(v) else f"{v:,.2f}" for v in row[len(columns) :]]
        lines.append("| " + " | ".join(cells) + " |")
    if top.empty:
        lines.append("| " + " | ".join(["—"] + [""] * (len(header) - 1)) + " |")
    return "\n".join(lines)


def preview_markdown(url: str) -> str:
    """Markdown telling where the day's picture is: the viewer draws it (``<url>/preview.png``),
    so the UI links to it and names the command that serves it instead of showing an image
    that is broken whenever the viewer is not running."""
    return (
        f"The day's picture is drawn by the viewer: run `fraud-platform serve`, then open "
        f"[{markdown_text(url + '/preview.png')}]({url}/preview.png) "
        f"(the interactive view: [{markdown_text(url)}]({url}))."
    )
