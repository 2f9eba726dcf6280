"""``fraud-platform``: what Dagster's own CLI does not do (sample data, the demo, the database)."""

from __future__ import annotations

import argparse
import re
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

    return SampleConfig(transactions_per_day=args.transactions, seed=args.seed, world=args.world)


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


def cmd_worlds(args: argparse.Namespace) -> int:
    from fraud_platform.sample_data.worlds import WORLDS

    width = max(len(name) for name in WORLDS)
    for name, world in WORLDS.items():
        print(f"{name:<{width}}  {world.summary}")
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


def _worlds(text: str | None) -> tuple[str, ...]:
    from fraud_platform.sample_data.generator import world_names

    if not text:
        return tuple(world_names())
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in world_names()]
    if unknown:
        raise SystemExit(f"unknown world(s) {unknown}; known: {', '.join(world_names())}")
    return names


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise SystemExit(f"seeds must be comma-separated whole numbers, not {text!r}") from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    import tempfile
    import time

    from fraud_platform.defs.analytics.engines import get_engine
    from fraud_platform.defs.model.resources import packaged_model
    from fraud_platform.evaluation.protocol import (
        PACKAGED,
        SPLITS,
        EvaluationPlan,
        family_rates,
        pattern_recall,
        run_evaluation,
        summary_table,
        targets_met,
        to_markdown,
    )

    settings = Settings.from_env()
    try:
        plan = EvaluationPlan(
            worlds=_worlds(args.worlds),
            train_seeds=_seeds(args.train_seeds),
            test_seeds=_seeds(args.test_seeds),
            first_days=args.first_days,
            train_days=args.train_days,
            later_days=args.later_days,
            transactions_per_day=args.transactions,
            start=args.start,
            threshold=settings.high_risk_threshold if args.threshold is None else args.threshold,
            k=args.k,
            budget=settings.alert_budget_share,
            packaged=args.packaged,
        )
    except ValueError as error:
        raise SystemExit(str(error)) from None
    model = packaged_model() if plan.packaged else None
    if plan.packaged and model is None:
        raise SystemExit("no packaged model is installed: train one (fraud-platform train)")
    engine = get_engine(args.engine or settings.graph_engine, settings.dask_scheduler)
    if model is not None:
        learned = model.training.get("worlds", ())
        print(
            f"Worlds {', '.join(plan.worlds)}; the packaged model ({model.version}, learned from "
            f"{', '.join(map(str, learned))}) judged as shipped, nothing trained: seeds "
            f"{plan.test_seeds}, days 1-{plan.first_days} apart as first days, then days "
            f"{plan.first_days + 1}-{plan.days}; {plan.transactions_per_day:,} transfers a day.",
            flush=True,
        )
    else:
        print(
            f"Worlds {', '.join(plan.worlds)}; each held out once. Learned from training seeds "
            f"{plan.train_seeds}, days 1-{plan.learned_days}; reported on seeds {plan.test_seeds} "
            f"of the held-out world (days 1-{plan.first_days} apart as its first days) and on "
            f"days {plan.learned_days + 1}-{plan.days} of the training worlds; "
            f"{plan.transactions_per_day:,} transfers a day.",
            flush=True,
        )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fraud-evaluate-") as workdir:
        result = run_evaluation(
            plan, engine, workdir, progress=lambda t: print(t, flush=True), packaged=model
        )
    print(f"\nDone in {time.perf_counter() - started:.0f} s.\n")
    print("Mean ± spread over seeds (and over the folds, for later days):\n")
    print(to_markdown(summary_table(result)))
    for split in SPLITS:
        if split not in result.model_tables:
            continue
        print(f"\nModel, {split}: recall at {plan.threshold:g} per laundering pattern\n")
        print(to_markdown(pattern_recall(result, split)))
        print(f"\nModel, {split}: share of each legitimate family at {plan.threshold:g}\n")
        print(to_markdown(family_rates(result, split)))
    if plan.packaged:
        print("\nTargets, packaged model (days with history)\n")
        print(to_markdown(targets_met(result, PACKAGED)))
    else:
        print("\nTargets on unseen worlds (model)\n")
        print(to_markdown(targets_met(result)))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model from the default recipe; write it as the packaged model or into a folder."""
    import time
    from pathlib import Path

    from fraud_platform.defs.analytics.engines import get_engine
    from fraud_platform.defs.model.training import TrainingRecipe, recipe_days, train_on_days

    recipe = TrainingRecipe(
        worlds=_worlds(args.worlds),
        seeds=_seeds(args.seeds),
        days=args.days,
        transactions_per_day=args.transactions,
    )
    settings = Settings.from_env()
    engine = get_engine(args.engine or settings.graph_engine, settings.dask_scheduler)
    started = time.perf_counter()
    days = recipe_days(
        recipe,
        engine,
        progress=lambda d: print(f"  {d.world} seed {d.seed} {d.day}", flush=True),
    )
    model = train_on_days(days, background_share=recipe.background_share, seed=recipe.sample_seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.txt").write_text(model.to_text())
    (out / "model.json").write_text(model.to_json() + "\n")
    print(
        f"Model {model.version}: {len(days)} labelled days, {model.training['rows']:,} rows, "
        f"{time.perf_counter() - started:.0f} s; written to {out}"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from fraud_platform.deployment import build_warehouse
    from fraud_platform.viewer.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = Settings.from_env()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: reading needs no login (deciding does); {args.host} exposes every "
            "dataset and alert beyond this machine: put a TLS proxy with its own login in front"
        )
    print(f"Dataset URLs start with {settings.viewer_base_url} (FRAUD_VIEWER_BASE_URL)")
    serve(
        build_warehouse(settings, for_dagster=False),
        high_risk_threshold=settings.high_risk_threshold,
        host=args.host,
        port=args.port,
        echo=lambda line: print(line, flush=True),
    )
    return 0


def cmd_analysts(args: argparse.Namespace) -> int:
    from fraud_platform.defs.cases.resources import (
        AnalystError,
        add_analyst,
        list_analysts,
        revoke_analyst,
    )
    from fraud_platform.deployment import build_warehouse

    warehouse = build_warehouse(Settings.from_env(), for_dagster=False)
    schema = warehouse.schema_name
    try:
        with warehouse.connect() as connection:
            if args.action == "add":
                token = add_analyst(connection, schema, args.name)
            elif args.action == "revoke":
                revoke_analyst(connection, schema, args.name)
            else:
                analysts = list_analysts(connection, schema)
    except (AnalystError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    if args.action == "add":
        print(f"analyst {args.name} added; their token (shown only this once, keep it secret):")
        print(token)
    elif args.action == "revoke":
        print(f"analyst {args.name} revoked: their token no longer works")
    else:
        for row in analysts.itertuples(index=False):
            state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
            print(f"{row.name}  since {row.created_at:%Y-%m-%d %H:%M}  {state}")
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


def cmd_rejected(args: argparse.Namespace) -> int:
    """List a day's rejected rows from the warehouse: counts by reason, then the rows."""
    import csv
    import sys

    from fraud_platform.defs.ingest.rejected import (
        dataset_stored,
        preview_rows,
        read_reason_counts,
        read_rejected_rows,
        text_table,
    )
    from fraud_platform.deployment import build_warehouse
    from fraud_platform.storage.warehouse import WarehouseError

    if args.limit is not None and args.limit < 1:
        raise SystemExit("error: --limit must be at least 1")
    day = args.day.isoformat()
    warehouse = build_warehouse(Settings.from_env(), for_dagster=False)
    schema = warehouse.schema_name
    try:
        with warehouse.connect() as connection:
            counts = read_reason_counts(connection, schema, day)
            total = int(counts["rows"].sum())
            rows = read_rejected_rows(connection, schema, day, args.limit)
            published = not total and dataset_stored(connection, schema, day)
    except WarehouseError as error:
        raise SystemExit(f"error: {error}") from None
    if not total:
        if published:
            print(f"{day}: no rejected rows (every row read was valid)")
        else:
            print(
                f"{day}: no rejected rows and no dataset stored for this day: it has not been "
                "loaded yet (or none of its rows was rejected and its run stopped before the "
                "dataset)"
            )
        return 0
    shown = f", first {len(rows):,} shown" if len(rows) < total else ""
    # With --csv the summary goes to stderr, so that stdout is the CSV alone.
    out = sys.stderr if args.csv else sys.stdout
    print(f"{day}: {total:,} rejected rows{shown}", file=out)
    print(text_table(counts), file=out)
    listed = preview_rows(rows, limit=None)
    if args.csv:
        listed.to_csv(sys.stdout, index=False, quoting=csv.QUOTE_MINIMAL)
    else:
        print()
        print(text_table(listed, widths={"raw": 80, "reason": 60}))
    return 0


