"""Deterministic sample transaction files with planted fraud and the truth to judge scores by."""

from fraud_platform.sample_data.generator import (
    FRAUD_TYPOLOGIES,
    GROUND_TRUTH_COLUMNS,
    HUB_TYPOLOGIES,
    LEGITIMATE_TYPOLOGIES,
    MALFORMED_KINDS,
    WORLDS,
    SampleConfig,
    SampleDay,
    World,
    generate_day,
    generate_days,
    part_name,
    read_ground_truth,
    world_names,
    write_day,
)

__all__ = [
    "FRAUD_TYPOLOGIES",
    "GROUND_TRUTH_COLUMNS",
    "HUB_TYPOLOGIES",
    "LEGITIMATE_TYPOLOGIES",
    "MALFORMED_KINDS",
    "WORLDS",
    "SampleConfig",
    "SampleDay",
    "World",
    "generate_day",
    "generate_days",
    "part_name",
    "read_ground_truth",
    "world_names",
    "write_day",
]
