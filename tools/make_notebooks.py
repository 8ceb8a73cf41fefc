"""Build ``notebooks/*.ipynb`` from their readable sources in ``notebooks/src/*.py``.

The sources are jupytext "percent" scripts (``# %%`` starts a code cell, ``# %% [markdown]`` a
markdown cell). The notebooks are written without outputs (the site build and CI execute
them), with a fixed kernelspec and stable cell ids, so regenerating an unchanged source
gives a byte-identical file.

    python tools/make_notebooks.py            # write notebooks/*.ipynb
    python tools/make_notebooks.py --check    # exit 1 if any notebook is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks" / "src"
OUTPUT = ROOT / "notebooks"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
KEEP_CELL_METADATA = ("tags",)
#: Seconds any one cell may run under nbmake/nbclient (`execution.timeout` is read by nbmake).
CELL_TIMEOUT_S = 120


def build(source: Path) -> str:
    """The notebook JSON for one source file."""
    nb = jupytext.read(source, fmt="py:percent")
    stem = source.stem
    cells = []
    for index, cell in enumerate(nb.cells):
        meta = {k: v for k, v in cell.metadata.items() if k in KEEP_CELL_METADATA}
        if cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=meta)
        else:
            new = nbformat.v4.new_code_cell(cell.source, metadata=meta)
        new.id = f"{stem}-{index:02d}"[:64]
        cells.append(new)
    out = nbformat.v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": KERNELSPEC,
            "language_info": {"name": "python"},
            "execution": {"timeout": CELL_TIMEOUT_S},
        },
    )
    nbformat.validate(out)
    return nbformat.writes(out) + "\n"


def targets() -> list[tuple[Path, Path]]:
    """(source, notebook) pairs, in order."""
    return [(src, OUTPUT / f"{src.stem}.ipynb") for src in sorted(SOURCES.glob("*.py"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if a notebook differs from its source"
    )
    args = parser.parse_args(argv)
    stale = []
    for source, notebook in targets():
        text = build(source)
        current = notebook.read_text() if notebook.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(notebook.name)
        else:
            notebook.write_text(text)
            print(f"wrote {notebook.relative_to(ROOT)}")
    if stale:
        print(
            "out of date (run python tools/make_notebooks.py): " + ", ".join(stale), file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
