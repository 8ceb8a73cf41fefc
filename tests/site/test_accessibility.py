"""Accessibility and phone layout of the built site, in Debian's headless Chromium, offline.

axe-core (npm, pinned in ``tools/site/axe.py``) audits the home page, a pattern page and every
notebook page against the WCAG 2.0/2.1 A and AA rules, in the light and the dark scheme: no
critical or serious violation may remain. At a phone's width (390 px) the load-test panel of
notebook 06 keeps its buttons' and labels' text whole and its results table's p50/p99
columns can be scrolled into view. The charts' text alternatives are checked against the
figures the page itself shows.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tools.site.axe import NBCONVERT_ALT, audit, describe, serious
from tools.site.browser import offline_browser, serve_directory

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

PANEL_PAGE = "notebooks/06-load-testing/"

#: Ready when every saved widget view is drawn and docs/assets/a11y.js has run since the last
#: change of the page (``data-a11y-pending`` on <html> while a run is due, ``data-a11y-fixed``
#: the time of the last one) and the page stayed quiet for 400 ms since.
SETTLED = """() => {
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  const drawn = document.querySelectorAll('.widget-subarea').length;
  const html = document.documentElement;
  const fixed = Number(html.dataset.a11yFixed || 0);
  return drawn >= views && !html.dataset.a11yPending && fixed > 0 && Date.now() - fixed > 400;
}"""


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.wait_for_function(SETTLED, timeout=60_000, polling=200)


def site_pages(notebooks) -> list[str]:
    return ["", "patterns/rest/"] + [f"notebooks/{nb.stem}/" for nb in notebooks]


def audit_scheme(base: str, pages: list[str], artifacts, scheme: str) -> list[str]:
    """Every page in ``scheme`` in a browser of its own; the serious violations, described."""
    failures = []
    with offline_browser() as browser:
        page = browser.page
        page.emulate_media(color_scheme=scheme)
        for path in pages:
            open_page(page, base + path)
            assert page.evaluate("() => document.body.dataset.mdColorScheme") == (
                "slate" if scheme == "dark" else "default")
            blocking = serious(audit(page))
            if blocking:
                failures.append(f"[{scheme}] /{path}\n{describe(blocking)}")
        page.goto(base + PANEL_PAGE)
        page.screenshot(path=str(artifacts / f"a11y-06-{scheme}.png"))
        assert browser.external_requests == [], browser.external_requests
    return failures


def test_no_serious_axe_violations(site, notebooks, chromium, artifacts):
    """The light and the dark scheme audited at once, each in its own browser on its own
    thread: a page's load is mostly waiting (network idle, widgets drawn, a quiet page), so the
    two overlap on two cores."""
    with serve_directory(site) as base, ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(audit_scheme, base, site_pages(notebooks), artifacts, scheme)
                for scheme in ("light", "dark")]
        failures = [f for run in runs for f in run.result()]
    assert not failures, "critical/serious axe violations:\n" + "\n".join(failures)


def test_chart_text_alternatives_state_the_figures(site, chromium):
    """Every chart on notebook 06 has an alt text from its SVG (not nbconvert's placeholder);
    the panel's chart names the latest run of the panel's table and its p50 as the table shows it."""
    with serve_directory(site) as base, offline_browser() as browser:
        page = browser.page
        open_page(page, base + PANEL_PAGE)
        alts = page.eval_on_selector_all("img[src^='data:image/svg+xml']", "els => els.map(e => e.alt)")
        assert alts, "no chart on the page"
        for alt in alts:
            assert alt and alt != NBCONVERT_ALT and alt != "chart", alts
            assert re.search(r"\d", alt), alt   # figures, not only a title
        # the panel's report: its results table and chart in one cell's outputs (the panel widget
        # itself is shown as its cell left it, before any run)
        report = page.locator(".jp-Cell", has=page.locator("table.lesson-results")).first
        last_row = report.locator("table.lesson-results tbody tr").last
        cells = last_row.locator("td").all_inner_texts()
        heads = report.locator("table.lesson-results th").all_inner_texts()
        label = re.sub(r"\s+", " ", cells[0]).strip()
        p50 = float(cells[heads.index("p50")].replace(",", ""))
        chart_alt = report.locator("img[src^='data:image/svg+xml']").first.get_attribute("alt")
        assert label in chart_alt, (label, chart_alt)
        stated = re.search(re.escape(label) + r": p50 ([0-9.e+-]+) ms", chart_alt)
        assert stated, chart_alt
        assert float(stated[1]) == pytest.approx(p50, rel=0.02, abs=0.0015), (stated[1], p50)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_panel_at_phone_width(site, chromium, artifacts, scheme):
    with serve_directory(site) as base, offline_browser(viewport=(390, 844)) as browser:
        page = browser.page
        page.emulate_media(color_scheme=scheme)
        open_page(page, base + PANEL_PAGE)
        panel = page.locator(".lesson-panel").first
        report = page.locator(".jp-Cell", has=page.locator("table.lesson-results")).first
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / f"phone-06-panel-{scheme}.png"))
        # the page itself does not scroll sideways
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        buttons = panel.locator("button.widget-button")
        assert buttons.count() >= 2
        for i in range(buttons.count()):
            fit = buttons.nth(i).evaluate(
                "b => ({text: b.innerText.trim(), scroll: b.scrollWidth, client: b.clientWidth})")
            assert fit["text"] in ("Run", "Clear history"), fit
            assert fit["scroll"] <= fit["client"], f"button text cut off: {fit}"
        labels = panel.locator(".widget-label").evaluate_all(
            "ls => ls.filter(l => l.offsetParent && l.innerText.trim()).map(l => {"
            " const r = l.getBoundingClientRect(), p = l.closest('.lesson-panel').getBoundingClientRect();"
            " return {text: l.innerText.trim(), scroll: l.scrollWidth, client: l.clientWidth,"
            " inside: r.left >= p.left - 1 && r.right <= p.right + 1}; })")
        assert any(lab["text"].startswith("Rate, req/s") for lab in labels), labels
        for lab in labels:
            assert lab["scroll"] <= lab["client"] and lab["inside"], f"label truncated: {lab}"
        for name in ("p50", "p99"):
            header = report.locator("table.lesson-results th", has_text=re.compile(f"^{name}$")).first
            header.scroll_into_view_if_needed()
            seen = header.evaluate(
                "h => { const r = h.getBoundingClientRect();"
                " const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);"
                " return {left: r.left, right: r.right, hit: !!hit && (hit === h || h.contains(hit))}; }")
            assert 0 <= seen["left"] and seen["right"] <= 390 and seen["hit"], (name, seen)
        assert browser.external_requests == [], browser.external_requests
