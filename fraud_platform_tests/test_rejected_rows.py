"""A day gone wrong says why where the user looks: the check, its log line, `fraud-platform rejected`.

The day below has 7 rows of which 4 are bad for known reasons; it is run for real (``materialize``
into PostgreSQL, Dagster's CLI and ``fraud-platform`` in subprocesses) and every place the user
looks must name the day, the share, the threshold, the reasons and the command to list the rows.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, DagsterInstance
from dagster_cli import clean_env, cli_env, fraud_platform_cli, materialize_cli
from daily_runs import materialize_day

from fraud_platform.defs.analytics.checks import account_scores_check, alert_budget_check
from fraud_platform.defs.check_results import rerun_command
from fraud_platform.defs.datasets.checks import fraud_dataset_check
from fraud_platform.defs.features.checks import account_features_check, account_history_check
from fraud_platform.defs.ingest.checks import rejected_share_result
from fraud_platform.defs.ingest.rejected import (
    RejectedShare,
    preview_rows,
    reason_counts,
    rejected_command,
    rejected_share_message,
    shorten,
    text_table,
    top_reasons,
)
from fraud_platform.defs.model.checks import risk_model_check
from fraud_platform.settings import Settings
from fraud_platform.storage.embedded_postgres import stop_embedded

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

DAY = "2026-01-05"
FILE = f"date={DAY}/a.csv"
HEADER = "transaction_id,timestamp,sender,receiver,amount,currency\n"
ROWS = [
    f"T1,{DAY}T01:00:00Z,A,B,10.00,USD",
    f"T2,{DAY}T01:00:00Z,A,C,0,USD",  # line 3: amount
    f"T3,{DAY}T01:00:00Z,B,C,-5,USD",  # line 4: amount
    "T4,yesterday,B,C,5,USD",  # line 5: timestamp
    f"T5,{DAY}T01:00:00Z,B,C,5",  # line 6: a field short
    f"T6,{DAY}T01:00:00Z,C,A,7.50,USD",
    f"T7,{DAY}T01:00:00Z,C,B,8.50,USD",
]
AMOUNT = "amount must be greater than zero"
TIMESTAMP = "unparseable timestamp (expected ISO-8601)"
RAGGED = "expected 6 fields, found 5"
#: (field, reason, rows), in the order the counts are shown.
EXPECTED_COUNTS = [("amount", AMOUNT, 2), ("row", RAGGED, 1), ("timestamp", TIMESTAMP, 1)]
#: (line, field, reason) of every rejected row, in file order.
EXPECTED_ROWS = [(3, "amount", AMOUNT), (4, "amount", AMOUNT), (5, "timestamp", TIMESTAMP)]
EXPECTED_ROWS.append((6, "row", RAGGED))
FAILURE_LINE = (
    f"57.1% of 7 rows rejected on {DAY} (error above 20.0%: the day's graph is not built). "
    f"Top reasons: {AMOUNT} (2), {RAGGED} (1), {TIMESTAMP} (1). "
    f"List them: fraud-platform rejected --day {DAY}"
)


def rejected_frame() -> pd.DataFrame:
    """The day's rejected rows as ingest records them (shuffled: the helpers must sort)."""
    rows = [(6, "row", RAGGED), (3, "amount", AMOUNT), (5, "timestamp", TIMESTAMP)]
    rows.append((4, "amount", AMOUNT))
    return pd.DataFrame(
        {
            "partition_date": [DAY] * 4,
            "source_file": [FILE] * 4,
            "line": [line for line, _, _ in rows],
            "field": [field for _, field, _ in rows],
            "reason": [reason for _, _, reason in rows],
            "raw": [ROWS[line - 2] for line, _, _ in rows],
        }
    )


# -- the wording, as pure functions ---------------------------------------------------------------


def test_reasons_are_counted_by_field_and_reason_most_frequent_first() -> None:
    counts = reason_counts(rejected_frame())
    assert list(counts.itertuples(index=False, name=None)) == EXPECTED_COUNTS
    assert top_reasons(rejected_frame(), 2) == [(AMOUNT, 2), (RAGGED, 1)]
    assert reason_counts(rejected_frame().head(0)).empty


def test_the_failure_line_names_day_share_threshold_reasons_and_command() -> None:
    verdict = RejectedShare((DAY,), 7, 4, warn_share=0.01, error_share=0.2)
    assert verdict.level == "error"
    assert rejected_share_message(verdict, rejected_frame()) == FAILURE_LINE

    warned = RejectedShare((DAY,), 100, 4, warn_share=0.01, error_share=0.2)
    assert warned.level == "warning"
    assert rejected_share_message(warned, rejected_frame()).startswith(
        f"4.0% of 100 rows rejected on {DAY} (warning above 1.0%: the day is built from its "
        "valid rows; error above 20.0%). Top reasons: "
    )
    clean = RejectedShare((DAY, "2026-01-06"), 100, 0, warn_share=0.01, error_share=0.2)
    assert rejected_share_message(clean, rejected_frame().head(0)) == (
        f"0.0% of 100 rows rejected on {DAY} to 2026-01-06 (within the warning share of 1.0%)."
    )


