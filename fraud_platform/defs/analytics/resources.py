"""Which graph engine computes a run's analytics, and which accounts are already known fraud."""

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from fraud_platform.defs.analytics.engines import GraphEngine, select_engine
from fraud_platform.defs.analytics.logic import merge_watchlists, read_watchlist
from fraud_platform.defs.cases.resources import confirmed_accounts
from fraud_platform.storage.warehouse import PostgresWarehouse


class GraphEngineResource(ConfigurableResource):
    """``auto`` picks the multi-GPU engine when a dask-cuda cluster is named, else the GPU engine
    when a usable CUDA device is present, else the CPU engine; ``cpu``/``gpu``/``multigpu`` force
    one (``gpu`` without a usable device, or ``multigpu`` without a cluster, is an error)."""

    engine: str = Field(
        default="auto", description="auto, cpu, gpu or multigpu (FRAUD_GRAPH_ENGINE)."
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="The dask-cuda cluster the multigpu engine runs on: its scheduler address "
        "(tcp://host:8786) or scheduler file (FRAUD_DASK_SCHEDULER); when set, auto picks "
        "multigpu.",
    )

    def select(self) -> tuple[GraphEngine, str]:
        """The engine to use and why it was chosen (recorded in the asset's metadata).

        Detection runs here, in the step's own process, which is the one that uses the device.
        """
        return select_engine(self.engine, self.dask_scheduler)


class Watchlist(ConfigurableResource):
    """Known fraudulent accounts that seed guilt-by-association: the CSV at ``url``
    (``account[, since]``) and the accounts analysts confirmed (from the confirmed alert's day).

    Both optional: a missing file and no decisions mean no watchlist. Read on every run, so a
    listing or a confirmation made today applies to the days computed from now on.
    """

    url: str = Field(
        description="Where the watchlist CSV lives: {FRAUD_STORAGE_URL}/reference/watchlist.csv."
    )
    decisions: PostgresWarehouse | None = Field(
        default=None, description="The warehouse holding analysts' decisions (alert_decisions)."
    )

    def read(self) -> pd.DataFrame | None:
        listed = read_watchlist(self.url)
        if self.decisions is None:
            return listed
        with self.decisions.connect() as connection:
            confirmed = confirmed_accounts(connection, self.decisions.schema_name)
        return merge_watchlists(listed, confirmed)
