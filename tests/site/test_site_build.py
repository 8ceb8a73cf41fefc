"""The built site: strict build, notebook pages with outputs, offline JupyterLite, no CDN."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import pytest

from tools.lite.build import BROWSER_WHEELS, PYODIDE_VERSION, check_pins

PATTERN_PAGES = {"rest": "01-rest.ipynb", "grpc": "02-grpc.ipynb", "batch": "03-batch.ipynb",
                 "streaming": "04-streaming.ipynb", "edge": "05-edge.ipynb",
                 "generative": "10-generative.ipynb"}
READY = "Serving Patterns Lab ready"


class _Refs(HTMLParser):
    """Collects the URLs a page loads (scripts, styles, images, frames) and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.links: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "audio", "video") and a.get("src"):
            self.loads.append(a["src"])
        if tag == "link" and a.get("href") and a.get("rel") not in ("canonical", "alternate"):
            self.loads.append(a["href"])
        if tag == "a" and a.get("href"):
            self.links.append((a["href"], a))


def refs(path: Path) -> _Refs:
    parser = _Refs()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def page(site: Path, url: str) -> Path:
    return site / url / "index.html"


def test_site_is_built_strictly_from_the_current_inputs(site):
    stamp = json.loads((site / ".build-stamp.json").read_text())
    assert stamp["inputs"], stamp
    for url in ["", "patterns", "load-testing", "operations", "rubric", "glossary",
                "try-in-browser", "reference/loadtest", *[f"patterns/{p}" for p in PATTERN_PAGES]]:
        assert page(site, url).exists(), f"missing page /{url}"


def test_every_notebook_is_a_page_with_its_executed_outputs(site, notebooks):
    for nb in notebooks:
        html = page(site, f"notebooks/{nb.stem}").read_text(encoding="utf-8")
        assert "jp-OutputArea-output" in html, f"{nb.name}: no outputs on its page"
        assert READY in html, f"{nb.name}: the set-up cell's output is missing"
        assert (site / "notebooks" / nb.stem / nb.name).exists(), "the .ipynb is not downloadable"


def test_static_rest_page_shows_its_chart_and_results_table(site):
    html = page(site, "notebooks/01-rest").read_text(encoding="utf-8")
    state = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>',
                      html, re.S)
    assert state, "no widget state stored: the panels cannot render statically"
    state_json = state.group(1)
    assert "lesson-panel" in state_json
    # the panel is stored as its cell left it (no runs yet); the next cell's report shows them
    assert "No runs yet" in state_json
    assert 'class="lesson-results"' in html and "p50" in html, "no results table on the page"
    assert "<svg" in html, "no SVG chart on the static page"


def test_pages_load_nothing_from_other_hosts(site):
    offenders = []
    for html in site.rglob("*.html"):
        if "lite" in html.relative_to(site).parts:
            continue
        for url in refs(html).loads:
            if urlparse(url).scheme in ("http", "https") or url.startswith("//"):
                offenders.append(f"{html.relative_to(site)}: {url}")
        renderer = re.search(r"var widgetRendererSrc = '([^']+)';", html.read_text("utf-8"))
        if renderer and urlparse(renderer.group(1)).scheme:
            offenders.append(f"{html.relative_to(site)}: widgets from {renderer.group(1)}")
    assert offenders == []


def test_widget_renderer_and_requirejs_are_served_by_the_site(site):
    html_path = page(site, "notebooks/01-rest")
    html = html_path.read_text(encoding="utf-8")
    src = re.search(r"var widgetRendererSrc = '([^']+)';", html).group(1)
    base = "http://x/notebooks/01-rest/"
    for rel in (src, *[u for u in refs(html_path).loads if u.endswith("require.js")]):
        target = urlparse(urljoin(base, rel)).path.lstrip("/")
        assert (site / target).is_file(), f"{rel} is not in the site"
    assert any(u.endswith("require.js") for u in refs(html_path).loads), "require.js not loaded"


