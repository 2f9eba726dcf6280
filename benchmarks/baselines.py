"""The two reference pipelines the platform is measured against, on the same landing files.

Both compute what the platform's day computes for the comparison: validated rows (and the
rejected ones with file, line, field and reason), parallel transfers collapsed into weighted
edges, the node table, PageRank (directed, weighted by amount, damping 0.85) and Louvain clusters
(undirected, weighted, resolution 1), and write the rejected rows, nodes (with PageRank and
cluster), edges and a summary row to PostgreSQL. They do less than the platform (no risk score,
no Parquet copies, no asset checks, no Dagster), so the platform's speed-up is, if anything,
understated.

* ``networkx``: what a data scientist writes first: ``pandas.read_csv``, pandas groupbys,
  ``networkx.pagerank(weight=)`` and ``networkx.community.louvain_communities(weight=)``, and
  ``DataFrame.to_sql`` through SQLAlchemy.
* ``igraph``: the same pandas steps with igraph for the graph, the library Graphistry's CPU
  path (``compute_igraph``) runs: ``Graph.DataFrame`` from the edge frame,
  ``pagerank(weights=)`` and ``community_multilevel(weights=)`` on the undirected view.

`run_baseline` times each stage (imports excluded) and writes the per-account results to Parquet
so that the caller can compare them with the platform's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BASELINES = ("networkx", "igraph")
DAMPING = 0.85
#: The platform's PageRank stops when the L1 change of one step is below this.
PAGERANK_L1_TOL = 1e-10
MAX_AMOUNT = 1e12
LANDING_COLUMNS = ("transaction_id", "timestamp", "sender", "receiver", "amount", "currency")


@dataclass
class BaselineResult:
    """Seconds per stage, output sizes and where the per-account results were written."""

    kind: str
    stages: dict[str, float] = field(default_factory=dict)
    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    nodes: int = 0
    edges: int = 0
    pagerank_iterations: int | None = None
    rows_written: int = 0
    results_path: str = ""

    @property
    def total(self) -> float:
        return sum(self.stages.values())


def _timed(result: BaselineResult, stage: str, run: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    value = run()
    result.stages[stage] = result.stages.get(stage, 0.0) + time.perf_counter() - start
    return value


# -- read and validate (plain pandas) --------------------------------------------------------------


def read_landing(folder: Path) -> pd.DataFrame:
    """Every landing file of the day, in name order, as text with ``source_file`` and ``line``."""
    frames = []
    for path in sorted(folder.iterdir()):
        if path.name.endswith(".parquet"):
            frame = pd.read_parquet(path)
            frame["timestamp"] = frame["timestamp"].astype("str")
            frame["amount"] = frame["amount"].astype("str")
        elif path.name.endswith((".csv", ".csv.gz")):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            continue
        frame["source_file"] = path.name
        # CSV: the physical line (header = 1); Parquet: the row number + 1, as the platform counts.
        first = 1 if path.name.endswith(".parquet") else 2
        frame["line"] = np.arange(first, len(frame) + first)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def validate(rows: pd.DataFrame, day: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valid rows (typed) and rejected rows (file, line, field, reason), first failure wins."""
    timestamp = pd.to_datetime(rows["timestamp"], utc=True, format="ISO8601", errors="coerce")
    amount = pd.to_numeric(rows["amount"], errors="coerce")
    start = pd.Timestamp(day, tz="UTC")
    end = start + pd.Timedelta(days=1)
    sender = rows["sender"].fillna("").str.strip()
    receiver = rows["receiver"].fillna("").str.strip()
    checks = [
        ("transaction_id", rows["transaction_id"].fillna("") == "", "empty transaction_id"),
        ("timestamp", timestamp.isna(), "unparseable timestamp"),
        ("timestamp", (timestamp < start) | (timestamp >= end), "timestamp outside the day"),
        ("sender", sender == "", "empty sender"),
        ("receiver", receiver == "", "empty receiver"),
        ("receiver", sender == receiver, "self-transfer"),
        ("amount", amount.isna(), "amount is not a number"),
        ("amount", ~np.isfinite(amount.fillna(0.0)), "amount is not finite"),
        ("amount", amount <= 0, "amount must be greater than zero"),
        ("amount", amount > MAX_AMOUNT, "amount above the maximum"),
        ("transaction_id", rows["transaction_id"].duplicated(), "duplicate transaction_id"),
    ]
    conditions = [mask.fillna(False).to_numpy(dtype=bool) for _, mask, _ in checks]
    field_name = np.select(conditions, [f for f, _, _ in checks], default="")
    reason = np.select(conditions, [r for _, _, r in checks], default="")
    bad = reason != ""
    rejected = rows.loc[bad, ["source_file", "line"]].assign(
        partition_date=day, field=field_name[bad], reason=reason[bad]
    )
    rejected["raw"] = rows.loc[bad, list(LANDING_COLUMNS)].fillna("").agg(",".join, axis=1)
    valid = rows.loc[~bad].assign(
        timestamp=timestamp[~bad], amount=amount[~bad], sender=sender[~bad], receiver=receiver[~bad]
    )
    return valid.reset_index(drop=True), rejected.reset_index(drop=True)


