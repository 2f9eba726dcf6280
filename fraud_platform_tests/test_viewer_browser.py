"""The dataset page in a real browser: Debian's headless Chromium driven by Playwright.

Every request the page makes is routed through the test: anything not addressed to 127.0.0.1 is
aborted and fails the test, so the page provably loads nothing from the internet (plotly.js
included). A screenshot is written to ``test-artifacts/`` for a human to look at.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route
from test_viewer import ACCOUNTS, H0, H1, H2, REASONS, Viewer, day_tables, publish
from viewer_server import CHROMIUM

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = [
    pytest.mark.slow,  # a real browser
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)",
    ),
]

#: Where an account's point is on the screen, from Plotly's own axis conversion.
SCREEN_POSITION = """(account) => {
  const gd = document.getElementById("graph");
  const nodes = window.fraudViewer.state.data.nodes;
  const index = nodes.account.indexOf(account);
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.d2p(nodes.x[index]),
          y: box.top + ya._offset + ya.d2p(nodes.y[index])};
}"""
DRAWN_POINTS = """() => document.getElementById("graph").data.slice(0, 2)
    .reduce((total, trace) => total + trace.x.length, 0)"""


class Recorder:
    """Every request of the page; the ones for another host are aborted and kept apart."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.refused: list[str] = []

    def __call__(self, route: Route) -> None:
        url = route.request.url
        self.requests.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.refused.append(url)
            route.abort()


def open_page(browser: Browser, recorder: Recorder) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.route("**/*", recorder)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss())
    )
    return page, problems


def wait_until_drawn(page: Page) -> None:
    page.wait_for_function("document.body.dataset.ready", timeout=60_000)
    assert page.evaluate("document.body.dataset.ready") == "true", page.text_content("#coverage")


def test_the_page_draws_the_day_and_answers_hover_click_and_filter(browser, warehouse) -> None:
    dataset_id = publish(warehouse, *day_tables())
    viewer = Viewer(warehouse)
    recorder = Recorder()
    page, problems = open_page(browser, recorder)
    try:
        page.goto(f"{viewer.base}/")
        page.click(f'a[href="/datasets/{dataset_id}"]')
        wait_until_drawn(page)
        assert page.url == f"{viewer.base}/datasets/{dataset_id}"

        # Every account of the day is a point of the WebGL plot.
        assert page.evaluate(DRAWN_POINTS) == len(ACCOUNTS) == 11
        assert page.get_attribute("#graph", "data-points") == "11"
        assert page.locator("#graph canvas").count() > 0
        assert page.text_content("#coverage").startswith("All 11 accounts are drawn: 2 high risk")
        assert page.locator("#legend li").count() == 4
        assert page.locator("#top-accounts li button").first.text_content() == H1

        # Hovering shows the account's details, its hostile id as plain text.
        where = page.evaluate(SCREEN_POSITION, H1)
        page.mouse.move(where["x"], where["y"])
        page.wait_for_function(
            "(account) => document.getElementById('details').dataset.account === account", arg=H1
        )
        assert page.text_content("#details .account") == H1
        details = page.text_content("#details")
        assert "0.950 (high risk)" in details
        assert "money in500.00" in details and "money out400.00" in details
        # Why: the model's reasons, as text (the markup in one of them stays text).
        assert page.locator("#details .reasons li").all_text_contents() == REASONS.split("; ")

        # Clicking selects it and highlights its counterparties.
        page.mouse.click(where["x"], where["y"])
        page.wait_for_function("document.getElementById('graph').dataset.selected !== undefined")
        assert page.get_attribute("#graph", "data-selected") == H1
        assert page.get_attribute("#graph", "data-highlighted") == "3"  # H1, H0 and H2
        links = page.locator("#details .links button").all_text_contents()
        assert sorted(links) == sorted([H0, H2])
        page.locator("#details .links button", has_text="onerror").click()
        page.wait_for_function(
            "(account) => document.getElementById('graph').dataset.selected === account", arg=H0
        )

        # The filter keeps the high-risk accounts and their counterparties.
        page.check("#high-risk-only")
        page.wait_for_function("document.getElementById('graph').dataset.points === '4'")
        assert page.evaluate(DRAWN_POINTS) == 4  # H1, H2, and their counterparties H0 and A
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "viewer-filtered.png"))
        page.uncheck("#high-risk-only")
        page.wait_for_function("document.getElementById('graph').dataset.points === '11'")
        page.click("#clear-selection")
        page.wait_for_function("document.getElementById('graph').dataset.highlighted === '0'")

        # No markup from an account id ran or was inserted, and nothing left the machine.
        assert page.evaluate("window.__pwned") is None
        assert page.locator("img").count() == 0
        assert problems == []
        assert page.locator(".modebar-btn[data-title^='Share']").count() == 0
        page.screenshot(path=str(ARTIFACTS / "viewer.png"), full_page=True)
    finally:
        page.context.close()
        viewer.close()
    assert recorder.refused == []
    assert {urlsplit(url).hostname for url in recorder.requests} == {"127.0.0.1"}
    assert any(url.endswith("/data.json") for url in recorder.requests)
    assert any("/static/plotly-" in url for url in recorder.requests)


def test_a_large_day_says_what_it_leaves_out(browser, warehouse) -> None:
    dataset_id = publish(warehouse, *day_tables())
    viewer = Viewer(warehouse)
    viewer.app.cap = 5
    recorder = Recorder()
    page, problems = open_page(browser, recorder)
    try:
        page.goto(f"{viewer.base}/datasets/{dataset_id}")
        wait_until_drawn(page)
        assert page.evaluate(DRAWN_POINTS) == 5
        coverage = page.text_content("#coverage")
        assert coverage.startswith("Drawing 5 of 11 accounts: 2 of 2 high-risk")
        assert "2 of their 2 counterparties and a random 1 of the other 7" in coverage
        assert "Left out: 6 accounts and" in coverage
        assert problems == []
    finally:
        page.context.close()
        viewer.close()
    assert recorder.refused == []
