"""Which graph engine computes a run's analytics."""

from dagster import ConfigurableResource
from pydantic import Field

from fraud_platform.defs.analytics.engines import GraphEngine, get_engine


class GraphEngineResource(ConfigurableResource):
    """``auto`` picks the fastest engine this machine can run; ``cpu``/``gpu`` force one."""

    engine: str = Field(default="auto", description="auto, cpu or gpu (FRAUD_GRAPH_ENGINE).")

    def select(self) -> tuple[GraphEngine, str]:
        """The engine to use and why it was chosen (recorded in the asset's metadata)."""
        engine = get_engine(self.engine)
        if self.engine == "auto":
            return engine, f"auto: {engine.name} is the first engine available on this machine"
        return engine, f"{self.engine} requested by configuration"
