"""The daily-pipeline benchmark (`daily_pipeline.py`), one module per job.

* `common`: paths, the measured day, units, the progress log;
* `workspace`: temporary folder, schemas and Dagster databases; generated days; a run's environment;
* `memory`: RSS sampling of a process tree, with a kill above the memory limit;
* `platform_run`: one instrumented Dagster run of a day (`pipeline_run.py`), executors, revisions;
* `stages`: from a run's timers and event log to stage self times and their peak RSS;
* `profile`: the py-spy profile summarized per stage (``--profile``);
* `baseline_runs`: the pandas + networkx / igraph pipelines (`baselines.py`), checked against the
  platform;
* `backfill`: the job backfill through dagster-webserver + dagster-daemon (``--backfill-days``);
* `revisions`: the commit measured, another revision's worktree (``--compare-with``);
* `report`: the tables, the targets and their verdicts;
* `cli`: the options and the order of the work.

Importing the package puts ``fraud_platform_tests`` on ``sys.path``: the service launcher
(``services.py``, webserver / daemon / workers and backfills) and the S3 test server live there,
shared with the tests.
"""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[2] / "fraud_platform_tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
