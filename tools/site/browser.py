"""Serve a built site on 127.0.0.1 and drive it in Debian's headless Chromium, offline.

Shared by ``tests/site`` and ``benchmarks/bench_cold_start.py``. Chromium comes from
apt (``/usr/bin/chromium``) and is driven by pip's playwright with ``executable_path``;
``playwright install`` is never used. Every request to a host other than 127.0.0.1 is
aborted and recorded, and host resolution is disabled for everything but loopback.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-proxy-server",
]


def chromium_path() -> str | None:
    """Path of Debian's chromium, or None when it is not installed."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 exactly as ``make serve`` does; yield the base URL.

    ``python -m http.server`` runs in its own process (as for a learner), so the browser's
    downloads do not compete with the test's own Python for the interpreter lock.
    """
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"http.server did not start on port {port}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def keep_on_loopback(context, blocked: list[str]) -> None:
    """Abort every request of ``context`` that leaves 127.0.0.1 (data: and blob: stay), recording its URL."""

    def route(route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlparse(url).hostname == "127.0.0.1":
            return route.continue_()
        blocked.append(url)
        return route.abort()

    context.route("**/*", route)


@dataclass
class OfflineBrowser:
    """A Chromium context whose non-loopback requests are aborted and recorded."""

    context: object
    page: object
    external_requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@contextlib.contextmanager
def offline_browser(viewport: tuple[int, int] = (1280, 900)) -> Iterator[OfflineBrowser]:
    """Launch headless Chromium with a fresh profile; yield an :class:`OfflineBrowser`."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (apt-get install -y chromium)")
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": viewport[0], "height": viewport[1]})
        page = context.pages[0] if context.pages else context.new_page()
        browser = OfflineBrowser(context, page)
        keep_on_loopback(context, browser.external_requests)
        page.on("console", lambda m: browser.console.append(f"{m.type}: {m.text[:300]}"))
        try:
            yield browser
        finally:
            context.close()


@dataclass
class OfflineChromium:
    """One headless Chromium; each :meth:`new_page` gets its own context (fresh storage, so
    JupyterLab restores no earlier notebook's tabs), offline like :func:`offline_browser`."""

    browser: object
    external_requests: list[str] = field(default_factory=list)
    #: every URL any page asked for (its workers' requests included), in order
    requests: list[str] = field(default_factory=list)

    def new_page(self, viewport: tuple[int, int] = (1280, 900)):
        context = self.browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        keep_on_loopback(context, self.external_requests)
        context.on("request", lambda request: self.requests.append(request.url))
        return context.new_page()


@contextlib.contextmanager
def offline_chromium() -> Iterator[OfflineChromium]:
    """Launch headless Chromium once; yield an :class:`OfflineChromium` to open pages in."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (apt-get install -y chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield OfflineChromium(browser)
        finally:
            browser.close()


def wait_for_output(frame, text: str, timeout_s: float = 240) -> None:
    """Wait until a notebook output area in ``frame`` contains ``text``.

    On a timeout, raise an ``AssertionError`` that shows the notebook as the page has it (each
    cell's prompt, source and outputs, and the kernel's status), so a failure in CI says where
    the run stopped.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        frame.wait_for_function(
            "t => [...document.querySelectorAll('.jp-OutputArea-output')]"
            ".some(e => e.textContent.includes(t))",  # innerText is empty for cells scrolled out of view (content-visibility)
            arg=text, timeout=timeout_s * 1000, polling=200)
    except PlaywrightTimeout:
        raise AssertionError(f"no output contained {text!r} after {timeout_s:g} s\n"
                             + describe_notebook(frame)) from None


def describe_notebook(frame, cells: int = 12) -> str:
    """The kernel's status and the first ``cells`` cells as the page shows them (diagnostics)."""
    try:
        shown = [c.describe(300) for c in notebook_cells(frame)[:cells]]
        return f"kernel status: {kernel_status(frame) or '(no indicator)'}\n" + "\n".join(shown)
    except Exception as exc:  # the page may be gone; the diagnostics must not hide the failure
        return f"(could not read the notebook: {exc})"


