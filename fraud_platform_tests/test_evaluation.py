"""Evaluation against the planted fraud: hand-computed figures, and the evaluate command."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster_cli import dagster_command

from fraud_platform.defs.analytics.engines import get_engine
from fraud_platform.defs.analytics.evaluation import (
    average_precision,
    evaluate_scores,
    format_report,
    label_scores,
    precision_at_k,
    sample_period_available,
    sample_watchlist,
    score_landing_day,
    score_landing_days,
)
from fraud_platform.defs.analytics.scoring import SCORE_COLUMNS
from fraud_platform.defs.ingest.logic import ingest_day
from fraud_platform.sample_data.generator import SampleConfig, generate_days

D1, D2 = "2024-10-01", "2024-10-02"

# Two hand-labelled days. Day 1 ranks a .9 (planted), b .85, c and d tied at .7 (c planted, d a
# merchant), e .2 (planted), f .1; day 2 ranks g .95 (planted), h .5 (an employer), i .3, and
# the planted z has no score at all (the pipeline never saw it).
SCORES = pd.DataFrame(
    {
        "partition_date": [D1] * 6 + [D2] * 3,
        "account": list("abcdefghi"),
        "risk_score": [0.9, 0.85, 0.7, 0.7, 0.2, 0.1, 0.95, 0.5, 0.3],
    }
)
TRUTH = pd.DataFrame(
    [
        (D1, "a", "cycle", True, 1, "mule"),
        (D1, "c", "fan_in", True, 2, "source"),
        (D1, "d", "merchant", False, -1, "hub"),
        (D1, "e", "scatter_gather", True, 3, "mule"),
        (D2, "g", "cycle", True, 1, "mule"),
        (D2, "h", "employer", False, -1, "hub"),
        (D2, "z", "fan_out", True, 4, "mule"),
    ],
    columns=["partition_date", "account", "typology", "is_fraud", "ring_id", "role"],
)


def test_average_precision_steps_over_distinct_scores():
    # a (hit); then b and c tie, one hit: P = 2/3 at R = 1; d adds nothing.
    scores = np.array([0.9, 0.8, 0.8, 0.1])
    assert average_precision(scores, np.array([1, 0, 1, 0])) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert average_precision(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    assert math.isnan(average_precision(np.array([0.5]), np.array([0])))


def test_label_scores_adds_missed_planted_accounts_with_zero():
    labelled = label_scores(SCORES, TRUTH).set_index("account")
    assert len(labelled) == 10
    assert labelled.loc["z", "risk_score"] == 0.0 and labelled.loc["z", "is_fraud"]
    assert labelled.loc["b", "typology"] == "background" and not labelled.loc["b", "is_fraud"]
    assert labelled.loc["d", "typology"] == "merchant"


def test_figures_match_the_hand_computation():
    report = evaluate_scores(SCORES, TRUTH, 0.8, ks=(1, 2, 10))
    assert (report.days, report.account_days, report.fraud_account_days) == (2, 10, 5)
    # Flagged: a, b, g; planted: a, c, e, g, z.
    assert report.alerts == 3 and report.alerts_per_day == 1.5
    assert report.precision == pytest.approx(2 / 3)
    assert report.recall == pytest.approx(2 / 5)
    # Top 1: a, g. Top 2: {a, b}, {g, h}. Top 10: every account of the day (3/6, 2/4).
    assert report.precision_at_k == pytest.approx({1: 1.0, 2: 0.5, 10: 0.5})
    # Day 1: R steps 1/3 at P 1 (a), 1/3 at P 2/4 (c, d tied), 1/3 at P 3/5 (e): 0.7.
    # Day 2: R steps 1/2 at P 1 (g), 1/2 at P 2/4 (z last): 0.75.
    assert report.average_precision == pytest.approx((0.7 + 0.75) / 2)

    typologies = report.typologies.set_index(["typology", "role"])
    assert typologies.loc[("cycle", "mule"), ["accounts", "flagged"]].tolist() == [2, 2]
    assert typologies.loc[("fan_in", "all"), "recall"] == 0.0
    assert list(typologies.index.get_level_values(0).unique()) == [
        "cycle",
        "fan_in",
        "fan_out",
        "scatter_gather",
    ]
    hubs = report.hubs.set_index("typology")
    assert hubs[["accounts", "flagged", "share"]].values.tolist() == [[1, 0, 0.0], [1, 0, 0.0]]


def test_excluded_accounts_leave_every_figure():
    report = evaluate_scores(SCORES, TRUTH, 0.8, exclude=["a"], ks=(1,))
    assert report.excluded_account_days == 1
    assert (report.alerts, report.precision, report.recall) == (2, 0.5, 0.25)
    assert report.precision_at_k == {1: 0.5}  # day 1's top is now b


def test_nothing_flagged_gives_undefined_precision():
    report = evaluate_scores(SCORES, TRUTH, 0.99)
    assert report.alerts == 0 and math.isnan(report.precision) and report.recall == 0.0
    assert "precision n/a   recall 0.0%" in format_report(report)


def test_precision_at_k_breaks_ties_by_account():
    tied = pd.DataFrame({"partition_date": [D1] * 2, "account": ["y", "x"], "risk_score": 0.5})
    truth = pd.DataFrame(
        [(D1, "x", "cycle", True, 1, "mule")],
        columns=["partition_date", "account", "typology", "is_fraud", "ring_id", "role"],
    )
    assert precision_at_k(label_scores(tied, truth), 1) == 1.0
    with pytest.raises(ValueError):
        precision_at_k(label_scores(tied, truth), 0)


def test_format_report_prints_every_figure():
    text = format_report(evaluate_scores(SCORES, TRUTH, 0.8, ks=(1, 2)))
    assert "2 day(s): 10 account-days, 5 of them planted fraud" in text
    assert "3 account-days, 1.5 a day" in text
    assert "precision 66.7%   recall 40.0%" in text
    assert "@1 100.0%   @2 50.0%" in text
    assert "average precision (per day, averaged): 0.725" in text
    assert re.search(r"scatter_gather\s+all\s+1\s+0\s+0.0%", text)
    assert re.search(r"employer\s+1\s+0\s+0.0%", text)


def test_sample_watchlist_is_a_seeded_share_of_the_planted_accounts():
    truth = pd.concat([TRUTH, TRUTH.assign(partition_date="2024-10-03")])  # repeats count once
    chosen = sample_watchlist(truth, 0.4, seed=7)
    assert len(chosen) == 2  # 40% of a, c, e, g, z
    assert set(chosen["account"]) <= {"a", "c", "e", "g", "z"}
    assert chosen.equals(sample_watchlist(truth, 0.4, seed=7))
    assert sample_watchlist(truth, 0.0, seed=7).empty
    assert len(sample_watchlist(truth, 1.0, seed=7)) == 5
    with pytest.raises(ValueError):
        sample_watchlist(truth, 1.5, seed=7)


def test_score_landing_day_runs_the_pure_pipeline(storage_dir: Path):
    config = SampleConfig(transactions_per_day=1_500, seed=3)
    generate_days(str(storage_dir), dt.date(2024, 10, 1), 1, config)
    assert sample_period_available(str(storage_dir), [D1])
    assert not sample_period_available(str(storage_dir), [D1, D2])
    landing = str(storage_dir / "landing" / "transactions")
    scores = score_landing_day(landing, D1, get_engine("cpu"))
    assert list(scores.columns) == ["partition_date", *SCORE_COLUMNS]
    valid = ingest_day(landing, D1).valid
    assert set(scores["account"]) == set(valid["sender"]) | set(valid["receiver"])
    assert scores["risk_score"].between(0, 1).all()
    empty = score_landing_day(landing, D2, get_engine("cpu"))
    assert empty.empty and {"partition_date", "account", "risk_score"} <= set(empty.columns)

    heard: list[tuple[int, str, int]] = []
    both = score_landing_days(
        landing,
        [dt.date(2024, 10, 1), dt.date(2024, 10, 2)],
        get_engine("cpu"),
        progress=lambda n, day, frame, seconds: heard.append((n, day, len(frame))),
    )
    assert heard == [(1, D1, len(scores)), (2, D2, 0)]
    assert list(both.columns) == ["partition_date", "account", "risk_score"]
    assert both["risk_score"].tolist() == scores["risk_score"].tolist()


def _cli_env(storage: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    env["FRAUD_STORAGE_URL"] = str(storage)
    return env


def _percent(text: str, label: str) -> float:
    match = re.search(rf"{label} (\d+\.\d)%", text)
    assert match, f"no {label} in the output"
    return float(match.group(1)) / 100


def test_evaluate_command_generates_a_period_and_prints_the_figures(storage_dir: Path):
    cli = Path(dagster_command("fraud-platform"))
    completed = subprocess.run(
        [str(cli), "evaluate", "--days", "3", "--transactions", "5000"],
        env=_cli_env(storage_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    out = completed.stdout
    assert "Generating 3 sample day(s) of 5,000 transfers from 2024-10-01" in out
    assert "[3/3] 2024-10-03:" in out
    assert "Watchlist: none" in out
    assert "Evaluated 3 day(s)" in out
    assert "precision@k (per day, averaged): @10" in out
    assert "average precision (per day, averaged):" in out
    # Mostly planted fraud among the alerts, and no legitimate hub flagged.
    assert _percent(out, "precision") >= 0.8
    assert re.search(r"merchant\s+\d+\s+0\s+0.0%", out)
    assert re.search(r"employer\s+\d+\s+0\s+0.0%", out)
    assert not any(storage_dir.iterdir())  # the sample went to a temporary folder


def test_evaluate_command_uses_stored_days_and_a_sampled_watchlist(storage_dir: Path):
    generate_days(
        str(storage_dir), dt.date(2024, 10, 1), 1, SampleConfig(transactions_per_day=2_000)
    )
    cli = Path(dagster_command("fraud-platform"))
    completed = subprocess.run(
        [str(cli), "evaluate", "--days", "1", "--watchlist-share", "0.5"],
        env=_cli_env(storage_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    out = completed.stdout
    assert f"Using the sample days under {storage_dir}" in out
    assert re.search(r"Watchlist: \d+ accounts \(50% of the planted accounts\), left out", out)
    assert "watchlisted account-days left out" in out
