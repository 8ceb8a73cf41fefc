"""Execute the lesson notebooks for the site's pages (outputs never go into git).

    .venv/bin/python -m tools.site.notebooks [--notebooks DIR] [--out _build/notebooks]

Each notebook runs in a fresh kernel (the venv's ``python3``) with its own folder as the
working directory, as nbmake does; widget state is stored in the notebook's metadata so
the static page can render the panels. A failing cell fails the build.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tools import nbclient_patch
from tools.paths import BUILD, ROOT

nbclient_patch.apply()


def execute_notebook(source: Path, target: Path, timeout_s: int = 600) -> float:
    """Execute ``source`` into ``target``; return the seconds it took."""
    t0 = time.monotonic()
    nb = nbformat.read(source, as_version=4)
    client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                            store_widget_state=True, allow_errors=False,
                            resources={"metadata": {"path": str(source.parent)}})
    client.execute()
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return time.monotonic() - t0


def execute_all(notebooks: Path, out: Path, jobs: int = 1) -> list[Path]:
    """Execute every ``notebooks/*.ipynb`` into ``out`` (``jobs`` at a time)."""
    sources = sorted(notebooks.glob("*.ipynb"))
    if not sources:
        raise SystemExit(f"no notebooks in {notebooks}")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.ipynb"):
        if not (notebooks / stale.name).exists():
            stale.unlink()

    def run(source: Path) -> Path:
        try:
            seconds = execute_notebook(source, out / source.name)
        except Exception as exc:  # name the notebook: nbclient's errors do not
            raise RuntimeError(f"{source.name} failed to execute: {type(exc).__name__}: "
                               f"{str(exc)[-3000:]}") from exc
        print(f"executed {source.name} in {seconds:.1f}s", flush=True)
        return out / source.name

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(run, sources))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    ap.add_argument("--out", type=Path, default=BUILD / "notebooks")
    ap.add_argument("--jobs", type=int, default=1,
                    help="notebooks at a time (1 keeps their measurements undisturbed)")
    args = ap.parse_args()
    execute_all(args.notebooks, args.out, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
