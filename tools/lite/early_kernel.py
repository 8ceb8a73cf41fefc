"""Start the kernel's Python while JupyterLab is still loading, not after the notebook opened.

JupyterLite starts a kernel only once JupyterLab has loaded, laid out and opened the
notebook: on this machine that is ~7 s of the browser's main thread after the page request,
and only then does the kernel's Web Worker begin to fetch, compile and restore Python
(~2 s more). The two do not depend on each other, and the machine has a second core.

So, at build time:

* every app page (``lab/``, ``notebooks/``) gets a small inline script (``early_kernel.js``):
  when the address opens a notebook (``?path=….ipynb``) it creates the kernel worker at once,
  named ``spl-early PYODIDE_URL``; the worker (patched by ``tools/lite/worker.py``) sees its
  name and restores Python from the snapshot straight away;
* the kernel extension's ``initWorker`` (main thread) adopts that worker instead of creating a
  new one (:data:`EXTENSION_EDIT`); the worker's ``initialize`` then finds Python ready and
  goes on as usual (file system, package manager, kernel callbacks).

A worker nobody adopts within two minutes (the notebook opened without a kernel, say) is
stopped. A restart makes a fresh worker as before; cross-origin-isolated pages (which use the
other worker) are left alone. The worker marks ``early-start`` and ``early-adopted`` among its
stage marks (``benchmarks/bench_cold_start.py``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tools.lite.patch import apply_edits, js_source

#: (anchor in the minified jupyterlite-pyodide-kernel 0.8.6 extension chunk, replacement)
EXTENSION_EDIT = (
    'initWorker(e){let t=e=>new Worker(e,{type:"module"});',
    ('initWorker(e){{const w=globalThis.__splEarlyWorker;if(w){globalThis.__splEarlyWorker=void 0;'
     'if(!crossOriginIsolated)return w;w.terminate()}}let t=e=>new Worker(e,{type:"module"});'),
)

#: the inline script each app page gets (a classic script), beside this file
PAGE_SCRIPT_FILE = "early_kernel.js"


def page_script(worker: str, pyodide: str) -> str:
    """The ``<script id="spl-early-kernel">`` element for an app page.

    Args:
        worker: the kernel worker bundle, relative to the JupyterLite root.
        pyodide: ``pyodide.mjs``, relative to the JupyterLite root.
    """
    body = js_source(__file__, PAGE_SCRIPT_FILE, WORKER_URL=worker, PYODIDE_URL=pyodide)
    return f'<script id="spl-early-kernel">\n{textwrap.indent(body, "  ")}</script>\n'


#: the app pages a notebook is opened in
APP_PAGES = ("lab/index.html", "notebooks/index.html")


def patch_early_kernel(lite_out: Path, worker: Path, pyodide_url: str) -> list[Path]:
    """Make the built JupyterLite start the kernel worker early; return the files changed.

    Args:
        lite_out: the built JupyterLite folder.
        worker: the (snapshot-patched) kernel worker bundle inside it.
        pyodide_url: ``pyodideUrl`` of the kernel settings, relative to ``lite_out``.
    """
    static = worker.parent
    texts = {p: p.read_text() for p in sorted(static.glob("*.js"))}
    chunks = [p for p, text in texts.items() if EXTENSION_EDIT[0] in text]
    if len(chunks) != 1:
        raise SystemExit(f"{static}: expected initWorker in one chunk, found it in "
                         f"{[c.name for c in chunks]}: the kernel extension changed, update "
                         "tools/lite/early_kernel.py")
    (chunk,) = chunks
    chunk.write_text(apply_edits(texts[chunk], [EXTENSION_EDIT], chunk.name,
                                 "tools/lite/early_kernel.py"))
    script = page_script(worker.relative_to(lite_out).as_posix(), pyodide_url.removeprefix("./"))
    changed = [chunk]
    for name in APP_PAGES:
        page = lite_out / name
        html = page.read_text()
        if html.count("<head>") != 1 or "spl-early-kernel" in html:
            raise SystemExit(f"{page}: expected one <head> and no early-start script yet")
        page.write_text(html.replace("<head>", "<head>\n" + script, 1))
        changed.append(page)
    return changed