def collapse_edges(valid: pd.DataFrame) -> pd.DataFrame:
    """One row per ordered (sender, receiver) pair: amount total, count, first and last time."""
    return (
        valid.groupby(["sender", "receiver"], sort=False)
        .agg(
            amount_total=("amount", "sum"),
            tx_count=("amount", "size"),
            first_timestamp=("timestamp", "min"),
            last_timestamp=("timestamp", "max"),
        )
        .reset_index()
    )


def node_table(edges: pd.DataFrame) -> pd.DataFrame:
    """Accounts with in/out degree, in/out amount and transfer count."""
    out = edges.groupby("sender").agg(
        out_degree=("receiver", "size"),
        out_amount=("amount_total", "sum"),
        out_tx=("tx_count", "sum"),
    )
    incoming = edges.groupby("receiver").agg(
        in_degree=("sender", "size"), in_amount=("amount_total", "sum"), in_tx=("tx_count", "sum")
    )
    nodes = out.join(incoming, how="outer").fillna(0)
    nodes["tx_count"] = nodes.pop("out_tx") + nodes.pop("in_tx")
    nodes.index.name = "account"
    return nodes.reset_index().astype({"in_degree": "int64", "out_degree": "int64"})


def undirected_edges(edges: pd.DataFrame) -> pd.DataFrame:
    """Each unordered pair once, both directions' amounts added (what Louvain optimizes on)."""
    low = np.minimum(edges["sender"].to_numpy(), edges["receiver"].to_numpy())
    high = np.maximum(edges["sender"].to_numpy(), edges["receiver"].to_numpy())
    pairs = pd.DataFrame({"a": low, "b": high, "weight": edges["amount_total"].to_numpy()})
    return pairs.groupby(["a", "b"], sort=False, as_index=False)["weight"].sum()


# -- graph algorithms ------------------------------------------------------------------------------


def networkx_scores(edges: pd.DataFrame, result: BaselineResult) -> pd.DataFrame:
    """networkx PageRank and Louvain; the graphs' construction counts in each algorithm's time."""
    import networkx as nx

    def pagerank() -> dict[str, float]:
        graph = nx.from_pandas_edgelist(
            edges, "sender", "receiver", edge_attr="amount_total", create_using=nx.DiGraph
        )
        # networkx stops when the L1 change is below N·tol: tol = 1e-10 / N is the platform's
        # own stopping rule (an L1 change below 1e-10); its default 1e-6 stops after a few steps.
        tol = PAGERANK_L1_TOL / graph.number_of_nodes()
        return nx.pagerank(graph, alpha=DAMPING, weight="amount_total", tol=tol, max_iter=10_000)

    def louvain() -> list[set[str]]:
        pairs = undirected_edges(edges)
        graph = nx.from_pandas_edgelist(pairs, "a", "b", edge_attr="weight")
        return nx.community.louvain_communities(graph, weight="weight", resolution=1.0, seed=42)

    ranks = _timed(result, "PageRank", pagerank)
    communities = _timed(result, "Louvain", louvain)
    clusters = {account: label for label, members in enumerate(communities) for account in members}
    accounts = pd.Index(list(ranks), dtype="str")
    return pd.DataFrame(
        {
            "account": accounts,
            "pagerank": np.fromiter(ranks.values(), dtype=np.float64, count=len(ranks)),
            "cluster": accounts.map(clusters).to_numpy(dtype=np.int64),
        }
    )


