"""Static notebook pages show each widget as the cell that displayed it left it.

The site executes the notebooks once and stores the widgets' state; a panel shown in one cell
and run again in later cells must not show those later runs where it was first displayed
(``tools/site/notebooks.py`` stores a copy per cell). Read in Debian's headless Chromium,
offline, from the rendered widgets.
"""

from __future__ import annotations

import re

import pytest

from tools.site.browser import offline_browser, serve_directory

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def panel_runs(panel) -> list[str]:
    cells = panel.locator("table.lesson-results tbody tr td:first-child").all_text_contents()
    return [" ".join(c.split()) for c in cells]


def test_capstone_panel_lists_only_the_runs_made_by_its_own_cell(site, chromium, artifacts):
    with serve_directory(site) as base, offline_browser() as browser:
        page = browser.page
        page.goto(f"{base}notebooks/09-capstone/")
        panel = page.locator(".lesson-panel").first
        panel.locator("table.lesson-results").wait_for(timeout=60_000)
        runs = panel_runs(panel)
        # the cell that shows it runs the baseline, then yours; section 5 runs yours twice more
        assert [re.match(r"#\d+ \w+", r)[0] for r in runs] == ["#1 baseline", "#2 yours"], runs
        assert page.locator("table.lesson-results", has_text="#4 yours").count() >= 1  # section 5's report
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "static-09-panel.png"))
        assert browser.external_requests == [], browser.external_requests


def test_load_testing_panel_is_shown_before_its_runs_and_the_chart_once(site, chromium, artifacts):
    with serve_directory(site) as base, offline_browser() as browser:
        page = browser.page
        page.goto(f"{base}notebooks/06-load-testing/")
        panel = page.locator(".lesson-panel").first
        panel.wait_for(timeout=60_000)
        # displayed by a cell that runs nothing: no table and no chart yet
        assert "No runs yet" in panel.inner_text()
        assert panel.locator("svg, img").count() == 0
        # the next cell's report: six runs, one per pattern
        report = page.locator("table.lesson-results").first
        assert report.locator("tbody tr").count() == 6, report.inner_text()
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "static-06-panel.png"))
        assert browser.external_requests == [], browser.external_requests