def test_the_check_result_carries_the_counts_and_the_first_rows() -> None:
    result = rejected_share_result(
        7, 4, warn_share=0.01, error_share=0.2, rejected=rejected_frame(), days=[DAY]
    )
    assert not result.passed and result.severity == AssetCheckSeverity.ERROR
    assert result.description == FAILURE_LINE
    assert_check_metadata(result.metadata)
    assert "Query" not in result.metadata


def test_the_preview_keeps_twenty_rows_and_cuts_long_raw_text() -> None:
    many = pd.concat([rejected_frame()] * 10, ignore_index=True)
    many.loc[many.index[many["line"] == 3][0], "raw"] = "x" * 5_000  # among the first 20
    shown = preview_rows(many, limit=20, raw_chars=120)
    assert len(shown) == 20 and list(shown.columns) == [
        "source_file",
        "line",
        "field",
        "reason",
        "raw",
    ]
    assert shown["line"].is_monotonic_increasing
    assert max(len(raw) for raw in shown["raw"]) == 120
    assert shorten("x" * 5_000, 120) == "x" * 119 + "…" and shorten(None) == ""
    table = text_table(shown.head(2), widths={"raw": 10}).splitlines()
    assert table[0].split() == ["source_file", "line", "field", "reason", "raw"]
    assert len(table) == 4 and all(len(line) <= 120 for line in table)
    assert rejected_command(DAY) == f"fraud-platform rejected --day {DAY}"


def assert_check_metadata(metadata: dict) -> None:
    by_reason = [
        (r.data["field"], r.data["reason"], r.data["rows"])
        for r in metadata["rejected_by_reason"].records
    ]
    assert by_reason == EXPECTED_COUNTS
    rows = [
        (r.data["source_file"], r.data["line"], r.data["field"], r.data["reason"], r.data["raw"])
        for r in metadata["rejected_rows"].records
    ]
    assert rows == [
        (FILE, line, field, reason, ROWS[line - 2]) for line, field, reason in EXPECTED_ROWS
    ]
    assert metadata["list_all_rejected_rows"].value == f"fraud-platform rejected --day {DAY}"


# -- the real thing ---------------------------------------------------------------------------------


def write_day(settings: Settings, rows: list[str]) -> None:
    folder = Path(settings.landing_url) / f"date={DAY}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").write_text(HEADER + "".join(f"{row}\n" for row in rows))


def cli_settings_env(settings: Settings) -> dict[str, str]:
    """The deployment ``settings`` describe, as ``fraud-platform`` reads it from a shell."""
    env = clean_env()
    env.update(
        FRAUD_STORAGE_URL=settings.storage_url,
        FRAUD_DATABASE_URL=str(settings.database_url),
        FRAUD_DATABASE_SCHEMA=settings.database_schema,
    )
    return env


