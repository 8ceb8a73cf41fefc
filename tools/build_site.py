"""Build the whole site into ``site/``: ``make site`` runs this.

    .venv/bin/python tools/build_site.py                 # everything, strict
    .venv/bin/python tools/build_site.py --reuse-notebooks   # keep _build/notebooks

Steps (downloads cached under ``.cache/``, intermediates under ``_build/``):

1. the offline JupyterLite (``tools/lite_build.py``): the ``lesson`` wheel, Pyodide from
   npm, browser wheels, rewritten lock, stripped notebooks -> ``_build/lite``;
2. the notebooks executed with widget state (``tools/site_notebooks.py``) ->
   ``_build/notebooks``;
3. the JavaScript the static notebook pages need, from npm -> ``_build/vendor``;
4. ``mkdocs build --strict`` (``tools/site_hooks.py`` adds 2 and 3, copies 1 to ``site/lite``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lite_build import BUILD, ROOT, build_lite  # noqa: E402
from site_notebooks import execute_all  # noqa: E402
from site_npm import npm_package  # noqa: E402
from site_stamp import write_stamp  # noqa: E402

# Static widget rendering: nbconvert's template loads embed-amd.js (an AMD bundle, so it
# needs require.js) from a CDN unless the site serves its own copy.
HTML_MANAGER_VERSION = "1.0.15"   # @jupyter-widgets/html-manager for ipywidgets 8.1.x
REQUIREJS_VERSION = "2.3.8"


def vendor_scripts(out: Path = BUILD / "vendor") -> Path:
    """Copy the widget HTML manager and require.js from npm into ``out``.

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
        if font.suffix in (".woff2", ".woff", ".ttf", ".eot", ".svg"):
            shutil.copy2(font, out / "@jupyter-widgets" / font.name)
    requirejs = npm_package("requirejs", REQUIREJS_VERSION)
    (out / "requirejs").mkdir(parents=True)
    shutil.copy2(requirejs / "require.js", out / "requirejs" / "require.js")
    return out


def mkdocs_build(site_dir: Path) -> None:
    """``mkdocs build --strict`` into ``site_dir``."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}   # material's notice about MkDocs 2
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                    str(site_dir)], cwd=ROOT, check=True, env=env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                    help="folder of the lesson notebooks")
    ap.add_argument("--site-dir", type=Path, default=ROOT / "site")
    ap.add_argument("--reuse-notebooks", action="store_true",
                    help="do not re-execute the notebooks when _build/notebooks has them")
    args = ap.parse_args()
    timings = {}
    t0 = time.monotonic()
    build_lite(args.notebooks)
    timings["lite"] = time.monotonic() - t0
    t1 = time.monotonic()
    executed = BUILD / "notebooks"
    if not (args.reuse_notebooks and any(executed.glob("*.ipynb"))):
        execute_all(args.notebooks, executed)
    timings["notebooks"] = time.monotonic() - t1
    vendor_scripts()
    t2 = time.monotonic()
    mkdocs_build(args.site_dir)
    timings["mkdocs"] = time.monotonic() - t2
    total = time.monotonic() - t0
    timings["total"] = total
    write_stamp(args.site_dir, args.notebooks, timings)
    parts = ", ".join(f"{k} {v:.0f}s" for k, v in timings.items() if k != "total")
    print(f"site: {args.site_dir} in {total:.0f}s ({parts})")


if __name__ == "__main__":
    main()
