"""The analysts' pages in a real browser: Debian's headless Chromium driven by Playwright.

An analyst logs in, filters the queue, opens a case, confirms one alert and dismisses another as
a payment processor, and the case pages then show those decisions. The forms work under the
viewer's Content-Security-Policy (any violation is a console error, which fails the test) and
send the browser's own Origin, which the server checks; nothing is loaded from another host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page
from test_case_pages import DAY1, build_world, make_analyst, stored
from test_viewer_browser import ARTIFACTS, Recorder, open_page
from viewer_server import CHROMIUM, Viewer

pytestmark = [
    pytest.mark.slow,  # a real browser
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)",
    ),
]


def rows(page: Page) -> list[str]:
    """The accounts the queue lists, in order."""
    return page.locator("#queue td.account a").all_text_contents()


def test_an_analyst_logs_in_works_the_queue_and_decides(browser, warehouse) -> None:
    world = build_world(warehouse)
    token = make_analyst(warehouse)
    viewer = Viewer(warehouse)
    recorder = Recorder()
    page, problems = open_page(browser, recorder)
    page.on(
        "console",
        lambda message: message.type == "error" and problems.append(f"console: {message.text}"),
    )
    try:
        # The index links the queue; nobody is logged in yet.
        page.goto(f"{viewer.base}/")
        page.click('a[href="/alerts"]')
        page.wait_for_url(f"{viewer.base}/alerts")
        assert page.locator("#login-link").count() == 1

        page.click("#login-link")
        page.wait_for_url("**/login?next=%2Falerts")
        page.fill("#token", "fpa_wrong")
        page.click("#login")
        page.wait_for_selector("p.error")
        assert "not an active analyst" in page.text_content("p.error")
        # Chromium reports the page's 401 status on the console: the one error expected.
        assert problems == [
            "console: Failed to load resource: the server responded with a status of 401 "
            "(Unauthorized)"
        ]
        problems.clear()
        page.fill("#token", token)
        page.click("#login")
        page.wait_for_url(f"{viewer.base}/alerts")
        assert page.text_content(".who") == "Signed in as ana"

        # Filter the queue to a day; its three open alerts, highest risk first.
        page.fill("#day", DAY1)
        page.click("#filters button[type=submit]")
        page.wait_for_url(f"**/alerts?day={DAY1}&pattern=&status=open")
        hostile = '<img src=x onerror="window.__pwned=1">'
        assert rows(page) == ["mule-1", hostile, "proc-9"]

        # Open mule-1's case and confirm it.
        page.click("#queue td.account a >> text=mule-1")
        page.wait_for_url(f"**/alerts/{world.day1['mule-1']}")
        assert page.text_content("#account") == "mule-1"
        assert page.locator("#money-in tbody tr").count() == 4
        assert page.locator("#money-out tbody tr td.account").all_text_contents() == ["cash-out"]
        assert page.text_content("#current-decision") == "open"
        page.fill("#note", "relays salaries <script>window.__pwned=2</script>")
        page.click("#decide-confirmed")
        page.wait_for_selector("#history tbody tr")
        assert page.url == f"{viewer.base}/alerts/{world.day1['mule-1']}"
        assert page.text_content("#current-decision") == "confirmed"
        first = page.locator("#history tbody tr").first.locator("td").all_text_contents()
        assert first[1:] == [
            "ana",
            "confirmed",
            "",
            "relays salaries <script>window.__pwned=2</script>",
        ]

        # From its counterparties to proc-9's case: dismiss it as a payment processor.
        page.click(f'#money-in a[href="/alerts/{world.day1["proc-9"]}"]')
        page.wait_for_url(f"**/alerts/{world.day1['proc-9']}")
        page.select_option("#category", "payment processor")
        page.fill("#note", "settles card payments for shops")
        page.click("#decide-dismissed")
        page.wait_for_selector("#history tbody tr")
        assert page.text_content("#current-decision") == "dismissed (payment processor)"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "case.png"), full_page=True)

        # The queue: one open alert left that day; both decisions under "all".
        page.click("nav.top >> text=Alert queue")
        page.fill("#day", DAY1)
        page.click("#filters button[type=submit]")
        page.wait_for_url(f"**/alerts?day={DAY1}**")
        assert rows(page) == [hostile]
        page.select_option("#status", "all")
        page.click("#filters button[type=submit]")
        page.wait_for_url("**status=all**")
        decisions = page.locator("#queue tbody tr td:nth-child(6)").all_text_contents()
        assert decisions == ["confirmed", "open", "dismissed (payment processor)"]
        page.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)

        page.goto(f"{viewer.base}/alerts/{world.day1['mule-1']}")
        assert page.text_content("#current-decision") == "confirmed"
        # Its neighbourhood in the day's graph: the graph page opens with mule-1 selected.
        page.click("#graph-link")
        page.wait_for_selector("body[data-ready='true']")
        selected = page.evaluate("fraudViewer.state.data.nodes.account[fraudViewer.state.selected]")
        assert selected == "mule-1"
        assert page.evaluate("fraudViewer.state.highlighted.length") == 6  # it and its 5 others
        page.go_back()
        page.goto(f"{viewer.base}/alerts/{world.day1[hostile]}")
        assert page.text_content("#account") == hostile

        # Logging out ends the session: the case page offers a login again.
        page.click("#logout")
        page.wait_for_url(f"{viewer.base}/login")
        page.goto(f"{viewer.base}/alerts/{world.day1['mule-1']}")
        assert page.locator("#decision-form").count() == 0

        assert page.evaluate("window.__pwned") is None
        assert problems == []
    finally:
        page.context.close()
        viewer.close()
    assert recorder.refused == []
    assert {urlsplit(url).hostname for url in recorder.requests} == {"127.0.0.1"}
    decided = stored(warehouse)
    assert sorted(
        zip(decided["account"], decided["decision"], decided["analyst"], strict=True)
    ) == [
        ("mule-1", "confirmed", "ana"),
        ("proc-9", "dismissed", "ana"),
    ]
    assert decided.set_index("account").loc["proc-9", "category"] == "payment processor"
