"""How a day's dataset is published: where its viewer lives, what counts as high risk."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from fraud_platform.settings import DEFAULT_HIGH_RISK_THRESHOLD, DEFAULT_VIEWER_BASE_URL


class DatasetPublishing(ConfigurableResource):
    """Settings shared by the dataset asset and everything that links to a dataset."""

    viewer_base_url: str = Field(
        default=DEFAULT_VIEWER_BASE_URL,
        description="Base of dataset URLs: {viewer_base_url}/datasets/{dataset_id}.",
    )
    high_risk_threshold: float = Field(
        default=DEFAULT_HIGH_RISK_THRESHOLD,
        ge=0.0,
        le=1.0,
        description="Accounts with risk_score at or above this are high risk.",
    )
