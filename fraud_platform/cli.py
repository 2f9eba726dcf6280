"""``fraud-platform``: what Dagster's own CLI does not do (sample data, the demo, the database)."""

from __future__ import annotations

import argparse
from datetime import date
from typing import TYPE_CHECKING

from fraud_platform.partitions import FIRST_DAY
from fraud_platform.settings import Settings, redact_url

if TYPE_CHECKING:
    from fraud_platform.sample_data.generator import SampleConfig


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _sample_config(args: argparse.Namespace) -> SampleConfig:
    # Imported here so that `fraud-platform --help` stays fast.
    from fraud_platform.sample_data.generator import SampleConfig

    return SampleConfig(transactions_per_day=args.transactions, seed=args.seed)


def cmd_generate(args: argparse.Namespace) -> int:
    from fraud_platform.sample_data.generator import generate_days

    settings = Settings.from_env()
    config = _sample_config(args)
    generate_days(
        settings.storage_url,
        args.start,
        args.days,
        config,
        progress=lambda day: print(f"generated {day}", flush=True),
    )
    print(f"{args.days} day(s) written under {settings.landing_url}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from fraud_platform.demo import run_demo

    run_demo(
        Settings.from_env(),
        start=args.start,
        days=args.days,
        config=_sample_config(args),
        echo=lambda line: print(line, flush=True),
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import tempfile
    from contextlib import ExitStack
    from datetime import timedelta

    import pandas as pd

    from fraud_platform.defs.analytics.engines import get_engine
    from fraud_platform.defs.analytics.evaluation import (
        evaluate_scores,
        format_report,
        sample_period_available,
        sample_watchlist,
        score_landing_days,
    )
    from fraud_platform.defs.analytics.logic import read_watchlist, watchlist_url
    from fraud_platform.sample_data.generator import LANDING_PATH, generate_days, read_ground_truth

    if args.days < 1:
        raise SystemExit("--days must be at least 1")
    if not 0.0 <= args.watchlist_share <= 1.0:
        raise SystemExit("--watchlist-share must be within [0, 1]")
    settings = Settings.from_env()
    threshold = settings.high_risk_threshold if args.threshold is None else args.threshold
    engine = get_engine(args.engine or settings.graph_engine)
    days = [args.start + timedelta(days=i) for i in range(args.days)]
    with ExitStack() as stack:
        storage = settings.storage_url
        if sample_period_available(storage, [day.isoformat() for day in days]):
            print(f"Using the sample days under {redact_url(storage)}", flush=True)
        else:
            storage = stack.enter_context(tempfile.TemporaryDirectory(prefix="fraud-evaluate-"))
            config = _sample_config(args)
            print(
                f"Generating {args.days} sample day(s) of {config.transactions_per_day:,} "
                f"transfers from {args.start} into a temporary folder ...",
                flush=True,
            )
            generate_days(
                storage,
                args.start,
                args.days,
                config,
                progress=lambda day: print(f"  generated {day}", flush=True),
                keep_transactions=False,
            )
        truth = read_ground_truth(storage, days)
        if args.watchlist_share > 0:
            watchlist = sample_watchlist(truth, args.watchlist_share, seed=args.seed)
            source = f"{args.watchlist_share:.0%} of the planted accounts"
        else:
            watchlist = read_watchlist(watchlist_url(storage))
            source = f"from {redact_url(watchlist_url(storage))}"
        listed = [] if watchlist is None else watchlist["account"].unique().tolist()
        print(
            "Watchlist: none"
            if watchlist is None
            else f"Watchlist: {len(listed):,} accounts ({source}), left out of the figures",
            flush=True,
        )
        print(f"Graph engine: {engine.name}; scoring with the pure pipeline ...", flush=True)
        planted = truth[truth["is_fraud"]].groupby("partition_date")["account"].agg(set)

        def progress(index: int, day: str, scores: pd.DataFrame, seconds: float) -> None:
            flagged = set(scores.loc[scores["risk_score"] >= threshold, "account"])
            found = len(flagged & planted.get(day, set()))
            print(
                f"  [{index}/{len(days)}] {day}: {len(scores):,} accounts, {len(flagged):,} "
                f"high risk ({found:,} planted), {seconds:.2f} s",
                flush=True,
            )

        scores = score_landing_days(
            f"{storage}/{LANDING_PATH}", days, engine, watchlist=watchlist, progress=progress
        )
    report = evaluate_scores(scores, truth, threshold, exclude=listed)
    print("")
    print(format_report(report))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from fraud_platform.deployment import build_warehouse
    from fraud_platform.viewer.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = Settings.from_env()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: the viewer has no login; {args.host} exposes it beyond this machine")
    print(f"Dataset URLs start with {settings.viewer_base_url} (FRAUD_VIEWER_BASE_URL)")
    serve(
        build_warehouse(settings, for_dagster=False),
        high_risk_threshold=settings.high_risk_threshold,
        host=args.host,
        port=args.port,
        echo=lambda line: print(line, flush=True),
    )
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from fraud_platform.storage.embedded_postgres import embedded_database_url, stop_embedded

    settings = Settings.from_env()
    if settings.database_url:
        print(f"FRAUD_DATABASE_URL is set ({redact_url(settings.database_url)}): nothing embedded")
        return 0
    if args.action == "url":
        print(embedded_database_url(settings.embedded_postgres_dir))
    else:
        stop_embedded(settings.embedded_postgres_dir)
        print("embedded PostgreSQL stopped")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fraud-platform", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def sample_options(p: argparse.ArgumentParser, days: int) -> None:
        p.add_argument("--start", type=_day, default=_day(FIRST_DAY), help="first day (UTC)")
        p.add_argument("--days", type=int, default=days, help="number of days")
        p.add_argument("--transactions", type=int, default=20_000, help="transfers per day")
        p.add_argument("--seed", type=int, default=7, help="generator seed")

    gen = sub.add_parser("generate", help="write sample transaction files to the landing zone")
    sample_options(gen, days=7)
    gen.set_defaults(func=cmd_generate)

    demo = sub.add_parser(
        "demo", help="generate a sample week if the landing zone is empty, run it, summarize"
    )
    sample_options(demo, days=7)
    demo.set_defaults(func=cmd_demo)

    evaluate = sub.add_parser(
        "evaluate",
        help="score a sample period with the pure pipeline and measure it against the planted "
        "fraud (no Dagster, no database)",
    )
    sample_options(evaluate, days=30)
    evaluate.add_argument(
        "--watchlist-share",
        type=float,
        default=0.0,
        help="use this share of the planted fraud accounts as the watchlist and measure the "
        "rest (default 0: the watchlist file of the storage, if any)",
    )
    evaluate.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="high-risk threshold (FRAUD_HIGH_RISK_THRESHOLD)",
    )
    evaluate.add_argument(
        "--engine", default=None, help="graph engine: auto, cpu, gpu (FRAUD_GRAPH_ENGINE)"
    )
    evaluate.set_defaults(func=cmd_evaluate)

    viewer = sub.add_parser("serve", help="serve every dataset's interactive view (the URLs)")
    viewer.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    viewer.add_argument("--port", type=int, default=8765, help="port to listen on")
    viewer.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="the embedded PostgreSQL used when FRAUD_DATABASE_URL is unset")
    db.add_argument("action", choices=["url", "stop"])
    db.set_defaults(func=cmd_db)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
