"""The demo: a week of sample days through the whole asset graph, then a readable summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date, timedelta

import pandas as pd
import psycopg
from dagster import DagsterInstance, Definitions, in_process_executor
from psycopg import sql

from fraud_platform.deployment import build_warehouse, deployment_resources
from fraud_platform.sample_data.generator import SampleConfig, generate_days, read_ground_truth
from fraud_platform.settings import Settings
from fraud_platform.storage.access import object_store_errors, store_path
from fraud_platform.storage.warehouse import PostgresWarehouse

Print = Callable[[str], None]

DEMO_INSTANCE_YAML = """\
storage:
  custom:
    module: fraud_platform.storage.dagster_storage
    class: PlatformDagsterStorage
    config: {}
telemetry:
  enabled: false
"""


#: The code location `workspace.yaml` names (what `dagster dev` in this repository loads).
LOCATION_NAME = "fraud_platform"
#: The run tag the Dagster UI's job page filters a job's runs on, and its value for a job of the
#: `Definitions` in `LOCATION_NAME`. Dagster sets it only on runs launched through a code
#: location (webserver, daemon, `dagster job launch`, which queues the run for the daemon);
#: 1.13 has no public API that starts such a run in this process (`execute_in_process` and
#: `execute_job` leave the run's code-location origin unset), so the demo tags its runs as the
#: webserver would.
REPOSITORY_TAG = ".dagster/repository"
REPOSITORY_LABEL = f"__repository__@{LOCATION_NAME}"
DAILY_JOB = "daily_fraud_job"


def local_instance(settings: Settings) -> DagsterInstance:
    """A Dagster instance on the same storage as `dagster dev` in this repository.

    Runs are recorded through `PlatformDagsterStorage` (the database ``dagster.yaml`` names), so
    the demo's runs show in the Dagster UI afterwards.
    """
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DEMO_INSTANCE_YAML)
    return DagsterInstance.from_config(str(home))


def landing_days(settings: Settings) -> list[str]:
    """The days with a ``date=`` folder in the landing zone, oldest first."""
    root = store_path(settings.landing_url)
    with object_store_errors(root, "list"):
        found = list(root.iterdir()) if root.exists() else []
    return sorted(p.name.removeprefix("date=") for p in found if p.name.startswith("date="))


def ensure_sample_data(
    settings: Settings, start: date, days: int, config: SampleConfig, echo: Print
) -> list[str]:
    """The days in the landing zone; generates ``days`` sample days first if it is empty."""
    existing = landing_days(settings)
    if existing:
        echo(f"Landing zone has {len(existing)} day(s) already: {existing[0]} .. {existing[-1]}")
        return existing
    echo(
        f"Landing zone is empty: generating {days} sample days of "
        f"{config.transactions_per_day:,} transfers from {start} ..."
    )
    generate_days(
        settings.storage_url,
        start,
        days,
        config,
        progress=lambda day: echo(f"  generated {day}"),
    )
    return [(start + timedelta(days=i)).isoformat() for i in range(days)]


def materialize_days(settings: Settings, days: list[str], echo: Print) -> None:
    """Run `daily_fraud_job` for each day, one Dagster run per day, recorded in the instance as
    that job's runs of that day (its page in the Dagster UI lists them)."""
    from fraud_platform.schedules import daily_assets, daily_fraud_job

    instance = local_instance(settings)
    job = Definitions(
        assets=daily_assets,
        jobs=[daily_fraud_job],
        resources=deployment_resources(settings),
        executor=in_process_executor,
    ).resolve_job_def(DAILY_JOB)
    for i, day in enumerate(days, start=1):
        started = time.perf_counter()
        result = job.execute_in_process(
            partition_key=day,
            instance=instance,
            tags={REPOSITORY_TAG: REPOSITORY_LABEL},
            # The demo prints its own progress; Dagster's step events stay in the instance.
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        seconds = time.perf_counter() - started
        echo(f"  [{i}/{len(days)}] {day} materialized in {seconds:.1f} s (run {result.run_id[:8]})")


def summary_tables(
    warehouse: PostgresWarehouse, days: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-day figures and the top accounts by risk, read back from the warehouse."""
    schema = sql.Identifier(warehouse.schema_name)
    per_day = sql.SQL(
        """
        SELECT d.partition_date::text AS day,
               COALESCE(e.transfers, 0) AS transactions,
               COALESCE(r.rejected, 0) AS rejected,
               d.node_count AS accounts,
               COALESCE(n.clusters, 0) AS clusters,
               d.high_risk_count AS high_risk,
               d.dataset_id::text AS dataset_id,
               d.url
        FROM {s}.datasets d
        LEFT JOIN (SELECT dataset_id, SUM(tx_count) AS transfers
                   FROM {s}.dataset_edges GROUP BY dataset_id) e USING (dataset_id)
        LEFT JOIN (SELECT dataset_id, COUNT(DISTINCT cluster) AS clusters
                   FROM {s}.dataset_nodes GROUP BY dataset_id) n USING (dataset_id)
        LEFT JOIN (SELECT partition_date, COUNT(*) AS rejected
                   FROM {s}.rejected_transactions GROUP BY partition_date) r USING (partition_date)
        WHERE d.partition_date = ANY(%s::date[])
        ORDER BY d.partition_date
        """
    ).format(s=schema)
    top = sql.SQL(
        """
        SELECT partition_date::text AS day, account, risk_score, centrality, cluster,
               COALESCE(reasons, '') AS why
        FROM {s}.dataset_nodes
        WHERE partition_date = ANY(%s::date[])
        ORDER BY risk_score DESC, centrality DESC
        LIMIT 15
        """
    ).format(s=schema)
    with warehouse.connect() as conn:
        days_frame = _frame(conn.execute(per_day, [days]))
        top_frame = _frame(conn.execute(top, [days]))
    return days_frame, top_frame


def _frame(cursor: psycopg.Cursor) -> pd.DataFrame:
    columns = [c.name for c in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=columns)


def print_summary(settings: Settings, days: list[str], echo: Print) -> None:
    warehouse = build_warehouse(settings, for_dagster=False)
    per_day, top = summary_tables(warehouse, days)
    truth = read_ground_truth(settings.storage_url)
    echo("")
    echo("Daily fraud datasets")
    echo(per_day.to_string(index=False, formatters={"url": str}))
    echo("")
    echo(f"Top accounts by risk (high risk: risk_score >= {settings.high_risk_threshold:g})")
    if not truth.empty:
        labels = truth.drop_duplicates("account").set_index("account")["typology"]
        top.insert(5, "planted_as", top["account"].map(labels).fillna("-"))
    echo(top.to_string(index=False, float_format=lambda v: f"{v:.4f}", justify="left"))


def run_demo(
    settings: Settings,
    *,
    start: date,
    days: int,
    config: SampleConfig,
    echo: Print = print,
) -> None:
    started = time.perf_counter()
    echo(f"Storage: {settings.storage_url}")
    day_keys = ensure_sample_data(settings, start, days, config, echo)
    echo(f"Materializing raw_transactions -> fraud_dataset for {len(day_keys)} day(s) ...")
    materialize_days(settings, day_keys, echo)
    print_summary(settings, day_keys, echo)
    echo("")
    echo(f"Done in {time.perf_counter() - started:.1f} s.")
    echo("Open the datasets' URLs with:  fraud-platform serve")
    echo("Open the Dagster UI with:      dagster dev   (job daily_fraud_job lists the runs)")
    if not settings.database_url:
        echo(
            f"The embedded PostgreSQL ({settings.embedded_postgres_dir}) is still running, for "
            "serve and the UI; stop it with:  fraud-platform db stop"
        )
    sys.stdout.flush()
