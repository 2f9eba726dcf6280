"""Model: ``risk_model``, gradient-boosted trees trained on labelled days, saved as a version."""

import datetime as dt
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from fraud_platform.defs.analytics.resources import GraphEngineResource
from fraud_platform.defs.check_results import log_failed_check
from fraud_platform.defs.fields import share_field
from fraud_platform.defs.model.checks import risk_model_check, risk_model_check_spec
from fraud_platform.defs.model.logic import average_precision
from fraud_platform.defs.model.resources import RiskModelStore
from fraud_platform.defs.model.training import (
    ANALYST_LABEL_WEIGHT,
    TrainingRecipe,
    recipe_days,
    train_on_days,
)

_DEFAULT = TrainingRecipe()


class RiskModelConfig(Config):
    worlds: list[str] = Field(
        default=list(_DEFAULT.worlds), description="Generated worlds to learn from."
    )
    seeds: list[int] = Field(default=list(_DEFAULT.seeds), description="Seeds of each world.")
    days: int = Field(default=_DEFAULT.days, ge=1, description="Consecutive days per world.")
    transactions_per_day: int = Field(default=_DEFAULT.transactions_per_day, ge=1_000)
    background_share: float = share_field(
        _DEFAULT.background_share,
        "Share of ordinary accounts kept for training (weighted back up).",
        positive=True,
    )

    analyst_label_weight: float = Field(
        default=ANALYST_LABEL_WEIGHT,
        gt=0.0,
        description="What one analyst's decision weighs against one generated row.",
    )

    def recipe(self) -> TrainingRecipe:
        return TrainingRecipe(
            worlds=tuple(self.worlds),
            seeds=tuple(self.seeds),
            days=self.days,
            transactions_per_day=self.transactions_per_day,
            background_share=self.background_share,
        )


@asset(
    group_name="model",
    check_specs=[risk_model_check_spec],
    # Every day of analysts' labels (a day never decided on has no rows).
    ins={"analyst_labels": AssetIn(partition_mapping=AllPartitionMapping())},
)
def risk_model(
    context: AssetExecutionContext,
    config: RiskModelConfig,
    graph_engine: GraphEngineResource,
    risk_models: RiskModelStore,
    analyst_labels: pd.DataFrame,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """The risk model: LightGBM trees over account features, learned from labelled days.

    Labels are the sample generator's ground truth of its worlds (laundering of eight
    AMLworld patterns among legitimate look-alikes) and analysts' decisions (``analyst_labels``:
    confirmed fraud and dismissed look-alikes of this deployment's own network). The new
    version becomes the one ``account_scores`` uses from the next run on, unless its check
    fails.
    """
    recipe = config.recipe()
    engine, reason = graph_engine.select()
    started = time.perf_counter()
    days = recipe_days(
        recipe,
        engine,
        progress=lambda d: context.log.debug(f"labelled {d.world}/{d.seed} {d.day}"),
    )
    prepared = time.perf_counter() - started
    model = train_on_days(
        days,
        background_share=recipe.background_share,
        seed=recipe.sample_seed,
        training={"trained_at": dt.datetime.now(dt.UTC).isoformat()},
        analyst=analyst_labels,
        analyst_weight=config.analyst_label_weight,
    )
    trained = time.perf_counter() - started - prepared
    training_ap = float(
        np.nanmean([average_precision(model.predict(d.frame), d.label) for d in days])
    )
    check = risk_model_check(training_ap)
    path = risk_models.save(model) if check.passed else None
    importances = model.importances().head(20)
    yield MaterializeResult(
        metadata={
            "version": model.version,
            "path": MetadataValue.path(path) if path else "not saved (check failed)",
            "engine": f"{engine.name} ({reason})",
            "worlds": ", ".join(recipe.worlds),
            "seeds": ", ".join(str(s) for s in recipe.seeds),
            "labelled_days": len(days),
            "account_days": int(sum(len(d.label) for d in days)),
            "generated_labels": int(sum(int(d.label.sum()) for d in days)),
            "analyst_labels": int(model.training["analyst_labels"]),
            "analyst_confirmed": int(model.training["analyst_confirmed"]),
            "analyst_dismissed": int(model.training["analyst_dismissed"]),
            "training_rows": int(model.training["rows"]),
            "training_average_precision": round(training_ap, 4),
            "prepare_seconds": round(prepared, 1),
            "train_seconds": round(trained, 1),
            "feature_importance": MetadataValue.md(
                importances.assign(gain_share=importances["gain_share"].round(4)).to_markdown(
                    index=False
                )
            ),
        }
    )
    log_failed_check(context.log, check)
    yield check
