"""The overview notebook in JupyterLite's Notebook interface (``lite/notebooks/``), offline.

The site links to the JupyterLab interface (``lite/lab/``); the lighter Notebook interface is
the alternative ``benchmarks/bench_cold_start.py --app notebooks`` measures. Here it runs the
whole overview notebook in Debian's headless Chromium: the widgets render, the load-test panel
runs and reports its percentiles and its Vega-Lite chart, the quiz answers a click and the
exercise checker gives its verdicts. Screenshot in ``test-artifacts/``.
"""

from __future__ import annotations

import pytest

from lesson.lab import READY_SENTINEL
from lesson.teaching.exercises import exercises_for
from lesson.teaching.quizzes import quiz_for
from tools.site.browser import (
    error_outputs,
    offline_browser,
    run_all_cells,
    serve_directory,
    wait_for_output,
    wait_kernel_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

NOTEBOOK = "00-overview"


def test_overview_notebook_runs_in_the_notebook_interface(site, chromium, artifacts):
    question = quiz_for(NOTEBOOK).questions[0]
    with serve_directory(site) as base, offline_browser() as browser:
        page = browser.page
        page.goto(f"{base}lite/notebooks/index.html?path={NOTEBOOK}.ipynb")
        page.wait_for_selector("#main-panel .jp-NotebookPanel", timeout=180_000)
        assert page.locator(".jp-LabShell").count() == 0  # not JupyterLab
        run_all_cells(page)
        wait_for_output(page, READY_SENTINEL)
        results = page.locator(".lesson-panel table.lesson-results", has_text="p50").first
        results.wait_for(state="attached", timeout=300_000)
        box = page.locator(".lesson-quiz").first
        box.wait_for(timeout=300_000)
        wait_kernel_idle(page)
        header = {h.strip() for h in results.locator("th").all_text_contents()}
        assert {"p50", "p99"} <= header, header
        # the panel's chart is drawn by JupyterLab's Vega-Lite renderer, not left as its text
        chart = page.locator(".jp-OutputArea-output.jp-RenderedVegaLite")
        chart.first.wait_for(state="attached", timeout=60_000)
        assert chart.first.locator("svg, canvas").count() >= 1

        first = box.locator(".lesson-quiz-question").first
        first.locator("button").nth(question.answer).click()  # graded by the kernel
        right = first.locator(".lesson-quiz-feedback", has_text="Right")
        right.wait_for(timeout=60_000)
        assert "Answered 1 of" in box.locator(".lesson-quiz-score").inner_text()
        for exercise in exercises_for(NOTEBOOK):
            wait_for_output(page, f"not yet {exercise.id}", timeout_s=60)
        box.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "jupyterlite-notebook-app-00.png"))
        assert error_outputs(page) == []
        assert browser.external_requests == [], browser.external_requests
