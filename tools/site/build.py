"""Build the whole site into ``site/``: ``make site`` runs this (through ``tools/build_site.py``).

    .venv/bin/python tools/build_site.py                     # everything, strict
    .venv/bin/python tools/build_site.py --reuse-notebooks   # keep _build/notebooks
    .venv/bin/python -m tools.site.build                     # the same, as a module

Steps (downloads cached under ``.cache/``, intermediates under ``_build/``):

1. the offline JupyterLite (``tools/lite/build.py``): the ``lesson`` wheel, Pyodide from
   npm, browser wheels, rewritten lock, stripped notebooks -> ``_build/lite``;
2. the notebooks executed with widget state (``tools/site/notebooks.py``) ->
   ``_build/notebooks`` (with ``--overlap-lite``, at the same time as 1);
3. the JavaScript the static notebook pages need, from npm (``tools/site/vendor.py``) ->
   ``_build/vendor``;
4. ``mkdocs build --strict`` (``tools/site/hooks.py`` adds 2 and 3, copies 1 to ``site/lite``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools.lite.build import build_lite
from tools.paths import BUILD, ROOT
from tools.site.notebooks import execute_all
from tools.site.stamp import write_stamp
from tools.site.vendor import vendor_scripts


def mkdocs_build(site_dir: Path) -> None:
    """``mkdocs build --strict`` into ``site_dir``."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}   # material's notice about MkDocs 2
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                    str(site_dir)], cwd=ROOT, check=True, env=env)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                    help="folder of the lesson notebooks")
    ap.add_argument("--site-dir", type=Path, default=ROOT / "site")
    ap.add_argument("--reuse-notebooks", action="store_true",
                    help="do not re-execute the notebooks when _build/notebooks has them")
    ap.add_argument("--overlap-lite", action="store_true",
                    help="build JupyterLite while the notebooks execute (faster; the notebooks' "
                         "first measurements then share the machine with it: `make test` only)")
    args = ap.parse_args(argv)
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    executed = BUILD / "notebooks"
    execute = not (args.reuse_notebooks and any(executed.glob("*.ipynb")))

    def lite() -> None:
        build_lite(args.notebooks)
        timings["lite"] = time.monotonic() - t0

    if args.overlap_lite and execute:
        # the notebooks on a worker thread (nbclient runs there already), JupyterLite's build
        # on this one (its build app may want the main thread)
        with ThreadPoolExecutor(1) as pool:
            ran = pool.submit(execute_all, args.notebooks, executed)
            lite()
            ran.result()
            timings["notebooks"] = time.monotonic() - t0
    else:
        lite()
        t1 = time.monotonic()
        if execute:
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
