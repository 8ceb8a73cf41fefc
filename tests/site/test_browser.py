"""The built site in Debian's headless Chromium, with every non-loopback request blocked.

From the home page to a pattern page, "Open in JupyterLite", run all cells of the REST
notebook in the browser's Python, and see its panel and load-test percentiles; also the
static notebook page with its chart and table. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import time

import pytest

from lesson.lab import READY_SENTINEL
from tools.site.browser import (
    error_outputs,
    offline_browser,
    run_all_cells,
    serve_directory,
    wait_for_output,
    wait_kernel_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

READY = READY_SENTINEL


def test_rest_notebook_runs_offline_in_jupyterlite(site, chromium, artifacts):
    with serve_directory(site) as base, offline_browser() as browser:
        home = browser.page
        home.goto(base)
        home.get_by_role("link", name="Patterns", exact=True).first.click()
        home.wait_for_url("**/patterns/")
        home.locator("article a[href$='rest/']").first.click()
        home.wait_for_url("**/patterns/rest/")
        marks: list[str] = []  # the kernel worker's stage marks, from any page of the context
        browser.context.on("console", lambda m: marks.append(m.text)
                           if "lite-kernel stage=" in m.text else None)
        t0 = time.monotonic()
        with browser.context.expect_page() as opened:
            home.get_by_role("link", name="Open in JupyterLite").click()
        lab = opened.value
        lab.wait_for_load_state()
        assert "/lite/lab/index.html?path=01-rest.ipynb" in lab.url
        run_all_cells(lab)
        wait_for_output(lab, READY)
        ready_s = time.monotonic() - t0
        first_line = lab.locator(".jp-OutputArea-output", has_text=READY).first.text_content()
        assert "in-process" in first_line.lower() or "browser" in first_line.lower(), first_line
        lab.wait_for_selector(".lesson-panel", timeout=180_000)
        results = lab.locator("table.lesson-results", has_text="p50").first
        results.wait_for(timeout=240_000)
        wait_kernel_idle(lab)
        results.scroll_into_view_if_needed()
        lab.screenshot(path=str(artifacts / "jupyterlite-01-rest.png"))
        header = results.locator("th").all_inner_texts()
        assert {"p50", "p99"} <= {h.strip() for h in header}, header
        assert error_outputs(lab) == []
        assert browser.external_requests == [], browser.external_requests
        # the kernel's Python was restored from the build's memory snapshot, files written back,
        # by the worker the page started while JupyterLab loaded, which the kernel adopted
        for stage in ("early-start", "python-restored", "files-written", "early-adopted",
                      "kernel-ready"):
            assert any(f"stage={stage} " in m for m in marks), marks
        print(f"JupyterLite: first output {ready_s:.1f}s after the click, "
              f"all cells done {time.monotonic() - t0:.1f}s")


def test_static_notebook_page_shows_chart_and_table(site, chromium, artifacts):
    with serve_directory(site) as base, offline_browser() as browser:
        page = browser.page
        missing = []
        page.on("response", lambda r: missing.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.goto(f"{base}notebooks/01-rest/")
        panel = page.locator(".lesson-panel").first
        panel.wait_for(timeout=60_000)   # rendered from the stored widget state
        assert page.locator("table.lesson-results", has_text="p50").count() >= 1
        charts = page.locator(".jp-OutputArea-output svg, .lesson-panel svg, "
                              ".jp-OutputArea-output img[src^='data:image/svg']")
        assert charts.count() >= 1, "no chart on the static page"
        box = charts.first.bounding_box()
        assert box and box["width"] > 50 and box["height"] > 50, box
        panel.scroll_into_view_if_needed()
        page.wait_for_function("() => [...document.fonts].some(f => f.family.includes('Font Awesome')"
                               " && f.status === 'loaded')", timeout=30_000)  # widget icons
        page.screenshot(path=str(artifacts / "static-01-rest.png"))
        assert browser.external_requests == [], browser.external_requests
        assert missing == [], f"files the page needs are missing from the site: {missing}"


def test_architecture_diagram_renders_offline(site, chromium, artifacts):
    """The layer diagram (a mermaid block) is drawn by the site's own mermaid.min.js: Material
    for MkDocs draws it into a closed shadow root, so the test checks that the diagram took the
    height of nine boxes, that mermaid came from the site, and that nothing left loopback."""
    with serve_directory(site) as base, offline_browser() as browser:
        page = browser.page
        loaded = []
        page.on("response", lambda r: loaded.append(r.url) if "mermaid" in r.url else None)
        page.goto(f"{base}architecture/")
        diagram = page.locator(".mermaid").first
        page.wait_for_function("() => { const m = document.querySelector('.mermaid');"
                               " return m && m.getBoundingClientRect().height > 600; }", timeout=60_000)
        diagram.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "architecture.png"))
        assert loaded and all(url.startswith(base) for url in loaded), loaded
        assert page.evaluate("() => typeof window.mermaid") == "object"
        assert browser.external_requests == [], browser.external_requests
