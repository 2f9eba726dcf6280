"""The daily pipeline on a real S3 server: layout, replacement and clear access errors.

The server (SeaweedFS, see ``s3_server.py``) checks SigV4 signatures, so a wrong secret is refused
exactly as AWS or MinIO would refuse it.

(No ``from __future__ import annotations``: Dagster reads the assets' annotations as types.)
"""

import datetime as dt
import io
import os
import re
from pathlib import Path

import botocore.auth
import pandas as pd
import psycopg
import pyarrow.parquet as pq
import pytest
import s3fs
from dagster import ExecuteInProcessResult, asset, materialize
from daily_runs import materialize_day
from psycopg import sql
from s3_server import S3Server, free_ports

from fraud_platform.defs.analytics.logic import read_watchlist, watchlist_url
from fraud_platform.defs.datasets.logic import dataset_id_for
from fraud_platform.defs.ingest.resources import LandingZone
from fraud_platform.sample_data.generator import SampleConfig, SampleDay, generate_day, write_day
from fraud_platform.settings import Settings
from fraud_platform.storage.object_store import (
    ObjectStoreAccessError,
    ParquetFilesIOManager,
    ParquetIOManager,
    object_store_errors,
    store_path,
)

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")  # backfill_policy

DAY = "2024-10-01"
#: Small enough for seconds per run; 10 malformed rows cover every malformed kind twice.
CONFIG = SampleConfig(transactions_per_day=2_000, malformed_rate=0.005, seed=11)

LANDING_KEYS = [
    f"landing/transactions/date={DAY}/part-000.csv",
    f"landing/transactions/date={DAY}/part-001.csv.gz",
    f"landing/transactions/date={DAY}/part-002.parquet",
    f"sample/ground_truth/date={DAY}/accounts.csv",
]
WRONG_SECRET = "wrong-secret-0123456789abcdef"
ASSET_KEYS = [
    f"assets/account_features/{DAY}/accounts.parquet",
    f"assets/account_features/{DAY}/activity.parquet",
    f"assets/account_features/{DAY}/pairs.parquet",
    f"assets/account_history/{DAY}.parquet",
    f"assets/account_scores/{DAY}.parquet",
    f"assets/fraud_dataset/{DAY}/edges.parquet",
    f"assets/fraud_dataset/{DAY}/nodes.parquet",
    f"assets/fraud_dataset/{DAY}/summary.parquet",
    f"assets/raw_transactions/{DAY}.parquet",
    f"assets/transaction_graph/{DAY}/edges.parquet",
    f"assets/transaction_graph/{DAY}/nodes.parquet",
]


@pytest.fixture(scope="module")
def sample() -> SampleDay:
    return generate_day(dt.date.fromisoformat(DAY), CONFIG)


