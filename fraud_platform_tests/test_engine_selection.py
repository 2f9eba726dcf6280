"""Choosing the graph engine: ``auto`` asks the CUDA driver, never trusts a successful import.

Most tests here hold on a machine without a usable CUDA device (every CI machine); the probe's
other outcomes are driven through its injectable steps.
"""

from __future__ import annotations

import ctypes.util
import re
import sys
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace

import pytest
from cugraph_standin import cudf as standin_cudf
from cugraph_standin import cugraph as standin_cugraph

import fraud_platform.defs.analytics.engines as engines
from fraud_platform.defs.analytics.engines import (
    CpuEngine,
    EngineUnavailableError,
    GpuEngine,
    get_engine,
    gpu_available,
    select_engine,
)
from fraud_platform.defs.analytics.engines.device import cuda_device_count, probe_gpu
from fraud_platform.defs.analytics.resources import GraphEngineResource
from fraud_platform.deployment import deployment_resources
from fraud_platform.settings import Settings

NO_DEVICE = cuda_device_count()[0] == 0
without_a_device = pytest.mark.skipif(not NO_DEVICE, reason="this machine has a CUDA device")


@pytest.fixture
def fresh_detection() -> Iterator[None]:
    """Forget the per-process answer before and after, so a test sees its own conditions."""
    gpu_available.cache_clear()
    yield
    gpu_available.cache_clear()


def importer(modules: dict[str, object]) -> object:
    """An ``import_module`` that serves ``modules`` and fails like Python for anything else."""

    def import_module(name: str) -> object:
        if name not in modules:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return modules[name]

    return import_module


def one_device() -> tuple[int, str]:
    return 1, "1 CUDA device"


def no_import(name: str) -> object:
    raise AssertionError(f"{name} was imported although no device was found")


# --- auto, forced, unknown -------------------------------------------------------------------


@without_a_device
def test_auto_picks_cpu_even_when_cudf_and_cugraph_import(monkeypatch, fresh_detection):
    # Real RAPIDS imports fine without a GPU too; detection must not take that as a device.
    monkeypatch.setitem(sys.modules, "cudf", ModuleType("cudf"))
    monkeypatch.setitem(sys.modules, "cugraph", ModuleType("cugraph"))
    import cudf  # noqa: F401  (the dummy imports)

    engine, reason = select_engine("auto")
    assert isinstance(engine, CpuEngine)
    assert reason.startswith("auto: no CUDA device (") and reason.endswith("); using cpu")
    assert GraphEngineResource().select()[1] == reason  # auto is the resource's default
    assert get_engine("auto").name == "cpu"


@without_a_device
def test_forcing_gpu_without_a_device_is_an_error_naming_the_reason(fresh_detection):
    reason = gpu_available()[1]
    assert reason.startswith("no CUDA device (")
    message = f"graph engine 'gpu' was requested but cannot run here: {reason}"
    for choose in (lambda: select_engine("gpu"), GraphEngineResource(engine="gpu").select):
        with pytest.raises(EngineUnavailableError, match=re.escape(message)):
            choose()


def test_forcing_cpu_gives_the_cpu_engine():
    engine, reason = GraphEngineResource(engine="cpu").select()
    assert isinstance(engine, CpuEngine) and reason == "cpu requested by configuration"


@pytest.mark.parametrize("name", ["CPU", "", "cuda", "auto "])
def test_unknown_names_are_refused(name: str):
    with pytest.raises(ValueError, match=f"unknown graph engine {name!r}; choose one of: auto"):
        select_engine(name)
    with pytest.raises(ValueError, match="unknown graph engine"):
        GraphEngineResource(engine=name).select()


def test_auto_and_gpu_take_the_gpu_engine_when_the_probe_says_usable(monkeypatch):
    usable = (True, "1 CUDA device usable with cudf 26.10.00, cugraph 26.10.00")
    monkeypatch.setattr(engines, "gpu_available", lambda: usable)
    engine, reason = select_engine("auto")
    assert isinstance(engine, GpuEngine)
    assert reason == f"auto: {usable[1]}; using gpu"
    engine, reason = select_engine("gpu")
    assert isinstance(engine, GpuEngine)
    assert reason == f"gpu requested by configuration ({usable[1]})"
    assert [e.name for e in engines.available_engines()] == ["gpu", "cpu"]


def test_fraud_graph_engine_reaches_the_resource():
    settings = Settings.from_env({"FRAUD_GRAPH_ENGINE": "cpu"})
    resource = deployment_resources(settings)["graph_engine"]
    assert isinstance(resource, GraphEngineResource) and resource.engine == "cpu"
    assert resource.select()[0].name == "cpu"
    assert deployment_resources(Settings.from_env({}))["graph_engine"].engine == "auto"


# --- the probe -------------------------------------------------------------------------------


def test_a_missing_driver_library_means_no_device():
    assert cuda_device_count("libcuda-that-does-not-exist.so.1") == (
        0,
        "libcuda-that-does-not-exist.so.1 not found",
    )


def test_a_library_without_the_driver_api_means_no_device():
    libc = ctypes.util.find_library("c")
    if libc is None:
        pytest.skip("no C library to load by name")
    count, reason = cuda_device_count(libc)
    assert count == 0 and reason == f"{libc} is not a CUDA driver (no cuInit/cuDeviceGetCount)"


def test_without_a_device_rapids_is_not_even_imported():
    usable, reason = probe_gpu(lambda: (0, "libcuda.so.1 not found"), no_import)
    assert (usable, reason) == (False, "no CUDA device (libcuda.so.1 not found)")


def test_a_device_without_rapids_is_not_usable():
    usable, reason = probe_gpu(one_device, importer({}))
    assert not usable
    assert reason == (
        "1 CUDA device, but RAPIDS cannot be imported (ModuleNotFoundError: No module named 'cudf')"
    )


def test_a_device_cudf_cannot_use_is_not_usable():
    def first_device_call(*args: object) -> None:
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    broken = SimpleNamespace(Series=first_device_call)
    usable, reason = probe_gpu(one_device, importer({"cudf": broken, "cugraph": standin_cugraph}))
    assert not usable
    assert reason == (
        "1 CUDA device, but cudf cannot use it (RuntimeError: cudaErrorInsufficientDriver: "
        "CUDA driver version is insufficient)"
    )


def test_a_device_with_working_libraries_is_usable():
    modules = {"cudf": standin_cudf, "cugraph": standin_cugraph}
    assert probe_gpu(one_device, importer(modules)) == (
        True,
        "1 CUDA device usable with cudf stand-in, cugraph stand-in",
    )


def test_the_answer_is_cached_per_process(fresh_detection):
    first = gpu_available()
    assert gpu_available() is first
    assert gpu_available.cache_info().hits == 1
