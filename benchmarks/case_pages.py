"""How fast the analysts' alert queue and case pages answer on a 1M-transfer day, beside the
viewer's existing pages (the index, a dataset page and its data.json).

    .venv/bin/python benchmarks/case_pages.py                  # about 1 min on 2 cores
    .venv/bin/python benchmarks/case_pages.py --accounts 750000 --edges 3000000 --repeat 30
    .venv/bin/python benchmarks/case_pages.py --compare-with 58fdecb  # + the viewer before cases

It works in a throwaway schema (``bench_cases_<random>``) of the PostgreSQL at ``--database-url``
(default: ``FRAUD_TEST_DATABASE_URL``, ``FRAUD_DATABASE_URL``, else the local ``postgres``),
dropped at the end, on Ctrl-C or an error too. The data go through the platform's writers: one
published day (`build_fraud_dataset`, `delete_days` + `copy_frame` as the IO managers do) of
``--accounts`` accounts and ``--edges`` pairs of one transfer each, 50,000 of them a hub's, with
its ``high_risk_transfers`` and ``high_risk_history``; ``--days`` days of ``--alerts-per-day``
alerts (`build_alerts` + `record_alerts`); an analyst and decisions on 5% of the alerts
(`add_analyst`, `record_decision`); VACUUM ANALYZE after each load, as autovacuum would do.

The real server (`ViewerApp` + `ViewerServer`, a fresh one per phase) runs in this process; a
`requests` session logged in as the analyst (keep-alive, gzip) fetches every URL once per round:
a warm-up round ("first"; for data.json it prepares the day), then ``--repeat`` timed rounds.
Target: a median under 300 ms for the queue and case pages. Baseline of the existing pages: the
same pages and data with the analysts' tables empty, before the alerts are recorded and again
after emptying them at the end, pooled so that a load drifting during the run weighs on both.
The report goes to stdout, progress to stderr.

``--compare-with REV`` also serves the existing pages with the viewer of git revision REV (e.g.
58fdecb, the viewer before the analysts' pages: a standard-library `ThreadingHTTPServer`), on the
same schema: REV's `ViewerApp` and server (`make_server`, else `ViewerServer`) in a child process
whose PYTHONPATH starts with a temporary git worktree of REV (`harness/revisions.py`), a fresh
one per baseline phase. Its requests alternate with the baseline's, URL by URL, which of
the two goes first changing every round; the report adds REV's median of each existing page and
the ratio baseline / REV, and the verdict of an existing page then holds against REV too. The
child stops when its stdin closes (at the end of its phase, or when this process dies); the
worktree is removed at the end, on Ctrl-C or an error too.

Why one file of this length: the data it loads, the pages it times and their baseline must run in
one invocation against the same schema.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import requests
from psycopg import sql

from fraud_platform.defs.alerts.logic import build_alerts
from fraud_platform.defs.alerts.resources import read_high_risk, record_alerts
from fraud_platform.defs.cases.logic import DISMISS_CATEGORIES, parse_decision
from fraud_platform.defs.cases.resources import add_analyst, ensure_case_tables, record_decision
from fraud_platform.defs.datasets.logic import (
    build_fraud_dataset,
    dataset_id_for,
    dataset_url,
    high_risk_rows,
    high_risk_transfers,
)
from fraud_platform.settings import DEFAULT_HIGH_RISK_THRESHOLD, DEFAULT_VIEWER_BASE_URL
from fraud_platform.storage.warehouse import (
    FRAUD_DATASET_TABLES,
    WAREHOUSE_TABLES,
    PostgresWarehouse,
    copy_frame,
    delete_days,
)
from fraud_platform.tables import HISTORY_COLUMNS, PARTITION_COLUMN, TransactionGraph
from fraud_platform.viewer.server import ViewerApp, ViewerServer

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_MS = 300.0
HUB_PAIRS = 50_000
HUB = "ACC0000000"
DAY = date(2024, 10, 30)
THRESHOLD = DEFAULT_HIGH_RISK_THRESHOLD
ANALYST = "bench-analyst"
#: Emptied for the second baseline: what the analysts' work adds to the warehouse.
ANALYSTS_TABLES = ("alerts", "alert_decisions", "analysts", "analyst_sessions")
COUNTED_TABLES = ("dataset_nodes", "dataset_edges", "high_risk_transfers", "high_risk_history")
#: Each pattern an alert leads with (as `pattern_of` names them): its share, its reason's text.
PATTERNS = {
    "relay": (0.35, "passed on {p}% of the money it received within 1 h"),
    "fan-in": (0.2, "{n} payers in a day, {r}x above its usual"),
    "fan-out": (0.15, "paid {n} accounts in a day"),
    "chain": (0.1, "in a {h}-hop chain of similar amounts within 6 h"),
    "new or dormant account": (0.1, "account first seen {h} days ago"),
    "structuring": (0.05, "{n} transfers just under the reporting limit"),
    "cycle": (0.05, "money came back to it through a {h}-account cycle"),
}
#: The filtered queue measured: a common pattern and a rare status (a long walk of the index).
FILTER = ("relay", "dismissed")
#: Seconds each step of the data build took.
BUILD_SECONDS: dict[str, float] = {}
#: Serves the existing pages with the viewer that ``import fraud_platform`` finds (--compare-with:
#: a revision's worktree, first on PYTHONPATH) on a free loopback port; prints the port, the
#: package's path and the server's kind as a JSON line, then serves until its stdin closes.
#: Arguments: database URL, schema, high-risk threshold.
REVISION_SERVER = """
import json, sys, threading
import fraud_platform
from fraud_platform.storage.warehouse import PostgresWarehouse
from fraud_platform.viewer import server as viewer

