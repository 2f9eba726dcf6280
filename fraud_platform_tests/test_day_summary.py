"""The day's one-line summary at the end of a run: in the run's logs at INFO, with the day's URL
and counts, and on the console of `dagster asset materialize` without the DEBUG lines; and the
dataset's preview metadata, which must show the day's picture without the viewer running."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, materialize
from dagster_cli import cli_env, dagster_command, materialize_args
from daily_runs import materialize_day
from PIL import Image
from playwright.sync_api import Browser
from services import WORKSPACE, free_port, start, stop, wait_until_serving
from test_pipeline import DAY, query, write_landing

from fraud_platform.definitions import daily_assets
from fraud_platform.defs.datasets.logic import dataset_id_for, day_summary_lines
from fraud_platform.deployment import deployment_resources
from fraud_platform.presentation.preview import THUMBNAIL_SIZE
from fraud_platform.reporting import preview_markdown
from fraud_platform.settings import Settings

URL = f"http://viewer.test/datasets/{dataset_id_for(DAY)}"
#: test_pipeline's day: 10 rows, 2 rejected, accounts A-F.
EXPECTED_START = f"Day {DAY}: {URL} | rows 8 valid, 2 rejected | 6 accounts, "


def high_risk_stored(database_url: str, schema: str) -> int:
    """The day's accounts at or above the test's threshold (0.8), counted in the warehouse."""
    (count,) = query(
        database_url,
        schema,
        "SELECT count(*) FROM {s}.dataset_nodes WHERE partition_date = %s AND risk_score >= 0.8",
        DAY,
    )[0]
    return int(count)


#: A Markdown image whose source is a PNG in a data: URI.
DATA_IMAGE = re.compile(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


def embedded_png(preview: str) -> Image.Image:
    """The one image of the preview Markdown, decoded and verified as a PNG."""
    (encoded,) = DATA_IMAGE.findall(preview)
    png = base64.b64decode(encoded, validate=True)
    Image.open(io.BytesIO(png)).verify()  # a truncated or corrupt PNG raises here
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image


def assert_links_to_the_viewer(preview: str, url: str) -> None:
    """The full-size picture and the interactive view stay one command away."""
    assert "`fraud-platform serve`" in preview
    assert f"]({url}/preview.png)" in preview
    assert f"]({url})" in preview


#: The console at INFO, as the README shows it.
INFO_CONSOLE = json.dumps({"loggers": {"console": {"config": {"log_level": "INFO"}}}})


def test_summary_lines_name_each_day_in_order() -> None:
    summary = pd.DataFrame(
        {
            "partition_date": ["2024-10-02", "2024-10-01"],
            "url": ["http://v/datasets/b", "http://v/datasets/a"],
            "node_count": [1200, 5],
            "high_risk_count": [3, 0],
        }
    )
    lines = day_summary_lines(summary, {"2024-10-02": (20_000, 12)})
    assert lines == [
        "Day 2024-10-01: http://v/datasets/a | rows ? valid, ? rejected | 5 accounts, 0 high-risk",
        "Day 2024-10-02: http://v/datasets/b | rows 20,000 valid, 12 rejected | "
        "1,200 accounts, 3 high-risk",
    ]


@pytest.mark.slow
def test_a_run_logs_the_day_summary_at_info(
    settings: Settings, storage_dir: Path, database_url: str, instance: DagsterInstance
) -> None:
    write_landing(storage_dir)
    result = materialize_day(settings, DAY, instance=instance)
    assert result.success
    summaries = [
        entry
        for entry in instance.all_logs(result.run_id)
        if entry.user_message.startswith(f"Day {DAY}:")
    ]
    high_risk = high_risk_stored(database_url, settings.database_schema)
    assert [(e.user_message, e.level, e.step_key) for e in summaries] == [
        (f"{EXPECTED_START}{high_risk} high-risk", logging.INFO, "fraud_dataset")
    ]
    # The same run's metadata: the day's thumbnail embedded (it shows with no viewer running),
    # and the command and links to the full-size and interactive views under it.
    preview = result.asset_materializations_for_node("fraud_dataset")[0].metadata["preview"].value
    image = embedded_png(preview)
    assert image.size == THUMBNAIL_SIZE
    # Something is drawn: the six accounts are not all background.
    assert len(image.convert("RGB").getcolors(maxcolors=THUMBNAIL_SIZE[0] * THUMBNAIL_SIZE[1])) > 1
    assert preview.count("![") == 1
    assert preview.index("](data:image/png") < preview.index("fraud-platform serve")
    assert_links_to_the_viewer(preview, URL)
    evaluations = result.get_asset_check_evaluations()
    (check,) = [e for e in evaluations if e.check_name == "fraud_dataset_matches_graph"]
    assert check.metadata["day"].value == DAY
    assert check.description == f"{DAY}: passed"
    # Every check of the day's assets ran, and each result belongs to the day it checked.
    assert {e.check_name for e in evaluations} >= {
        "rejected_share",
        "account_features_are_complete",
        "account_scores_are_consistent",
        "alert_budget",
        "account_history_within_window",
        "fraud_dataset_matches_graph",
    }
    assert {e.partition for e in evaluations} == {DAY}


@pytest.mark.slow
def test_an_empty_day_gets_a_sentence_instead_of_a_picture(
    settings: Settings, instance: DagsterInstance
) -> None:
    result = materialize(  # no landing files: the day has no accounts
        daily_assets,
        partition_key=DAY,
        resources=deployment_resources(settings),
        instance=instance,
    )
    assert result.success
    metadata = result.asset_materializations_for_node("fraud_dataset")[0].metadata
    assert metadata["node_count"].value == 0
    preview = metadata["preview"].value
    assert "![" not in preview and "data:" not in preview
    assert preview.startswith("No accounts on this day")
    assert_links_to_the_viewer(preview, URL)


@pytest.mark.slow
def test_the_dagster_ui_shows_the_thumbnail_with_no_viewer_running(
    settings: Settings, storage_dir: Path, tmp_path: Path, browser: Browser
) -> None:
    """The UI's own Markdown sanitizer keeps the data: image, and Chromium decodes it."""
    write_landing(storage_dir)
    env = cli_env(settings, tmp_path / "dagster_home")
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        result = materialize_day(settings, DAY, instance=instance)
    assert result.success
    port, log = free_port(), tmp_path / "webserver.log"
    command = [dagster_command("dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)]
    webserver = start([*command, "-w", str(WORKSPACE)], env, log)
    try:
        wait_until_serving(port, log)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # The UI's invitation to join its community covers the page on a first visit.
        skip = page.get_by_role("button", name="Skip")
        page.add_locator_handler(skip, lambda: skip.click())
        page.goto(f"http://127.0.0.1:{port}/assets/fraud_dataset?view=events&partition={DAY}")
        row = page.locator("tr").filter(has=page.get_by_text("preview", exact=True))
        row.wait_for(timeout=60_000)
        show = row.get_by_text("Show Markdown")  # long Markdown opens in a dialog
        if show.count():
            show.click()
        image = page.locator('img[src^="data:image/png;base64,"]')
        image.wait_for(timeout=30_000)
        # decode() rejects an image the browser cannot draw.
        size = image.evaluate("i => i.decode().then(() => [i.naturalWidth, i.naturalHeight])")
        links = page.locator('a[href$="/preview.png"]').count()
        page.close()
    finally:
        stop([webserver])
    assert size == list(THUMBNAIL_SIZE)
    assert links == 1


def test_a_crowded_days_thumbnail_stays_small() -> None:
    """Every account high-risk, in random colors: the most ink a thumbnail can carry, and still
    far below what a Markdown metadata entry should hold."""
    rng = np.random.default_rng(0)
    n, m = 20_000, 60_000
    accounts = pd.Series([f"a{i}" for i in range(n)], dtype="str")
    nodes = pd.DataFrame(
        {
            "account": accounts,
            "risk_score": rng.uniform(0.8, 1.0, n),
            "point_color": [f"#{c:06x}" for c in rng.integers(0, 2**24, n)],
            "point_size": rng.uniform(2.0, 30.0, n),
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
        }
    )
    senders, receivers = rng.integers(0, n, m), rng.integers(0, n, m)
    edges = pd.DataFrame(
        {
            "sender": accounts.to_numpy()[senders],
            "receiver": accounts.to_numpy()[(receivers + (receivers == senders)) % n],
            "amount_total": rng.uniform(1.0, 1e4, m),
        }
    ).drop_duplicates(["sender", "receiver"])
    preview = preview_markdown(URL, nodes, edges, high_risk_threshold=0.8)
    assert embedded_png(preview).size == THUMBNAIL_SIZE
    assert len(preview) < 50_000


@pytest.mark.slow
def test_cli_at_info_prints_the_summary_without_debug_lines(
    settings: Settings, storage_dir: Path, database_url: str, tmp_path: Path
) -> None:
    write_landing(storage_dir)
    completed = subprocess.run(
        [*materialize_args(DAY), "--config-json", INFO_CONSOLE],
        env=cli_env(settings, tmp_path / "dagster_home"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    output = completed.stdout + completed.stderr
    high_risk = high_risk_stored(database_url, settings.database_schema)
    assert f"{EXPECTED_START}{high_risk} high-risk" in output
    assert " - DEBUG - " not in output