@pytest.mark.slow
def test_a_mostly_rejected_day_says_why_in_the_check_the_log_and_the_command(
    settings: Settings, instance: DagsterInstance
) -> None:
    write_day(settings, ROWS)
    result = materialize_day(settings, DAY, instance=instance, raise_on_error=False)
    assert not result.success
    evaluation = {e.check_name: e for e in result.get_asset_check_evaluations()}["rejected_share"]
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.description == FAILURE_LINE
    # The result belongs to the day it checked (the UI lists it under that partition).
    assert evaluation.partition == DAY
    assert_check_metadata(evaluation.metadata)
    stored = {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert stored["rejected_transactions"]["list_rows"].value == rejected_command(DAY)
    # The line is logged at ERROR, not only in the check's DEBUG event.
    errors = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.level >= 40 and entry.dagster_event is None
    ]
    assert f"rejected_share: {FAILURE_LINE}" in errors

    env = cli_settings_env(settings)
    listed = fraud_platform_cli("rejected", "--day", DAY, env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == f"{DAY}: 4 rejected rows"
    counted = [line.split() for line in lines[3:6]]
    assert [(c[0], c[-1]) for c in counted] == [(f, str(n)) for f, _, n in EXPECTED_COUNTS]
    assert all(reason in listed.stdout for _, reason, _ in EXPECTED_COUNTS)
    assert all(ROWS[line - 2] in listed.stdout for line, _, _ in EXPECTED_ROWS)

    as_csv = fraud_platform_cli("rejected", "--day", DAY, "--csv", env=env)
    assert as_csv.returncode == 0, as_csv.stderr
    records = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [
        (r["source_file"], int(r["line"]), r["field"], r["reason"], r["raw"]) for r in records
    ] == [(FILE, line, field, reason, ROWS[line - 2]) for line, field, reason in EXPECTED_ROWS]
    assert f"{DAY}: 4 rejected rows" in as_csv.stderr

    limited = fraud_platform_cli("rejected", "--day", DAY, "--csv", "--limit", "2", env=env)
    assert len(list(csv.DictReader(io.StringIO(limited.stdout)))) == 2
    assert f"{DAY}: 4 rejected rows, first 2 shown" in limited.stderr

    never = fraud_platform_cli("rejected", "--day", "2026-01-09", env=env)
    assert never.returncode == 0, never.stderr
    assert "2026-01-09: no rejected rows and no dataset stored for this day" in never.stdout


@pytest.mark.slow
def test_a_clean_day_has_no_rejected_rows_to_list(settings: Settings) -> None:
    write_day(settings, [ROWS[0], *ROWS[5:]])
    result = materialize_day(settings, DAY)
    assert result.success
    listed = fraud_platform_cli("rejected", "--day", DAY, env=cli_settings_env(settings))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == f"{DAY}: no rejected rows (every row read was valid)"


@pytest.mark.slow
def test_a_day_over_the_input_budget_names_day_files_sizes_limit_and_setting(
    settings: Settings, tmp_path: Path
) -> None:
    write_day(settings, ROWS)
    size = (Path(settings.landing_url) / f"date={DAY}" / "a.csv").stat().st_size
    env = cli_env(settings, tmp_path / "dagster_home")
    env["FRAUD_MAX_FILE_BYTES"] = "100"
    run = materialize_cli(DAY, env)
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert (
        f"day {DAY} not read: 1 of its 1 landing file(s) exceed the input budget of 100 bytes per "
        "file (LandingZone.max_file_bytes, set by FRAUD_MAX_FILE_BYTES): a.csv "
        f"{size} bytes." in output
    )


# -- the same for every check ---------------------------------------------------------------------


def test_every_check_failure_names_the_day_the_figure_the_limit_and_the_next_step() -> None:
    days = [DAY]
    scores = pd.DataFrame(
        {
            "partition_date": [DAY] * 3,
            "account": ["A", "B", "C"],
            "centrality": [0.2, 0.3, 0.4],
            "cluster": [0, 0, 1],
            "risk_score": [0.1, 0.6, 0.9],
        }
    )
    summary = pd.DataFrame({"partition_date": [DAY], "node_count": [6], "edge_count": [8]})
    failures = {
        "account_features": account_features_check(pd.DataFrame(), 3, days),
        "account_history": account_history_check(pd.DataFrame(), 3, 28, days),
        "account_scores": account_scores_check(scores, days),
        "alert_budget": alert_budget_check(scores, 0.5, 0.01, days),
        "fraud_dataset": fraud_dataset_check(summary, {DAY: (6, 8)}, {DAY: (5, 8)}),
    }
    for name, result in failures.items():
        assert not result.passed, name
        text = str(result.description)
        assert f" on {DAY} (" in text, (name, text)
        assert "dagster asset materialize" in text or "FRAUD_ALERT_BUDGET_SHARE" in text, name
    assert str(failures["account_features"].description).startswith(
        "0 feature rows for 3 accounts; missing feature column(s) "
    )
    assert f"--select 'account_features*' --partition {DAY}" in str(
        failures["account_features"].description
    )
    assert "PageRank sums to 0.900000000" in str(failures["account_scores"].description)
    assert str(failures["alert_budget"].description).startswith(
        f"2 of 3 accounts (66.67%) reach risk 0.5 on {DAY} (over the alert budget of 1.00% (1), "
        "FRAUD_ALERT_BUDGET_SHARE). Only the 1 highest are alerted"
    )
    assert f"{DAY}: dataset says (6, 8), rows stored (5, 8) on {DAY}" in str(
        failures["fraud_dataset"].description
    )
    model = risk_model_check(0.1)
    assert not model.passed
    assert str(model.description).startswith(
        "average precision 0.100 on its own training days (minimum 0.3). Not saved"
    )
    assert "--select 'risk_model'" in str(model.description)
    assert rerun_command([DAY, "2026-01-07"], "x") == (
        "dagster asset materialize -m fraud_platform.definitions --select 'x' "
        f"--partition DAY, for each DAY from {DAY} to 2026-01-07"
    )


@pytest.mark.slow
def test_the_command_reads_the_embedded_postgresql_when_no_database_is_named(
    storage_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``FRAUD_DATABASE_URL``: the run and the command meet in the embedded PostgreSQL."""
    monkeypatch.delenv("FRAUD_DATABASE_URL", raising=False)
    settings = Settings(
        storage_url=str(storage_dir),
        database_url=None,
        viewer_base_url="http://viewer.test",
        high_risk_threshold=0.8,
    )
    write_day(settings, ROWS)
    try:
        result = materialize_day(settings, DAY, raise_on_error=False)
        assert not result.success
        env = clean_env()
        env["FRAUD_STORAGE_URL"] = settings.storage_url
        as_csv = fraud_platform_cli("rejected", "--day", DAY, "--csv", env=env)
        assert as_csv.returncode == 0, as_csv.stderr
        lines = [int(r["line"]) for r in csv.DictReader(io.StringIO(as_csv.stdout))]
        assert lines == [line for line, _, _ in EXPECTED_ROWS]
    finally:
        stop_embedded(settings.embedded_postgres_dir)