def igraph_scores(edges: pd.DataFrame, result: BaselineResult) -> pd.DataFrame:
    """igraph PageRank (PRPACK) and multilevel (Louvain) on a graph built from the edge frame."""
    import igraph as ig

    graph = _timed(
        result,
        "PageRank",
        lambda: ig.Graph.DataFrame(
            edges[["sender", "receiver", "amount_total"]], directed=True, use_vids=False
        ),
    )
    ranks = _timed(
        result,
        "PageRank",
        lambda: graph.pagerank(weights="amount_total", directed=True, damping=DAMPING),
    )

    def louvain() -> list[int]:
        undirected = graph.as_undirected(mode="collapse", combine_edges={"amount_total": "sum"})
        return undirected.community_multilevel(weights="amount_total", resolution=1.0).membership

    membership = _timed(result, "Louvain", louvain)
    return pd.DataFrame(
        {
            "account": pd.Index(graph.vs["name"], dtype="str"),
            "pagerank": np.asarray(ranks, dtype=np.float64),
            "cluster": np.asarray(membership, dtype=np.int64),
        }
    )


# -- PostgreSQL ------------------------------------------------------------------------------------


def write_postgres(
    database_url: str,
    schema: str,
    day: str,
    rejected: pd.DataFrame,
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
) -> int:
    """``DataFrame.to_sql`` through SQLAlchemy (psycopg2, its default PostgreSQL driver)."""
    import sqlalchemy as sa

    url = sa.engine.make_url(database_url).set(drivername="postgresql+psycopg2")
    engine = sa.create_engine(url)
    summary = pd.DataFrame(
        {
            "partition_date": [day],
            "node_count": [len(nodes)],
            "edge_count": [len(edges)],
            "created_at": [pd.Timestamp.now(tz="UTC")],
        }
    )
    try:
        with engine.begin() as connection:
            connection.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            written = 0
            for table, frame in (
                ("datasets", summary),
                ("rejected_transactions", rejected),
                ("dataset_nodes", nodes.assign(partition_date=day)),
                ("dataset_edges", edges.assign(partition_date=day)),
            ):
                frame.to_sql(table, connection, schema=schema, if_exists="replace", index=False)
                written += len(frame)
    finally:
        engine.dispose()
    return written


# -- the whole pipeline ----------------------------------------------------------------------------


def run_baseline(
    kind: str, landing_day: Path, day: str, database_url: str, schema: str, out_dir: Path
) -> BaselineResult:
    """Run one reference pipeline on the day's landing folder; results under ``out_dir``."""
    if kind not in BASELINES:
        raise ValueError(f"unknown baseline {kind!r}; choose one of {BASELINES}")
    import networkx  # noqa: F401  (imports outside the timed stages)
    import sqlalchemy  # noqa: F401

    if kind == "igraph":
        import igraph  # noqa: F401

    result = BaselineResult(kind=kind)
    rows = _timed(result, "read+validate", partial(read_landing, landing_day))
    valid, rejected = _timed(result, "read+validate", partial(validate, rows, day))
    result.rows_read, result.rows_valid, result.rows_rejected = len(rows), len(valid), len(rejected)
    edges = _timed(result, "graph build", partial(collapse_edges, valid))
    nodes = _timed(result, "graph build", partial(node_table, edges))
    result.nodes, result.edges = len(nodes), len(edges)
    del rows, valid  # what a careful script frees before the graph work
    scores = (networkx_scores if kind == "networkx" else igraph_scores)(edges, result)
    nodes = nodes.merge(scores, on="account", how="left")
    result.rows_written = _timed(
        result,
        "PostgreSQL load",
        lambda: write_postgres(database_url, schema, day, rejected, nodes, edges),
    )
    path = out_dir / f"{kind}_scores.parquet"
    scores.to_parquet(path, index=False)
    result.results_path = str(path)
    return result


def run_to_file(
    kind: str, landing_day: str, day: str, database_url: str, schema: str, out_dir: str
) -> None:
    """`run_baseline` for a child process: the result is written as ``{kind}_result.json``."""
    import json

    result = run_baseline(kind, Path(landing_day), day, database_url, schema, Path(out_dir))
    Path(out_dir, f"{kind}_result.json").write_text(json.dumps(asdict(result)))
