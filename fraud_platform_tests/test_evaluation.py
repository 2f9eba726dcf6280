"""Evaluation: hand-computed detection figures, the held-out protocol, and the evaluate command."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path

import pandas as pd
import pytest
from dagster_cli import fraud_platform_cli

from fraud_platform.defs.analytics.engines import get_engine
from fraud_platform.defs.model.resources import packaged_model
from fraud_platform.evaluation.metrics import (
    family_flag_rates,
    figures,
    mean_average_precision,
    precision_at_k,
    precision_recall_at,
    recall_by_typology,
)
from fraud_platform.evaluation.protocol import (
    FIRST,
    LATER,
    PACKAGED,
    PACKAGED_FIRST,
    UNSEEN,
    EvaluationPlan,
    run_evaluation,
    summary_table,
    targets_met,
)

D1, D2 = "2024-10-01", "2024-10-02"

# Two hand-labelled days. Day 1 ranks a .9 (cycle), b .85 (processor), c and d tied at .7
# (c fan_in, d background), e .2 (scatter_gather), f .1 (background); day 2 ranks g .95 (cycle),
# h .5 (employer), i .3 (background).
LABELLED = pd.DataFrame(
    {
        "partition_date": [D1] * 6 + [D2] * 3,
        "account": list("abcdefghi"),
        "risk_score": [0.9, 0.85, 0.7, 0.7, 0.2, 0.1, 0.95, 0.5, 0.3],
        "is_fraud": [True, False, True, False, True, False, True, False, False],
        "typology": [
            "cycle",
            "processor",
            "fan_in",
            "background",
            "scatter_gather",
            "background",
            "cycle",
            "employer",
            "background",
        ],
    }
)


def test_precision_and_recall_at_the_threshold():
    # Flagged at .8: a, b, g (2 laundering); laundering: a, c, e, g.
    assert precision_recall_at(LABELLED, 0.8) == pytest.approx((2 / 3, 2 / 4))
    precision, recall = precision_recall_at(LABELLED, 0.99)
    assert math.isnan(precision) and recall == 0.0


def test_precision_at_k_averages_days_and_breaks_ties_by_account():
    # Top 1: a (hit), g (hit). Top 3 of day 1: a, b, c (c before d by id): 2/3; day 2: g, h, i.
    assert precision_at_k(LABELLED, 1) == 1.0
    assert precision_at_k(LABELLED, 3) == pytest.approx((2 / 3 + 1 / 3) / 2)
    with pytest.raises(ValueError):
        precision_at_k(LABELLED, 0)


def test_average_precision_is_per_day_with_ties_entering_together():
    # Day 1: a (P 1, R 1/3); c and d tied (P 2/4 at R 2/3); e (P 3/5 at R 1): (1 + .5 + .6) / 3.
    # Day 2: g alone at the top: 1.
    assert mean_average_precision(LABELLED) == pytest.approx(((1 + 0.5 + 0.6) / 3 + 1.0) / 2)
    no_fraud = LABELLED.assign(is_fraud=False)
    assert math.isnan(mean_average_precision(no_fraud))


def test_recall_by_pattern_and_share_of_each_legitimate_family():
    patterns = recall_by_typology(LABELLED, 0.8).set_index("typology")
    assert patterns.loc["cycle", ["accounts", "flagged"]].tolist() == [2, 2]
    assert patterns.loc["fan_in", "recall"] == 0.0
    families = family_flag_rates(LABELLED, 0.8).set_index("typology")
    assert families.loc["processor", "share"] == 1.0
    assert families.loc["employer", "share"] == 0.0
    assert families.loc["background", ["accounts", "flagged"]].tolist() == [3, 0]


def test_figures_name_the_worst_family_and_the_budget():
    out = figures(LABELLED, 0.8, ks=(1,), budget=0.5)
    assert out["alerts_per_day"] == 1.5  # a, b on day 1; g on day 2
    assert out["budget_per_day"] == pytest.approx((6 * 0.5 + 3 * 0.5) / 2)
    assert out["worst_family_flagged"] == 1.0  # the processor; background never counts here
    assert out["fraud_per_day"] == 2.0
    assert out["precision_at_1"] == 1.0


def test_plan_refuses_a_split_that_would_report_on_training_data():
    with pytest.raises(ValueError, match="two worlds"):
        EvaluationPlan(worlds=("retail_bank",))
    with pytest.raises(ValueError, match="differ"):
        EvaluationPlan(train_seeds=(1, 2), test_seeds=(2, 3))
    # The packaged model trains nothing here: one world will do, and only test seeds are made.
    packaged = EvaluationPlan(worlds=("retail_bank",), test_seeds=(21,), packaged=True)
    assert packaged.seeds == (21,)
    with pytest.raises(ValueError, match="at least one world"):
        EvaluationPlan(worlds=(), packaged=True)


SMALL = EvaluationPlan(
    worlds=("retail_bank", "payments_company"),
    train_seeds=(11,),
    test_seeds=(21,),
    first_days=1,
    train_days=2,
    later_days=1,
    transactions_per_day=3_000,
    k=10,
)


@pytest.mark.slow
def test_protocol_reports_only_on_held_out_worlds_and_later_days(tmp_path: Path):
    result = run_evaluation(SMALL, get_engine("cpu"), str(tmp_path))
    rows = result.rows
    unseen = rows[rows["split"] == UNSEEN]
    # Held-out worlds are reported only on test seeds; later days only on training seeds.
    assert set(unseen["seed"]) == set(rows.loc[rows["split"] == FIRST, "seed"]) == {21}
    assert set(rows.loc[rows["split"] == LATER, "seed"]) == {11}
    assert set(unseen["method"]) == {"model", "rules", "pagerank"}
    assert set(unseen["world"]) == set(SMALL.worlds)
    # Each fold's model never saw the world it is judged on.
    for world, model in result.models.items():
        assert world not in model.training["worlds"]
    later = result.model_tables[LATER]
    assert (later["world"] != later["fold"]).all()
    # Days 1-3 are learned from; only day 4 is "later". A held-out world's day 1 is its
    # "first days", days 2-4 its "unseen world" days.
    assert later["partition_date"].nunique() == 1
    assert later["partition_date"].min() == "2024-10-04"
    assert result.model_tables[FIRST]["partition_date"].unique().tolist() == ["2024-10-01"]
    assert result.model_tables[UNSEEN]["partition_date"].min() == "2024-10-02"
    assert unseen["average_precision"].between(0, 1).all()

    summary = summary_table(result)
    assert {"avg precision", "precision@10", "recall@0.5"} <= set(summary.columns)
    pagerank = summary[summary["method"] == "pagerank"]
    assert (pagerank["recall@0.5"] == "n/a").all()  # PageRank is no probability
    targets = targets_met(result)
    assert list(targets["world"]) == list(SMALL.worlds)


def test_the_packaged_model_is_judged_as_shipped_without_training(tmp_path: Path):
    # SMALL's days and sizes, one world, nothing trained (its training seeds go unused).
    plan = dataclasses.replace(SMALL, worlds=("crypto_offramp",), later_days=0, packaged=True)
    model = packaged_model()
    assert model is not None
    result = run_evaluation(plan, get_engine("cpu"), str(tmp_path), packaged=model)
    rows = result.rows
    assert set(rows["split"]) == {PACKAGED, PACKAGED_FIRST} and set(rows["seed"]) == {21}
    assert result.models == {"crypto_offramp": model}  # the shipped model, nothing trained
    assert sorted(tmp_path.iterdir()) == [tmp_path / "crypto_offramp-21"]  # no training seeds
    assert result.model_tables[PACKAGED_FIRST]["partition_date"].unique().tolist() == [D1]
    assert result.model_tables[PACKAGED]["partition_date"].min() == D2
    assert list(targets_met(result, PACKAGED)["world"]) == ["crypto_offramp"]
    packaged_rows = summary_table(result)
    assert packaged_rows["split"].tolist()[0] == PACKAGED
    with pytest.raises(ValueError, match="needs the packaged model"):
        run_evaluation(plan, get_engine("cpu"), str(tmp_path / "none"))


@pytest.mark.slow
def test_evaluate_packaged_on_a_worlds_file(tmp_path: Path):
    worlds = Path(__file__).resolve().parents[1] / "fraud_platform/evaluation/stress_worlds.toml"
    completed = fraud_platform_cli(
        "evaluate",
        "--packaged",
        "--worlds-file",
        str(worlds),
        "--worlds",
        "wholesale_hub",
        "--test-seeds",
        "21",
        "--first-days",
        "1",
        "--train-days",
        "1",
        "--later-days",
        "0",
        "--transactions",
        "2000",
        "--k",
        "5",
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    out = completed.stdout
    assert "the packaged model" in out and "nothing trained" in out
    assert re.search(r"\|\s*packaged model\s*\|\s*wholesale_hub\s*\|\s*model\s*\|", out)
    assert "Targets, packaged model" in out and "unseen world" not in out


@pytest.mark.slow
def test_evaluate_command_prints_the_table_and_the_targets(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    env["FRAUD_STORAGE_URL"] = str(tmp_path / "storage")
    completed = fraud_platform_cli(
        "evaluate",
        "--worlds",
        "small_business,crypto_offramp",
        "--train-seeds",
        "5",
        "--test-seeds",
        "6",
        "--first-days",
        "1",
        "--train-days",
        "1",
        "--later-days",
        "1",
        "--transactions",
        "2000",
        "--k",
        "5",
        env=env,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    out = completed.stdout
    assert "each held out once" in out
    assert re.search(r"\|\s*unseen world\s*\|\s*small_business\s*\|\s*model\s*\|", out)
    assert re.search(r"\|\s*later days\s*\|\s*crypto_offramp\s*\|\s*rules\s*\|", out)
    assert "Targets on unseen worlds (model)" in out
    assert "recall at 0.5 per laundering pattern" in out
    assert not (tmp_path / "storage").exists()  # the generated worlds went to a temporary folder


@pytest.mark.slow
def test_unknown_world_is_refused_by_name():
    completed = fraud_platform_cli("evaluate", "--worlds", "retail_bank,atlantis", timeout=60)
    assert completed.returncode != 0
    assert "atlantis" in completed.stderr and "retail_bank" in completed.stderr
