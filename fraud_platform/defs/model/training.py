"""Labelled days for the risk model: sample worlds run through the platform's own pipeline.

A labelled day is what the daily assets compute for a day (ingest → graph → features → history →
analytics), with the generator's ground truth beside each account. Days are produced by the same
functions the assets call, from landing files written to a working folder, so the model learns
from exactly what it will see in production, bad rows and all.

Training keeps every laundering account and every legitimate look-alike (processors, wholesalers,
exchanges, ...: the accounts a score must learn NOT to flag) and a seeded share of the ordinary
accounts, weighted back up so that the model's probabilities keep the real proportions.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fraud_platform.defs.analytics.engines import GraphEngine
from fraud_platform.defs.analytics.logic import score_day
from fraud_platform.defs.cases.logic import label_inputs
from fraud_platform.defs.features.history import HISTORY_DAYS, account_history
from fraud_platform.defs.features.logic import (
    day_features,
    transfers_of_frame,
)
from fraud_platform.defs.graph.logic import build_transaction_graph
from fraud_platform.defs.ingest.logic import ingest_day
from fraud_platform.defs.model.logic import (
    MODEL_FEATURES,
    RiskModel,
    model_inputs,
    train_model,
)
from fraud_platform.sample_data.generator import (
    LANDING_PATH,
    SampleConfig,
    generate_day,
    world_names,
    write_day,
)
from fraud_platform.tables import PARTITION_COLUMN, AccountActivity

#: Typology of accounts the generator planted in no family (ordinary people).
BACKGROUND = "background"
#: What one analyst's decision weighs against one generated row. Decisions are few (tens to
#: hundreds against ~100,000 generated rows) but they are the only labels from the deployment's
#: own network, including the look-alikes no generator knows; at weight 1 they would be noise.
ANALYST_LABEL_WEIGHT = 10.0


@dataclass(frozen=True)
class TrainingRecipe:
    """Which generated worlds, seeds and days a model is trained on."""

    worlds: tuple[str, ...] = field(default_factory=lambda: tuple(world_names()))
    seeds: tuple[int, ...] = (101, 202)
    # From each world's first day on: the model must also learn what a day with little or no
    # history looks like (a new deployment's first days), not only a day with weeks behind it.
    days: int = 14
    transactions_per_day: int = 40_000
    start: dt.date = dt.date(2024, 10, 1)
    background_share: float = 0.25  # ordinary accounts kept (weighted back up)
    sample_seed: int = 5


@dataclass
class LabelledDay:
    """One day of one world: the model's input per account, the truth, and the baselines."""

    world: str
    seed: int
    day: str
    accounts: np.ndarray  # account ids
    frame: pd.DataFrame  # MODEL_FEATURES
    label: np.ndarray  # bool: takes part in laundering
    typology: np.ndarray  # the generator's family, BACKGROUND for ordinary accounts
    role: np.ndarray
    rules_score: np.ndarray
    pagerank: np.ndarray

    def scores(self, risk: np.ndarray | None = None) -> pd.DataFrame:
        """``partition_date, account, typology, role, is_fraud, risk_score`` (rules if no risk)."""
        return pd.DataFrame(
            {
                PARTITION_COLUMN: self.day,
                "account": self.accounts,
                "typology": self.typology,
                "role": self.role,
                "is_fraud": self.label,
                "risk_score": self.rules_score if risk is None else risk,
            }
        )


def _labels(accounts: np.ndarray, truth: pd.DataFrame) -> tuple[np.ndarray, ...]:
    truth = truth.drop_duplicates("account")
    position = pd.Index(truth["account"].astype("str")).get_indexer(accounts)
    found = position >= 0
    label = np.zeros(len(accounts), dtype=bool)
    typology = np.full(len(accounts), BACKGROUND, dtype=object)
    role = np.full(len(accounts), BACKGROUND, dtype=object)
    label[found] = truth["is_fraud"].to_numpy(dtype=bool)[position[found]]
    typology[found] = truth["typology"].astype("str").to_numpy()[position[found]]
    role[found] = truth["role"].astype("str").to_numpy()[position[found]]
    return label, typology, role