def run_all_cells(frame, started_within_s: float = 60) -> None:
    """Run > Run All Cells through JupyterLab's menu, as a learner would.

    Waits until the menu item is enabled (JupyterLab greys it out until the notebook is the
    current widget; a click on it then does nothing), then until some cell is queued or has
    run, and raises with the notebook's state if none is within ``started_within_s``.
    """
    frame.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    deadline = time.monotonic() + 60
    while True:
        frame.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        label = frame.locator(".lm-Menu-itemLabel", has_text="Run All Cells")
        item = frame.locator(".lm-Menu-item", has=label).first
        item.wait_for(timeout=10_000)
        if "lm-mod-disabled" not in (item.get_attribute("class") or ""):
            item.click()
            break
        frame.keyboard.press("Escape")  # close the menu; try again once the notebook is current
        if time.monotonic() > deadline:
            raise AssertionError("Run All Cells stayed disabled for 60 s\n" + describe_notebook(frame))
        frame.wait_for_timeout(500)
    try:
        frame.wait_for_function(
            "() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]"
            ".some(p => /[*0-9]/.test(p.textContent))",
            timeout=started_within_s * 1000, polling=200)
    except Exception as exc:
        raise AssertionError(f"Run All Cells queued no cell within {started_within_s:g} s ({exc})\n"
                             + describe_notebook(frame)) from None


def wait_kernel_idle(frame, timeout_s: float = 240) -> None:
    """Wait until the notebook's execution indicator reads idle."""
    frame.wait_for_function(
        "() => document.querySelector('.jp-Notebook-ExecutionIndicator')"
        "?.getAttribute('data-status') === 'idle'", timeout=timeout_s * 1000, polling=200)


def error_outputs(frame) -> list[str]:
    """Texts of error outputs (tracebacks) in the notebook."""
    return frame.eval_on_selector_all(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']",
        "els => els.map(e => e.innerText.slice(0, 800))")


def open_notebook(chromium: OfflineChromium, base: str, name: str):
    """A new page (own context) with ``name`` (e.g. ``01-rest.ipynb``) open in the site's JupyterLite."""
    page = chromium.new_page()
    page.goto(f"{base}lite/lab/index.html?path={name}")
    return page


#: Every cell of the open notebook: kind, input prompt ("[3]:", "[*]:", "[ ]:"), the head of its
#: source and its outputs (MIME type and text; textContent, so cells out of view count too).
_CELLS_JS = """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(cell => ({
    kind: cell.classList.contains('jp-CodeCell') ? 'code' : 'other',
    prompt: (cell.querySelector('.jp-InputPrompt')?.textContent || '').trim(),
    source: [...cell.querySelectorAll('.jp-InputArea-editor .cm-line')].map(l => l.textContent)
            .join('\\n').slice(0, 400),
    outputs: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => ({
        mime: o.getAttribute('data-mime-type') || '',
        text: (o.textContent || '').slice(0, 1500)})),
}))"""


@dataclass
class CellState:
    """One notebook cell as the page shows it."""

    index: int
    kind: str
    prompt: str
    source: str
    outputs: list[dict]

    @property
    def done(self) -> bool:
        """Executed: its prompt holds an execution count."""
        return any(ch.isdigit() for ch in self.prompt)

    @property
    def busy(self) -> bool:
        """Running or queued (``[*]``)."""
        return "*" in self.prompt

    def failures(self) -> list[str]:
        """Its error (traceback) and stderr outputs."""
        bad = ("application/vnd.jupyter.error", "application/vnd.jupyter.stderr")
        return [f"{o['mime']}: {o['text']}" for o in self.outputs if o["mime"] in bad]

    def describe(self, limit: int = 600) -> str:
        """The cell's prompt, its source's first lines and its outputs (``limit`` characters each)."""
        head = "\n    ".join(self.source.strip().splitlines()[:4])
        shown = "\n".join(f"    -> {o['mime']}: {o['text'][:limit]}" for o in self.outputs) or "    (no output)"
        return f"cell {self.index} {self.prompt}\n    {head}\n{shown}"


def notebook_cells(frame) -> list[CellState]:
    """The open notebook's cells (see :class:`CellState`)."""
    return [CellState(i, **c) for i, c in enumerate(frame.evaluate(_CELLS_JS))]


def kernel_status(frame) -> str:
    """The notebook's execution indicator: ``idle``, ``busy``, ... (empty before it exists)."""
    return frame.evaluate("() => document.querySelector('.jp-Notebook-ExecutionIndicator')"
                          "?.getAttribute('data-status') || ''")
