#!/usr/bin/env bash
# The checks that need an NVIDIA GPU: every real-GPU test, then a 10M-transfer day timed on one GPU.
#
# For a machine with a GPU and the project installed with its GPU extras
# (pip install -e '.[test,gpu,multigpu]'); run from anywhere: bash benchmarks/gpu_check.sh
# Each step is bounded by `timeout` (tests 240 s, timing 210 s: under 8 minutes in all); a
# real-GPU test that is skipped (RAPIDS or dask-cuda missing) fails the check.
#
# The day is generated as daily_pipeline.py generates its 10M day (fraud_platform.sample_data,
# seed 7) and collapsed by build_transaction_graph; daily_pipeline.py itself cannot time a GPU
# engine (it pins FRAUD_GRAPH_ENGINE=cpu and needs PostgreSQL), so the engines are timed on the
# day's edge table directly: the single-GPU engine, then the multi-GPU engine on a one-worker
# LocalCUDACluster (the multi-GPU code path on one GPU; its layout is the CPU engine's).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
TESTS_SECONDS="${TESTS_SECONDS:-240}"
TIMING_SECONDS="${TIMING_SECONDS:-210}"

if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: nvidia-smi not found: this needs an NVIDIA GPU and its driver" >&2
    exit 2
fi
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader
started=$SECONDS

echo "== every real-GPU test: pytest -m gpu (at most ${TESTS_SECONDS} s) =="
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
timeout "$TESTS_SECONDS" "$PYTHON" -m pytest -q -p no:cacheprovider -m gpu fraud_platform_tests \
    | tee "$log"
if grep -Eq '[0-9]+ skipped' "$log"; then
    echo "gpu_check: real-GPU tests were skipped (reasons above): install the GPU extras" >&2
    exit 1
fi
echo "tests took $((SECONDS - started)) s"

echo "== a 10M-transfer day on one GPU (at most ${TIMING_SECONDS} s) =="
timeout "$TIMING_SECONDS" "$PYTHON" - <<'EOF'
import datetime as dt
import time

import numpy as np
import pandas as pd
from dask_cuda import LocalCUDACluster

from fraud_platform.defs.analytics.engines import GpuEngine, GraphEngine, MultiGpuEngine
from fraud_platform.defs.analytics.logic import LAYOUT_MAX_NODES
from fraud_platform.defs.graph.logic import build_transaction_graph
from fraud_platform.defs.ingest.logic import validate_transactions
from fraud_platform.sample_data.generator import SampleConfig, generate_day


def timed(label, run):
    start = time.perf_counter()
    value = run()
    print(f"  {label:<44} {time.perf_counter() - start:8.2f} s", flush=True)
    return value


start = time.perf_counter()
day = dt.date(2024, 10, 1)
sample = generate_day(day, SampleConfig(transactions_per_day=10_000_000, malformed_rate=0.0))
rows = sample.transactions.assign(line=np.arange(2, len(sample.transactions) + 2))
valid, _ = validate_transactions(rows, "part-000.csv", day.isoformat())
del sample, rows
graph = build_transaction_graph(valid)
del valid
edges, accounts = graph.edges, pd.Index(graph.nodes["account"])
print(
    f"day: {len(accounts):,} accounts, {len(edges):,} edges "
    f"(generated and collapsed on the CPU in {time.perf_counter() - start:.1f} s)",
    flush=True,
)


def run(engine: GraphEngine) -> np.ndarray:
    day_graph = timed(f"{engine.name}: build", lambda: engine.build(edges, accounts))
    result = timed(f"{engine.name}: PageRank", day_graph.pagerank)
    for algorithm in ("louvain", "leiden", "weakly_connected_components"):
        timed(f"{engine.name}: {algorithm}", getattr(day_graph, algorithm))
    timed(
        f"{engine.name}: layout (max_nodes={LAYOUT_MAX_NODES:,})",
        lambda: day_graph.layout(max_nodes=LAYOUT_MAX_NODES),
    )
    return result.scores["pagerank"].to_numpy()


single = run(GpuEngine())
with LocalCUDACluster(n_workers=1, protocol="tcp") as cluster:
    multi = run(MultiGpuEngine(cluster.scheduler_address))
print(f"PageRank L1 between the two engines: {np.abs(single - multi).sum():.2e}")
EOF
echo "gpu_check: done in $((SECONDS - started)) s"
