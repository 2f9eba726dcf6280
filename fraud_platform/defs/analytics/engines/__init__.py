"""Graph engines: the same algorithms on interchangeable back ends, chosen by name per run.

``auto`` takes the multi-GPU engine when ``FRAUD_DASK_SCHEDULER`` names a dask-cuda cluster, else
the GPU engine when this process can use a CUDA device with RAPIDS (see `gpu_available`) and the
CPU engine otherwise; ``cpu``, ``gpu`` and ``multigpu`` force one, and forcing an engine that
cannot run is an error that names the reason, never a silent fallback (nor is a cluster that does
not answer: its algorithms fail, naming it).
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
from fraud_platform.defs.analytics.engines.multigpu import (
    SCHEDULER_SETTING,
    MultiGpuEngine,
    describe_scheduler,
)

__all__ = [
    "ENGINE_NAMES",
    "CommunityResult",
    "CpuEngine",
    "EngineGraph",
    "EngineUnavailableError",
    "GpuEngine",
    "GraphEngine",
    "MultiGpuEngine",
    "PageRankNotConvergedError",
    "PageRankResult",
    "available_engines",
    "get_engine",
    "gpu_available",
    "select_engine",
]

#: The names ``FRAUD_GRAPH_ENGINE`` accepts.
ENGINE_NAMES = ("auto", "cpu", "gpu", "multigpu")


class EngineUnavailableError(RuntimeError):
    """The configured engine cannot run here (``gpu`` without a usable CUDA device, ``multigpu``
    without a cluster)."""


def select_engine(name: str, dask_scheduler: str | None = None) -> tuple[GraphEngine, str]:
    """The engine called ``name`` and why it was chosen, in words fit for logs and metadata.

    ``dask_scheduler`` is ``FRAUD_DASK_SCHEDULER`` as `Settings` read it: the multigpu engine's
    cluster, and with it ``auto`` means multigpu.
    """
    if name not in ENGINE_NAMES:
        raise ValueError(f"unknown graph engine {name!r}; choose one of: {', '.join(ENGINE_NAMES)}")
    if name == "cpu":
        return CpuEngine(), "cpu requested by configuration"
    if name == "multigpu" or (name == "auto" and dask_scheduler):
        if not dask_scheduler:
            raise EngineUnavailableError(
                f"graph engine 'multigpu' was requested but {SCHEDULER_SETTING} is not set: set it "
                "to the dask-cuda cluster's scheduler (tcp://host:8786 or a scheduler file), or "
                "set FRAUD_GRAPH_ENGINE to 'auto', 'cpu' or 'gpu'"
            )
        where = describe_scheduler(dask_scheduler)
        if name == "auto":
            reason = f"auto: {SCHEDULER_SETTING} names the {where}; using multigpu"
        else:
            reason = f"multigpu requested by configuration ({where})"
        return MultiGpuEngine(dask_scheduler), reason
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


def get_engine(name: str, dask_scheduler: str | None = None) -> GraphEngine:
    """The engine called ``name`` (one of `ENGINE_NAMES`); see `select_engine`."""
    return select_engine(name, dask_scheduler)[0]
