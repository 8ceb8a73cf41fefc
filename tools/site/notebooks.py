"""Execute the lesson notebooks for the site's pages (outputs never go into git).

    .venv/bin/python -m tools.site.notebooks [--notebooks DIR] [--out _build/notebooks]

Each notebook runs in a fresh kernel (the venv's ``python3``) with its own folder as the
working directory, as nbmake does; widget state is stored in the notebook's metadata so
the static page can render the panels. A failing cell fails the build.

A widget keeps changing after the cell that showed it (a panel gains the runs of later
cells), and the stored state is the last one. So each cell's widget outputs point at a copy
of the widgets' state taken when that cell finished (:class:`SnapshotClient`): the static
page shows every panel as it was at that point of the notebook.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from tools.paths import BUILD, ROOT

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MODEL_REF = "IPY_MODEL_"


def _model_refs(value: Any) -> set[str]:
    """Model ids a widget state refers to: ``IPY_MODEL_<id>`` strings, and widget views
    inside an ``Output`` widget's outputs."""
    if isinstance(value, str):
        return {value[len(MODEL_REF) :]} if value.startswith(MODEL_REF) else set()
    if isinstance(value, dict):
        found = (
            {value[WIDGET_VIEW]["model_id"]} if isinstance(value.get(WIDGET_VIEW), dict) else set()
        )
        return found.union(*(_model_refs(v) for v in value.values()))
    if isinstance(value, (list, tuple)):
        return set().union(*(_model_refs(v) for v in value))
    return set()


def _renamed(value: Any, names: dict[str, str]) -> Any:
    """``value`` with every model reference in ``names`` replaced by its new id."""
    if isinstance(value, str) and value.startswith(MODEL_REF) and value[len(MODEL_REF) :] in names:
        return MODEL_REF + names[value[len(MODEL_REF) :]]
    if isinstance(value, dict):
        out = {k: _renamed(v, names) for k, v in value.items()}
        view = out.get(WIDGET_VIEW)
        if isinstance(view, dict) and view.get("model_id") in names:
            out[WIDGET_VIEW] = {**view, "model_id": names[view["model_id"]]}
        return out
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    if isinstance(value, tuple):
        return tuple(_renamed(v, names) for v in value)
    return value


def _closure(state: dict[str, Any], roots: set[str]) -> set[str]:
    """``roots`` and every model they refer to, directly or not (those in ``state``)."""
    found, todo = set(), [m for m in roots if m in state]
    while todo:
        model = todo.pop()
        if model not in found:
            found.add(model)
            todo.extend(m for m in _model_refs(state[model]) if m in state)
    return found


class SnapshotClient(NotebookClient):
    """A ``NotebookClient`` whose stored widget views show each widget as its cell left it.

    After each cell, the widgets its outputs show (and every widget they contain) are copied
    under fresh model ids, and the outputs point at the copies. The copies go into the
    notebook's widget state with the live ones.
    """

    async def async_execute_cell(
        self, cell: Any, cell_index: int, *args: Any, **kwargs: Any
    ) -> Any:
        cell = await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        if self.store_widget_state and cell.get("cell_type") == "code":
            self._snapshot(cell)
        return cell

    def set_widgets_metadata(self) -> None:
        """Store only the widgets some output shows (the copies), not the live originals."""
        shown = set().union(
            *(
                _model_refs(dict(o.get("data", {})))
                for c in self.nb.cells
                for o in c.get("outputs", [])
            )
        )
        kept = _closure(self.widget_state, shown)
        live = self.widget_state
        self.widget_state = {m: s for m, s in live.items() if m in kept}
        try:
            super().set_widgets_metadata()
        finally:
            self.widget_state = live

    def _snapshot(self, cell: Any) -> None:
        shown = set().union(
            *(_model_refs(dict(o.get("data", {}))) for o in cell.get("outputs", []))
        )
        closure = _closure(self.widget_state, shown)
        if not closure:
            return
        names = {model: uuid.uuid4().hex for model in closure}
        for model, new in names.items():
            self.widget_state[new] = _renamed(copy.deepcopy(self.widget_state[model]), names)
            if model in self.widget_buffers:
                self.widget_buffers[new] = copy.deepcopy(self.widget_buffers[model])
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if isinstance(view, dict) and view.get("model_id") in names:
                view["model_id"] = names[view["model_id"]]


def merge_streams(nb: Any) -> None:
    """Join each cell's consecutive outputs on the same stream into one, in place.

    A cell that prints a token at a time (``print(tok, end="", flush=True)``) leaves one
    stream output per flush; JupyterLab draws them as one text, but the static page drew
    each in its own block: one character per line.
    """
    for cell in nb.cells:
        merged: list[Any] = []
        for output in cell.get("outputs", []):
            last = merged[-1] if merged else None
            if (
                output.get("output_type") == "stream"
                and last is not None
                and last.get("output_type") == "stream"
                and last.get("name") == output.get("name")
            ):
                last["text"] = "".join(last["text"]) + "".join(output["text"])
            else:
                merged.append(output)
        if "outputs" in cell:
            cell["outputs"] = merged


def execute_notebook(source: Path, target: Path, timeout_s: int = 600) -> float:
    """Execute ``source`` into ``target``; return the seconds it took."""
    t0 = time.monotonic()
    nb = nbformat.read(source, as_version=4)
    client = SnapshotClient(
        nb,
        timeout=timeout_s,
        kernel_name="python3",
        store_widget_state=True,
        allow_errors=False,
        resources={"metadata": {"path": str(source.parent)}},
    )
    client.execute()
    merge_streams(nb)
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
            raise RuntimeError(
                f"{source.name} failed to execute: {type(exc).__name__}: {str(exc)[-3000:]}"
            ) from exc
        print(f"executed {source.name} in {seconds:.1f}s", flush=True)
        return out / source.name

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(run, sources))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    ap.add_argument("--out", type=Path, default=BUILD / "notebooks")
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="notebooks at a time (1 keeps their measurements undisturbed)",
    )
    args = ap.parse_args()
    execute_all(args.notebooks, args.out, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
