"""A newcomer's first clicks in Debian's headless Chromium, every non-loopback request blocked:
the home page's "Start the course" leads to notebook 00's page, whose "Open in JupyterLite"
opens that notebook in the site's JupyterLite. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import pytest

from tools.site.browser import offline_browser, serve_directory
from tools.site.hooks import LITE_APP

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

TITLE = "00 · Overview"   # the first notebook's title, as its first cell writes it


@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_both_start_buttons_are_on_the_first_screen(site, chromium, artifacts, viewport):
    with serve_directory(site) as base, offline_browser(viewport) as browser:
        page = browser.page
        page.goto(base)
        for name in ("Start the course", "Run it in your browser"):
            button = page.locator("article").get_by_role("link", name=name, exact=True).first
            box = button.bounding_box()
            assert box and box["y"] >= 0 and box["y"] + box["height"] <= viewport[1], (name, box)
        page.screenshot(path=str(artifacts / f"home-{viewport[0]}.png"))
        assert browser.external_requests == [], browser.external_requests


def test_start_the_course_then_open_notebook_00_in_jupyterlite(site, chromium, artifacts):
    with serve_directory(site) as base, offline_browser() as browser:
        home = browser.page
        missing = []
        browser.context.on("response", lambda r: missing.append(f"{r.status} {r.url}")
                           if r.status >= 400 else None)
        home.goto(base)
        home.get_by_role("link", name="Start the course", exact=True).click()
        home.wait_for_url("**/notebooks/00-overview/")
        assert TITLE in home.locator("article h1").first.inner_text()
        home.screenshot(path=str(artifacts / "notebook-00-top.png"))
        with browser.context.expect_page() as opened:
            home.get_by_role("link", name="Open in JupyterLite", exact=True).click()
        lab = opened.value
        lab.wait_for_load_state()
        assert lab.url == f"{base}{LITE_APP}?path=00-overview.ipynb", lab.url
        # the notebook is open, and its first cell shows the first notebook's title
        lab.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        lab.locator(".jp-Notebook .jp-MarkdownCell", has_text=TITLE).first.wait_for(timeout=60_000)
        lab.screenshot(path=str(artifacts / "jupyterlite-00-overview.png"))
        assert browser.external_requests == [], browser.external_requests
        assert missing == [], f"requests that failed: {missing}"
