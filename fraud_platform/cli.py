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

    db = sub.add_parser("db", help="the embedded PostgreSQL used when FRAUD_DATABASE_URL is unset")
    db.add_argument("action", choices=["url", "stop"])
    db.set_defaults(func=cmd_db)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
