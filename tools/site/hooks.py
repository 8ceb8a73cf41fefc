"""mkdocs hooks for the Serving Patterns Lab site (``hooks:`` in ``mkdocs.yml``).

* adds the executed notebooks (``_build/notebooks/*.ipynb``, made by
  ``tools/site/notebooks.py``) as pages under ``notebooks/`` and lists them in the nav;
* adds the vendored JavaScript (``_build/vendor``: the widget HTML manager and require.js,
  from npm) so static widget state renders with no request to a CDN;
* expands ``{{ lite_button("01-rest.ipynb") }}`` into an "Open in JupyterLite" button (a second
  argument sets its label), and ``{{ lite_embed("01-rest.ipynb") }}`` into a full-width
  iframe; a name that is not a notebook of the JupyterLite build fails the build;
* opens each notebook page with an "Open in JupyterLite" button and a link to download its
  ``.ipynb``, and appends its exercises with the reference solutions collapsed
  (``tools/site/exercises.py``: generated from ``lesson.teaching.exercises`` at build time);
* keeps the search on definitions: notebook code cells and outputs are not indexed, exercise
  headings are not results of their own, the glossary is boosted (:data:`SEARCH_BOOST`);
* puts the repository root on ``sys.path`` so that executed docs blocks (markdown-exec) can
  import ``tools.site.exec``;
* rewrites the notebook pages' CDN URLs (widget renderer, MathJax) to the site's own files
  and loads require.js after the theme's scripts (loading it before them breaks the theme);
* copies the JupyterLite build (``_build/lite``) to ``site/lite`` after the build.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
import shutil
import sys
from pathlib import Path

import markdown as python_markdown
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.toc import AnchorLink

log = logging.getLogger("mkdocs.hooks.serving_lab")

# mkdocs loads this file by its path, with only its own folder on sys.path: the root is
# needed to import ``tools.…`` (here, and in the pages' executed blocks).
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.paths import BUILD
from tools.site.exercises import (
    SECTION_ID,
    SECTION_TITLE,
    exercises_markdown,
    hide_from_search,
    notebooks_with_exercises,
)

EXECUTED = BUILD / "notebooks"
VENDOR = BUILD / "vendor"
LITE = BUILD / "lite"
LITE_FILES = LITE / "files"   # the notebooks JupyterLite serves
#: the JupyterLite interface every link opens a notebook in (``lite/notebooks/index.html`` is
#: the lighter one-notebook interface): the one place to change it
LITE_APP = "lite/lab/index.html"

LITE_CALL = re.compile(r"\{\{\s*lite_(button|embed)\(\s*\"([^\"]+)\"\s*"
                       r"(?:,\s*\"([^\"]+)\"\s*)?\)\s*\}\}")
H1_END = re.compile(r"</h1>", re.I)
CODE_CELL = re.compile(r'<div class="jp-Cell jp-CodeCell[^"]*"[^>]*>')
DIV_TAG = re.compile(r"<div\b|</div>")
EXERCISE_HEADING = re.compile(r'<h3 id="(exercise-[^"]+)">')
#: the site's search ranks these pages' sections higher (Material's ``search.boost``, set
#: here so that the pages keep no build settings in their text): a definition of a term
#: should come before the pages that only use it
SEARCH_BOOST = {"glossary.md": 5}
WIDGET_RENDERER = re.compile(r"var widgetRendererSrc = '[^']*';")
MATHJAX_TAG = re.compile(r"<script src=\"https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^\"]*\">"
                         r"\s*</script>")
EMBED_AMD = "assets/vendor/@jupyter-widgets/html-manager/dist/embed-amd.js"
VENDOR_URL = "assets/vendor/"
REQUIRE_JS = "assets/vendor/requirejs/require.js"


def _notebook_title(path: Path) -> str:
    """The first Markdown H1 of a notebook, else its file name."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def _relative(page_url: str, target: str) -> str:
    """Relative URL from a page (``patterns/rest/``) to a site path (``lite/...``)."""
    base = posixpath.dirname(page_url) if not page_url.endswith("/") else page_url.rstrip("/")
    rel = posixpath.relpath(target, base or ".")
    return rel


