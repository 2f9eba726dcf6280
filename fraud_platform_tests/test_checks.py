"""Asset checks pass on good data and fail on bad data (a check that cannot fail is no check)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, AssetKey
from daily_runs import materialize_day

from fraud_platform.defs.analytics.checks import score_problems
from fraud_platform.defs.datasets.checks import count_mismatches, graph_counts
from fraud_platform.defs.ingest.checks import rejected_share_result
from fraud_platform.settings import Settings
from fraud_platform.tables import TransactionGraph

DAY = "2024-10-01"


@pytest.mark.parametrize(
    ("rejected", "passed", "severity"),
    [
        (0, True, None),
        (10, True, None),
        (11, False, AssetCheckSeverity.WARN),
        (200, False, AssetCheckSeverity.WARN),
        (201, False, AssetCheckSeverity.ERROR),
    ],
)
def test_rejected_share_thresholds(rejected: int, passed: bool, severity) -> None:
    result = rejected_share_result(1000, rejected, warn_share=0.01, error_share=0.2)
    assert result.passed is passed
    if severity is not None:
        assert result.severity == severity
    assert result.metadata["rejected_share"].value == pytest.approx(rejected / 1000)


GOOD_ROWS = "".join(f"T{i},{DAY}T01:00:00Z,A{i % 3},B{i % 4},{i + 1}.00,USD\n" for i in range(8))
HEADER = "transaction_id,timestamp,sender,receiver,amount,currency\n"


def day_settings(storage_dir: Path, database_url: str, schema: str, monkeypatch) -> Settings:
    monkeypatch.setenv("FRAUD_DATABASE_URL", database_url)
    return Settings(
        storage_url=str(storage_dir),
        database_url=database_url,
        viewer_base_url="http://v",
        high_risk_threshold=0.8,
        database_schema=schema,
        # Days of a handful of accounts: a 1% budget would be one alert (tested in test_alerts).
        alert_budget_share=1.0,
    )


def write_day(storage_dir: Path, rows: str) -> Path:
    folder = storage_dir / "landing" / "transactions" / f"date={DAY}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").write_text(HEADER + rows)
    return folder


def scores(**overrides: list) -> pd.DataFrame:
    frame = {
        "partition_date": [DAY, DAY, DAY],
        "account": ["A", "B", "C"],
        "centrality": [0.2, 0.3, 0.5],
        "cluster": [0, 0, 1],
        "risk_score": [0.1, 0.5, 0.9],
    }
    frame.update(overrides)
    return pd.DataFrame(frame)


def test_score_problems_find_each_fault() -> None:
    assert score_problems(scores()) == []
    assert "PageRank sums to 0.900000000" in score_problems(scores(centrality=[0.2, 0.3, 0.4]))[0]
    assert score_problems(scores(risk_score=[0.1, 1.5, -0.1])) == [
        "2 risk_score value(s) outside [0, 1]"
    ]
    assert score_problems(scores(risk_score=[0.1, float("nan"), 0.2]))[0] == "NaN in risk_score"


def test_dataset_counts_must_match_the_graph_and_the_rows() -> None:
    graph = TransactionGraph(
        nodes=pd.DataFrame({"partition_date": [DAY] * 3, "account": list("ABC")}),
        edges=pd.DataFrame(
            {"partition_date": [DAY] * 2, "sender": ["A", "B"], "receiver": ["B", "C"]}
        ),
    )
    expected = graph_counts(graph)
    assert expected == {DAY: (3, 2)}
    summary = pd.DataFrame({"partition_date": [DAY], "node_count": [3], "edge_count": [2]})
    assert count_mismatches(summary, expected, {DAY: (3, 2)}) == []
    assert count_mismatches(summary, expected, {DAY: (2, 2)}) == [
        f"{DAY}: dataset says (3, 2), rows stored (2, 2)"
    ]
    assert count_mismatches(summary, expected, {}) == [
        f"{DAY}: dataset says (3, 2), rows stored (0, 0)"
    ]
    assert len(count_mismatches(summary.assign(edge_count=5), expected, {DAY: (3, 2)})) == 2


@pytest.mark.slow
def test_the_dataset_check_counts_the_warehouse_rows(
    storage_dir: Path, database_url: str, warehouse_schema: str, monkeypatch
) -> None:
    """The check fails when a stored row goes missing behind the platform's back."""
    import psycopg
    from psycopg import sql

    from fraud_platform.defs.datasets.checks import stored_counts

    settings = day_settings(storage_dir, database_url, warehouse_schema, monkeypatch)
    write_day(storage_dir, GOOD_ROWS)
    result = materialize_day(settings, DAY)
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert check["fraud_dataset_matches_graph"].passed
    with psycopg.connect(database_url, autocommit=True) as connection:
        nodes, edges = stored_counts(connection, warehouse_schema, [DAY])[DAY]
        assert (nodes, edges) == (7, 8)
        connection.execute(
            sql.SQL("DELETE FROM {} WHERE account = 'A0'").format(
                sql.Identifier(warehouse_schema, "dataset_nodes")
            )
        )
        assert stored_counts(connection, warehouse_schema, [DAY]) == {DAY: (6, 8)}
        assert stored_counts(connection, warehouse_schema, ["2024-10-02"]) == {"2024-10-02": (0, 0)}


@pytest.mark.slow
def test_checks_run_with_the_day_and_block_a_mostly_rejected_day(
    storage_dir: Path, database_url: str, warehouse_schema: str, monkeypatch
) -> None:
    settings = day_settings(storage_dir, database_url, warehouse_schema, monkeypatch)
    folder = write_day(storage_dir, GOOD_ROWS)
    result = materialize_day(settings, DAY)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {
        "rejected_share",
        "account_scores_are_consistent",
        "fraud_dataset_matches_graph",
    } <= set(evaluations)
    failed = {n: e.description for n, e in evaluations.items() if not e.passed}
    assert not failed

    # Now a day with 3 good rows out of 10: the blocking check fails and the graph is not built.
    bad = "".join(f"X{i},{DAY}T01:00:00Z,A,B,not-money,USD\n" for i in range(7))
    (folder / "a.csv").write_text(HEADER + "".join(GOOD_ROWS.splitlines(True)[:3]) + bad)
    result = materialize_day(settings, DAY, raise_on_error=False)
    evaluation = {e.check_name: e for e in result.get_asset_check_evaluations()}["rejected_share"]
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {AssetKey("raw_transactions"), AssetKey("rejected_transactions")}
