"""The JavaScript the site needs, from npm, into ``_build/vendor``.

Static widget rendering: nbconvert's template loads ``embed-amd.js`` (an AMD bundle, so it
needs require.js) from a CDN unless the site serves its own copy. Diagrams: Material for
MkDocs fetches mermaid from unpkg unless the page already defines ``mermaid``, so the site
loads its own ``mermaid.min.js`` (``extra_javascript`` in ``mkdocs.yml``).
``tools/site/hooks.py`` adds this folder to the site as ``assets/vendor/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tools.paths import BUILD
from tools.site.npm import npm_package

HTML_MANAGER_VERSION = "1.0.15"   # @jupyter-widgets/html-manager for ipywidgets 8.1.x
REQUIREJS_VERSION = "2.3.8"
MERMAID_VERSION = "11.17.2"       # the major version Material for MkDocs 9.x loads
FONT_SUFFIXES = (".woff2", ".woff", ".ttf", ".eot", ".svg")


def vendor_scripts(out: Path = BUILD / "vendor") -> Path:
    """Copy the widget HTML manager, require.js and mermaid from npm into ``out``; return it.

    Layout mirrors the AMD module names, because the bundle derives the URL of its font
    files from them (``require.config({baseUrl: .../assets/vendor/})`` is set by the hook):
    ``@jupyter-widgets/html-manager/dist/embed-amd.js`` and the fonts both there and in
    ``@jupyter-widgets/`` (the ``@jupyter-widgets/base`` module's folder).
    """
    shutil.rmtree(out, ignore_errors=True)
    html_manager = npm_package("@jupyter-widgets/html-manager", HTML_MANAGER_VERSION)
    dist = out / "@jupyter-widgets" / "html-manager" / "dist"
    shutil.copytree(html_manager / "dist", dist,
                    ignore=shutil.ignore_patterns("*.map", "embed.js", "libembed-amd.js"))
    for font in dist.glob("*"):
        if font.suffix in FONT_SUFFIXES:
            shutil.copy2(font, out / "@jupyter-widgets" / font.name)
    requirejs = npm_package("requirejs", REQUIREJS_VERSION)
    (out / "requirejs").mkdir(parents=True)
    shutil.copy2(requirejs / "require.js", out / "requirejs" / "require.js")
    mermaid = npm_package("mermaid", MERMAID_VERSION)
    (out / "mermaid").mkdir(parents=True)
    shutil.copy2(mermaid / "dist" / "mermaid.min.js", out / "mermaid" / "mermaid.min.js")
    return out
