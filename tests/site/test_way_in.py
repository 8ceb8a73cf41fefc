"""A learner's way in: the home page's start buttons and learning path, and the notebook pages'
"Open in JupyterLite" button and download link, checked on the built site (``site`` fixture;
``SITE_TEST_REUSE=1`` reuses a stamped build)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urljoin, urlparse

import pytest

from tools.site import hooks
from tools.site.path import SOURCES

BASE = "http://site.invalid/"   # the site's root, to resolve links as a browser does


def resolve(site: Path, url: str) -> Path | None:
    """The file a site URL is served from (a folder's ``index.html``), None off the site."""
    parsed = urlparse(url)
    if f"{parsed.scheme}://{parsed.netloc}/" != BASE:
        return None
    path = site / unquote(parsed.path).lstrip("/")
    return path / "index.html" if parsed.path.endswith("/") or path.is_dir() else path


class _Anchors(HTMLParser):
    """The page's ``<a>`` elements (attributes and text) and its ``<h2>`` ids, in page order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[tuple[str, dict, list[str]]] = []   # ("a" | "h2", attrs, text)
        self._open: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("a", "h2"):
            self._open = []
            self.items.append((tag, dict(attrs), self._open))

    def handle_endtag(self, tag):
        if tag in ("a", "h2"):
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open.append(data)


def anchors(path: Path) -> list[tuple[str, dict, str]]:
    parser = _Anchors()
    parser.feed(path.read_text(encoding="utf-8"))
    return [(tag, attrs, " ".join("".join(text).split())) for tag, attrs, text in parser.items]


def stems() -> list[str]:
    """The course's notebooks, from their sources (``notebooks/src/NN-*.py``)."""
    found = sorted(p.stem for p in SOURCES.glob("*.py"))
    assert found, f"no notebook sources in {SOURCES}"
    return found


def target(site: Path, page: str, href: str) -> tuple[Path, dict]:
    """The file ``href`` on ``page`` (a site folder such as ``notebooks/01-rest/``) is served
    from, and its query."""
    url = urljoin(BASE + page, href)
    path = resolve(site, url)
    assert path is not None, f"{page}: {href} leaves the site"
    return path, parse_qs(urlparse(url).query)


def assert_opens_in_jupyterlite(site: Path, page: str, href: str, notebook: str) -> None:
    path, query = target(site, page, href)
    assert path == site / hooks.LITE_APP, f"{page}: {href} is not the site's JupyterLite ({hooks.LITE_APP})"
    assert path.is_file(), f"{page}: {path} is missing"
    assert query.get("path") == [notebook], f"{page}: {href} does not open {notebook}"
    stored = site / "lite" / "files" / notebook
    assert stored.is_file(), f"{page}: {notebook} is not in the JupyterLite build's files"
    assert json.loads(stored.read_text(encoding="utf-8"))["cells"], stored


@pytest.mark.parametrize("stem", stems())
def test_every_notebook_page_opens_with_its_jupyterlite_button_and_download(site, stem):
    page = f"notebooks/{stem}/"
    items = anchors(site / page / "index.html")
    first_h2 = next((i for i, (tag, _, _) in enumerate(items) if tag == "h2"), len(items))
    top = [(a, text) for tag, a, text in items[:first_h2] if tag == "a"]
    buttons = [a for a, text in top if text == "Open in JupyterLite" and "lite-button" in a.get("class", "")]
    downloads = [a for a, text in top if text == "Download the notebook (.ipynb)"]
    assert len(buttons) == 1, f"{page}: {len(buttons)} 'Open in JupyterLite' buttons before the first section"
    assert len(downloads) == 1, f"{page}: {len(downloads)} download links before the first section"
    assert buttons[0].get("target") == "_blank"
    assert_opens_in_jupyterlite(site, page, buttons[0]["href"], f"{stem}.ipynb")
    path, _ = target(site, page, downloads[0]["href"])
    assert path.is_file(), f"{page}: the download {downloads[0]['href']} names no file"
    assert downloads[0].get("download") == f"{stem}.ipynb"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    title = next(c for c in notebook["cells"] if c["cell_type"] == "markdown")
    assert "".join(title["source"]).lstrip().startswith("# "), f"{path} is not the lesson's notebook"
    assert any(c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code"), (
        f"{path}: the download should be the executed notebook the page shows")


def test_home_page_opens_with_the_two_ways_to_start(site):
    items = anchors(site / "index.html")
    first_h2 = next(i for i, (tag, _, _) in enumerate(items) if tag == "h2")
    # the first screen: before the first section heading, and the first links of the content
    top = {text: a for tag, a, text in items[:first_h2] if tag == "a"}
    assert "Start the course" in top and "Run it in your browser" in top, sorted(top)
    for text in ("Start the course", "Run it in your browser"):
        assert "md-button" in top[text].get("class", ""), f"{text!r} is not a button"
    first = stems()[0]
    path, _ = target(site, "", top["Start the course"]["href"])
    assert path == site / "notebooks" / first / "index.html" and path.is_file(), path
    assert_opens_in_jupyterlite(site, "", top["Run it in your browser"]["href"], f"{first}.ipynb")


def test_home_page_learning_path_links_every_notebook_page_in_order(site):
    items = anchors(site / "index.html")
    start = next(i for i, (tag, a, _) in enumerate(items) if tag == "h2" and a.get("id") == "the-learning-path")
    end = next(i for i in range(start + 1, len(items)) if items[i][0] == "h2")
    linked = []
    for tag, a, _ in items[start:end]:
        if tag == "a" and a.get("href"):
            path, _ = target(site, "", a["href"])
            if path.parent.parent == site / "notebooks":
                assert path.is_file(), f"the learning path links {a['href']}: no such page"
                linked.append(path.parent.name)
    assert linked == stems(), f"the learning path links {linked}"


def test_home_page_has_a_map_of_the_six_patterns_with_a_text_alternative(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    figure = re.search(r'<figure class="way-in-map">(.*?)</figure>', html, re.S)
    assert figure, "no patterns map on the home page"
    diagram = re.search(r'<pre class="mermaid"><code>(.*?)</code></pre>', figure.group(1), re.S)
    caption = re.search(r"<figcaption>(.*?)</figcaption>", figure.group(1), re.S)
    assert diagram and caption
    assert re.search(r"accTitle: .+", diagram.group(1)) and re.search(r"accDescr: .+", diagram.group(1))
    for pattern in ("rest", "grpc", "batch", "streaming", "edge", "generative"):
        assert f'href="patterns/{pattern}/"' in caption.group(1), f"the caption does not link {pattern}"


def test_learners_read_no_build_internals_on_the_home_page(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S))
    for internal in ("tools/site", "path.py", "hooks.py", "_build"):
        assert internal not in text, f"the home page shows {internal!r}"


def test_the_jupyterlite_address_is_built_in_one_place(tmp_path, monkeypatch):
    """Switching interface (``lite/notebooks/``) is one change: every link follows LITE_APP."""
    from types import SimpleNamespace

    (tmp_path / "00-overview.ipynb").write_text("{}")
    monkeypatch.setattr(hooks, "LITE_FILES", tmp_path)
    monkeypatch.setattr(hooks, "LITE_APP", "lite/notebooks/index.html")
    page = SimpleNamespace(url="notebooks/00-overview/",
                           file=SimpleNamespace(src_uri="notebooks/00-overview.ipynb"))
    bar = hooks.notebook_actions(page)
    assert 'href="../../lite/notebooks/index.html?path=00-overview.ipynb"' in bar
    assert 'href="00-overview.ipynb" download="00-overview.ipynb"' in bar
    home = SimpleNamespace(url="", file=SimpleNamespace(src_uri="index.md"))
    md = hooks.on_page_markdown('{{ lite_button("00-overview.ipynb", "Run it in your browser") }}',
                                home, {}, None)
    assert 'href="lite/notebooks/index.html?path=00-overview.ipynb"' in md and ">Run it in your browser</a>" in md
    with pytest.raises(hooks.PluginError, match="99-nope.ipynb"):
        hooks.notebook_actions(SimpleNamespace(url="notebooks/99-nope/",
                                               file=SimpleNamespace(src_uri="notebooks/99-nope.ipynb")))
