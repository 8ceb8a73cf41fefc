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


#: the rendered lines of a text box: for each line of its text (non-blank), the text and on how
#: many rows of the screen it is drawn (1: kept whole)
LINES = """box => {
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  const lines = [[]];
  for (let node; (node = walker.nextNode());) {
    let start = 0;
    for (let i = 0; i <= node.data.length; i++) {
      if (i < node.data.length && node.data[i] !== '\\n') continue;
      lines[lines.length - 1].push([node, start, i]);
      if (i < node.data.length) lines.push([]);
      start = i + 1;
    }
  }
  return lines.map(segments => {
    const rows = new Set();
    for (const [node, a, b] of segments) {
      const text = node.data.slice(a, b);
      const trimmed = text.trimEnd().length;     // trailing spaces may hang past the edge
      if (!trimmed) continue;
      const range = document.createRange();
      range.setStart(node, a);
      range.setEnd(node, a + trimmed);
      for (const rect of range.getClientRects()) if (rect.width > 0) rows.add(Math.round(rect.top));
    }
    return {text: segments.map(([node, a, b]) => node.data.slice(a, b)).join(''), rows: rows.size};
  }).filter(line => line.text.trim());
}"""

#: every number of a box's text (two characters or more) and on how many rows it is drawn
NUMBER_ROWS = """box => {
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT), found = [];
  for (let node; (node = walker.nextNode());) {
    for (const m of node.data.matchAll(/\\d[\\d.,]*\\d/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const rows = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      found.push({number: m[0], rows: rows.size});
    }
  }
  return found;
}"""


def open_phone_page(browser, base: str, path: str, scheme: str = "dark"):
    page = browser.page
    page.emulate_media(color_scheme=scheme)
    open_page(page, base + path)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, (
        f"/{path} scrolls sideways at 390 px"
    )
    return page


def test_text_outputs_at_phone_width_keep_columns_and_whole_numbers(site, chromium, artifacts):
    """Notebook 10 at 390 px: its stream table keeps every line on one row (scrolling inside its
    own box, not the page); a mixed output keeps its table whole and wraps its sentence; prose
    outputs wrap between words, never inside a number."""
    with serve_directory(site) as base, offline_browser(viewport=(390, 844)) as browser:
        page = open_phone_page(browser, base, "notebooks/10-generative/")
        outputs = page.locator(".jp-OutputArea-output pre")
        table = outputs.filter(has_text="output token throughput").first
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "phone-10-stream-table.png"))
        assert table.evaluate("e => getComputedStyle(e).whiteSpace") == "pre"
        assert table.evaluate("e => e.scrollWidth > e.clientWidth"), (
            "expected a table wider than a phone"
        )
        lines = table.evaluate(LINES)
        assert len(lines) >= 8 and all(line["rows"] == 1 for line in lines), lines

        mixed = outputs.filter(has_text="preemptions").first
        block = mixed.locator("span.lesson-cols")
        assert block.count() == 1, "the blocks table is not set apart from the sentence after it"
        assert "preemptions" in block.inner_text()
        assert all(line["rows"] == 1 for line in block.evaluate(LINES))
        prose = [line for line in mixed.evaluate(LINES) if line["text"].startswith("With ")]
        assert prose and prose[0]["rows"] > 1, prose  # the sentence wraps at 390 px

        checked = 0
        for i in range(outputs.count()):
            box = outputs.nth(i)
            if box.evaluate(
                "e => e.classList.contains('lesson-cols') || !!e.querySelector('.lesson-cols')"
            ):
                continue
            if not any(line["rows"] > 1 for line in box.evaluate(LINES)):
                continue  # fits the width: nothing wraps
            assert box.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
            broken = [n for n in box.evaluate(NUMBER_ROWS) if n["rows"] != 1]
            assert not broken, f"numbers broken across lines: {broken}\n{box.inner_text()[:300]}"
            checked += 1
        assert checked >= 2, "no wrapping prose output was checked"
        assert browser.external_requests == [], browser.external_requests


def test_span_tree_and_wide_table_at_phone_width(site, chromium, artifacts):
    """The Operations page at 390 px: the trace's span tree keeps its lines and its indentation;
    the canary table scrolls in its own box, with a shadow at the edge that has more to see."""
    with serve_directory(site) as base, offline_browser(viewport=(390, 844)) as browser:
        page = open_phone_page(browser, base, "operations/")
        tree = page.locator(".lesson-wrap pre > code", has_text="batcher.queue").first
        tree.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "phone-operations-span-tree.png"))
        cols = tree.locator("span.lesson-cols")
        assert cols.count() == 1
        lines = cols.evaluate(LINES)
        assert [line["rows"] for line in lines] == [1] * len(lines), lines
        assert any(line["text"].startswith("      batcher.queue") for line in lines), lines
        left = {
            word: cols.evaluate(
                """(e, word) => { const r = document.createRange(), t = [...e.childNodes]
                 .filter(n => n.nodeType === 3 && n.data.includes(word))[0];
               r.setStart(t, t.data.indexOf(word)); r.setEnd(t, t.data.indexOf(word) + word.length);
               return r.getBoundingClientRect().left; }""",
                word,
            )
            for word in ("client:", "infer", "model")
        }
        assert left["client:"] < left["infer"] < left["model"], left  # indentation kept
        wrap = page.locator(".md-typeset__scrollwrap", has=page.locator("th", has_text="arm")).first
        wrap.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "phone-operations-canary-table.png"))
        assert wrap.evaluate("e => e.scrollWidth > e.clientWidth"), (
            "the canary table fits: nothing to hint"
        )
        assert (
            wrap.evaluate("e => getComputedStyle(e).backgroundImage").count("radial-gradient") == 2
        )


def test_static_quiz_says_it_needs_a_kernel_and_phones_open_the_notebook_interface(site, chromium):
    """Every notebook page's quiz says that its buttons need a running kernel and links to the
    notebook in JupyterLite; at phone width that link, like the page's button, opens
    JupyterLite's Notebook interface, at desktop width JupyterLab."""
    for viewport, app in (
        ((390, 844), "lite/notebooks/index.html"),
        ((1280, 900), "lite/lab/index.html"),
    ):
        with serve_directory(site) as base, offline_browser(viewport=viewport) as browser:
            page = browser.page
            for stem in ("00-overview", "10-generative"):
                open_page(page, f"{base}notebooks/{stem}/")
                note = page.locator(".lesson-quiz .lesson-quiz-static")
                assert note.count() == 1, stem
                assert "need a running kernel" in note.inner_text()
                hrefs = [
                    note.locator("a").get_attribute("href"),
                    page.locator("a.lite-button").first.get_attribute("href"),
                ]
                for href in hrefs:
                    assert href.endswith(f"{app}?path={stem}.ipynb"), (viewport, href)
                    assert (site / "lite" / href.split("lite/", 1)[1].split("?")[0]).is_file(), href
