"""The pandas + networkx and pandas + igraph pipelines (`baselines.py`) run on a platform run's
landing files, each in a child process, and checked against the platform's results."""

from __future__ import annotations

import json
import math
import multiprocessing
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .common import BENCH_DIR, DAY, GB, log
from .memory import RssSampler
from .platform_run import PlatformRun
from .workspace import Workspace

BASELINE_STAGES = ("read+validate", "graph build", "PageRank", "Louvain", "PostgreSQL load")


@dataclass
class BaselineRun:
    """One baseline pipeline's stages, memory and agreement with the platform run it is beside."""

    kind: str
    label: str  # the platform run it is compared with
    stages: dict[str, float] = field(default_factory=dict)
    peak_rss: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    pagerank_l1: float = math.nan
    modularity: float = math.nan
    platform_modularity: float = math.nan
    counts_agree: bool = False
    scale: float = 1.0  # > 1 when measured on a smaller day and extrapolated linearly
    error: str = ""

    @property
    def total(self) -> float:
        """Seconds of all stages, scaled to the platform's day if measured on a smaller one."""
        return sum(self.stages.values()) * self.scale


def run_baseline(
    ws: Workspace, kind: str, platform: PlatformRun, limit: int, scale: float = 1.0
) -> BaselineRun:
    """A reference pipeline on the platform run's landing files, in a child process."""
    sys.path.insert(0, str(BENCH_DIR))
    import baselines

    result = BaselineRun(kind=kind, label=platform.label, scale=scale)
    landing = platform.storage / "landing" / "transactions" / f"date={DAY}"
    schema = ws.schema(f"{kind}{len(ws.schemas)}")
    out = ws.root / f"baseline_{kind}_{len(ws.schemas)}"
    out.mkdir()
    log(f"baseline {kind} on the {platform.label} day")
    process = multiprocessing.get_context("spawn").Process(
        target=baselines.run_to_file,
        args=(kind, str(landing), DAY, ws.database_url, schema, str(out)),
    )
    process.start()
    with RssSampler(process.pid, limit) as sampler:
        process.join()
    result.peak_rss = sampler.peak_process()
    if sampler.killed_at is not None:
        result.error = f"killed at {sampler.killed_at / GB:.1f} GB"
        return result
    if process.exitcode != 0:
        result.error = f"exit {process.exitcode}"
        return result
    outcome = json.loads((out / f"{kind}_result.json").read_text())
    result.stages = outcome["stages"]
    result.counts = {
        k: outcome[k] for k in ("rows_valid", "rows_rejected", "nodes", "edges", "rows_written")
    }
    compare(result, platform, Path(outcome["results_path"]))
    return result


def compare(result: BaselineRun, platform: PlatformRun, scores_path: Path) -> None:
    """PageRank L1 distance, modularity of both partitions (same function, same graph), counts."""
    import numpy as np
    import pandas as pd

    from fraud_platform.defs.analytics.engines.base import edge_vertices, modularity

    assets = platform.storage / "assets"
    ours = pd.read_parquet(
        assets / "account_scores" / f"{DAY}.parquet", columns=["account", "centrality", "cluster"]
    ).set_index("account")
    theirs = pd.read_parquet(scores_path).set_index("account")
    edges = pd.read_parquet(
        assets / "transaction_graph" / DAY / "edges.parquet",
        columns=["sender", "receiver", "amount_total"],
    )
    accounts, senders, receivers = edge_vertices(edges)
    weights = edges["amount_total"].to_numpy(np.float64)
    pagerank = theirs["pagerank"].reindex(accounts).to_numpy()
    result.pagerank_l1 = float(
        np.abs(ours["centrality"].reindex(accounts).to_numpy() - pagerank).sum()
    )
    for attribute, labels in (
        ("platform_modularity", ours["cluster"]),
        ("modularity", theirs["cluster"]),
    ):
        dense = pd.factorize(labels.reindex(accounts))[0]
        setattr(result, attribute, modularity(senders, receivers, weights, dense))
    expected = {
        "rows_valid": platform.meta("raw_transactions", "rows_valid"),
        "rows_rejected": platform.meta("raw_transactions", "rows_rejected"),
        "nodes": platform.meta("transaction_graph", "node_count"),
        "edges": platform.meta("transaction_graph", "edge_count"),
        "rows_written": sum(
            platform.meta(asset, key, 0)
            for asset, key in (
                ("rejected_transactions", "rejected_transactions_rows"),
                ("fraud_dataset", "datasets_rows"),
                ("fraud_dataset", "dataset_nodes_rows"),
                ("fraud_dataset", "dataset_edges_rows"),
            )
        ),
    }
    result.counts_agree = (
        all(result.counts[k] == v for k, v in expected.items())
        and not np.isnan(pagerank).any()
        and len(theirs) == len(accounts)
    )
    if not result.counts_agree:
        result.error = f"counts differ: baseline {result.counts}, platform {expected}"