#: reStructuredText markup in docstrings and help strings: a role (``:func:``) and backticks.
_RST_MARKUP = re.compile(r":[a-z]+:(?=`)|`")


def plain_text(text: str) -> str:
    """``text`` without reStructuredText roles and backticks: ``--help`` is read in a terminal."""
    return _RST_MARKUP.sub("", text)


class PlainHelpFormatter(argparse.HelpFormatter):
    """Help as plain text, each option with its default unless its help already says it."""

    def _format_text(self, text: str) -> str:
        return super()._format_text(plain_text(text))

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = plain_text(action.help or "")
        default = action.default
        if (
            default is not None
            and default is not argparse.SUPPRESS
            and not isinstance(default, bool)
            and "default" not in text
            and action.option_strings
        ):
            text += " (default: %(default)s)"
        return text


class PlainParser(argparse.ArgumentParser):
    """An argument parser (and subcommand parser) that formats its help with PlainHelpFormatter."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", PlainHelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


_EVALUATE_HELP = (
    "train the risk model on some generated worlds and days, and report only on others "
    "(held-out worlds, later days), beside the rules score and PageRank"
)
_TRAIN_HELP = (
    "train a risk model from generated worlds into a folder (the packaged model is built this "
    "way; in a deployment, materialize risk_model instead)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = PlainParser(prog="fraud-platform", description=__doc__)
    # Every subcommand's parser is a PlainParser too (plain help, defaults shown).
    sub = parser.add_subparsers(dest="command", required=True, parser_class=PlainParser)

    def worlds_file_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--worlds-file",
            default=None,
            help="a TOML file of more worlds, written like the packaged worlds.toml",
        )

    def sample_options(p: argparse.ArgumentParser, days: int) -> None:
        p.add_argument("--start", type=_day, default=_day(FIRST_DAY), help="first day (UTC)")
        p.add_argument("--days", type=int, default=days, help="number of days")
        p.add_argument("--transactions", type=int, default=20_000, help="transfers per day")
        p.add_argument("--seed", type=int, default=7, help="generator seed")
        p.add_argument(
            "--world", default="retail_bank", help="sample world (list them: fraud-platform worlds)"
        )
        worlds_file_option(p)

    gen = sub.add_parser("generate", help="write sample transaction files to the landing zone")
    sample_options(gen, days=7)
    gen.set_defaults(func=cmd_generate)

    worlds = sub.add_parser("worlds", help="list the sample worlds the generator can make")
    worlds_file_option(worlds)
    worlds.set_defaults(func=cmd_worlds)

    demo = sub.add_parser(
        "demo", help="generate a sample week if the landing zone is empty, run it, summarize"
    )
    sample_options(demo, days=7)
    demo.set_defaults(func=cmd_demo)

    def learning_command(name: str, help_text: str, transactions: int) -> argparse.ArgumentParser:
        """A subcommand that learns from generated worlds: which worlds, how big, which engine."""
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--worlds", default=None, help="comma-separated worlds (default: all)")
        worlds_file_option(p)
        p.add_argument("--transactions", type=int, default=transactions, help="transfers per day")
        p.add_argument(
            "--engine",
            default=None,
            help="graph engine: auto, cpu, gpu or multigpu (default: FRAUD_GRAPH_ENGINE or auto)",
        )
        return p

    evaluate = learning_command("evaluate", _EVALUATE_HELP, transactions=30_000)
    evaluate.add_argument("--train-seeds", default="11,12", help="seeds the models learn from")
    evaluate.add_argument("--test-seeds", default="21,22", help="seeds of the held-out worlds")
    evaluate.add_argument(
        "--first-days",
        type=int,
        default=7,
        help="a world's first days (little history): learned from, and reported apart",
    )
    evaluate.add_argument("--train-days", type=int, default=6, help="days learned from")
    evaluate.add_argument("--later-days", type=int, default=3, help="later days reported on")
    evaluate.add_argument("--start", type=_day, default=_day(FIRST_DAY), help="first day (UTC)")
    evaluate.add_argument("--k", type=int, default=50, help="precision@k cut-off per day")
    evaluate.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="high-risk threshold (default: FRAUD_HIGH_RISK_THRESHOLD or 0.5)",
    )
    evaluate.add_argument(
        "--packaged",
        action="store_true",
        help="judge the packaged model (what a fresh deployment scores with) on the worlds' test "
        "seeds instead of training one per held-out world: e.g. on worlds of --worlds-file or "
        "at another --transactions",
    )
    evaluate.set_defaults(func=cmd_evaluate)

    train = learning_command("train", _TRAIN_HELP, transactions=40_000)
    train.add_argument("--seeds", default="101,202", help="seeds of each world")
    train.add_argument("--days", type=int, default=14, help="consecutive days per world")
    train.add_argument(
        "--out", default="fraud_platform/defs/model/packaged", help="folder to write the model to"
    )
    train.set_defaults(func=cmd_train)

    viewer = sub.add_parser("serve", help="serve every dataset's interactive view (the URLs)")
    viewer.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    viewer.add_argument("--port", type=int, default=8765, help="port to listen on")
    viewer.set_defaults(func=cmd_serve)

    analysts = sub.add_parser(
        "analysts", help="who may decide on alerts: add (prints a token once), revoke, list"
    )
    analysts.add_argument("action", choices=["add", "revoke", "list"])
    analysts.add_argument("name", nargs="?", default=None, help="the analyst's name")
    analysts.set_defaults(func=cmd_analysts)

    db = sub.add_parser("db", help="the embedded PostgreSQL used when FRAUD_DATABASE_URL is unset")
    db.add_argument(
        "action",
        choices=["url", "stop"],
        help="url: start it if needed and print its URL; stop: stop it",
    )
    db.set_defaults(func=cmd_db)

    rejected = sub.add_parser(
        "rejected", help="list a day's rejected rows from the warehouse, counted by reason"
    )
    rejected.add_argument("--day", type=_day, required=True, help="the day (YYYY-MM-DD)")
    rejected.add_argument("--csv", action="store_true", help="CSV on stdout (summary on stderr)")
    rejected.add_argument(
        "--limit", type=int, default=None, help="list at most N rows (default: all)"
    )
    rejected.set_defaults(func=cmd_rejected)
    return parser


def _register_worlds(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Worlds of ``--worlds-file`` join the packaged ones for this command; a bad file or an
    unknown ``--world`` is a usage error naming it, not a traceback."""
    worlds_file, world = getattr(args, "worlds_file", None), getattr(args, "world", None)
    if worlds_file is None and world is None:
        return
    from fraud_platform.sample_data.worlds import add_worlds, get_world

    try:
        if worlds_file is not None:
            add_worlds(worlds_file)
        if world is not None:
            get_world(world)
    except ValueError as error:
        parser.error(str(error))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _register_worlds(parser, args)
    if args.command == "analysts" and args.action != "list" and not args.name:
        parser.error(f"analysts {args.action} needs a NAME")
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
