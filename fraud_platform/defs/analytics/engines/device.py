"""Whether this process can run the GPU engine: a CUDA device that RAPIDS can actually use.

``import cudf`` and ``import cugraph`` succeed on machines without a GPU and fail only on the first
device operation, so an import proves nothing. The probe therefore asks the CUDA driver for a
device count first (through ``ctypes``: no Python package needed, and a missing driver library is
an ordinary ``OSError``), then imports RAPIDS, then runs one tiny cudf operation on the device,
which also catches a driver too old for the installed CUDA runtime.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
from collections.abc import Callable
from typing import Any

#: The CUDA driver API library (Linux and WSL; RAPIDS supports no other platform).
CUDA_DRIVER_LIBRARY = "libcuda.so.1"


def _error_name(driver: ctypes.CDLL, code: int) -> str:
    """``CUDA_ERROR_NO_DEVICE`` and the like for a driver result code, or the bare number."""
    name = ctypes.c_char_p()
    try:
        driver.cuGetErrorName.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
        driver.cuGetErrorName.restype = ctypes.c_int
        if driver.cuGetErrorName(code, ctypes.byref(name)) == 0 and name.value:
            return name.value.decode("ascii", "replace")
    except AttributeError:
        pass
    return f"CUDA error {code}"


def cuda_device_count(library: str = CUDA_DRIVER_LIBRARY) -> tuple[int, str]:
    """How many CUDA devices the driver offers this process (CUDA_VISIBLE_DEVICES applies).

    Returns the count and a short explanation, which says why when the count is 0.
    """
    try:
        driver = ctypes.CDLL(library)
    except OSError:
        return 0, f"{library} not found"
    try:
        driver.cuInit.argtypes = [ctypes.c_uint]
        driver.cuInit.restype = ctypes.c_int
        driver.cuDeviceGetCount.argtypes = [ctypes.POINTER(ctypes.c_int)]
        driver.cuDeviceGetCount.restype = ctypes.c_int
    except AttributeError:
        return 0, f"{library} is not a CUDA driver (no cuInit/cuDeviceGetCount)"
    code = driver.cuInit(0)
    if code != 0:
        return 0, f"cuInit failed: {_error_name(driver, code)}"
    count = ctypes.c_int(0)
    code = driver.cuDeviceGetCount(ctypes.byref(count))
    if code != 0:
        return 0, f"cuDeviceGetCount failed: {_error_name(driver, code)}"
    if count.value < 1:
        return 0, "the CUDA driver reports no device"
    plural = "s" if count.value > 1 else ""
    return count.value, f"{count.value} CUDA device{plural}"


def probe_gpu(
    count_devices: Callable[[], tuple[int, str]] = cuda_device_count,
    import_module: Callable[[str], Any] = importlib.import_module,
) -> tuple[bool, str]:
    """(usable, reason): a device, importable cudf and cugraph, and one cudf operation that works.

    The steps are injectable so each way of failing can be tested on a machine without a GPU.
    """
    count, found = count_devices()
    if count < 1:
        return False, f"no CUDA device ({found})"
    try:
        cudf = import_module("cudf")
        cugraph = import_module("cugraph")
    except Exception as exc:  # ImportError, or whatever a half-installed RAPIDS raises
        return False, f"{found}, but RAPIDS cannot be imported ({type(exc).__name__}: {exc})"
    try:
        total = int(cudf.Series([1, 2, 3]).sum())
    except Exception as exc:  # e.g. cudaErrorInsufficientDriver on the first device call
        return False, f"{found}, but cudf cannot use it ({type(exc).__name__}: {exc})"
    if total != 6:
        return False, f"{found}, but cudf computed 1 + 2 + 3 = {total}"
    versions = ", ".join(
        f"{name} {getattr(module, '__version__', '(unknown version)')}"
        for name, module in (("cudf", cudf), ("cugraph", cugraph))
    )
    return True, f"{found} usable with {versions}"


@functools.cache
def gpu_available() -> tuple[bool, str]:
    """`probe_gpu` once per process: the answer cannot change while the process runs.

    Call it in the process that will use the GPU (the asset's step process): CUDA initialized
    before a ``fork`` is unusable in the child.
    """
    return probe_gpu()
