"""Graph engines: the same algorithms on interchangeable back ends, chosen by name per run."""

from __future__ import annotations

from fraud_platform.defs.analytics.engines.base import (
    CommunityResult,
    EngineGraph,
    GraphEngine,
    PageRankNotConvergedError,
    PageRankResult,
)
from fraud_platform.defs.analytics.engines.cpu import CpuEngine

__all__ = [
    "CommunityResult",
    "CpuEngine",
    "EngineGraph",
    "GraphEngine",
    "PageRankNotConvergedError",
    "PageRankResult",
    "available_engines",
    "get_engine",
]


def available_engines() -> list[GraphEngine]:
    """The engines usable on this machine, preferred first (only the CPU engine for now)."""
    return [CpuEngine()]


def get_engine(name: str) -> GraphEngine:
    """The engine called ``name``; ``"auto"`` picks the first available one."""
    engines = available_engines()
    if name == "auto":
        return engines[0]
    for engine in engines:
        if engine.name == name:
            return engine
    known = ", ".join(["auto", *(engine.name for engine in engines)])
    raise ValueError(f"unknown graph engine {name!r}; choose one of: {known}")
