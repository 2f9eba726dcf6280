"""Asset checks pass on good data and fail on bad data (a check that cannot fail is no check)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, AssetKey, materialize

from fraud_platform.definitions import defs
from fraud_platform.defs.analytics.checks import score_problems
from fraud_platform.defs.datasets.checks import count_mismatches
from fraud_platform.defs.ingest.checks import rejected_share_result
from fraud_platform.deployment import deployment_resources
from fraud_platform.schedules import daily_assets
from fraud_platform.settings import Settings
from fraud_platform.tables import FraudDataset, TransactionGraph

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
    summary = pd.DataFrame({"partition_date": [DAY], "node_count": [3], "edge_count": [2]})
    good = FraudDataset(summary=summary, nodes=graph.nodes, edges=graph.edges)
    assert count_mismatches(good, graph) == []
    lost_row = FraudDataset(summary=summary, nodes=graph.nodes.iloc[:2], edges=graph.edges)
    assert count_mismatches(lost_row, graph) == [f"{DAY}: dataset says (3, 2), rows stored (2, 2)"]
    wrong_claim = FraudDataset(
        summary=summary.assign(edge_count=5), nodes=graph.nodes, edges=graph.edges
    )
    assert len(count_mismatches(wrong_claim, graph)) == 2


def test_checks_run_with_the_day_and_block_a_mostly_rejected_day(
    storage_dir: Path, database_url: str, warehouse_schema: str, monkeypatch
) -> None:
    monkeypatch.setenv("FRAUD_DATABASE_URL", database_url)
    settings = Settings(
        storage_url=str(storage_dir),
        database_url=database_url,
        viewer_base_url="http://v",
        high_risk_threshold=0.8,
        database_schema=warehouse_schema,
    )
    folder = storage_dir / "landing" / "transactions" / f"date={DAY}"
    folder.mkdir(parents=True)
    good = "".join(f"T{i},{DAY}T01:00:00Z,A{i % 3},B{i % 4},{i + 1}.00,USD\n" for i in range(8))
    (folder / "a.csv").write_text(
        "transaction_id,timestamp,sender,receiver,amount,currency\n" + good
    )
    checks = list(defs.asset_checks)
    result = materialize(
        [*daily_assets, *checks], partition_key=DAY, resources=deployment_resources(settings)
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {
        "rejected_share",
        "account_scores_are_consistent",
        "fraud_dataset_matches_graph",
    } <= set(evaluations)
    assert all(e.passed for e in evaluations.values())

    # Now a day with 3 good rows out of 10: the blocking check fails and the graph is not built.
    bad = "".join(f"X{i},{DAY}T01:00:00Z,A,B,not-money,USD\n" for i in range(7))
    (folder / "a.csv").write_text(
        "transaction_id,timestamp,sender,receiver,amount,currency\n"
        + "".join(good.splitlines(True)[:3])
        + bad
    )
    result = materialize(
        [*daily_assets, *checks],
        partition_key=DAY,
        resources=deployment_resources(settings),
        raise_on_error=False,
    )
    evaluation = {e.check_name: e for e in result.get_asset_check_evaluations()}["rejected_share"]
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {AssetKey("raw_transactions"), AssetKey("rejected_transactions")}
