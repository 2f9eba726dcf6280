"""Graph engines: the same algorithms on interchangeable back ends, chosen by name per run.

``auto`` takes the GPU engine when this process can use a CUDA device with RAPIDS (see
`gpu_available`) and the CPU engine otherwise; ``cpu`` and ``gpu`` force one, and forcing the GPU
engine where it cannot run is an error that names the reason, never a silent fallback.
"""

from __future__ import annotations

from fraud_platform.defs.analytics.engines.base import (
    CommunityResult,
    EngineGraph,
    GraphEngine,
    PageRankNotConvergedError,
    PageRankResult,
)
from fraud_platform.defs.analytics.engines.cpu import CpuEngine
from fraud_platform.defs.analytics.engines.device import gpu_available
from fraud_platform.defs.analytics.engines.gpu import GpuEngine

__all__ = [
    "ENGINE_NAMES",
    "CommunityResult",
    "CpuEngine",
    "EngineGraph",
    "EngineUnavailableError",
    "GpuEngine",
    "GraphEngine",
    "PageRankNotConvergedError",
    "PageRankResult",
    "available_engines",
    "get_engine",
    "gpu_available",
    "select_engine",
]

#: The names ``FRAUD_GRAPH_ENGINE`` accepts.
ENGINE_NAMES = ("auto", "cpu", "gpu")


class EngineUnavailableError(RuntimeError):
    """The configured engine cannot run on this machine (``gpu`` without a usable CUDA device)."""


def select_engine(name: str) -> tuple[GraphEngine, str]:
    """The engine called ``name`` and why it was chosen, in words fit for logs and metadata."""
    if name not in ENGINE_NAMES:
        raise ValueError(f"unknown graph engine {name!r}; choose one of: {', '.join(ENGINE_NAMES)}")
    if name == "cpu":
        return CpuEngine(), "cpu requested by configuration"
    usable, reason = gpu_available()
    if name == "gpu":
        if not usable:
            raise EngineUnavailableError(
                f"graph engine 'gpu' was requested but cannot run here: {reason}; "
                "set FRAUD_GRAPH_ENGINE to 'auto' or 'cpu'"
            )
        return GpuEngine(), f"gpu requested by configuration ({reason})"
    if usable:
        return GpuEngine(), f"auto: {reason}; using gpu"
    return CpuEngine(), f"auto: {reason}; using cpu"


def available_engines() -> list[GraphEngine]:
    """The engines usable on this machine, preferred first."""
    engines: list[GraphEngine] = [CpuEngine()]
    if gpu_available()[0]:
        engines.insert(0, GpuEngine())
    return engines


def get_engine(name: str) -> GraphEngine:
    """The engine called ``name`` (``auto``, ``cpu`` or ``gpu``); see `select_engine`."""
    return select_engine(name)[0]
