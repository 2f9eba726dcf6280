"""The layout contract on every engine (CPU, the GPU engine on the cuGraph stand-in, real cuGraph
where a GPU is usable), and the shared layout helpers against hand-checked cases."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from cugraph_standin import Graph
from cugraph_standin import cudf as standin_cudf
from cugraph_standin import cugraph as standin_cugraph
from cugraph_standin import force_atlas2 as standin_force_atlas2

from fraud_platform.defs.analytics.engines import CpuEngine, GpuEngine
from fraud_platform.defs.analytics.engines.base import (
    CIRCLE_MAX_ACCOUNTS,
    LAYOUT_COLUMNS,
    _shelf_offsets,
    layout_core,
    layout_pieces,
    place_remaining,
    structure_edges,
)
from fraud_platform.defs.analytics.engines.cpu import pivot_mds
from fraud_platform.defs.analytics.engines.gpu import LAYOUT_ITERATIONS
from fraud_platform.defs.graph.logic import build_transaction_graph
from fraud_platform.defs.ingest.logic import validate_transactions
from fraud_platform.sample_data.generator import SampleConfig, generate_day


def edge_table(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sender": pd.Series([r[0] for r in rows], dtype="str"),
            "receiver": pd.Series([r[1] for r in rows], dtype="str"),
            "amount_total": pd.Series([r[2] for r in rows], dtype="float64"),
            "tx_count": pd.Series([1] * len(rows), dtype="int64"),
        }
    )


def planted_groups(groups: int = 4, size: int = 20, seed: int = 3) -> list[tuple[str, str, float]]:
    """Groups dense inside (p = 0.4) joined by a few transfers between consecutive groups, plus
    a five-account ring, a pair and an account that only pays itself (pieces of their own)."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(groups):
        names = [f"g{g}-{i:02d}" for i in range(size)]
        for i in range(size):
            for j in range(i + 1, size):
                if rng.random() < 0.4:
                    rows.append((names[i], names[j], float(rng.integers(1, 1000))))
        rows.append((names[0], f"g{(g + 1) % groups}-01", 5.0))
    rows += [(f"ring{i}", f"ring{(i + 1) % 5}", 100.0) for i in range(5)]
    rows += [("pair-a", "pair-b", 1.0e9), ("selfish", "selfish", 7.0)]
    return rows


def positions(layout: pd.DataFrame) -> dict[str, np.ndarray]:
    return {a: np.array([x, y]) for a, x, y in layout[list(LAYOUT_COLUMNS)].itertuples(index=False)}


def edge_to_random_ratio(layout: pd.DataFrame, rows: list[tuple[str, str, float]]) -> float:
    """Mean distance of transacting accounts over the mean distance of all account pairs."""
    where = positions(layout)
    pairs = [(s, r) for s, r, _ in rows if s != r]
    edge = np.mean([np.linalg.norm(where[s] - where[r]) for s, r in pairs])
    xy = np.stack(list(where.values()))
    every = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    n = len(xy)
    return float(edge / (every.sum() / (n * (n - 1))))


# --- the contract, on every engine ----------------------------------------------------------------


def test_every_account_gets_a_finite_position_in_account_order(engine):
    rows = planted_groups()
    graph = engine.build(edge_table(rows))
    layout = graph.layout()
    assert list(layout.columns) == list(LAYOUT_COLUMNS)
    assert list(layout["account"]) == list(graph.accounts)
    assert layout["x"].dtype == layout["y"].dtype == np.float64
    assert np.isfinite(layout[["x", "y"]].to_numpy()).all()


def test_layout_is_deterministic_for_a_seed(engine):
    graph = engine.build(edge_table(planted_groups()))
    first = graph.layout(seed=7)
    if isinstance(engine, GpuEngine) and engine._cugraph is not standin_cugraph:
        # Real cuGraph adds Barnes-Hut forces with atomics: equal up to rounding (GpuGraph.layout).
        again = graph.layout(seed=7)
        extent = np.ptp(first[["x", "y"]].to_numpy())
        assert np.abs(first[["x", "y"]].to_numpy() - again[["x", "y"]].to_numpy()).max() < (
            1e-3 * extent
        )
        return
    pd.testing.assert_frame_equal(graph.layout(seed=7), first)
    assert not graph.layout(seed=8)[["x", "y"]].equals(first[["x", "y"]])


def test_connected_accounts_are_closer_than_random_pairs(engine):
    rows = planted_groups()
    ratio = edge_to_random_ratio(engine.build(edge_table(rows)).layout(), rows)
    assert ratio < 0.7


