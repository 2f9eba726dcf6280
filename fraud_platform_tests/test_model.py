"""The learned risk model: its inputs on hand-built graphs, training, reasons, versions, assets."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import materialize

from fraud_platform.defs.analytics.assets import account_scores
from fraud_platform.defs.cases.assets import analyst_labels
from fraud_platform.defs.features.assets import account_features, account_history
from fraud_platform.defs.features.temporal import HUB_DEGREE
from fraud_platform.defs.graph.assets import transaction_graph
from fraud_platform.defs.ingest.assets import raw_transactions
from fraud_platform.defs.model import logic as model_logic
from fraud_platform.defs.model.assets import risk_model
from fraud_platform.defs.model.logic import (
    MODEL_FEATURES,
    REASON_LABELS,
    RiskModel,
    average_precision,
    describe,
    explain,
    graph_features,
    history_features,
    neighbour_history_features,
    pattern_of,
    top_reasons,
    train_model,
)
from fraud_platform.defs.model.resources import RiskModelStore, packaged_model
from fraud_platform.deployment import deployment_resources
from fraud_platform.sample_data.generator import SampleConfig, generate_days
from fraud_platform.settings import DEFAULT_HIGH_RISK_THRESHOLD, Settings


def _graph(pairs: list[tuple[int, int]], n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A node table (degrees only) and an edge table of coded, distinct pairs."""
    edges = pd.DataFrame(pairs, columns=["sender_node", "receiver_node"])
    nodes = pd.DataFrame(
        {
            "account": [f"a{i:03d}" for i in range(n)],
            "in_degree": np.bincount(edges["receiver_node"], minlength=n),
            "out_degree": np.bincount(edges["sender_node"], minlength=n),
        }
    )
    return nodes, edges


def _history(n: int, days_active: np.ndarray, relay_days: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"history_days": np.full(n, 28), "days_active": days_active, "relay_days": relay_days}
    )


# --- inputs on hand-built graphs ----------------------------------------------------------------


def test_a_processors_payers_learn_nothing_from_it():
    # Account 0 is a processor: HUB_DEGREE + 5 customers pay it, and it relays today for the
    # first time ever. Customer 1 also pays a new account (its only non-hub counterparty).
    customers = HUB_DEGREE + 5
    n = customers + 2
    pairs = [(c, 0) for c in range(1, customers + 1)] + [(1, n - 1)]
    nodes, edges = _graph(pairs, n)
    active = np.full(n, 20)
    active[n - 1] = 0  # the new account
    relayed = np.zeros(n, dtype=bool)
    relayed[0] = True
    out = neighbour_history_features(nodes, edges, _history(n, active, np.zeros(n)), relayed)
    # No customer inherits the processor's novel relaying, and the processor counts no news.
    assert (out.loc[1:customers, "neighbour_novel_relay_max"] == 0).all()
    assert out.loc[0, "neighbour_new_count"] == 0
    # Customer 1's one informative counterparty is new; the others have none informative.
    assert out.loc[1, ["neighbour_new_count", "neighbour_new_share"]].tolist() == [1.0, 1.0]
    assert (out.loc[2:customers, "neighbour_new_share"] == 0).all()


