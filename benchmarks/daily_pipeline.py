"""Scale benchmark of the daily pipeline: real Dagster runs, stage by stage, against baselines.

For every day size asked for, a generated day (`fraud_platform.sample_data`) goes through
``daily_fraud_job`` in ONE Dagster run in its own process, with the real resources and IO managers
(Parquet in a fresh storage folder, PostgreSQL in a fresh schema, Dagster's own storage in a fresh
database through the repository's ``dagster.yaml``). `pipeline_run.py` wraps the functions the
assets call and the IO managers' methods with timers; the run's event log gives the step windows.
Stage times are self times (PageRank and Louvain are taken out of scoring, the Parquet write and
the PostgreSQL load out of the dataset's output); what no stage accounts for in the run is Dagster
overhead. The process's RSS is sampled every 50 ms (peak per stage) and its kernel high-water mark
is read at the end. On the 1M day, pandas + networkx and pandas + igraph pipelines
(`baselines.py`) run on the same landing files, and their results are checked against the
platform's: PageRank within 1e-6 (L1), modularity within 2%, same row counts.

    python benchmarks/daily_pipeline.py --sizes 1,3,10          # the table; ~20 min on 2 cores
    python benchmarks/daily_pipeline.py --sizes 3 --files 1,20 --skip-baselines
    python benchmarks/daily_pipeline.py --sizes 1 --profile      # + where the time goes (py-spy)
    python benchmarks/daily_pipeline.py --backfill-days 30       # webserver + daemon backfill
    python benchmarks/daily_pipeline.py --sizes 10 --skip-baselines --compare-with 139783c

``--compare-with REV`` runs each day a second time with the platform's code as of git revision
REV (a temporary worktree first on the run's PYTHONPATH), on the same landing files, and prints
both run times and peak RSS with their ratios: what a change costs, measured in one invocation.

``FRAUD_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``) names the server;
the benchmark creates its schemas and a Dagster database there and drops them at the end, and
keeps its files in a temporary folder that it deletes (``--keep`` keeps both).

The work is done by the `harness` package beside this script (its ``__init__`` lists the
modules); this file is the entry point.
"""

from __future__ import annotations

import sys

from harness.cli import main

if __name__ == "__main__":
    sys.exit(main(description=__doc__.splitlines()[0]))