def test_accounts_of_a_group_sit_together(engine):
    """Accounts of a planted group are closer to their group's centre than to the others'."""
    where = positions(engine.build(edge_table(planted_groups())).layout())
    groups = {
        g: np.stack([xy for a, xy in where.items() if a.startswith(f"g{g}-")]) for g in range(4)
    }
    centres = {g: members.mean(axis=0) for g, members in groups.items()}
    right = total = 0
    for g, members in groups.items():
        for xy in members:
            nearest = min(centres, key=lambda c: np.linalg.norm(xy - centres[c]))
            right += nearest == g
            total += 1
    assert right / total > 0.8


def test_max_nodes_places_the_rest_beside_their_counterparties(engine):
    rows = planted_groups()
    graph = engine.build(edge_table(rows))
    layout = graph.layout(max_nodes=30)
    assert np.isfinite(layout[["x", "y"]].to_numpy()).all()
    assert edge_to_random_ratio(layout, rows) < 0.8


def test_an_empty_graph_has_an_empty_layout(engine):
    layout = engine.build(edge_table([])).layout()
    assert list(layout.columns) == list(LAYOUT_COLUMNS) and layout.empty


def test_max_nodes_below_one_is_refused(engine):
    with pytest.raises(ValueError, match="max_nodes"):
        engine.build(edge_table(planted_groups())).layout(max_nodes=0)


def test_a_generated_day_is_laid_out_by_the_cpu_engine():
    day = dt.date(2025, 3, 4)
    sample = generate_day(day, SampleConfig(transactions_per_day=20_000, malformed_rate=0.0))
    rows = sample.transactions.assign(line=np.arange(2, len(sample.transactions) + 2))
    valid, _ = validate_transactions(rows, "part-000.csv", day.isoformat())
    edges = build_transaction_graph(valid).edges
    layout = CpuEngine().build(edges).layout()
    xy = layout.set_index("account")[["x", "y"]]
    assert len(xy) == len(set(edges["sender"]) | set(edges["receiver"]))
    assert np.isfinite(xy.to_numpy()).all()
    pairs = edges[edges["sender"] != edges["receiver"]]
    edge = np.linalg.norm(
        xy.loc[pairs["sender"]].to_numpy() - xy.loc[pairs["receiver"]].to_numpy(), axis=1
    )
    rng = np.random.default_rng(0)
    a, b = rng.integers(len(xy), size=(2, 50_000))
    random = np.linalg.norm(xy.to_numpy()[a] - xy.to_numpy()[b], axis=1)
    assert edge.mean() < 0.75 * random.mean()


# --- the shared helpers -------------------------------------------------------------------------


def test_structure_edges_are_each_pair_once_without_self_loops():
    senders = np.array([0, 1, 2, 2, 3, 1])
    receivers = np.array([1, 0, 2, 3, 2, 0])
    row, col = structure_edges(senders, receivers, 4)
    assert sorted(zip(row.tolist(), col.tolist(), strict=True)) == [(0, 1), (2, 3)]


def test_layout_core_keeps_the_accounts_with_most_counterparties():
    # Star around 2 (four counterparties), 0 and 4 with two each, the rest with one.
    row = np.array([0, 0, 1, 2, 2, 4])
    col = np.array([2, 5, 2, 3, 4, 6])
    assert layout_core(row, col, 7, None).all()
    assert np.flatnonzero(layout_core(row, col, 7, 3)).tolist() == [0, 2, 4]  # ties by number
    assert layout_core(row, col, 7, 7).all()


def test_shelf_packing_keeps_discs_apart():
    radii = np.array([10.0, 4.0, 3.0, 3.0, 1.0, 1.0, 0.5])
    centres = _shelf_offsets(radii, gap=2.0)
    for i in range(len(radii)):
        for j in range(i + 1, len(radii)):
            assert np.linalg.norm(centres[i] - centres[j]) >= radii[i] + radii[j] + 2.0 - 1e-9


def test_small_pieces_are_circles_and_pieces_do_not_overlap():
    # A 5-ring, a pair and a path of 40 (laid out by the given function) as distinct pairs.
    ring = [(i, (i + 1) % 5) for i in range(5)]
    pair = [(5, 6)]
    path = [(i, i + 1) for i in range(7, 46)]
    row, col = (
        np.array(side) for side in zip(*[tuple(sorted(p)) for p in ring + pair + path], strict=True)
    )
    xy = layout_pieces(row, col, 47, seed=1, layout_piece=pivot_mds)
    centre = xy[:5].mean(axis=0)
    radius = np.linalg.norm(xy[:5] - centre, axis=1)
    assert radius == pytest.approx(np.full(5, np.sqrt(5)))  # a disc of radius √size
    assert np.linalg.norm(xy[5] - xy[6]) == pytest.approx(2 * np.sqrt(2))
    path_xy = xy[7:]
    nearest_other = np.linalg.norm(path_xy[:, None] - xy[None, :7], axis=2).min()
    assert nearest_other > 1.0
    # Longer than CIRCLE_MAX_ACCOUNTS, the path went through pivot_mds: not a circle.
    assert len(path_xy) > CIRCLE_MAX_ACCOUNTS
    assert np.ptp(np.linalg.norm(path_xy - path_xy.mean(axis=0), axis=1)) > 1.0


