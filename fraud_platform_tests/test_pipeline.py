"""The daily asset graph run for real: materialize(), the dagster CLI and the demo command."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from dagster import DagsterInstance, materialize
from dagster_cli import cli_env, dg_cli, fraud_platform_cli, materialize_cli
from daily_runs import materialize_day
from psycopg import sql

from fraud_platform.definitions import daily_assets, defs
from fraud_platform.defs.datasets.logic import dataset_id_for
from fraud_platform.deployment import deployment_resources
from fraud_platform.settings import Settings

DAY = "2024-10-01"
HEADER = "transaction_id,timestamp,sender,receiver,amount,currency\n"
# Two triangles of heavy transfers joined by one small transfer, plus rows that must be rejected.
LANDING_CSV = HEADER + "".join(
    [
        "T01,2024-10-01T01:00:00Z,A,B,100.00,USD\n",
        "T02,2024-10-01T02:00:00Z,B,C,100.00,USD\n",
        "T03,2024-10-01T03:00:00Z,C,A,100.00,USD\n",
        "T04,2024-10-01T04:00:00Z,A,B,50.00,USD\n",
        "T05,2024-10-01T01:00:00Z,D,E,100.00,EUR\n",
        "T06,2024-10-01T02:00:00Z,E,F,100.00,EUR\n",
        "T07,2024-10-01T03:00:00Z,F,D,100.00,EUR\n",
        "T08,2024-10-01T05:00:00Z,C,D,1.00,EUR\n",
        "T09,2024-10-01T05:00:00Z,C,D,oops,EUR\n",  # rejected: amount
        "T01,2024-10-01T06:00:00Z,A,C,3.00,USD\n",  # rejected: duplicate id
    ]
)


def write_landing(storage: Path, day: str = DAY, text: str = LANDING_CSV) -> None:
    folder = storage / "landing" / "transactions" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-000.csv").write_text(text)


def query(database_url: str, schema: str, statement: str, *params: object) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql.SQL(statement).format(s=sql.Identifier(schema)), params).fetchall()


@pytest.mark.slow
def test_a_day_materializes_end_to_end(
    settings: Settings, storage_dir: Path, database_url: str
) -> None:
    write_landing(storage_dir)
    result = materialize_day(settings, DAY)
    assert result.success

    raw_meta = result.asset_materializations_for_node("raw_transactions")[0].metadata
    assert raw_meta["rows_read"].value == 10
    assert raw_meta["rows_valid"].value == 8
    assert raw_meta["rows_rejected"].value == 2

    scores = result.output_for_node("account_scores")
    assert sorted(scores["account"]) == list("ABCDEF")
    assert scores["centrality"].sum() == pytest.approx(1.0, abs=1e-9)
    assert scores["risk_score"].between(0, 1).all()
    clusters = scores.set_index("account")["cluster"]
    assert (
        clusters["A"]
        == clusters["B"]
        == clusters["C"]
        != clusters["D"]
        == clusters["E"]
        == clusters["F"]
    )
    score_meta = result.asset_materializations_for_node("account_scores")[0].metadata
    assert score_meta["engine"].value == "cpu"
    assert score_meta["clusters"].value == 2

    # Object store: one Parquet file per asset and day.
    assets = storage_dir / "assets"
    assert (assets / "raw_transactions" / f"{DAY}.parquet").is_file()
    assert (assets / "account_scores" / f"{DAY}.parquet").is_file()
    assert pd.read_parquet(assets / "raw_transactions" / f"{DAY}.parquet").shape[0] == 8

    # Warehouse: the dataset, its nodes and edges, and the rejected rows.
    schema = settings.database_schema
    (row,) = query(
        database_url,
        schema,
        "SELECT dataset_id::text, name, url, node_count, edge_count FROM {s}.datasets "
        "WHERE partition_date = %s",
        DAY,
    )
    dataset_id = dataset_id_for(DAY)
    assert row == (
        dataset_id,
        "Fraud Analysis 2024-10-01",
        f"http://viewer.test/datasets/{dataset_id}",
        6,
        7,
    )
    assert query(database_url, schema, "SELECT count(*) FROM {s}.dataset_nodes")[0][0] == 6
    assert query(database_url, schema, "SELECT count(*) FROM {s}.dataset_edges")[0][0] == 7
    rejected = query(
        database_url, schema, "SELECT line, field FROM {s}.rejected_transactions ORDER BY line"
    )
    assert rejected == [(10, "amount"), (11, "transaction_id")]
    dataset_meta = result.asset_materializations_for_node("fraud_dataset")[0].metadata
    assert dataset_meta["dataset_id"].value == dataset_id
    assert dataset_meta["url"].value == f"http://viewer.test/datasets/{dataset_id}"


@pytest.mark.slow
def test_rematerializing_a_day_replaces_it(
    settings: Settings, storage_dir: Path, database_url: str
) -> None:
    write_landing(storage_dir)
    resources = deployment_resources(settings)
    instance = DagsterInstance.ephemeral()
    assert materialize(
        daily_assets, partition_key=DAY, resources=resources, instance=instance
    ).success
    schema = settings.database_schema
    first_created = query(database_url, schema, "SELECT created_at FROM {s}.datasets")[0][0]

    # The day's files change (one more transfer) and the day is run again, twice.
    write_landing(storage_dir, text=LANDING_CSV + "T10,2024-10-01T07:00:00Z,F,G,5.00,EUR\n")
    for _ in range(2):
        assert materialize(
            daily_assets, partition_key=DAY, resources=resources, instance=instance
        ).success

    counts = query(
        database_url,
        schema,
        "SELECT (SELECT count(*) FROM {s}.datasets), (SELECT count(*) FROM {s}.dataset_nodes),"
        " (SELECT count(*) FROM {s}.dataset_edges), (SELECT count(*) FROM {s}.rejected_transactions),"
        " (SELECT max(created_at) FROM {s}.datasets)",
    )[0]
    assert counts[:4] == (1, 7, 8, 2)
    assert counts[4] > first_created


@pytest.mark.slow
def test_a_day_without_files_gives_an_empty_dataset(settings: Settings, database_url: str) -> None:
    result = materialize_day(settings, "2024-10-05")
    assert result.success
    rows = query(
        database_url,
        settings.database_schema,
        "SELECT node_count, edge_count, high_risk_count FROM {s}.datasets WHERE partition_date = %s",
        "2024-10-05",
    )
    assert rows == [(0, 0, 0)]


def test_definitions_load_with_the_daily_job() -> None:
    job = defs.resolve_job_def("daily_fraud_job")
    assert job.partitions_def is not None
    assert job.partitions_def.get_first_partition_key() == "2024-10-01"
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "raw_transactions",
        "rejected_transactions",
        "transaction_graph",
        "account_scores",
        "fraud_dataset",
    } <= keys


@pytest.mark.slow
def test_dagster_cli_materializes_a_day(
    settings: Settings, storage_dir: Path, database_url: str, tmp_path: Path
) -> None:
    write_landing(storage_dir)
    completed = materialize_cli(DAY, cli_env(settings, tmp_path / "dagster_home"))
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "RUN_SUCCESS" in completed.stderr + completed.stdout
    assert query(
        database_url,
        settings.database_schema,
        "SELECT node_count FROM {s}.datasets WHERE partition_date = %s",
        DAY,
    ) == [(6,)]


@pytest.mark.slow
def test_dg_sees_the_definitions_and_launches_a_day(
    settings: Settings, storage_dir: Path, database_url: str, tmp_path: Path
) -> None:
    """``[tool.dg]`` points ``dg`` at the same Definitions as workspace.yaml and ``-m``."""
    env = cli_env(settings, tmp_path / "dagster_home")
    checked = dg_cli("check", "defs", env=env)
    assert checked.returncode == 0, checked.stderr[-4000:]
    listed = dg_cli("list", "defs", "--json", env=env)
    assert listed.returncode == 0, listed.stderr[-4000:]
    defs_json = json.loads(listed.stdout[listed.stdout.index("{") :])
    assert {"raw_transactions", "fraud_dataset"} <= {a["asset_key"] for a in defs_json["assets"]}
    assert "daily_fraud_job" in {j["name"] for j in defs_json["jobs"]}

    write_landing(storage_dir)
    launched = dg_cli("launch", "--job", "daily_fraud_job", "--partition", DAY, env=env)
    assert launched.returncode == 0, launched.stderr[-4000:]
    assert "RUN_SUCCESS" in launched.stderr + launched.stdout
    assert query(
        database_url,
        settings.database_schema,
        "SELECT node_count FROM {s}.datasets WHERE partition_date = %s",
        DAY,
    ) == [(6,)]


@pytest.mark.slow
def test_demo_command_prints_the_week(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    completed = fraud_platform_cli(
        "demo",
        "--days",
        "2",
        "--transactions",
        "3000",
        env=cli_env(settings, tmp_path / "dagster_home"),
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    out = completed.stdout
    assert "generating 2 sample days" in out
    for day in ("2024-10-01", "2024-10-02"):
        assert f"http://viewer.test/datasets/{dataset_id_for(day)}" in out
    assert "Top accounts by risk" in out
    header = out[out.index("Top accounts by risk") :].splitlines()[1].split()
    assert header == ["day", "account", "risk_score", "centrality", "cluster", "planted_as", "why"]
    (count,) = query(database_url, settings.database_schema, "SELECT count(*) FROM {s}.datasets")[0]
    assert count == 2
