"""What the page draws: the legend of a day's clusters and the page's JSON of its selection.

Which accounts are shown (`select_view`) is decided in `fraud_platform.presentation.selection`,
which the previews share.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from fraud_platform.presentation.selection import ViewSelection

#: Clusters named in the page's legend (the largest of the day).
LEGEND_CLUSTERS = 10
#: Side of the square the positions are scaled into (page units; the aspect ratio is kept).
VIEW_EXTENT = 1000.0


def cluster_legend(
    nodes: pd.DataFrame, view: pd.DataFrame, *, threshold: float, top: int = LEGEND_CLUSTERS
) -> list[dict[str, Any]]:
    """The day's ``top`` largest clusters: id, color, accounts, shown and high-risk accounts."""
    if nodes.empty:
        return []
    day = nodes.groupby("cluster", sort=False).agg(
        accounts=("account", "size"),
        color=("point_color", "first"),
        high_risk=("risk_score", lambda s: int((s >= threshold).sum())),
    )
    shown = view.groupby("cluster", sort=False).size()
    day["shown"] = shown.reindex(day.index, fill_value=0)
    day = day.reset_index().sort_values(["accounts", "cluster"], ascending=[False, True])
    return [
        {
            "cluster": int(row.cluster),
            "color": str(row.color),
            "accounts": int(row.accounts),
            "shown": int(row.shown),
            "high_risk": int(row.high_risk),
        }
        for row in day.head(top).itertuples()
    ]


def _significant(values: np.ndarray, digits: int) -> list[float | None]:
    """Values to ``digits`` significant digits (JSON stays small), NaN as None."""
    values = np.asarray(values, dtype=np.float64)
    magnitude = np.floor(np.log10(np.abs(np.where(values == 0, 1.0, values))))
    scale = np.power(10.0, digits - 1 - np.nan_to_num(magnitude))
    rounded = np.round(values * scale) / scale
    return [None if math.isnan(v) else v for v in rounded.tolist()]


def _rounded(values: np.ndarray, decimals: int) -> list[float | None]:
    rounded = np.round(np.asarray(values, dtype=np.float64), decimals)
    return [None if math.isnan(v) else v for v in rounded.tolist()]


def _scaled_positions(view: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions moved into [0, VIEW_EXTENT] on the longer side, the aspect ratio kept."""
    x = view["x"].to_numpy(dtype=np.float64)
    y = view["y"].to_numpy(dtype=np.float64)
    if x.size == 0:
        return x, y
    span = max(float(np.ptp(x)), float(np.ptp(y)))
    scale = VIEW_EXTENT / span if span > 0 else 1.0
    return (x - x.min()) * scale, (y - y.min()) * scale


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def view_payload(
    summary: dict[str, Any],
    selection: ViewSelection,
    legend: list[dict[str, Any]],
    *,
    threshold: float,
    layout: str,
) -> dict[str, Any]:
    """The page's JSON: the dataset, the counts shown and left out, columns of the shown
    accounts and pairs, the legend. ``layout`` says where positions came from."""
    view, pairs = selection.nodes, selection.edges
    x, y = _scaled_positions(view)
    return {
        "dataset": {key: _jsonable(value) for key, value in summary.items()},
        "threshold": threshold,
        "layout": layout,
        "counts": selection.counts,
        "nodes": {
            "account": view["account"].astype("str").tolist(),
            "x": _rounded(x, 2),
            "y": _rounded(y, 2),
            "risk_score": _rounded(view["risk_score"].to_numpy(), 4),
            "centrality": _significant(view["centrality"].to_numpy(), 4),
            "cluster": view["cluster"].astype("int64").tolist(),
            "in_amount": _rounded(view["in_amount"].to_numpy(), 2),
            "out_amount": _rounded(view["out_amount"].to_numpy(), 2),
            "color": view["point_color"].astype("str").tolist(),
            "size": _rounded(view["point_size"].to_numpy(), 1),
            "role": view["role"].astype("int64").tolist(),
            "degree": view["degree"].astype("int64").tolist(),
            "reasons": view["reasons"].astype("str").tolist()
            if "reasons" in view.columns
            else [""] * len(view),
        },
        "edges": {
            "source": pairs["source"].astype("int64").tolist(),
            "target": pairs["target"].astype("int64").tolist(),
            "amount": _rounded(pairs["amount_total"].to_numpy(), 2),
            "count": pairs["tx_count"].astype("int64").tolist(),
        },
        "clusters": legend,
    }
