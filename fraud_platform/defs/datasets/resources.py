"""How a day's dataset is published: where it is stored and viewed, what is high risk."""

from concurrent.futures import ThreadPoolExecutor

from dagster import (
    ConfigurableIOManagerFactory,
    ConfigurableResource,
    InitResourceContext,
    InputContext,
    IOManager,
    OutputContext,
    ResourceDependency,
)
from pydantic import Field

from fraud_platform.defs.fields import share_field
from fraud_platform.settings import (
    DEFAULT_ALERT_BUDGET_SHARE,
    DEFAULT_HIGH_RISK_THRESHOLD,
    DEFAULT_VIEWER_BASE_URL,
)
from fraud_platform.storage.warehouse import commit_waits_for
from fraud_platform.tables import FraudDataset


class DatasetPublishing(ConfigurableResource):
    """Settings shared by the dataset asset and everything that links to a dataset."""

    viewer_base_url: str = Field(
        default=DEFAULT_VIEWER_BASE_URL,
        description="Base of dataset URLs: {viewer_base_url}/datasets/{dataset_id}.",
    )
    high_risk_threshold: float = share_field(
        DEFAULT_HIGH_RISK_THRESHOLD, "Accounts with risk_score at or above this are high risk."
    )
    alert_budget_share: float = share_field(
        DEFAULT_ALERT_BUDGET_SHARE,
        "Most a day may alert on, as a share of its active accounts: above it the "
        "alert_budget check fails and only the highest-risk accounts are alerted.",
        positive=True,
    )


class _ObjectStoreThenWarehouse(IOManager):
    def __init__(self, object_store: IOManager, warehouse: IOManager) -> None:
        self._object_store = object_store
        self._warehouse = warehouse

    def handle_output(self, context: OutputContext, obj: FraudDataset) -> None:
        # Both writes at once (Parquet encodes on a worker thread while the server loads the
        # rows): 4-5 s of the 10M-transfer day's write, hidden behind its PostgreSQL load. The
        # warehouse row is what marks a day as published (alerts read it), so the load commits
        # only once the Parquet files are in place; if either fails, the run fails and a re-run
        # replaces both.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet") as pool:
            parquet = pool.submit(self._object_store.handle_output, context, obj)
            # Leaving the pool waits for the Parquet write, also behind a warehouse failure.
            with commit_waits_for(parquet.result):
                self._warehouse.handle_output(context, obj)

    def load_input(self, context: InputContext) -> FraudDataset:
        return self._warehouse.load_input(context)


class FraudDatasetIOManager(ConfigurableIOManagerFactory):
    """Persists a day's dataset twice: Parquet in the object store, rows in the warehouse.

    Analysts read the Parquet files with any tool; the viewer, alerts and SQL users read the
    warehouse. Both writes replace the day, so a repeated run never duplicates it.
    """

    object_store: ResourceDependency[IOManager]
    warehouse_io_manager: ResourceDependency[IOManager]

    def create_io_manager(self, context: InitResourceContext) -> IOManager:
        return _ObjectStoreThenWarehouse(self.object_store, self.warehouse_io_manager)