def lite_url(page_url: str, notebook: str) -> str:
    """Page-relative URL that opens ``notebook`` (a file of the JupyterLite build) in JupyterLite.

    Raises:
        PluginError: ``notebook`` is not in the JupyterLite build (``_build/lite/files``).
    """
    if not (LITE_FILES / notebook).is_file():
        raise PluginError(f"{page_url or 'home page'}: {notebook} is not in the JupyterLite "
                          f"build ({LITE_FILES}); run tools/build_site.py")
    return _relative(page_url, LITE_APP) + f"?path={notebook}"


def lite_button(page_url: str, notebook: str, label: str = "Open in JupyterLite") -> str:
    """An ``<a>`` styled as Material's primary button that opens ``notebook`` in a new tab."""
    return (f'<a class="md-button md-button--primary lite-button" href="{lite_url(page_url, notebook)}" '
            f'target="_blank" rel="noopener">{label}</a>')


def notebook_actions(page) -> str:
    """The bar at the top of a notebook page: open it in JupyterLite, download its ``.ipynb``.

    mkdocs-jupyter (``include_source``) copies the notebook into the folder of the page's HTML
    file, so the download link is the notebook's bare file name.
    """
    name = posixpath.basename(page.file.src_uri)
    return (f'<p class="notebook-actions">{lite_button(page.url, name)} '
            f'<a class="md-button notebook-download" href="{name}" download="{name}">'
            f'Download the notebook (.ipynb)</a></p>')


def on_config(config):
    """List every executed notebook under the nav's "Notebooks" section.

    Also puts the repository root on ``sys.path`` for the pages' executed blocks (mkdocs
    restores ``sys.path`` after loading this module, so it is done here).
    """
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    notebooks = sorted(EXECUTED.glob("*.ipynb"))
    pageless = sorted(set(notebooks_with_exercises()) - {nb.stem for nb in notebooks})
    if pageless:
        log.warning("exercises for notebooks with no page (not in %s): %s", EXECUTED,
                    ", ".join(pageless))
    for item in config["nav"] or []:
        if isinstance(item, dict) and "Notebooks" in item:
            section = item["Notebooks"]
            known = {next(iter(e.values())) if isinstance(e, dict) else e for e in section}
            for nb in notebooks:
                uri = f"notebooks/{nb.name}"
                if uri not in known:
                    section.append({_notebook_title(nb): uri})
    return config