def labelled_days(
    world: str,
    seed: int,
    start: dt.date,
    days: int,
    transactions_per_day: int,
    engine: GraphEngine,
    workdir: str,
) -> Iterator[LabelledDay]:
    """``days`` consecutive days of ``world``: generated, written, and run through the pipeline.

    History is carried from day to day as the ``account_history`` asset reads it: the first day
    has none, later days up to `HISTORY_DAYS`.
    """
    config = SampleConfig(transactions_per_day=transactions_per_day, seed=seed, world=world)
    landing = f"{workdir}/{LANDING_PATH}"
    past: deque[tuple[pd.DataFrame, pd.DataFrame]] = deque(maxlen=HISTORY_DAYS)
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        name = day.isoformat()
        sample = generate_day(day, config)
        write_day(workdir, sample, config)
        valid = ingest_day(landing, name).valid
        graph = build_transaction_graph(valid)
        nodes, edges = graph.nodes, graph.edges
        if nodes.empty:
            continue
        transfers = transfers_of_frame(valid, nodes["account"])
        features = day_features(nodes, edges, transfers)
        activity = AccountActivity(
            activity=pd.concat([a for a, _ in past], ignore_index=True)
            if past
            else features.activity.iloc[0:0],
            pairs=pd.concat([p for _, p in past], ignore_index=True)
            if past
            else features.pairs.iloc[0:0],
        )
        history = account_history(name, nodes, edges, activity)
        past.append((features.activity, features.pairs))
        scores, _ = score_day(nodes, edges, engine, layout=False)
        frame = model_inputs(
            nodes,
            edges,
            features.accounts,
            history,
            scores["centrality"].to_numpy(),
            scores["cluster"].to_numpy(),
        )
        accounts = nodes["account"].astype("str").to_numpy()
        label, typology, role = _labels(accounts, sample.ground_truth)
        yield LabelledDay(
            world=world,
            seed=seed,
            day=name,
            accounts=accounts,
            frame=frame,
            label=label,
            typology=typology,
            role=role,
            rules_score=scores["risk_score"].to_numpy(dtype=np.float64),
            pagerank=scores["centrality"].to_numpy(dtype=np.float64),
        )


def recipe_days(
    recipe: TrainingRecipe,
    engine: GraphEngine,
    progress: Callable[[LabelledDay], None] | None = None,
) -> list[LabelledDay]:
    """Every labelled day of a recipe. The landing files they are read from are scratch: written
    to a temporary folder (a subfolder per world and seed) that is gone on return."""
    out: list[LabelledDay] = []
    with tempfile.TemporaryDirectory(prefix="fraud-training-") as workdir:
        for world in recipe.worlds:
            for seed in recipe.seeds:
                for labelled in labelled_days(
                    world,
                    seed,
                    recipe.start,
                    recipe.days,
                    recipe.transactions_per_day,
                    engine,
                    f"{workdir}/{world}-{seed}",
                ):
                    if progress is not None:
                        progress(labelled)
                    out.append(labelled)
    return out


def training_rows(
    days: Sequence[LabelledDay], background_share: float, seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(features, labels, weights): all laundering and look-alike rows, a share of the rest.

    Kept ordinary rows weigh ``1 / background_share`` so the class balance stays the real one.
    """
    if not 0.0 < background_share <= 1.0:
        raise ValueError("background_share must be within (0, 1]")
    rng = np.random.default_rng(seed)
    frames, labels, weights = [], [], []
    for labelled in days:
        ordinary = labelled.typology == BACKGROUND
        keep = ~ordinary | (rng.random(len(ordinary)) < background_share)
        frames.append(labelled.frame.loc[keep, list(MODEL_FEATURES)])
        labels.append(labelled.label[keep])
        weights.append(np.where(ordinary[keep], 1.0 / background_share, 1.0))
    return (
        pd.concat(frames, ignore_index=True),
        np.concatenate(labels),
        np.concatenate(weights),
    )


def train_on_days(
    days: Sequence[LabelledDay],
    *,
    background_share: float = 0.25,
    seed: int = 5,
    training: dict[str, object] | None = None,
    analyst: pd.DataFrame | None = None,
    analyst_weight: float = ANALYST_LABEL_WEIGHT,
) -> RiskModel:
    """A model trained on labelled days (see `training_rows`) and on ``analyst`` labels (the
    ``analyst_labels`` rows: decided accounts' model inputs, 1 fraud / 0 legitimate), each of
    which weighs ``analyst_weight`` rows."""
    frame, labels, weights = training_rows(days, background_share, seed)
    decided = 0 if analyst is None else len(analyst)
    if decided:
        frame = pd.concat([frame, label_inputs(analyst, MODEL_FEATURES)], ignore_index=True)
        labels = np.concatenate([labels, analyst["label"].to_numpy(dtype=bool)])
        weights = np.concatenate([weights, np.full(decided, float(analyst_weight))])
    worlds = sorted({d.world for d in days})
    summary: dict[str, object] = {
        "worlds": worlds,
        "seeds": sorted({d.seed for d in days}),
        "days": len(days),
        "generated_labels": int(sum(d.label.sum() for d in days)),
        "analyst_labels": decided,
        "analyst_confirmed": 0 if analyst is None else int((analyst["label"] == 1).sum()),
        "analyst_dismissed": 0 if analyst is None else int((analyst["label"] == 0).sum()),
        "account_days": int(sum(len(d.label) for d in days)),
    }
    return train_model(frame, labels, weights=weights, training={**summary, **(training or {})})


def stack_scores(
    days: Iterable[LabelledDay], risks: Iterable[np.ndarray] | None = None
) -> pd.DataFrame:
    """The days' labelled score tables in one frame (rules scores unless ``risks`` are given)."""
    days = list(days)
    risk_list = list(risks) if risks is not None else [None] * len(days)
    return pd.concat([d.scores(r) for d, r in zip(days, risk_list, strict=True)], ignore_index=True)
