"""The demo's runs as the Dagster UI finds them (daily_fraud_job's runs of each day, listed on the
job's page, asked of a real dagster-webserver) and its closing lines (the embedded PostgreSQL
keeps running until `db stop`)."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml
from dagster import DagsterRunStatus, RunsFilter
from dagster_cli import PROJECT_ROOT, clean_env, dagster_command, pg_url
from services import (
    LOCATION,
    REPOSITORY,
    WORKSPACE,
    free_port,
    graphql,
    start,
    stop,
    wait_until_serving,
)

from fraud_platform.demo import local_instance, run_demo
from fraud_platform.sample_data.generator import SampleConfig
from fraud_platform.settings import Settings
from fraud_platform.storage.embedded_postgres import stop_embedded

DAYS = ["2024-10-01", "2024-10-02"]
#: What the UI's page of a job asks for: the job's runs in its code location.
JOB_PAGE_RUNS = """
query JobRuns($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    __typename
    ... on Pipeline { runs { runId status tags { key value } } }
  }
}
"""
#: What the UI's asset page asks for a check: its executions, each with the partition it checked.
CHECK_EXECUTIONS = """
query CheckExecutions($assetKey: AssetKeyInput!, $checkName: String!) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, limit: 10) {
    status partition evaluation { success }
  }
}
"""
SMALL = SampleConfig(transactions_per_day=2_000, seed=7, world="retail_bank")


def job_page_filter() -> RunsFilter:
    """What the UI's page of daily_fraud_job asks for: the job's name and the repository label
    of the code location `workspace.yaml` names (``__repository__@<location>``)."""
    workspace = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())
    location = workspace["load_from"][0]["python_module"]["location_name"]
    return RunsFilter(
        job_name="daily_fraud_job", tags={".dagster/repository": f"__repository__@{location}"}
    )


@pytest.mark.slow
def test_demo_runs_are_daily_fraud_job_runs_on_its_page(
    settings: Settings, dagster_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url(dagster_database))
    lines: list[str] = []
    run_demo(settings, start=date.fromisoformat(DAYS[0]), days=2, config=SMALL, echo=lines.append)

    instance = local_instance(settings)
    runs = instance.get_runs(filters=job_page_filter())
    assert sorted(run.tags["dagster/partition"] for run in runs) == DAYS
    assert {run.status for run in runs} == {DagsterRunStatus.SUCCESS}
    assert not instance.get_runs(filters=RunsFilter(job_name="__ephemeral_asset_job__"))

    # The job's page in the UI, as a dagster-webserver on the repository's workspace serves it.
    port = free_port()
    log = tmp_path / "webserver.log"
    env = clean_env() | {
        "DAGSTER_HOME": str(settings.dagster_home),
        "DAGSTER_PG_URL": pg_url(dagster_database),
        "FRAUD_STORAGE_URL": settings.storage_url,
        "FRAUD_DATABASE_URL": str(settings.database_url),
    }
    command = [dagster_command("dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)]
    webserver = start([*command, "-w", str(WORKSPACE)], env, log)
    try:
        wait_until_serving(port, log)
        selector = {
            "pipelineName": "daily_fraud_job",
            "repositoryName": REPOSITORY,
            "repositoryLocationName": LOCATION,
        }
        page = graphql(f"http://127.0.0.1:{port}/graphql", JOB_PAGE_RUNS, {"selector": selector})
        checks = graphql(
            f"http://127.0.0.1:{port}/graphql",
            CHECK_EXECUTIONS,
            {"assetKey": {"path": ["raw_transactions"]}, "checkName": "rejected_share"},
        )
    finally:
        stop([webserver])
    listed = page["pipelineOrError"]["runs"]
    assert sorted(run["runId"] for run in listed) == sorted(run.run_id for run in runs)
    partitions = [t["value"] for r in listed for t in r["tags"] if t["key"] == "dagster/partition"]
    assert sorted(partitions) == DAYS
    # Each day's check result is listed under the day it checked.
    executions = checks["assetCheckExecutions"]
    assert sorted(e["partition"] for e in executions) == DAYS
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    # FRAUD_DATABASE_URL is set: nothing embedded to stop.
    assert not any("db stop" in line for line in lines)


@pytest.mark.slow
def test_demo_on_the_embedded_database_says_how_to_stop_it(
    settings: Settings, storage_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRAUD_DATABASE_URL")
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    monkeypatch.setenv("FRAUD_STORAGE_URL", str(storage_dir))
    embedded = dataclasses.replace(settings, database_url=None)
    lines: list[str] = []
    try:
        run_demo(
            embedded, start=date.fromisoformat(DAYS[0]), days=1, config=SMALL, echo=lines.append
        )
    finally:
        stop_embedded(embedded.embedded_postgres_dir)
        shutil.rmtree(embedded.embedded_postgres_dir, ignore_errors=True)
    assert "still running" in lines[-1], lines[-8:]
    assert lines[-1].endswith("fraud-platform db stop"), lines[-8:]
