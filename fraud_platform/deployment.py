"""Per-deployment resources, chosen in one place from the environment (see settings.py).

The same asset graph runs everywhere; only these resources differ:

- object store: a local folder by default, ``s3://bucket/prefix`` in production
  (``FRAUD_STORAGE_URL``);
- warehouse: the PostgreSQL at ``FRAUD_DATABASE_URL``, or, when it is unset, an embedded
  PostgreSQL started on demand with its data under the local storage folder;
- alert channels: a webhook (``FRAUD_ALERT_WEBHOOK_URL``) and Slack (``SLACK_BOT_TOKEN``,
  ``FRAUD_ALERT_SLACK_CHANNEL``), each only when configured.
"""

from __future__ import annotations

from typing import Any

from dagster import EnvVar

from fraud_platform.defs.alerts import alert_resources
from fraud_platform.defs.analytics.logic import watchlist_url
from fraud_platform.defs.analytics.resources import GraphEngineResource, Watchlist
from fraud_platform.defs.datasets.resources import DatasetPublishing, FraudDatasetIOManager
from fraud_platform.defs.ingest.resources import LandingZone
from fraud_platform.defs.model.resources import RiskModelStore, models_url
from fraud_platform.settings import Settings
from fraud_platform.storage.object_store import ParquetIOManager
from fraud_platform.storage.warehouse import PostgresIOManager, PostgresWarehouse


def build_warehouse(settings: Settings, *, for_dagster: bool = True) -> PostgresWarehouse:
    """The warehouse resource; ``for_dagster=False`` for code that uses it outside a run."""
    if settings.database_url:
        # Inside Dagster the URL is an EnvVar, so it (and its password) never shows in the UI.
        url = EnvVar("FRAUD_DATABASE_URL") if for_dagster else settings.database_url
        return PostgresWarehouse(database_url=url, schema_name=settings.database_schema)
    return PostgresWarehouse(
        embedded_dir=str(settings.embedded_postgres_dir), schema_name=settings.database_schema
    )


def deployment_resources(settings: Settings | None = None) -> dict[str, Any]:
    """Every resource the definitions need, for the deployment the environment describes."""
    settings = settings or Settings.from_env()
    warehouse = build_warehouse(settings)
    object_store = ParquetIOManager(base_url=settings.assets_url)
    warehouse_io_manager = PostgresIOManager(warehouse=warehouse)
    return {
        "io_manager": object_store,
        "warehouse": warehouse,
        "warehouse_io_manager": warehouse_io_manager,
        "dataset_io_manager": FraudDatasetIOManager(
            object_store=object_store, warehouse_io_manager=warehouse_io_manager
        ),
        "landing_zone": LandingZone(
            url=settings.landing_url, max_file_bytes=settings.max_file_bytes
        ),
        "graph_engine": GraphEngineResource(
            engine=settings.graph_engine, dask_scheduler=settings.dask_scheduler
        ),
        "watchlist": Watchlist(url=watchlist_url(settings.storage_url), decisions=warehouse),
        "publishing": DatasetPublishing(
            viewer_base_url=settings.viewer_base_url,
            high_risk_threshold=settings.high_risk_threshold,
            alert_budget_share=settings.alert_budget_share,
        ),
        "risk_models": RiskModelStore(
            url=models_url(settings.storage_url), score=settings.risk_score
        ),
        **alert_resources(settings),
    }