def test_a_fresh_relay_chain_informs_both_ends():
    # 0 → 1 → 2 → 3: 1 and 2 are new and relay today for the first time; 0 and 3 are old.
    nodes, edges = _graph([(0, 1), (1, 2), (2, 3)], 4)
    active = np.array([25, 0, 0, 25])
    relayed = np.array([False, True, True, False])
    out = neighbour_history_features(nodes, edges, _history(4, active, np.zeros(4)), relayed)
    assert out["neighbour_novel_relay_max"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert out["neighbour_new_count"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert out["neighbour_novel_relay_share"].tolist() == [1.0, 0.5, 0.5, 1.0]
    # A habitual relay (relayed on earlier days) is no news.
    habitual = _history(4, active, np.array([0, 10, 10, 0]))
    out = neighbour_history_features(nodes, edges, habitual, relayed)
    assert (out["neighbour_novel_relay_max"] == 0).all()


def test_neighbour_newness_is_unknown_before_any_history():
    nodes, edges = _graph([(0, 1)], 2)
    history = _history(2, np.zeros(2), np.zeros(2)).assign(history_days=0)
    out = neighbour_history_features(nodes, edges, history, np.ones(2, dtype=bool))
    assert out.isna().all().all()


def test_cluster_relay_share_counts_the_rest_of_the_cluster():
    out = graph_features(
        np.array([0.1, 0.2, 0.3, 0.4, 0.5]),
        np.array([7, 7, 7, 9, 9]),
        np.array([1.0, 1.0, 0.0, 0.0, 0.0]),
    )
    assert out["cluster_relay_share"].tolist() == [0.5, 0.5, 1.0, 0.0, 0.0]
    assert out["pagerank_pct"].is_monotonic_increasing


def test_history_ratios_are_missing_without_an_earlier_day():
    nodes = pd.DataFrame(
        {
            "in_degree": [2, 1],
            "out_degree": [1, 1],
            "in_amount": [500.0, 50.0],
            "out_amount": [480.0, 10.0],
        }
    )
    history = pd.DataFrame(
        {
            "history_days": [28, 28],
            "days_active": [0, 10],
            "days_since_first_seen": [-1, 20],
            "days_since_last_seen": [-1, 1],
            "relay_days": [0, 5],
            "typical_in_amount": [0.0, 50.0],
            "typical_out_amount": [0.0, 10.0],
            "typical_counterparties": [0.0, 2.0],
            "known_counterparty_share": [0.0, 1.0],
            "new_counterparties": [3, 0],
        }
    )
    out = history_features(history, nodes)
    assert math.isnan(out.loc[0, "in_vs_typical"]) and math.isnan(out.loc[0, "relay_habit"])
    assert out.loc[1, "in_vs_typical"] == pytest.approx(0.0)
    assert out.loc[1, "relay_habit"] == 0.5


# --- training, reasons, versions ----------------------------------------------------------------


def _learnable(n: int = 4_000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Every model feature as noise, except two that decide the label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.random((n, len(MODEL_FEATURES))), columns=list(MODEL_FEATURES))
    label = (frame["neighbour_novel_relay_max"] > 0.8) & (frame["flow_balance"] > 0.6)
    return frame, label.to_numpy()


@pytest.mark.slow
def test_the_model_learns_and_says_why():
    frame, label = _learnable()
    model = train_model(frame, label, rounds=60, params={"min_data_in_leaf": 20})
    risk = model.predict(frame)
    assert risk.min() >= 0.0 and risk.max() <= 1.0
    assert average_precision(risk, label) > 0.95
    assert set(model.importances()["feature"].head(2)) == {
        "neighbour_novel_relay_max",
        "flow_balance",
    }
    reasons, patterns = explain(model, frame, risk)
    assert np.array_equal(reasons, top_reasons(model, frame, risk))
    flagged = np.flatnonzero(risk >= 0.5)
    assert len(flagged) and all("passed on" in reasons[i] for i in flagged)
    assert (reasons[risk < 0.2] == "").all() and (patterns[risk < 0.2] == "").all()
    # The first reason is one of the two deciding features: its kind is the pattern.
    assert set(patterns[flagged]) <= {"relay", "neighbourhood"}


def test_every_model_feature_names_a_kind_of_evidence():
    kinds = {feature: pattern_of(feature) for feature in MODEL_FEATURES}
    assert "other" not in kinds.values(), [f for f, k in kinds.items() if k == "other"]
    assert kinds["relay_share_1h"] == "relay" and kinds["relay_habit"] == "change in behaviour"
    assert kinds["fan_out_1h"] == "fan-out" and kinds["cycle_min_length"] == "cycle"
    assert kinds["scatter_gather_middle"] == "scatter-gather"
    assert pattern_of("no_such_feature") == "other"


def test_a_model_round_trips_and_refuses_tampered_trees():
    frame, label = _learnable(1_500)
    model = train_model(frame, label, rounds=10, params={"min_data_in_leaf": 20})
    again = RiskModel.from_text(model.to_text(), model.to_json())
    assert again.version == model.version
    assert np.array_equal(again.predict(frame), model.predict(frame))
    other = train_model(frame, label, rounds=11, params={"min_data_in_leaf": 20})
    with pytest.raises(ValueError, match="do not match"):
        RiskModel.from_text(other.to_text(), model.to_json())
    with pytest.raises(ValueError, match="both"):
        train_model(frame, np.zeros(len(frame), dtype=bool))
    with pytest.raises(ValueError, match="flow_balance"):
        model.predict(frame.drop(columns=["flow_balance"]))


def test_prediction_in_pieces_is_the_whole_prediction(monkeypatch):
    frame, label = _learnable(1_000)
    model = train_model(frame, label, rounds=10, params={"min_data_in_leaf": 20})
    whole = model.predict(frame)
    monkeypatch.setattr(model_logic, "PREDICT_ROWS", 64)
    assert np.array_equal(model.predict(frame), whole)
    assert len(model.predict(frame.iloc[0:0])) == 0


def test_reasons_read_as_plain_language():
    assert describe("flow_balance", 0.97) == "passed on 97% of the money it received"
    assert describe("out_vs_typical", math.log(4.0)) == "money out 4.0x above its usual"
    assert describe("days_active", math.nan) == "days_active unknown"
    assert describe("burst_count", 12.0) == "burst_count=12"
    assert describe("cycle_min_length", 3.0) == "on a cycle of 3 hops in time order"
    assert describe("cycle_min_length", 0.0) == "cycle_min_length=0"
    assert set(REASON_LABELS) <= set(MODEL_FEATURES)


def test_the_packaged_model_reads_todays_features():
    model = packaged_model()
    assert model is not None, "the package ships a model (fraud-platform train rebuilds it)"
    assert model.features == MODEL_FEATURES, "the packaged model is stale: run fraud-platform train"


@pytest.mark.slow
def test_the_store_hands_out_the_newest_model_then_the_packaged_then_rules(tmp_path: Path):
    frame, label = _learnable(1_500)
    model = train_model(frame, label, rounds=10, params={"min_data_in_leaf": 20})
    store = RiskModelStore(url=str(tmp_path / "models"))
    loaded, source = store.latest()
    assert source == f"packaged version {packaged_model().version}"
    store.save(model)
    loaded, source = store.latest()
    assert source == f"trained version {model.version}" and loaded.version == model.version
    assert RiskModelStore(url=str(tmp_path / "models"), score="rules").latest()[0] is None
    with pytest.raises(ValueError, match="FRAUD_RISK_SCORE"):
        RiskModelStore(url=str(tmp_path / "models"), score="magic").latest()


# --- the assets -------------------------------------------------------------------------------

DAY = "2024-10-01"
DAILY = [raw_transactions, transaction_graph, account_features, account_history, account_scores]


@pytest.mark.slow
def test_risk_model_asset_trains_a_version_that_the_next_day_uses(
    storage_dir: Path, database_url: str, warehouse_schema: str, monkeypatch
):
    monkeypatch.setenv("FRAUD_DATABASE_URL", database_url)
    settings = Settings(
        storage_url=str(storage_dir),
        database_url=database_url,
        viewer_base_url="http://viewer.test",
        high_risk_threshold=DEFAULT_HIGH_RISK_THRESHOLD,
        database_schema=warehouse_schema,
    )
    resources = deployment_resources(settings)
    generate_days(
        str(storage_dir), dt.date(2024, 10, 1), 1, SampleConfig(transactions_per_day=3_000, seed=4)
    )

    before = materialize(DAILY, partition_key=DAY, resources=resources)
    meta = before.asset_materializations_for_node("account_scores")[0].metadata
    assert meta["risk_model"].value.startswith("packaged version ")

    trained = materialize(
        [analyst_labels.to_source_asset(), risk_model],  # no day decided on yet
        resources=resources,
        run_config={
            "ops": {
                "risk_model": {
                    "config": {
                        "worlds": ["retail_bank", "crypto_offramp"],
                        "seeds": [1],
                        "days": 2,
                        "transactions_per_day": 3_000,
                    }
                }
            }
        },
    )
    assert trained.success
    meta = trained.asset_materializations_for_node("risk_model")[0].metadata
    version = meta["version"].value
    assert meta["labelled_days"].value == 4
    assert meta["generated_labels"].value > 0
    assert "| feature" in meta["feature_importance"].value
    check = trained.get_asset_check_evaluations()[0]
    assert check.passed, check.metadata
    assert (storage_dir / "models" / "risk_model" / version / "model.txt").is_file()

    after = materialize(DAILY, partition_key=DAY, resources=resources)
    meta = after.asset_materializations_for_node("account_scores")[0].metadata
    assert meta["risk_model"].value == f"trained version {version}"
    scores = after.output_for_node("account_scores")
    assert scores["risk_score"].between(0, 1).all()
    at_risk = scores[scores["risk_score"] >= 0.2]
    assert (at_risk["reasons"] != "").all() and (at_risk["pattern"] != "").all()
    assert (scores.loc[scores["risk_score"] < 0.2, "pattern"] == "").all()


def test_a_first_day_has_no_history_rather_than_only_new_accounts():
    nodes = pd.DataFrame(
        {"in_degree": [1], "out_degree": [1], "in_amount": [100.0], "out_amount": [99.0]}
    )
    history = pd.DataFrame(
        {
            "history_days": [0],
            "days_active": [0],
            "days_since_first_seen": [-1],
            "days_since_last_seen": [-1],
            "relay_days": [0],
            "typical_in_amount": [0.0],
            "typical_out_amount": [0.0],
            "typical_counterparties": [0.0],
            "known_counterparty_share": [0.0],
            "new_counterparties": [2],
        }
    )
    out = history_features(history, nodes)
    assert out.loc[0, "history_days"] == 0
    assert out.drop(columns="history_days").isna().all().all()
