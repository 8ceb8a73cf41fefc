"""Every internal link and asset of the built site resolves to a file of the site.

Each page outside ``lite/`` (JupyterLite's own files are its build's business) is parsed for
``href`` and ``src`` (links, scripts, styles, images, iframes, the notebook pages' buttons and
downloads); a URL on the site is resolved against the page as a browser would and must name a
file, or a folder with an ``index.html``. The failure lists every ``page -> target``.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlparse

import pytest

BASE = "http://site.invalid/"
ATTRIBUTES = {"href", "src"}


class _Targets(HTMLParser):
    """Every ``href``/``src`` of a page, with the tag that carries it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.targets: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ATTRIBUTES and value is not None:
                self.targets.append((tag, value))


def page_url(site: Path, html: Path) -> str:
    """The URL a page is served at (``notebooks/01-rest/index.html`` -> ``.../notebooks/01-rest/``)."""
    rel = html.relative_to(site).as_posix()
    return BASE + (rel[: -len("index.html")] if rel.endswith("index.html") else rel)


def resolve(site: Path, url: str) -> Path | None:
    """The file a site URL is served from, or None for a URL off the site (other host, scheme)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or f"{parsed.scheme}://{parsed.netloc}/" != BASE:
        return None
    path = site / unquote(parsed.path).lstrip("/")
    return path / "index.html" if parsed.path.endswith("/") or path.is_dir() else path


def broken_targets(site: Path, html: Path) -> list[str]:
    """``page -> target`` for each internal target of ``html`` that names no file of the site."""
    parser = _Targets()
    parser.feed(html.read_text(encoding="utf-8"))
    base = page_url(site, html)
    broken = []
    for tag, target in parser.targets:
        if not target or target.startswith(("#", "data:", "blob:", "mailto:", "javascript:")):
            continue
        path = resolve(site, urljoin(base, target))
        if path is not None and not path.is_file():
            broken.append(f"{html.relative_to(site)} -> {target} ({tag})")
    return broken


def site_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if p.relative_to(site).parts[0] != "lite")


def test_every_internal_link_and_asset_of_the_site_resolves(site):
    pages = site_pages(site)
    assert len(pages) > 20, f"only {len(pages)} pages in {site}"
    broken = [b for html in pages for b in broken_targets(site, html)]
    assert broken == [], f"{len(broken)} broken internal links:\n" + "\n".join(broken)


def test_the_pages_carry_links_into_every_part_of_the_site(site):
    """The scan sees the targets that matter: notebook pages, downloads, JupyterLite, assets."""
    seen: set[str] = set()
    for html in site_pages(site):
        parser = _Targets()
        parser.feed(html.read_text(encoding="utf-8"))
        for _, target in parser.targets:
            path = resolve(site, urljoin(page_url(site, html), target))
            if path is not None and path.is_file():
                seen.add(path.relative_to(site).as_posix())
    assert "notebooks/00-overview/index.html" in seen
    assert "notebooks/00-overview/00-overview.ipynb" in seen
    assert "lite/lab/index.html" in seen
    assert any(s.startswith("assets/vendor/mermaid/") for s in seen), sorted(seen)[:20]


# -- the checker itself, on a made-up site: it must see what a browser would fetch -------------

@pytest.fixture()
def tiny_site(tmp_path) -> Path:
    (tmp_path / "notebooks" / "01-rest").mkdir(parents=True)
    (tmp_path / "notebooks" / "01-rest" / "index.html").write_text("x")
    (tmp_path / "notebooks" / "01-rest" / "01-rest.ipynb").write_text("{}")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "a b.css").write_text("")
    return tmp_path


def test_the_checker_reports_each_page_and_missing_target(tiny_site):
    home = tiny_site / "index.html"
    home.write_text('<a href="notebooks/01-rest/">ok</a> <a href="notebooks/01-rest.ipynb">404</a>'
                    '<link href="assets/a%20b.css"><img src="assets/gone.png">'
                    '<a href="https://example.org/x">other host</a><a href="#top">anchor</a>'
                    '<iframe src="lite/lab/index.html?path=01-rest.ipynb"></iframe>')
    assert broken_targets(tiny_site, home) == [
        "index.html -> notebooks/01-rest.ipynb (a)",
        "index.html -> assets/gone.png (img)",
        "index.html -> lite/lab/index.html?path=01-rest.ipynb (iframe)",
    ]


def test_the_checker_resolves_links_against_the_page_folder(tiny_site):
    html = tiny_site / "notebooks" / "01-rest" / "index.html"
    html.write_text('<a href="01-rest.ipynb" download>nb</a><a href="../../assets/a%20b.css">css</a>'
                    '<a href="../02-grpc/">missing page</a>')
    assert broken_targets(tiny_site, html) == ["notebooks/01-rest/index.html -> ../02-grpc/ (a)"]
