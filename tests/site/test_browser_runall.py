"""Every notebook of the site's JupyterLite: Run All in headless Chromium, offline.

One browser for the module, one page (one kernel) per notebook. Each notebook must finish
within :data:`NOTEBOOK_BOUND_S`, each cell within :data:`CELL_BOUND_S`, with no traceback, no
stderr output (the panel's log included: it is inside the cell's output area) and no request
that left 127.0.0.1. A failure names the notebook, the cell (its source's first lines) and
its outputs. Then what two browser paths claim is checked in the browser: notebook 06's open
loop sees the stall its closed loop hides, and a panel's Run button redraws its chart.

Per notebook, the seconds from Run All to the last cell are printed (``-s`` shows them);
``RUNALL_DUMP=DIR`` also writes each notebook's cells and outputs as text to ``DIR/NAME.txt``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from dataclasses import dataclass, field

import pytest

from lesson.lab import READY_SENTINEL
from tests.site.conftest import NOTEBOOKS
from tools.site.browser import (
    CellState,
    kernel_status,
    notebook_cells,
    offline_chromium,
    open_notebook,
    run_all_cells,
    serve_directory,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1200)]

#: Longest a single cell may run (the first one includes the kernel's start).
CELL_BOUND_S = 90.0
#: Longest a whole notebook may take, from Run All to its last cell.
NOTEBOOK_BOUND_S = 180.0
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


@dataclass
class RunAll:
    """What one notebook's Run All did in the browser."""

    name: str
    page: object
    seconds: float = 0.0
    cells: list[CellState] = field(default_factory=list)
    cell_seconds: dict[int, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Every output's text, in order."""
        return "\n".join(o["text"] for c in self.cells for o in c.outputs)


def run_all(page, name: str) -> RunAll:
    """Run All in ``page`` and watch every cell to the end, within the bounds."""
    report = RunAll(name, page)
    run_all_cells(page)
    t0 = last = time.monotonic()
    done = 0
    ready = False
    while True:
        time.sleep(0.5)
        cells = [c for c in notebook_cells(page) if c.kind == "code"]
        now = time.monotonic()
        finished = sum(1 for c in cells if c.done and not c.busy)
        if finished > done:
            report.cell_seconds[cells[finished - 1].index] = round(now - last, 1)
            done, last = finished, now
        ready = ready or any(READY_SENTINEL in o["text"] for c in cells for o in c.outputs)
        running = next((c for c in cells if c.busy), None)
        failed = [c for c in cells if c.failures()]
        if running is None and (failed or (ready and kernel_status(page) == "idle")):
            break
        if running is not None and now - last > CELL_BOUND_S:
            report.problems.append(f"past the {CELL_BOUND_S:g} s bound of a cell:\n{running.describe()}")
            break
        if now - t0 > NOTEBOOK_BOUND_S:
            report.problems.append(f"past the {NOTEBOOK_BOUND_S:g} s bound of a notebook")
            break
    report.seconds = round(time.monotonic() - t0, 1)
    report.cells = [c for c in notebook_cells(page) if c.kind == "code"]
    for cell in report.cells:
        if cell.failures():
            report.problems.append("error or stderr output:\n" + cell.describe())
        elif not cell.done and not report.problems:
            report.problems.append("not executed:\n" + cell.describe())
    return report


@pytest.fixture(scope="module")
def lite(site, chromium):
    """A function ``name -> RunAll``: each notebook run once per module, in its own page."""
    with serve_directory(site) as base, offline_chromium() as browser:
        done: dict[str, RunAll] = {}

        def run(name: str) -> RunAll:
            if name not in done:
                assert (site / "lite" / "files" / name).exists(), f"{name} is not in the JupyterLite build"
                before = len(browser.external_requests)
                asked = len(browser.requests)
                page = open_notebook(browser, base, name)
                done[name] = report = run_all(page, name)
                report.external = browser.external_requests[before:]
                report.requested = browser.requests[asked:]
                if os.environ.get("RUNALL_DUMP"):
                    dump = Path(os.environ["RUNALL_DUMP"])
                    dump.mkdir(parents=True, exist_ok=True)
                    (dump / f"{Path(name).stem}.txt").write_text("\n\n".join(c.describe(1500) for c in report.cells))
                print(f"\nrun-all {name}: {report.seconds:.1f} s; slowest cells "
                      + ", ".join(f"#{i} {s:.1f}s" for i, s in sorted(report.cell_seconds.items(),
                                                                       key=lambda kv: -kv[1])[:3]))
            return done[name]

        yield run


KEEP_OPEN = {"01-rest.ipynb", "06-load-testing.ipynb"}  # the checks below read these pages


@pytest.mark.parametrize("name", NAMES)
def test_run_all_in_jupyterlite(lite, name):
    report = lite(name)
    try:
        assert not report.problems, f"{name} ({report.seconds:.1f} s):\n" + "\n\n".join(report.problems)
        assert report.external == [], f"{name} asked the network for {report.external}"
    finally:
        if name not in KEEP_OPEN:
            report.page.context.close()


STALL_LINE = re.compile(r"(closed|open) loop: p50 (.+?), p99 ([\d.]+) ms, max ([\d.]+) ms; "
                        r"(\d+) requests slower than 50 ms; (\d+) errors")


def test_open_loop_sees_the_stall_the_closed_loop_hides(lite):
    report = lite("06-load-testing.ipynb")
    runs = {m[1]: m for m in STALL_LINE.finditer(report.text())}
    assert set(runs) == {"closed", "open"}, f"the stall demo printed no figures:\n{report.text()[:3000]}"
    closed, opened = runs["closed"], runs["open"]
    print(f"\n06 in the browser: {closed[0]}\n06 in the browser: {opened[0]}")
    assert int(closed[6]) == 0 and int(opened[6]) == 0, (closed[0], opened[0])
    slow_closed, slow_open = int(closed[5]), int(opened[5])
    assert slow_closed >= 1, f"the closed loop did not see the stall at all: {closed[0]}"
    # every request that arrived during the 200 ms stall waited: at 400/s that is tens of them
    assert slow_open > 10 * slow_closed, (closed[0], opened[0])
    assert float(opened[3]) > 50.0 > float(closed[3]), (closed[0], opened[0])
    assert "the open loop did not see more" not in report.text()


def _rows(panel) -> list[str]:
    return [" ".join(t.split()) for t in panel.locator("table.lesson-results tbody tr td:first-child").all_text_contents()]


def test_panel_run_button_redraws_its_chart(lite, artifacts):
    report = lite("01-rest.ipynb")
    page = report.page
    panel = page.locator(".lesson-panel").first
    before = _rows(panel)
    numbers = [int(m[1]) for r in before if (m := re.match(r"#(\d+) ", r))]
    new = f"#{max(numbers, default=0) + 1} "
    panel.scroll_into_view_if_needed()
    panel.get_by_role("button", name="Run").first.click()
    page.wait_for_function(
        "([el, label]) => [...el.querySelectorAll('table.lesson-results tbody tr td:first-child')]"
        ".some(td => td.textContent.startsWith(label))",
        arg=[panel.element_handle(), new], timeout=120_000, polling=250)
    label = next(r for r in _rows(panel) if r.startswith(new))  # e.g. "#3 rest c=4"
    # the chart in the panel (drawn as SVG) names the new run: its legend and the histogram's subtitle
    page.wait_for_function(
        "([el, label]) => [...el.querySelectorAll('.jp-OutputArea-output svg')]"
        ".some(svg => svg.textContent.includes(label))",
        arg=[panel.element_handle(), label], timeout=30_000, polling=250)
    charts = panel.locator(".jp-OutputArea-output:has(svg.marks)")
    assert charts.count() == 1, "the panel shows more than one chart"
    texts = [t.strip() for t in charts.first.locator("svg text").all_text_contents()]
    # once in the percentile chart's legend, once as the subtitle of the histogram (the latest run's)
    assert texts.count(label) == 2, (label, texts)
    panel.screenshot(path=str(artifacts / "jupyterlite-panel-after-run.png"))
    failures = [c.describe() for c in notebook_cells(page) if c.failures()]
    assert failures == [], failures


ORT_PREDICTIONS = re.compile(r"ORT-web float32 predictions, first (\d+) held-out rows: \[([^\]]+)\]")


def test_05_runs_onnx_runtime_web_from_the_site(lite):
    """05's last section ran ONNX Runtime Web in the kernel's worker: its version and the wasm
    provider printed, the runtime fetched from the site only, and its float32 predictions equal
    to onnxruntime's in this (CPython) process on the same rows within 1e-6 relative."""
    onnxruntime = pytest.importorskip("onnxruntime")
    import numpy as np

    from lesson.core.artifacts import load_artifact, load_heldout
    from lesson.patterns.edge_web import ORT_WEB_DIR, ORT_WEB_FILES, ORT_WEB_VERSION

    report = lite("05-edge.ipynb")
    text = report.text()
    assert f"onnxruntime-web {ORT_WEB_VERSION} (wasm, 1 thread), execution provider 'wasm'" in text, text[-3000:]
    fetched = [u for u in report.requested if f"/lite/{ORT_WEB_DIR}" in u]
    assert {u.rsplit("/", 1)[1] for u in fetched} == set(ORT_WEB_FILES), fetched
    assert report.external == []
    found = ORT_PREDICTIONS.search(text)
    assert found, text[-3000:]
    web = [float(v) for v in found[2].split(",")]
    artifact = load_artifact("diabetes-mlp-onnx")
    rows = load_heldout(load_artifact("diabetes-mlp"))[0][: int(found[1])]
    session = onnxruntime.InferenceSession(artifact.files["model.onnx"], providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    cpython = session.run(None, {name: np.asarray(rows, dtype=np.float32)})[0][:, 0]
    assert len(web) == len(cpython) == 5
    np.testing.assert_allclose(web, cpython, rtol=1e-6)
    assert "within 1e-6" in text
    ratio = re.search(r"batch 64: ORT-web float32 ran at ([\d.]+)x", text)
    assert ratio and float(ratio[1]) > 0, text[-2000:]


def test_other_notebooks_do_not_download_onnxruntime_web(lite):
    """Only the notebook that asks for ONNX Runtime Web pays its 14 MB: 01 fetches none of it
    (05 above shows the same request log does see the worker's fetches of those files)."""
    from lesson.patterns.edge_web import ORT_WEB_DIR

    report = lite("01-rest.ipynb")
    assert report.requested, "no request recorded for 01"
    assert [u for u in report.requested if ORT_WEB_DIR in u] == []
