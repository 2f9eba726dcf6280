"""Config fields the areas' resources and configs share: a setting that is a share of a whole.

Thresholds, budgets and samples are shares in [0, 1]; stating the bounds once keeps every such
setting refused the same way (by Dagster's config validation, before a run starts).
"""

from typing import Any

from pydantic import Field


def share_field(default: float, description: str, *, positive: bool = False) -> Any:
    """A pydantic ``Field`` for a share: within [0, 1], or (0, 1] when ``positive``."""
    lower = {"gt": 0.0} if positive else {"ge": 0.0}
    return Field(default=default, le=1.0, description=description, **lower)
