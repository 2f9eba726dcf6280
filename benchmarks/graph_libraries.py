"""Time candidate CPU graph libraries on a synthetic heavy-tailed day of transfers.

Not a test: a measurement whose figures justify the library choices in
``fraud_platform/defs/analytics/engines/cpu.py``. Run it from the project root:

    python benchmarks/graph_libraries.py                   # 1M transfers, 200k accounts
    python benchmarks/graph_libraries.py --transfers 5000000 --accounts 1000000

Every candidate runs on the same integer edge arrays (the engine's own factorization), so the
times compare the algorithms and the library-specific graph construction, nothing else.
Communities are scored with one modularity function, and PageRank against the scipy result.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from typing import TypeVar

import igraph
import networkit as nk
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from fraud_platform.defs.analytics.engines.base import edge_vertices, modularity
from fraud_platform.defs.analytics.engines.cpu import (
    CpuEngine,
    pagerank_power,
    pagerank_transition,
    undirected_coo,
)

T = TypeVar("T")


def synthetic_edges(transfers: int, accounts: int, seed: int) -> pd.DataFrame:
    """A day of transfers merged per ordered pair, like the ``transaction_graph`` edge table.

    Each endpoint is drawn half uniformly (so nearly every account appears) and half from a
    Zipf(1) law over a shuffled account order (so a few hubs carry a large share), with
    log-normal amounts: roughly the shape of a payment network with merchants in it.
    """
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, accounts + 1)
    cumulative = np.cumsum(weights / weights.sum())

    def endpoints() -> np.ndarray:
        hubs = rng.permutation(accounts)[np.searchsorted(cumulative, rng.random(transfers))]
        uniform = rng.integers(0, accounts, transfers)
        return np.where(rng.random(transfers) < 0.5, hubs, uniform)

    names = pd.Index([f"acct-{i:07d}" for i in range(accounts)], dtype="str")
    day = pd.DataFrame(
        {
            "sender": names.take(endpoints()),
            "receiver": names.take(endpoints()),
            "amount": rng.lognormal(mean=4.0, sigma=1.2, size=transfers),
        }
    )
    return (
        day.groupby(["sender", "receiver"], sort=False, observed=True)
        .agg(amount_total=("amount", "sum"), tx_count=("amount", "size"))
        .reset_index()
    )


def timed(label: str, repeat: int, run: Callable[[], T]) -> tuple[T, float]:
    """Best wall time of ``repeat`` runs (the first run's result is returned)."""
    best = np.inf
    result: T | None = None
    for _ in range(repeat):
        start = time.perf_counter()
        value = run()
        best = min(best, time.perf_counter() - start)
        if result is None:
            result = value
    print(f"  {label:<44} {best:8.3f} s")
    return result, best  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2, help="runs per candidate; best is kept")
    parser.add_argument(
        "--slow", action="store_true", help="also igraph Leiden iterated until stable (~30 s)"
    )
    args = parser.parse_args()

    print(f"cores: {os.cpu_count()}, networkit threads: {nk.getMaxNumberOfThreads()}")
    print(f"igraph {igraph.__version__}, networkit {nk.__version__}, pandas {pd.__version__}")
    start = time.perf_counter()
    edges = synthetic_edges(args.transfers, args.accounts, args.seed)
    print(f"generated in {time.perf_counter() - start:.1f} s")

    (accounts, senders, receivers), _ = timed(
        "factorize accounts (pd.factorize)", args.repeat, lambda: edge_vertices(edges)
    )
    weights = edges["amount_total"].to_numpy(np.float64)
    n = len(accounts)
    print(f"{args.transfers} transfers -> {len(edges)} edges, {n} accounts")

    print("PageRank (alpha 0.85, weighted, dangling spread uniformly)")
    (transition, dangling), _ = timed(
        "scipy: build CSR transition", args.repeat,
        lambda: pagerank_transition(senders, receivers, weights, n),
    )  # fmt: skip
    (reference, iterations, _), _ = timed(
        "scipy: power iteration, L1 tol 1e-10", args.repeat,
        lambda: pagerank_power(transition, dangling, tol=1e-10),
    )  # fmt: skip
    print(f"    {iterations} iterations")

    def igraph_pagerank() -> np.ndarray:
        graph = igraph.Graph(
            n=n, edges=np.column_stack((senders, receivers)), directed=True,
            edge_attrs={"weight": weights},
        )  # fmt: skip
        return np.asarray(graph.pagerank(weights="weight", directed=True))

    def networkit_pagerank() -> np.ndarray:
        graph = nk.GraphFromCoo((weights, (senders, receivers)), n=n, weighted=True, directed=True)
        algorithm = nk.centrality.PageRank(
            graph, damp=0.85, tol=1e-10, distributeSinks=nk.centrality.SinkHandling.DistributeSinks
        )
        algorithm.run()
        scores = np.asarray(algorithm.scores())
        return scores / scores.sum()

    for label, run in (
        ("igraph: build + PRPACK", igraph_pagerank),
        ("networkit: build + PageRank tol 1e-10", networkit_pagerank),
    ):
        scores, _ = timed(label, args.repeat, run)
        print(f"    L1 distance to scipy: {np.abs(scores - reference).sum():.2e}")

    print("Undirected weighted graph (a->b and b->a added)")
    (row, col, weight), _ = timed(
        "scipy: symmetrize to COO", args.repeat,
        lambda: undirected_coo(senders, receivers, weights, n),
    )  # fmt: skip
    nk_graph, _ = timed(
        "networkit: GraphFromCoo", args.repeat,
        lambda: nk.GraphFromCoo((weight, (row, col)), n=n, weighted=True, directed=False),
    )  # fmt: skip
    ig_graph, _ = timed(
        "igraph: Graph(edges=...)", args.repeat,
        lambda: igraph.Graph(
            n=n, edges=np.column_stack((row, col)), directed=False, edge_attrs={"weight": weight}
        ),
    )  # fmt: skip

    def score(labels: np.ndarray) -> str:
        q = modularity(senders, receivers, weights, np.asarray(labels))
        return f"modularity {q:.4f}, {len(np.unique(labels))} clusters"

    def networkit_partition(
        make: Callable[[nk.Graph], nk.community.CommunityDetector], threads: int
    ) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            previous = nk.getMaxNumberOfThreads()
            nk.setNumberOfThreads(threads)
            try:
                nk.engineering.setSeed(42, False)
                algorithm = make(nk_graph)
                algorithm.run()
                return np.asarray(algorithm.getPartition().getVector())
            finally:
                nk.setNumberOfThreads(previous)

        return run

    def plm(refine: bool, threads: int) -> Callable[[], np.ndarray]:
        return networkit_partition(lambda g: nk.community.PLM(g, refine=refine), threads)

    def parallel_leiden(threads: int) -> Callable[[], np.ndarray]:
        return networkit_partition(nk.community.ParallelLeiden, threads)

    def igraph_call(method: str, **kwargs: object) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            igraph.set_random_number_generator(random.Random(42))
            partition = getattr(ig_graph, method)(weights="weight", **kwargs)
            igraph.set_random_number_generator(random)
            return np.asarray(partition.membership)

        return run

    def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
        """Equal up to label names: the pairs (a, b) are one-to-one."""
        pairs = np.unique(np.column_stack((a, b)), axis=0)
        return len(pairs) == len(np.unique(a)) == len(np.unique(b))

    louvain = [
        ("networkit PLM refine=False, 2 threads", plm(False, 2)),
        ("networkit PLM refine=True, 2 threads", plm(True, 2)),
        ("networkit PLM refine=False, 1 thread", plm(False, 1)),
        ("networkit PLM refine=True, 1 thread", plm(True, 1)),
        ("igraph community_multilevel", igraph_call("community_multilevel")),
    ]
    leiden = [
        ("networkit ParallelLeiden, 2 threads", parallel_leiden(2)),
        ("networkit ParallelLeiden, 1 thread", parallel_leiden(1)),
        (
            "igraph community_leiden (n_iterations=2)",
            igraph_call("community_leiden", objective_function="modularity"),
        ),
    ]
    if args.slow:
        until_stable = igraph_call(
            "community_leiden", objective_function="modularity", n_iterations=-1
        )
        leiden.append(("igraph community_leiden until stable", until_stable))
    for title, candidates in (("Louvain", louvain), ("Leiden (modularity objective)", leiden)):
        print(title)
        for label, run in candidates:
            labels, _ = timed(label, args.repeat, run)
            print(f"    {score(labels)}; same seed reproduces: {same_partition(labels, run())}")

    print("Weakly connected components")
    structure = sp.csr_array(
        (np.ones(senders.size, dtype=np.int32), (senders, receivers)), shape=(n, n)
    )

    def networkit_components() -> int:
        algorithm = nk.components.ConnectedComponents(nk_graph)
        algorithm.run()
        return algorithm.numberOfComponents()

    for label, run in (
        (
            "scipy connected_components(weak), CSR built",
            lambda: connected_components(structure, directed=True, connection="weak")[0],
        ),
        ("networkit ConnectedComponents (undirected)", networkit_components),
        ("igraph connected_components(weak)", lambda: len(ig_graph.connected_components())),
    ):
        count, _ = timed(label, args.repeat, run)
        print(f"    {count} components")

    print("The chosen CPU engine, end to end (one build, then each algorithm)")
    engine = CpuEngine()
    graph, _ = timed("CpuEngine.build (factorize, validate)", 1, lambda: engine.build(edges))
    timed("pagerank (builds the transition matrix)", 1, graph.pagerank)
    timed("louvain (builds the networkit graph)", 1, graph.louvain)
    timed("leiden", 1, graph.leiden)
    timed("weakly_connected_components", 1, graph.weakly_connected_components)


if __name__ == "__main__":
    main()