def test_pivot_mds_lays_a_path_on_a_line():
    n = 60
    adjacency = sp.csr_array(
        (
            np.ones(2 * (n - 1)),
            (np.r_[np.arange(n - 1), np.arange(1, n)], np.r_[np.arange(1, n), np.arange(n - 1)]),
        ),
        shape=(n, n),
    )
    xy = pivot_mds(adjacency, seed=0)
    along = xy[:, 0] if np.ptp(xy[:, 0]) > np.ptp(xy[:, 1]) else xy[:, 1]
    assert abs(np.corrcoef(along, np.arange(n))[0, 1]) > 0.99


def test_place_remaining_puts_an_account_next_to_its_only_counterparty():
    # 0-1-2 placed far apart; 3 pays only 2; 4-5 are a piece with nothing placed.
    row, col = np.array([0, 1, 2, 4]), np.array([1, 2, 3, 5])
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [np.nan] * 2, [np.nan] * 2, [np.nan] * 2])
    placed = np.array([True, True, True, False, False, False])
    result = place_remaining(row, col, xy, placed, seed=0, layout_piece=pivot_mds)
    assert np.isfinite(result).all()
    assert np.linalg.norm(result[3] - result[2]) < np.linalg.norm(result[3] - result[1])
    assert result[4:, 0].min() > 20.0  # the unplaced piece is set to the right
    np.testing.assert_array_equal(result[:3], xy[:3])


# --- what the GPU engine hands cuGraph, and the stand-in's ForceAtlas2 ----------------------------


def test_gpu_engine_asks_for_an_unweighted_seeded_force_atlas2():
    calls: list[dict[str, Any]] = []

    def recording_force_atlas2(graph: Graph, **kwargs: Any) -> Any:
        calls.append({"directed": graph.is_directed(), **kwargs})
        return standin_force_atlas2(graph, **kwargs)

    cugraph = SimpleNamespace(**{**vars(standin_cugraph), "force_atlas2": recording_force_atlas2})
    graph = GpuEngine(cudf=standin_cudf, cugraph=cugraph).build(edge_table(planted_groups()))
    graph.layout(seed=11)
    (call,) = calls
    assert call == {
        "directed": False,
        "max_iter": LAYOUT_ITERATIONS,
        "outbound_attraction_distribution": True,
        "edge_weight_influence": 0.0,
        "barnes_hut_optimize": True,
        "random_state": 11,
    }


def standin_graph(src: list[int], dst: list[int]) -> Graph:
    frame = standin_cudf.DataFrame(
        {"src": np.array(src + dst, dtype=np.int32), "dst": np.array(dst + src, dtype=np.int32)}
    )
    graph = Graph(directed=False)
    graph.from_cudf_edgelist(
        frame, source="src", destination="dst", renumber=False, symmetrize=False
    )
    return graph


def test_standin_force_atlas2_returns_every_vertex_and_pulls_neighbours_together():
    # Two triangles and a vertex of their own.
    graph = standin_graph([0, 1, 2, 3, 4, 5, 6], [1, 2, 0, 4, 5, 3, 6])
    result = standin_force_atlas2(graph, max_iter=300, random_state=5)
    assert list(result.columns) == ["vertex", "x", "y"]
    assert result["x"].dtype == np.float32 and sorted(result["vertex"]) == list(range(7))
    xy = result.sort_values("vertex")[["x", "y"]].to_numpy(dtype=np.float64)
    inside = np.linalg.norm(xy[0] - xy[1])
    across = np.linalg.norm(xy[0] - xy[3])
    assert inside < across
    again = standin_force_atlas2(graph, max_iter=300, random_state=5)
    pd.testing.assert_frame_equal(result, again)


def test_standin_force_atlas2_refuses_what_it_does_not_model():
    graph = standin_graph([0], [1])
    with pytest.raises(RuntimeError, match="callback"):
        standin_force_atlas2(graph, callback=object())
    with pytest.raises(TypeError, match=r"cudf\.DataFrame"):
        standin_force_atlas2(graph, pos_list=pd.DataFrame({"vertex": [0], "x": [0.0], "y": [0.0]}))
    directed = Graph(directed=True)
    directed.from_cudf_edgelist(
        standin_cudf.DataFrame({"src": np.array([0], np.int32), "dst": np.array([1], np.int32)}),
        source="src",
        destination="dst",
        renumber=False,
    )
    with pytest.raises(NotImplementedError, match="undirected"):
        standin_force_atlas2(directed)