@pytest.fixture
def s3_settings(
    s3_env: str, database_url: str, warehouse_schema: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    # deployment_resources hands the warehouse URL to Dagster as EnvVar("FRAUD_DATABASE_URL").
    monkeypatch.setenv("FRAUD_DATABASE_URL", database_url)
    return Settings(
        storage_url=s3_env,
        database_url=database_url,
        viewer_base_url="http://viewer.test",
        high_risk_threshold=0.8,
        database_schema=warehouse_schema,
    )


def key_prefix(server: S3Server, url: str) -> str:
    """``s3://bucket/test-x`` -> ``test-x/``."""
    return url.removeprefix(f"s3://{server.bucket}/") + "/"


def read_parquet(server: S3Server, key: str) -> pd.DataFrame:
    body = server.client().get_object(Bucket=server.bucket, Key=key)["Body"].read()
    return pq.read_table(io.BytesIO(body)).to_pandas()


def query(settings: Settings, statement: str, *params: object) -> list[tuple]:
    with psycopg.connect(str(settings.database_url)) as conn:
        formatted = sql.SQL(statement).format(s=sql.Identifier(settings.database_schema))
        return conn.execute(formatted, params).fetchall()


def run_day(settings: Settings, **kwargs: object) -> ExecuteInProcessResult:
    return materialize_day(settings, DAY, raise_on_error=False, **kwargs)


def failure_text(result: ExecuteInProcessResult) -> str:
    """Every failed step's error, causes included, as the UI and logs would show it."""
    errors = [event.step_failure_data.error for event in result.get_step_failure_events()]
    assert errors, "expected a failed step"
    return "\n".join(error.to_string() for error in errors if error is not None)


def all_event_text(result: ExecuteInProcessResult) -> str:
    return "\n".join(str(event.message) for event in result.all_events)


def retries(result: ExecuteInProcessResult) -> int:
    return sum(event.event_type_value == "STEP_UP_FOR_RETRY" for event in result.all_events)


def use_secret(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    """Switch the secret key; s3fs caches clients by arguments, not environment, so drop them."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.mark.slow
def test_a_day_runs_on_s3_with_the_local_layout(
    s3_server: S3Server, s3_settings: Settings, sample: SampleDay
) -> None:
    write_day(s3_settings.storage_url, sample, CONFIG)
    result = run_day(s3_settings)
    assert result.success

    prefix = key_prefix(s3_server, s3_settings.storage_url)
    assert s3_server.keys(prefix) == sorted(LANDING_KEYS + ASSET_KEYS)

    # Every row of the three formats was read from S3; exactly the planted bad rows were rejected.
    raw_meta = result.asset_materializations_for_node("raw_transactions")[0].metadata
    assert raw_meta["files_read"].value == 3
    assert raw_meta["rows_read"].value == CONFIG.transactions_per_day
    assert raw_meta["rows_rejected"].value == sample.malformed_rows == 10
    raw = read_parquet(s3_server, prefix + f"assets/raw_transactions/{DAY}.parquet")
    assert len(raw) == CONFIG.transactions_per_day - 10
    assert not raw["transaction_id"].isin(sample.malformed["transaction_id"]).any()
    rejected = query(s3_settings, "SELECT source_file, line FROM {s}.rejected_transactions")
    assert sorted(rejected) == sorted(
        (f"date={DAY}/{name}", int(line))
        for name, line in sample.malformed[["source_file", "line"]].itertuples(index=False)
    )

    # The stored graph and dataset agree with the stored transactions and with the warehouse.
    accounts = set(raw["sender"]) | set(raw["receiver"])
    pairs = set(zip(raw["sender"], raw["receiver"], strict=True))
    graph_nodes = read_parquet(s3_server, prefix + f"assets/transaction_graph/{DAY}/nodes.parquet")
    graph_edges = read_parquet(s3_server, prefix + f"assets/transaction_graph/{DAY}/edges.parquet")
    assert set(graph_nodes["account"]) == accounts
    assert len(graph_edges) == len(pairs)
    assert graph_edges["tx_count"].sum() == len(raw)
    summary = read_parquet(s3_server, prefix + f"assets/fraud_dataset/{DAY}/summary.parquet")
    assert summary[["node_count", "edge_count"]].values.tolist() == [[len(accounts), len(pairs)]]
    assert query(
        s3_settings,
        "SELECT dataset_id::text, node_count, edge_count, "
        "(SELECT count(*) FROM {s}.dataset_nodes), (SELECT count(*) FROM {s}.dataset_edges) "
        "FROM {s}.datasets",
    ) == [(dataset_id_for(DAY), len(accounts), len(pairs), len(accounts), len(pairs))]


@pytest.mark.slow
def test_rematerializing_leaves_the_same_objects(
    s3_server: S3Server, s3_settings: Settings, sample: SampleDay
) -> None:
    write_day(s3_settings.storage_url, sample, CONFIG)
    prefix = key_prefix(s3_server, s3_settings.storage_url)
    assert run_day(s3_settings).success
    first = _objects(s3_server, prefix)
    assert run_day(s3_settings).success
    second = _objects(s3_server, prefix)

    assert sorted(second) == sorted(first) == sorted(LANDING_KEYS + ASSET_KEYS)
    # The objects were replaced in place: the summary holds the run's created_at, so its content
    # (ETag) changed; the others hold the same rows again.
    assert all(second[key][1] >= first[key][1] for key in ASSET_KEYS)
    summary = f"assets/fraud_dataset/{DAY}/summary.parquet"
    assert second[summary][0] != first[summary][0]
    assert all(second[key][0] == first[key][0] for key in ASSET_KEYS if key != summary)
    assert query(s3_settings, "SELECT count(*) FROM {s}.datasets") == [(1,)]


def _objects(server: S3Server, prefix: str) -> dict[str, tuple[str, dt.datetime]]:
    """Key (relative to ``prefix``) to (ETag, LastModified)."""
    pages = (
        server.client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=server.bucket, Prefix=prefix)
    )
    return {
        item["Key"].removeprefix(prefix): (item["ETag"], item["LastModified"])
        for page in pages
        for item in page.get("Contents", [])
    }


@pytest.mark.slow
def test_a_wrong_secret_fails_the_run_naming_what_to_check(
    s3_server: S3Server,
    s3_settings: Settings,
    sample: SampleDay,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_day(s3_settings.storage_url, sample, CONFIG)
    use_secret(monkeypatch, WRONG_SECRET)

    result = run_day(s3_settings)

    assert not result.success
    assert retries(result) == 0  # retrying cannot fix credentials: the step fails at once
    text = failure_text(result)
    folder = f"{s3_settings.storage_url}/landing/transactions/date={DAY}"
    assert f"S3 refused to list {folder} (HTTP 403 Forbidden) at {s3_server.endpoint_url}" in text
    assert "Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in text
    for secret in (WRONG_SECRET, s3_server.secret_key):
        assert secret not in text
        assert secret not in all_event_text(result)


@pytest.mark.slow
def test_a_wrong_secret_fails_reading_a_stored_asset(
    s3_server: S3Server,
    s3_settings: Settings,
    sample: SampleDay,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_day(s3_settings.storage_url, sample, CONFIG)
    assert run_day(s3_settings).success
    use_secret(monkeypatch, WRONG_SECRET)

    # transaction_graph alone: its input is read back from S3 by the IO manager.
    result = run_day(s3_settings, selection=["transaction_graph"])

    assert not result.success
    assert retries(result) == 0
    text = failure_text(result)
    stored = f"{s3_settings.storage_url}/assets/raw_transactions/{DAY}.parquet"
    assert f"S3 refused to read {stored} (HTTP 403 Forbidden) at {s3_server.endpoint_url}" in text
    assert "AWS_SECRET_ACCESS_KEY" in text
    assert WRONG_SECRET not in text
    assert s3_server.secret_key not in text


def test_an_unreachable_endpoint_fails_naming_it(
    s3_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    (port,) = free_ports(1)  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore would otherwise retry for seconds
    s3fs.S3FileSystem.clear_instance_cache()

    # What raw_transactions calls, without its retry policy (an endpoint may come back, so a run
    # retries this step after 2, 4 and 8 s before failing with the same error).
    with pytest.raises(ObjectStoreAccessError) as listing:
        LandingZone(url=s3_settings.landing_url).ingest(DAY)
    folder = f"{s3_settings.landing_url}/date={DAY}"
    assert str(listing.value).startswith(
        f"cannot reach the S3 endpoint http://127.0.0.1:{port} to list {folder}: "
    )
    assert "Check AWS_ENDPOINT_URL" in str(listing.value)
    assert listing.value.allow_retries

    # The IO manager names the object it was after.
    store = ParquetFilesIOManager(store_path(s3_settings.assets_url))
    stored = store_path(s3_settings.assets_url) / "raw_transactions" / f"{DAY}.parquet"
    with pytest.raises(ObjectStoreAccessError, match=f"to look up {re.escape(str(stored))}: "):
        store.path_exists(stored)


def test_missing_credentials_fail_naming_the_variables(
    s3_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # Nor from this machine's ~/.aws files (the fixture already rules out instance metadata).
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    s3fs.S3FileSystem.clear_instance_cache()

    with pytest.raises(ObjectStoreAccessError) as caught:
        LandingZone(url=s3_settings.landing_url).ingest(DAY)

    assert str(caught.value) == (
        f"no S3 credentials to list {s3_settings.landing_url}/date={DAY}: set AWS_ACCESS_KEY_ID "
        "and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a server other than AWS)."
    )
    assert not caught.value.allow_retries


@asset
def probe() -> pd.DataFrame:
    return pd.DataFrame({"x": [1, 2, 3]})


@pytest.mark.parametrize(
    ("variable", "value", "code"),
    [
        ("AWS_SECRET_ACCESS_KEY", WRONG_SECRET, "SignatureDoesNotMatch"),
        ("AWS_ACCESS_KEY_ID", "no-such-key", "InvalidAccessKeyId"),
    ],
)
def test_writing_with_wrong_credentials_names_the_object(
    s3_server: S3Server,
    s3_env: str,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    code: str,
) -> None:
    monkeypatch.setenv(variable, value)
    s3fs.S3FileSystem.clear_instance_cache()

    result = materialize(
        [probe], resources={"io_manager": ParquetIOManager(base_url=s3_env)}, raise_on_error=False
    )

    assert not result.success
    text = failure_text(result)
    assert f"S3 refused to write {s3_env}/probe.parquet ({code}: " in text
    assert "Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in text
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in text  # the secret in use, wrong or right
    assert s3_server.secret_key not in text
    assert s3_server.keys(key_prefix(s3_server, s3_env)) == []


@pytest.mark.slow
def test_missing_objects_stay_file_not_found(s3_env: str) -> None:
    # A day not yet stored is not an access fault: Dagster's missing-partition handling needs it.
    path = store_path(s3_env) / "assets" / "nothing.parquet"
    with pytest.raises(FileNotFoundError), object_store_errors(path, "read"):
        path.read_bytes()


def test_aws_region_reaches_the_s3_client(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore itself reads only AWS_DEFAULT_REGION; the signing region must follow AWS_REGION.
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    path = store_path(s3_env) / "region.txt"
    path.write_bytes(b"signed for eu-west-3")
    assert path.fs.s3.meta.region_name == "eu-west-3"
    assert path.read_bytes() == b"signed for eu-west-3"


def signing_regions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The region of every SigV4 ``Authorization`` header signed from now on, as sent.

    SeaweedFS takes the region from the request's own credential scope and accepts any (checked:
    a server given eu-central-1 answers requests signed for us-east-1), so the test reads the
    region that AWS would check from the header itself.
    """
    regions: list[str] = []
    sign = botocore.auth.SigV4Auth.add_auth

    def recording(self: botocore.auth.SigV4Auth, request: object) -> None:
        sign(self, request)
        header = str(request.headers.get("Authorization", ""))  # type: ignore[attr-defined]
        scope = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/s3/aws4_request", header)
        regions.append(scope.group(1) if scope else f"unsigned: {header!r}")

    monkeypatch.setattr(botocore.auth.SigV4Auth, "add_auth", recording)
    return regions


def test_the_watchlist_on_s3_is_signed_for_aws_region(
    s3_server: S3Server, s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not botocore's default (us-east-1) and not the server's: a request that ignores AWS_REGION
    # is signed for another region, which AWS refuses (AuthorizationHeaderMalformed).
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    url = watchlist_url(s3_env)
    key = url.removeprefix(f"s3://{s3_server.bucket}/")
    s3_server.client().put_object(
        Bucket=s3_server.bucket, Key=key, Body=b"account,since\nA-007,2024-09-30\n"
    )
    s3fs.S3FileSystem.clear_instance_cache()
    regions = signing_regions(monkeypatch)

    listed = read_watchlist(url)

    assert listed is not None and listed["account"].tolist() == ["A-007"]
    assert regions and set(regions) == {"eu-central-1"}
    assert read_watchlist(watchlist_url(f"{s3_env}/nowhere")) is None


def test_a_refused_key_on_the_watchlist_is_an_access_error(
    s3_server: S3Server, s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = watchlist_url(s3_env)
    key = url.removeprefix(f"s3://{s3_server.bucket}/")
    s3_server.client().put_object(Bucket=s3_server.bucket, Key=key, Body=b"account\nA-007\n")
    use_secret(monkeypatch, WRONG_SECRET)

    with pytest.raises(ObjectStoreAccessError) as caught:
        read_watchlist(url)

    text = str(caught.value)
    assert text.startswith(f"S3 refused to read {url} (")
    assert "Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in text
    assert not caught.value.allow_retries
    assert WRONG_SECRET not in text and s3_server.secret_key not in text
