"""Dagster's own storage in PostgreSQL (through dagster-postgres), and CLI runs recorded there."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
from dagster_cli import clean_env, materialize_cli, pg_url
from psycopg import sql

from fraud_platform.storage.dagster_storage import dagster_database_url, with_driver

REPO = Path(__file__).resolve().parents[1]
HEADER = "transaction_id,timestamp,sender,receiver,amount,currency\n"


def test_the_database_comes_from_the_environment_in_order() -> None:
    both = {"DAGSTER_PG_URL": "postgresql://d@h/dagster", "FRAUD_DATABASE_URL": "postgres://w@h/wh"}
    assert dagster_database_url(both) == "postgresql+psycopg2://d@h/dagster"
    assert dagster_database_url({"FRAUD_DATABASE_URL": "postgres://w@h/wh"}) == (
        "postgresql+psycopg2://w@h/wh"
    )
    with pytest.raises(ValueError, match="must start with postgresql://"):
        with_driver("mysql://x@h/db")


def write_days(storage: Path, days: list[str]) -> None:
    for i, day in enumerate(days):
        folder = storage / "landing" / "transactions" / f"date={day}"
        folder.mkdir(parents=True)
        rows = [f"{day}-{n},{day}T0{n}:00:00Z,A{i},B{n},{10 + n}.00,USD\n" for n in range(1, 4)]
        (folder / "part-000.csv").write_text(HEADER + "".join(rows))


@pytest.mark.slow
def test_cli_run_is_recorded_in_postgres(
    storage_dir: Path,
    database_url: str,
    warehouse_schema: str,
    dagster_database: str,
    tmp_path: Path,
) -> None:
    """The repo's dagster.yaml on PostgreSQL (SQLAlchemy as installed), a day from the CLI.

    Ranges of days are backfills, one run per day (`test_services_e2e.py` runs them through the
    daemon, from the UI's mutation and from `dagster job backfill`).
    """
    days = ["2024-10-01", "2024-10-02"]
    write_days(storage_dir, days)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = clean_env()
    env |= {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": pg_url(dagster_database),
        "FRAUD_STORAGE_URL": str(storage_dir),
        "FRAUD_DATABASE_URL": pg_url(database_url),
        "FRAUD_DATABASE_SCHEMA": warehouse_schema,
    }
    completed = materialize_cli(days[1], env, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-4000:]

    # One object per asset for the day asked for, none for the other day.
    assets = storage_dir / "assets"
    assert (assets / "raw_transactions" / f"{days[1]}.parquet").is_file()
    assert (assets / "account_scores" / f"{days[1]}.parquet").is_file()
    assert {p.name for p in (assets / "transaction_graph" / days[1]).iterdir()} == {
        "nodes.parquet",
        "edges.parquet",
    }
    assert not (assets / "raw_transactions" / f"{days[0]}.parquet").exists()
    # One dataset in the warehouse.
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT partition_date::text, node_count FROM {}.datasets ORDER BY 1").format(
                sql.Identifier(warehouse_schema)
            )
        ).fetchall()
    assert rows == [(days[1], 4)]
    # The run is in Dagster's own tables, in PostgreSQL, with SQLAlchemy as installed.
    with psycopg.connect(dagster_database) as conn:
        runs = conn.execute("SELECT status FROM runs").fetchall()
        events = conn.execute(
            "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        ).fetchone()[0]
    assert runs == [("SUCCESS",)], f"SQLAlchemy {sqlalchemy.__version__}"
    assert events == 7  # seven asset keys, one day


@pytest.mark.slow
def test_unreachable_warehouse_is_named_in_the_error(storage_dir: Path, tmp_path: Path) -> None:
    write_days(storage_dir, ["2024-10-01"])
    env = clean_env()
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env |= {
        "DAGSTER_HOME": str(home),
        "FRAUD_STORAGE_URL": str(storage_dir),
        # a closed port on loopback, with a password that must not leak
        "FRAUD_DATABASE_URL": "postgresql://fraud:s3cret-pw@127.0.0.1:1/warehouse",
    }
    completed = materialize_cli("2024-10-01", env, cwd=tmp_path)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert "cannot connect to PostgreSQL" in output
    assert "host 127.0.0.1, port 1, database warehouse" in output
    assert "s3cret-pw" not in output
