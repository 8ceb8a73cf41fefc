"""Build and maintenance tools of the repository (run from the work tree, never installed).

* ``tools/build_site.py`` — the entry ``make site`` runs (same as ``python -m tools.site.build``);
* ``tools.site`` — the mkdocs site: notebook execution, exercises, mkdocs hooks, docs helpers,
  vendored JavaScript, build stamp, the headless browser the tests drive;
* ``tools.lite`` — the offline JupyterLite build: Pyodide, bytecode, kernel memory snapshot,
  kernel worker patches (their JavaScript lives in ``.mjs``/``.js`` files beside them);
* ``tools/gen_proto.py``, ``tools/make_notebooks.py`` — stand-alone generators
  (``lesson/proto``, ``notebooks/*.ipynb``), run as scripts.

Modules import each other as ``tools.…``: the repository root must be on ``sys.path``
(``python -m tools.…`` from the root, or the entry script, which puts it there).
"""
