"""Which graph engine computes a run's analytics, and which accounts are already known fraud."""

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from fraud_platform.defs.analytics.engines import GraphEngine, select_engine
from fraud_platform.defs.analytics.logic import read_watchlist


class GraphEngineResource(ConfigurableResource):
    """``auto`` picks the GPU engine when a usable CUDA device is present, else the CPU engine;
    ``cpu``/``gpu`` force one (forcing ``gpu`` without a usable device is an error)."""

    engine: str = Field(default="auto", description="auto, cpu or gpu (FRAUD_GRAPH_ENGINE).")

    def select(self) -> tuple[GraphEngine, str]:
        """The engine to use and why it was chosen (recorded in the asset's metadata).

        Detection runs here, in the step's own process, which is the one that uses the device.
        """
        return select_engine(self.engine)


class Watchlist(ConfigurableResource):
    """Known fraudulent accounts (CSV: ``account[, since]``) that seed guilt-by-association.

    Optional: a missing file means no watchlist. Read on every run, so a listing added today
    applies to the days computed from now on.
    """

    url: str = Field(
        description="Where the watchlist CSV lives: {FRAUD_STORAGE_URL}/reference/watchlist.csv."
    )

    def read(self) -> pd.DataFrame | None:
        return read_watchlist(self.url)