@event_priority(100)  # before mkdocs-jupyter wraps the notebook files
def on_files(files: Files, config) -> Files:
    """Add the executed notebooks and the vendored scripts to the site's files."""
    for nb in sorted(EXECUTED.glob("*.ipynb")):
        # A real source folder (not File.generated): mkdocs-jupyter's wrapper recomputes
        # abs_src_path from src_dir, which a generated file does not have.
        files.append(File(f"notebooks/{nb.name}", src_dir=str(EXECUTED.parent),
                          dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    for asset in sorted(p for p in VENDOR.rglob("*") if p.is_file()):
        uri = "assets/vendor/" + asset.relative_to(VENDOR).as_posix()
        files.append(File.generated(config, uri, abs_src_path=str(asset)))
    return files


def unsearched_code_cells(html: str) -> str:
    """Wrap the inside of each notebook code cell (its code and its outputs) in a
    ``<section data-search-exclude>``: the site's search then indexes the notebook's prose.

    Material's search skips an excluded element up to the first closing tag of the same name,
    so the wrapper must be a tag that the cells do not nest: ``section``; ``display:
    contents`` (``way-in.css``) keeps the cells' layout as it was.
    """
    out, pos = [], 0
    for cell in CODE_CELL.finditer(html):
        if cell.start() < pos:
            continue
        depth, end = 1, None
        for tag in DIV_TAG.finditer(html, cell.end()):
            depth += 1 if tag.group(0) == "<div" else -1
            if depth == 0:
                end = tag.start()
                break
        if end is None:
            break
        out += [html[pos:cell.end()], '<section class="unsearched" data-search-exclude>',
                html[cell.end():end], "</section>"]
        pos = end
    return "".join(out) + html[pos:]


def exercise_headings_unsectioned(html: str) -> str:
    """Move each exercise heading's id to an anchor inside it, so that search does not make
    the exercise a result of its own.

    Material's search makes a result of every heading with an id, and weighs its title 1000
    times its text: an exercise titled "Pick batching knobs for a p99 target" then came before
    every page that explains p99. Its statement and hint stay searchable as the text of the
    "Reference solutions" section, and ``#exercise-…`` links still land on the heading.
    """
    return EXERCISE_HEADING.sub(r'<h3><span class="exercise-anchor" id="\1"></span>', html)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Expand ``lite_button`` / ``lite_embed`` calls into HTML with page-relative links.

    Also sets the search boost of the pages in :data:`SEARCH_BOOST`.
    """
    if page.file.src_uri in SEARCH_BOOST:
        page.meta.setdefault("search", {}).setdefault("boost", SEARCH_BOOST[page.file.src_uri])

    def expand(match: re.Match) -> str:
        kind, notebook, label = match.groups()
        if kind == "button":
            return lite_button(page.url, notebook, *([label] if label else []))
        return (f'<iframe class="lite-embed" src="{lite_url(page.url, notebook)}" '
                f'title="JupyterLite: {notebook}" loading="lazy"></iframe>')

    return LITE_CALL.sub(expand, markdown)


def render_markdown(text: str, config) -> str:
    """Markdown to HTML with the site's own extensions (admonitions, details, highlighting)."""
    md = python_markdown.Markdown(extensions=config.get("markdown_extensions") or [],
                           extension_configs=config.get("mdx_configs") or {})
    return md.convert(text)


def _add_to_toc(page, title: str, anchor: str) -> None:
    """List an appended section in the page's table of contents (under its H1 if it has one)."""
    toc = getattr(page, "toc", None)
    if toc is None:
        return
    items = list(toc)
    parent = items[0].children if len(items) == 1 and items[0].level == 1 else toc.items
    parent.append(AnchorLink(title, anchor, 2))


def on_page_content(html: str, page, config, files) -> str:
    """Notebook pages: the JupyterLite and download bar under the title, the exercises'
    collapsed solutions at the end; widgets served locally.

    The widget renderer is pointed at the site's copy and the MathJax CDN tag is dropped.
    """
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    html = unsearched_code_cells(html)
    actions = notebook_actions(page)
    if H1_END.search(html):
        html = H1_END.sub(lambda m: m.group(0) + actions, html, count=1)
    else:
        html = actions + html
    embed = _relative(page.url, EMBED_AMD)
    html = WIDGET_RENDERER.sub(f"var widgetRendererSrc = '{embed}';", html)
    html = MATHJAX_TAG.sub("", html)
    section = exercises_markdown(Path(page.file.src_uri).stem)
    if section:
        solutions = exercise_headings_unsectioned(hide_from_search(render_markdown(section, config)))
        html += f'\n<div class="lesson-solutions">\n{solutions}\n</div>\n'
        _add_to_toc(page, SECTION_TITLE, SECTION_ID)
    return html


def on_post_page(output: str, page, config) -> str:
    """Load require.js after the theme's bundle on pages with widget state.

    Its ``baseUrl`` is the vendor folder: the widget bundle finds its fonts from there.
    """
    if "application/vnd.jupyter.widget-state+json" not in output:
        return output
    base = _relative(page.url, VENDOR_URL).rstrip("/") + "/"
    tag = (f'<script src="{_relative(page.url, REQUIRE_JS)}"></script>\n'
           f'<script>require.config({{baseUrl: "{base}"}});</script>')
    return output.replace("</body>", f"{tag}\n</body>", 1)


def on_post_build(config) -> None:
    """Copy the offline JupyterLite build under ``site/lite``."""
    target = Path(config["site_dir"]) / "lite"
    if not (LITE / "jupyter-lite.json").exists():
        log.warning("no JupyterLite build in %s: run `make site` (tools/build_site.py)", LITE)
        return
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(LITE, target)
