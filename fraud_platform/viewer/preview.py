"""Small, static pictures of a dataset for the Dagster UI: a Markdown table and a PNG.

Both are pure functions of a day's ``dataset_nodes`` / ``dataset_edges`` rows. The PNG is drawn
with Pillow (a small dependency, unlike matplotlib) at twice the size and scaled down, which
smooths the discs and lines.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from fraud_platform.settings import DEFAULT_HIGH_RISK_THRESHOLD
from fraud_platform.viewer.view import (
    VIEW_CAP,
    ViewSelection,
    complete_nodes,
    day_pairs,
    select_view,
)

#: Pairs drawn in a preview, the most money first: more only turns the picture grey.
PREVIEW_MAX_EDGES = 4_000
#: Accounts drawn in a preview (high-risk ones and their counterparties first): a thumbnail of
#: 20,000 discs is a blur. On the 1M-transfer day 5,000 draw in 0.16 s into 113 kB.
PREVIEW_MAX_POINTS = 5_000
_SUPERSAMPLE = 2
_BACKGROUND = (255, 255, 255)
_EDGE_COLOR = (150, 150, 150, 70)
_HIGH_RISK_OUTLINE = (120, 0, 0)
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


def _hex_rgb(color: str) -> tuple[int, int, int]:
    text = str(color).lstrip("#")
    try:
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    except (ValueError, IndexError):
        return (127, 127, 127)


def preview_png(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    *,
    size: tuple[int, int] = (480, 360),
    high_risk_threshold: float = DEFAULT_HIGH_RISK_THRESHOLD,
) -> bytes:
    """A PNG of the day's network: accounts colored by ``point_color``, sized by
    ``point_size``, high-risk ones outlined and drawn last; the heaviest pairs as faint lines.

    ``nodes`` needs ``account, risk_score, point_color, point_size`` (``x``, ``y`` are
    computed when missing); ``edges`` needs ``sender, receiver, amount_total``. A large day is
    reduced as the page reduces it (`select_view`).
    """
    nodes = nodes.copy()
    for column in ("x", "y", "in_amount", "out_amount"):
        if column not in nodes.columns:
            nodes[column] = np.nan
    if "cluster" not in nodes.columns:
        nodes["cluster"] = 0
    if "centrality" not in nodes.columns:
        nodes["centrality"] = 0.0
    pairs = day_pairs(nodes, edges)
    nodes, _ = complete_nodes(nodes, edges, pairs=pairs)
    view = select_view(nodes, edges, threshold=high_risk_threshold, cap=VIEW_CAP, pairs=pairs)
    return render_preview(view, size=size, high_risk_threshold=high_risk_threshold)


def render_preview(
    view: ViewSelection,
    *,
    size: tuple[int, int] = (480, 360),
    high_risk_threshold: float = DEFAULT_HIGH_RISK_THRESHOLD,
) -> bytes:
    """The PNG of `preview_png` for accounts already selected (and positioned)."""
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, not {size}")
    s = _SUPERSAMPLE
    image = Image.new("RGB", (width * s, height * s), _BACKGROUND)
    shown, pairs = view.nodes, view.edges
    if len(shown) > PREVIEW_MAX_POINTS:
        rank = np.lexsort((-shown["risk_score"].to_numpy(), shown["role"].to_numpy()))
        keep = np.zeros(len(shown), dtype=bool)
        keep[rank[:PREVIEW_MAX_POINTS]] = True
        position = np.cumsum(keep) - 1
        both = keep[pairs["source"].to_numpy()] & keep[pairs["target"].to_numpy()]
        pairs = pairs[both].assign(
            source=position[pairs["source"].to_numpy()[both]],
            target=position[pairs["target"].to_numpy()[both]],
        )
        shown = shown[keep].reset_index(drop=True)
    if not shown.empty:
        x = shown["x"].to_numpy(dtype=np.float64)
        y = shown["y"].to_numpy(dtype=np.float64)
        margin = 12.0 * s
        span_x, span_y = max(float(np.ptp(x)), 1e-9), max(float(np.ptp(y)), 1e-9)
        scale = min((width * s - 2 * margin) / span_x, (height * s - 2 * margin) / span_y)
        px = (x - x.min()) * scale + (width * s - span_x * scale) / 2
        py = (y.max() - y) * scale + (height * s - span_y * scale) / 2  # y grows upwards
        pairs = pairs.nlargest(PREVIEW_MAX_EDGES, "amount_total")
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        lines = ImageDraw.Draw(overlay)
        for source, target in zip(pairs["source"], pairs["target"], strict=True):
            lines.line(
                [(px[source], py[source]), (px[target], py[target])], fill=_EDGE_COLOR, width=s
            )
        image.paste(overlay, mask=overlay)
        draw = ImageDraw.Draw(image)
        radius = np.clip(shown["point_size"].to_numpy(dtype=np.float64) / 6.0, 1.0, 5.0) * s
        high = shown["risk_score"].to_numpy(dtype=np.float64) >= high_risk_threshold
        order = np.lexsort((shown["risk_score"].to_numpy(), high))  # high risk on top
        colors = shown["point_color"].to_numpy()
        for i in order:
            box = [px[i] - radius[i], py[i] - radius[i], px[i] + radius[i], py[i] + radius[i]]
            outline = _HIGH_RISK_OUTLINE if high[i] else None
            draw.ellipse(box, fill=_hex_rgb(colors[i]), outline=outline, width=s)
    image = image.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
