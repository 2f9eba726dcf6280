"""Weekly trends: repeat high-risk accounts, persisting clusters, the weekly asset for real."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import materialize

from fraud_platform.defs.trends.assets import weekly_fraud_trends
from fraud_platform.defs.trends.logic import (
    bar_chart,
    markdown_summary,
    trends_of_high_risk,
    weekly_trends,
)
from fraud_platform.defs.trends.resources import week_days, week_decisions, week_high_risk
from fraud_platform.deployment import deployment_resources
from fraud_platform.schedules import daily_assets
from fraud_platform.settings import Settings
from fraud_platform.storage.warehouse import PostgresWarehouse
from fraud_platform.tables import FraudDataset

DAYS = ["2024-10-01", "2024-10-02", "2024-10-03"]


def dataset(rows: list[tuple[str, str, int, float]]) -> FraudDataset:
    nodes = pd.DataFrame(rows, columns=["partition_date", "account", "cluster", "risk_score"])
    return FraudDataset(summary=pd.DataFrame(), nodes=nodes, edges=pd.DataFrame())


def test_repeat_accounts_and_persisting_clusters() -> None:
    ds = dataset(
        [
            ("2024-10-01", "M1", 3, 0.9),
            ("2024-10-01", "M2", 3, 0.85),
            ("2024-10-01", "X", 1, 0.1),
            ("2024-10-02", "M1", 7, 0.95),
            ("2024-10-02", "M2", 7, 0.81),
            ("2024-10-02", "Y", 0, 0.82),
            ("2024-10-03", "Z", 2, 0.99),
        ]
    )
    trends = weekly_trends(ds, DAYS, threshold=0.8)
    assert trends.per_day[["partition_date", "accounts", "high_risk"]].values.tolist() == [
        ["2024-10-01", 3, 2],
        ["2024-10-02", 3, 3],
        ["2024-10-03", 1, 1],
    ]
    assert trends.repeat_accounts[["account", "days_high_risk"]].values.tolist() == [
        ["M1", 2],
        ["M2", 2],
    ]
    assert trends.repeat_accounts.loc[0, "max_risk"] == 0.95
    (row,) = trends.persistent_clusters.itertuples(index=False)
    assert (row.from_day, row.from_cluster, row.to_day, row.to_cluster, row.shared) == (
        "2024-10-01",
        3,
        "2024-10-02",
        7,
        2,
    )
    assert row.overlap == 1.0
    chart = bar_chart(trends.per_day)
    assert chart.count("█") > 0 and "2024-10-02" in chart
    assert "2 accounts high risk on two or more days" in markdown_summary(trends, "2024-09-30", 0.8)


@pytest.mark.slow
def test_weekly_asset_reads_the_daily_datasets_of_its_week(
    storage_dir: Path, database_url: str, warehouse_schema: str, monkeypatch
) -> None:
    monkeypatch.setenv("FRAUD_DATABASE_URL", database_url)
    settings = Settings(
        storage_url=str(storage_dir),
        database_url=database_url,
        viewer_base_url="http://v",
        high_risk_threshold=0.5,
        database_schema=warehouse_schema,
    )
    resources = deployment_resources(settings)
    for day in DAYS[:2]:
        folder = storage_dir / "landing" / "transactions" / f"date={day}"
        folder.mkdir(parents=True)
        rows = "".join(f"{day}-{i},{day}T01:00:00Z,S{i},MULE,100.00,USD\n" for i in range(6))
        rows += f"{day}-out,{day}T02:00:00Z,MULE,BOSS,590.00,USD\n"
        (folder / "a.csv").write_text(
            "transaction_id,timestamp,sender,receiver,amount,currency\n" + rows
        )
        assert materialize(daily_assets, partition_key=day, resources=resources).success
    result = materialize(
        [weekly_fraud_trends, *daily_assets],
        selection=[weekly_fraud_trends],
        partition_key="2024-09-30",
        resources=resources,
    )
    assert result.success
    per_day = result.output_for_node("weekly_fraud_trends")
    assert per_day["partition_date"].tolist() == [
        "2024-10-01",
        "2024-10-02",
        "2024-10-03",
        "2024-10-04",
        "2024-10-05",
        "2024-10-06",
    ]
    assert per_day["accounts"].tolist()[:3] == [8, 8, 0]
    metadata = result.asset_materializations_for_node("weekly_fraud_trends")[0].metadata
    assert "Week of 2024-09-30" in metadata["summary"].value
    assert metadata["url"].value == "http://v/weeks/2024-09-30"

    # The same week read from the warehouse, as the viewer's week page reads it.
    warehouse = PostgresWarehouse(database_url=database_url, schema_name=warehouse_schema)
    days = week_days("2024-09-30")
    with warehouse.connect() as connection:
        high, accounts = week_high_risk(connection, warehouse_schema, days, 0.5)
        decisions = week_decisions(connection, warehouse_schema, days)
    from_warehouse = trends_of_high_risk(high, accounts, [d for d in days if d >= DAYS[0]])
    pd.testing.assert_frame_equal(
        from_warehouse.per_day, per_day.drop(columns="week"), check_like=True
    )
    assert set(high["account"]) >= {"MULE"}
    assert decisions["partition_date"].tolist() == days
    assert decisions.drop(columns="partition_date").sum().sum() == 0  # no alert recorded yet
    with pytest.raises(ValueError, match="not a Monday"):
        week_days("2024-10-01")
