"""Every graph engine the contract tests run on: the CPU engine, the GPU engine's glue on the
cuGraph stand-in, and the real GPU engine only where a CUDA device answers."""

import pytest
from cugraph_standin import cudf as standin_cudf
from cugraph_standin import cugraph as standin_cugraph

from fraud_platform.defs.analytics.engines import CpuEngine, GpuEngine, gpu_available

GPU_USABLE, GPU_REASON = gpu_available()
ENGINES = [
    pytest.param(CpuEngine(), id="cpu"),
    pytest.param(GpuEngine(cudf=standin_cudf, cugraph=standin_cugraph), id="gpu-standin"),
    pytest.param(
        GpuEngine(),
        id="gpu",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not GPU_USABLE, reason=f"real cuGraph: {GPU_REASON}"),
        ],
    ),
]