url, schema, threshold = sys.argv[1:4]
warehouse = PostgresWarehouse(database_url=url, schema_name=schema)
app = viewer.ViewerApp(warehouse, high_risk_threshold=float(threshold))
if hasattr(viewer, "make_server"):  # a standard-library server
    server = viewer.make_server(app, host="127.0.0.1", port=0)
    port, serve, stop = server.server_address[1], server.serve_forever, server.shutdown
    kind = f"{type(server).__name__} ({type(server).__mro__[1].__name__})"
else:
    server = viewer.ViewerServer(app, host="127.0.0.1", port=0)
    port, serve, stop, kind = server.address[1], server.run, server.stop, "ViewerServer (uvicorn)"
info = {"port": port, "package": fraud_platform.__file__, "server": kind}
print(json.dumps(info), flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), stop()), daemon=True).start()
serve()
"""


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def step(what: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    BUILD_SECONDS[what] = BUILD_SECONDS.get(what, 0.0) + time.perf_counter() - started
    say(f"{what}: {time.perf_counter() - started:.1f} s")


def account_names(indexes: np.ndarray) -> np.ndarray:
    return np.array([f"ACC{i:07d}" for i in indexes], dtype=object)


def patterns_and_reasons(rng: np.random.Generator, count: int) -> tuple[np.ndarray, list[str]]:
    """Patterns drawn by their share, each with three reasons, its own first ("; "-separated)."""
    names = list(PATTERNS)
    patterns = rng.choice(names, count, p=[share for share, _ in PATTERNS.values()])
    reasons = []
    for pattern in patterns:
        others = rng.choice([n for n in names if n != pattern], 2, replace=False)
        values = {"p": rng.integers(80, 100), "n": rng.integers(5, 300), "r": rng.integers(2, 40)}
        values["h"] = rng.integers(3, 9)
        reasons.append("; ".join(PATTERNS[str(p)][1].format(**values) for p in (pattern, *others)))
    return patterns, reasons


def synthesize_day(
    rng: np.random.Generator, accounts: int, edges: int, high_risk: int
) -> tuple[TransactionGraph, pd.DataFrame, pa.Table]:
    """The day's pairs (account 0 is the hub), scores and transfers (one a pair, in time order)."""
    hub = min(HUB_PAIRS, edges // 10)
    pairs = rng.integers(1, accounts, size=(int((edges - hub) * 1.05) + 1000, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    keys = rng.permutation(np.unique(pairs[:, 0].astype(np.int64) * accounts + pairs[:, 1]))
    keys = keys[: edges - hub]
    partners = rng.choice(np.arange(1, accounts), size=hub, replace=False)
    half, no_hub = hub // 2, np.zeros(hub - hub // 2, np.int64)
    sender = np.concatenate([keys // accounts, partners[:half], no_hub])
    receiver = np.concatenate([keys % accounts, np.zeros(half, np.int64), partners[half:]])
    order = rng.permutation(len(sender))
    sender, receiver = sender[order], receiver[order]
    amount = np.round(rng.lognormal(4.5, 1.2, len(sender)), 2)
    names = account_names(range(accounts))
    pair_frame = pd.DataFrame(
        {
            PARTITION_COLUMN: DAY.isoformat(),
            "sender": pd.Series(names[sender], dtype="str"),
            "receiver": pd.Series(names[receiver], dtype="str"),
            "amount_total": amount,
            "tx_count": np.ones(len(sender), dtype="int64"),
        }
    )
    risky = np.concatenate([[0], rng.choice(np.arange(1, accounts), high_risk - 1, replace=False)])
    risk = rng.beta(1.0, 12.0, accounts) * THRESHOLD * 0.99
    risk[risky] = rng.uniform(THRESHOLD, 0.999, len(risky))
    pattern, reasons = np.full(accounts, "", dtype=object), np.full(accounts, "", dtype=object)
    pattern[risky], reasons[risky] = patterns_and_reasons(rng, len(risky))
    centrality = rng.pareto(2.0, accounts) + 1.0
    scores = pd.DataFrame(
        {
            PARTITION_COLUMN: DAY.isoformat(),
            "account": pd.Series(names, dtype="str"),
            "centrality": centrality / centrality.sum(),
            "cluster": rng.integers(0, 400, accounts),
            "risk_score": risk,
            "reasons": pd.Series(reasons, dtype="str"),
            "pattern": pd.Series(pattern, dtype="str"),
            "x": rng.normal(0.0, 10.0, accounts),
            "y": rng.normal(0.0, 10.0, accounts),
            "in_amount": np.bincount(receiver, weights=amount, minlength=accounts),
            "out_amount": np.bincount(sender, weights=amount, minlength=accounts),
        }
    )
    start = pd.Timestamp(datetime.combine(DAY, datetime.min.time(), tzinfo=UTC))
    offsets = pd.to_timedelta(np.sort(rng.integers(0, 86_400_000_000, len(sender))), unit="us")
    transfers = pa.table(
        {
            "transaction_id": [f"T{i:09d}" for i in range(len(sender))],
            "timestamp": pa.array(start + offsets, type=pa.timestamp("us", tz="UTC")),
            "sender": pair_frame["sender"].to_numpy(),
            "receiver": pair_frame["receiver"].to_numpy(),
            "amount": amount,
        }
    )
    return TransactionGraph(nodes=pd.DataFrame(), edges=pair_frame), scores, transfers


def trailing_history(rng: np.random.Generator, accounts: pd.Series) -> pd.DataFrame:
    """28 days of made-up behaviour (`HISTORY_COLUMNS`) for ``accounts``."""
    frame = pd.DataFrame({PARTITION_COLUMN: DAY.isoformat(), "account": accounts})
    for column in HISTORY_COLUMNS[2:]:  # days and counts; the amounts and share follow
        frame[column] = rng.integers(0, 29, len(frame)) if "amount" not in column else 0.0
    frame["history_days"] = 28
    frame[["typical_in_amount", "typical_out_amount"]] = rng.lognormal(6, 1, (len(frame), 2))
    frame["known_counterparty_share"] = rng.random(len(frame))
    return frame


def publish_day(
    warehouse: PostgresWarehouse,
    rng: np.random.Generator,
    graph: TransactionGraph,
    scores: pd.DataFrame,
    transfers: pa.Table,
) -> str:
    """The day's dataset, high-risk transfers and history, stored as the IO managers do."""
    day, schema = DAY.isoformat(), warehouse.schema_name
    dataset = build_fraud_dataset(
        graph,
        scores,
        days=[day],
        viewer_base_url=DEFAULT_VIEWER_BASE_URL,
        high_risk_threshold=THRESHOLD,
        created_at=datetime.now(UTC),
    )
    risky = scores.loc[scores["risk_score"] >= THRESHOLD, "account"].reset_index(drop=True)
    timeline = high_risk_transfers(transfers.to_batches(max_chunksize=131_072), day, risky)
    history = high_risk_rows(trailing_history(rng, risky), scores, THRESHOLD)
    with warehouse.connect() as connection:
        delete_days(connection, schema, "datasets", [day])
        for member, frame in dataset.members().items():
            copy_frame(connection, schema, FRAUD_DATASET_TABLES[member], frame)
        for table, frame in (("high_risk_transfers", timeline), ("high_risk_history", history)):
            delete_days(connection, schema, table, [day])
            copy_frame(connection, schema, table, frame)
    counts = timeline["account"].value_counts()
    say(f"transfers a high-risk account: median {counts.median():.0f}, hub {counts.max():,}")
    return str(dataset.summary["dataset_id"].iloc[0])


def record_all_alerts(
    warehouse: PostgresWarehouse, rng: np.random.Generator, accounts: int, days: int, per_day: int
) -> pd.DataFrame:
    """``days`` days of alerts ending on `DAY`: its high-risk accounts as the alert sensor reads
    them, and ``per_day`` synthesized ones (the hub among them) on each earlier day."""
    schema = warehouse.schema_name
    with warehouse.connect() as connection:
        high_risk = [read_high_risk(connection, schema, [DAY.isoformat()], THRESHOLD)]
    for back in range(1, days):
        day = (DAY - timedelta(days=back)).isoformat()
        chosen = np.concatenate([[0], rng.choice(np.arange(1, accounts), per_day - 1, False)])
        patterns, reasons = patterns_and_reasons(rng, per_day)
        dataset_id = dataset_id_for(day)
        high_risk.append(
            pd.DataFrame(
                {
                    PARTITION_COLUMN: day,
                    "dataset_id": dataset_id,
                    "account": account_names(chosen),
                    "risk_score": rng.uniform(THRESHOLD, 0.999, per_day),
                    "cluster": rng.integers(0, 400, per_day),
                    "url": dataset_url(DEFAULT_VIEWER_BASE_URL, dataset_id),
                    "reasons": reasons,
                    "pattern": patterns,
                }
            )
        )
    alerts = build_alerts(pd.concat(high_risk, ignore_index=True), THRESHOLD)
    with warehouse.connect() as connection:
        recorded = record_alerts(connection, schema, alerts)
    say(f"alerts: {recorded:,} recorded over {days} days")
    return alerts


def decide_some(
    warehouse: PostgresWarehouse, rng: np.random.Generator, alerts: pd.DataFrame, must: list[str]
) -> str:
    """The analyst's token, after their decisions on 5% of the alerts and on ``must``."""
    schema = warehouse.schema_name
    chosen = rng.choice(alerts["alert_id"].to_numpy(), len(alerts) // 20, replace=False)
    chosen = list(dict.fromkeys([*must, *map(str, chosen)]))
    kinds = rng.choice(["confirmed", "dismissed", "escalated"], len(chosen), p=[0.3, 0.5, 0.2])
    made = 0
    with warehouse.connect() as connection:
        token = add_analyst(connection, schema, ANALYST)
        for alert_id, kind in zip(chosen, kinds, strict=True):
            category = str(rng.choice(DISMISS_CATEGORIES)) if kind == "dismissed" else None
            bodies = [{"decision": str(kind), "category": category, "note": "checked the payers"}]
            if rng.random() < 0.1:
                bodies.append({"decision": "confirmed", "note": "the payers confirmed fraud"})
            for body in bodies:
                stored = record_decision(
                    connection, schema, alert_id, parse_decision(body), ANALYST
                )
                made += stored is not None
    say(f"decisions: {made:,} on {len(chosen):,} alerts")
    return token


def vacuum_analyze(warehouse: PostgresWarehouse) -> None:
    with step("vacuum analyze"), psycopg.connect(warehouse.url(), autocommit=True) as connection:
        for table in WAREHOUSE_TABLES:
            target = sql.Identifier(warehouse.schema_name, table)
            connection.execute(sql.SQL("VACUUM ANALYZE {}").format(target))


def log_in(session: requests.Session, base: str, token: str) -> None:
    """Log ``session`` in through the login form, as a browser does."""
    form = session.get(f"{base}/login", timeout=60)
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', form.text)
    answer = session.post(
        f"{base}/login",
        data={"csrf_token": csrf.group(1) if csrf else "", "token": token, "next": "/alerts"},
        allow_redirects=False,
        timeout=60,
    )
    if answer.status_code != 303:
        raise RuntimeError(f"login answered HTTP {answer.status_code}")


def measure(
    warehouse: PostgresWarehouse,
    urls: dict[str, str],
    repeat: int,
    token: str | None = None,
    other: str | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per URL name, ms per request on a fresh server: the warm-up round's, then ``repeat``; and
    the same from the server at ``other`` (a base URL; none: empty), request by request in turn
    with this one, which goes first alternating by round."""
    server = ViewerServer(ViewerApp(warehouse, high_risk_threshold=THRESHOLD), port=0)
    server.start()
    bases = [server.url.removesuffix("/"), *([other.removesuffix("/")] if other else [])]
    times: list[dict[str, list[float]]] = [{name: [] for name in urls} for _ in bases]
    try:
        with requests.Session() as session, requests.Session() as other_session:
            if token is not None:
                log_in(session, bases[0], token)
            sessions = [session, other_session][: len(bases)]
            for round_ in range(repeat + 1):
                turns = list(zip(bases, sessions, times, strict=True))
                for name, path in urls.items():
                    for base, client, timed in turns if round_ % 2 == 0 else turns[::-1]:
                        started = time.perf_counter()
                        answer = client.get(base + path, timeout=600)
                        timed[name].append((time.perf_counter() - started) * 1000)
                        if answer.status_code != 200:
                            raise RuntimeError(f"{base}{path} answered HTTP {answer.status_code}")
    finally:
        server.stop()
    for label, timed in zip(["measured", "revision"], times, strict=False):
        say(f"{label} " + ", ".join(f"{n} {np.median(t[1:]):.0f} ms" for n, t in timed.items()))
    return times[0], times[1] if other else {}


def git(*args: str) -> str:
    """What git prints, run in the repository; empty where it fails."""
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True).stdout.decode()


def describe_revision(revision: str) -> str:
    """``revision``'s commit, date, distance from HEAD and subject; empty where it is not a
    commit with the viewer's server module."""
    commit = f"{revision}^{{commit}}"
    if not git("ls-tree", "--name-only", commit, "--", "fraud_platform/viewer/server.py"):
        return ""
    short, day, subject = git("log", "-1", "--format=%h%n%cs%n%s", commit, "--").splitlines()
    behind = git("rev-list", "--count", f"{commit}..HEAD").strip()
    return f"commit {short} of {day}, {behind} commits before HEAD: {subject}"


@contextmanager
def revision_server(code: Path, warehouse: PostgresWarehouse) -> Iterator[tuple[str, str]]:
    """The base URL and kind of a server of the existing pages with the viewer in ``code`` (a
    worktree), in a child process, and stopped afterwards."""
    path = os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-c", REVISION_SERVER, warehouse.url(), warehouse.schema_name]
    process = subprocess.Popen(
        [*command, str(THRESHOLD)],
        cwd=code,
        env=os.environ | {"PYTHONPATH": path},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C reaches this process only, which stops it
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the revision's viewer exited ({process.wait()}) before serving")
        info = json.loads(line)
        if not Path(info["package"]).resolve().is_relative_to(code.resolve()):
            raise RuntimeError(f"the revision's server imported {info['package']}, not {code}'s")
        yield f"http://127.0.0.1:{info['port']}", info["server"]
    finally:
        with suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()  # the child stops at the end of its stdin
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def platform_version() -> str:
    """The commit measured, and whether the platform's files differ from it."""
    dirty = git("status", "--porcelain", "--", "fraud_platform").strip()
    return f"commit {git('rev-parse', '--short', 'HEAD').strip() or '?'}" + (
        " + uncommitted changes" if dirty else ""
    )


def report(
    now: dict[str, list[float]],
    baseline: dict[str, list[float]],
    revision: dict[str, list[float]] | None = None,
    label: str = "",
) -> None:
    """The table; with ``revision`` (``label``'s times of the existing pages), its median and
    the ratio baseline / it, and the existing pages' verdicts hold against it too."""
    width = max(9, len(label))
    header = f"{'ms':<28} {'first':>7} {'median':>7} {'p90':>7} {'max':>7} {'baseline':>9}"
    print(header + (f" {label:>{width}} {'ratio':>6}" if revision else "") + "  target")
    for name, values in now.items():
        first, rest = values[0], np.array(values[1:])
        median = float(np.median(rest))
        line = f"{name:<28} {first:7.0f} {median:7.1f} {np.percentile(rest, 90):7.1f} "
        line += f"{rest.max():7.1f} "
        if name in baseline:
            base = float(np.median(baseline[name]))
            line += f"{base:9.1f}"
            references = {"baseline": base}
            if revision:
                references[label] = float(np.median(revision[name]))
                line += f" {references[label]:{width}.1f} {base / references[label]:5.2f}x"
            same = all(median <= ref * 1.25 + 2.0 for ref in references.values())
            ratios = ", ".join(f"{median / ref:.2f}x {what}" for what, ref in references.items())
            line += f"  {'same' if same else 'SLOWER'} ({ratios})"
        else:
            line += f"{'':>9}" + (f" {'':>{width}} {'':>6}" if revision else "")
            line += f"  {'PASS' if median < TARGET_MS else 'FAIL'} (< {TARGET_MS:.0f})"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    environment = os.environ.get("FRAUD_TEST_DATABASE_URL") or os.environ.get("FRAUD_DATABASE_URL")
    parser.add_argument("--database-url", default=environment or DEFAULT_DATABASE_URL)
    parser.add_argument("--accounts", type=int, default=250_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--alerts-per-day", type=int, default=2_500)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--compare-with",
        metavar="REV",
        help="also serve the existing pages with the viewer of this git revision (e.g. 58fdecb)",
    )
    args = parser.parse_args()
    if args.alerts_per_day * 2 > args.accounts or args.edges < 20 or args.repeat < 1:
        parser.error("need --accounts >= 2 x --alerts-per-day, --edges >= 20, --repeat >= 1")
    revision = describe_revision(args.compare_with) if args.compare_with else ""
    if args.compare_with and not revision:
        parser.error(f"--compare-with: {args.compare_with} is no commit with the viewer's server")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in background
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds as Ctrl-C does
    rng = np.random.default_rng(args.seed)
    schema = f"bench_cases_{uuid.uuid4().hex[:10]}"
    warehouse = PostgresWarehouse(database_url=args.database_url, schema_name=schema)
    load_before = os.getloadavg()[0]
    checkout = ExitStack()  # --compare-with: the revision's worktree, in a temporary folder
    code: Path | None = None  # that worktree
    old: dict[str, list[float]] = {}  # the revision's times, pooled like the baseline
    kind = ""  # the revision's server
    try:
        if args.compare_with:
            from harness.revisions import revision_worktree  # beside this script

            folder = tempfile.TemporaryDirectory(prefix="bench_cases_", ignore_cleanup_errors=True)
            parent = Path(checkout.enter_context(folder))
            code = checkout.enter_context(revision_worktree(args.compare_with, parent / "rev"))
            say(f"{args.compare_with} checked out in {code}")
        with warehouse.connect() as connection:
            ensure_case_tables(connection, schema)
            server_version = connection.execute("SHOW server_version").fetchone()
        say(f"schema {schema} created")
        with step("day synthesized"):
            graph, scores, transfers = synthesize_day(
                rng, args.accounts, args.edges, args.alerts_per_day
            )
        with step("day published"):
            dataset_id = publish_day(warehouse, rng, graph, scores, transfers)
        del graph, transfers
        vacuum_analyze(warehouse)
        existing = {
            "index /": "/",
            "dataset page": f"/datasets/{dataset_id}",
            "dataset data.json": f"/datasets/{dataset_id}/data.json",
        }
        with revision_server(code, warehouse) if code else nullcontext(("", "")) as (other, kind):
            before, old_before = measure(warehouse, existing, args.repeat, other=other)
        with step("alerts recorded"):
            alerts = record_all_alerts(
                warehouse, rng, args.accounts, args.days, args.alerts_per_day
            )
        today = alerts[alerts[PARTITION_COLUMN] == DAY.isoformat()]
        hub = str(today.loc[today["account"] == HUB, "alert_id"].iloc[0])
        typical = str(today.loc[today["account"] != HUB, "alert_id"].iloc[len(today) // 2])
        with step("decisions recorded"):
            token = decide_some(warehouse, rng, alerts, [hub, typical])
        vacuum_analyze(warehouse)
        deep = max(2, len(alerts) // 200)
        urls = {
            **existing,
            "queue (open, all days)": "/alerts",
            "queue, one day": f"/alerts?day={DAY.isoformat()}",
            f"queue, page {deep}": f"/alerts?page={deep}",
            "queue, pattern + status": f"/alerts?pattern={FILTER[0]}&status={FILTER[1]}",
            "case page, typical": f"/alerts/{typical}",
            "case page, hub": f"/alerts/{hub}",
            "api, alerts of a day": f"/api/alerts?day={DAY.isoformat()}",
        }
        now, _ = measure(warehouse, urls, args.repeat, token)
        with warehouse.connect() as connection:
            rows = sql.SQL("SELECT count(*) FROM {}")
            counts = {
                t: connection.execute(rows.format(sql.Identifier(schema, t))).fetchone()[0]
                for t in (*COUNTED_TABLES, *ANALYSTS_TABLES[:2])
            }
            tables = sql.SQL(", ").join(sql.Identifier(schema, t) for t in ANALYSTS_TABLES)
            connection.execute(sql.SQL("TRUNCATE {}").format(tables))
        with revision_server(code, warehouse) if code else nullcontext(("", "")) as (other, kind):
            after, old_after = measure(warehouse, existing, args.repeat, other=other)
        old = {name: old_before[name][1:] + old_after[name][1:] for name in old_before}
    finally:
        checkout.close()  # removes the worktree (if any)
        with psycopg.connect(args.database_url, autocommit=True) as connection:
            drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            connection.execute(drop)
        say(f"schema {schema} dropped")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    print(f"case pages benchmark, {platform_version()}")
    print(
        f"machine: {os.cpu_count()} cores, {memory:.0f} GB RAM; PostgreSQL "
        f"{server_version[0] if server_version else '?'}; load average (1 min) at start "
        f"{load_before:.1f}, at end {os.getloadavg()[0]:.1f}"
    )
    print("rows: " + ", ".join(f"{table} {count:,}" for table, count in counts.items()))
    steps = ", ".join(f"{what} {seconds:.0f} s" for what, seconds in BUILD_SECONDS.items())
    print(f"data built in {sum(BUILD_SECONDS.values()):.0f} s ({steps})")
    print(
        f"{args.repeat} timed rounds after a warm-up round (first); baseline: the median of the "
        "same pages with the analysts' tables empty, before the alerts and after emptying them\n"
    )
    if old:
        print(
            f"{args.compare_with}: {revision}; its viewer ({kind}) served from a worktree in a "
            "child process, a fresh one per baseline phase, its requests alternating with the "
            f"baseline's; ratio: baseline / {args.compare_with}\n"
        )
    baseline = {name: before[name][1:] + after[name][1:] for name in existing}
    report(now, baseline, old, args.compare_with or "")
    print()
    for name, path in urls.items():
        print(f"  {name:<28} {path}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)  # the schema is dropped and the worktree removed already (main's finally)
