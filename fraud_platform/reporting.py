"""Text summaries of a day's scores for the Dagster UI: a Markdown table of the riskiest accounts
and the day's picture.

`account_scores` and `fraud_dataset` put them in their metadata. It lives outside ``defs/`` and
``viewer/`` because data walks one way: the Dagster definitions feed the viewer and never import
it (``fraud_platform_tests/test_layering.py``); ``fraud_platform.viewer`` re-exports these names.
Pure functions of a DataFrame: no Dagster, no database, no web server.
"""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd

from fraud_platform.presentation.preview import thumbnail_png
from fraud_platform.settings import DEFAULT_HIGH_RISK_THRESHOLD

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


def preview_markdown(
    url: str,
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    *,
    high_risk_threshold: float = DEFAULT_HIGH_RISK_THRESHOLD,
) -> str:
    """Markdown showing the day's picture in the Dagster UI, viewer or not, and where the
    full-size, interactive one is.

    The thumbnail (`thumbnail_png`) is embedded as a ``data:`` URI: an image linked to the viewer
    is broken whenever the viewer is not running. The UI's Markdown sanitizer allows ``data:`` as
    an image source (dagster-io/dagster,
    js_modules/dagster-ui/packages/ui-core/src/ui/MarkdownWithPlugins.tsx: ``sanitizeConfig``
    adds ``'data'`` to ``protocols.src``, and react-markdown 8 rewrites only link URLs; the UI
    that dagster-webserver 1.13 ships has it). A day without accounts gets a sentence, not an
    image.
    """
    if nodes.empty:
        picture = "No accounts on this day: there is no picture to draw."
    else:
        png = thumbnail_png(nodes, edges, high_risk_threshold=high_risk_threshold)
        encoded = base64.b64encode(png).decode("ascii")
        picture = (
            "![The day's network: accounts colored by cluster, high-risk ones outlined]"
            f"(data:image/png;base64,{encoded})"
        )
    return (
        f"{picture}\n\n"
        f"The full-size picture and the interactive view are served by the viewer: run "
        f"`fraud-platform serve`, then open "
        f"[{markdown_text(url + '/preview.png')}]({url}/preview.png) "
        f"(the interactive view: [{markdown_text(url)}]({url}))."
    )