@pytest.mark.parametrize("pattern", sorted(PATTERN_PAGES))
def test_pattern_page_opens_its_notebook_in_the_sites_jupyterlite(site, pattern):
    parser = refs(page(site, f"patterns/{pattern}"))
    buttons = [(h, a) for h, a in parser.links if "lite-button" in a.get("class", "")]
    assert len(buttons) == 1, f"{pattern}: expected one Open in JupyterLite button"
    url = urlparse(urljoin(f"http://x/patterns/{pattern}/", buttons[0][0]))
    assert url.path == "/lite/lab/index.html"
    assert (site / url.path.lstrip("/")).is_file()
    notebook = parse_qs(url.query)["path"][0]
    assert notebook == PATTERN_PAGES[pattern]
    stored = json.loads((site / "lite" / "files" / notebook).read_text())
    outputs = [c.get("outputs") for c in stored["cells"] if c["cell_type"] == "code"]
    assert outputs and not any(outputs), "JupyterLite's copy must have its outputs stripped"


def test_inline_jupyterlite_spans_the_content_width(site):
    html = page(site, "try-in-browser").read_text(encoding="utf-8")
    assert re.search(r'<iframe class="lite-embed" src="\.\./lite/lab/index\.html\?path=', html)
    css = (site / "assets" / "site.css").read_text()
    assert re.search(r"\.lite-embed\s*{[^}]*width:\s*100%", css)


def test_jupyterlite_is_offline_with_a_pinned_preloaded_pyodide(site):
    check_pins()  # the kernel extension still expects the pinned Pyodide
    lite = site / "lite"
    config = json.loads((lite / "jupyter-lite.json").read_text())["jupyter-config-data"]
    kernel = config["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    assert kernel["pyodideUrl"] == "./static/pyodide/pyodide.mjs"
    assert kernel["disablePyPIFallback"] is True
    assert config["contentsStorageName"].startswith("serving-patterns-lab-")
    pyodide = lite / "static" / "pyodide"
    assert json.loads((pyodide / "package.json").read_text())["version"] == PYODIDE_VERSION
    lock = json.loads((pyodide / "pyodide-lock.json").read_text())
    preload = kernel["loadPyodideOptions"]["packages"]
    assert {"lesson", "ipywidgets", "comm", "pyodide-kernel", "ipykernel"} <= set(preload)
    for name in preload:
        assert name in lock["packages"], f"{name} preloaded but not in the lock"
    for name, entry in lock["packages"].items():
        wheel = pyodide / entry["file_name"]
        assert wheel.is_file(), f"{name}: {wheel.name} not shipped"
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == entry["sha256"], name
        assert wheel.name.endswith("-none-any.whl"), f"{name} is not pure Python"
    assert lock["packages"]["ipywidgets"]["version"] == BROWSER_WHEELS["ipywidgets"]
    lesson_whl = pyodide / lock["packages"]["lesson"]["file_name"]
    assert lesson_whl.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(lesson_whl) as zf:
        assert "lesson/__init__.py" in zf.namelist()


def test_jupyterlite_serves_its_own_wasm_only_onnxruntime_web(site):
    """Notebook 05 imports ONNX Runtime Web from the site: the pinned wasm-only build, its
    three files and nothing else, and the lesson wheel ships the ONNX files it runs."""
    from lesson.patterns.edge_web import ORT_WEB_DIR, ORT_WEB_FILES, ORT_WEB_MODULE
    from tools.lite.ort_web import ORT_WEB_VERSION

    served = site / "lite" / ORT_WEB_DIR
    assert json.loads((served / "package.json").read_text())["version"] == ORT_WEB_VERSION
    assert sorted(p.name for p in served.iterdir()) == sorted([*ORT_WEB_FILES, "package.json"])
    assert f'"{ORT_WEB_VERSION}"' in (served / ORT_WEB_MODULE).read_text()
    assert (served / "ort-wasm-simd-threaded.wasm").read_bytes()[:4] == b"\0asm"
    pyodide = site / "lite" / "static" / "pyodide"
    lock = json.loads((pyodide / "pyodide-lock.json").read_text())
    with zipfile.ZipFile(pyodide / lock["packages"]["lesson"]["file_name"]) as zf:
        names = set(zf.namelist())
    for artifact in ("diabetes-mlp-onnx", "diabetes-mlp-onnx-int8", "diabetes-mlp-onnx-int8-static"):
        assert f"lesson/artifacts/{artifact}/1/model.onnx" in names, artifact
