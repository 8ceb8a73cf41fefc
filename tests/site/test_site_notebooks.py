"""The site's notebook execution: each static widget view shows the widget as its cell left it."""

from __future__ import annotations

import nbformat
import pytest

from tools.site.notebooks import WIDGET_VIEW, execute_notebook

pytestmark = pytest.mark.slow


def _views(nb) -> list[str]:
    return [o["data"][WIDGET_VIEW]["model_id"] for c in nb.cells for o in c.get("outputs", [])
            if WIDGET_VIEW in o.get("data", {})]


def test_a_widget_changed_by_a_later_cell_keeps_its_earlier_state_where_it_was_shown(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import ipywidgets as W\nlabel = W.HTML('first')\n"
                                  "box = W.VBox([label])\nbox"),
        nbformat.v4.new_code_cell("label.value = 'second'\nbox"),
        nbformat.v4.new_code_cell("out = W.Output()\nout.outputs = ({'output_type': 'stream', 'name': 'stdout',"
                                  " 'text': 'one'},)\nout"),
        nbformat.v4.new_code_cell("out.outputs = ({'output_type': 'stream', 'name': 'stdout', 'text': 'two'},)"),
    ])
    source, target = tmp_path / "w.ipynb", tmp_path / "out" / "w.ipynb"
    nbformat.write(nb, source)
    execute_notebook(source, target, timeout_s=120)
    done = nbformat.read(target, as_version=4)
    state = done.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    first, second, out = _views(done)
    assert len({first, second, out}) == 3, "each shown widget is its own copy"

    def html_inside(box_id: str) -> str:
        child = state[box_id]["state"]["children"][0].removeprefix("IPY_MODEL_")
        return state[child]["state"]["value"]

    assert (html_inside(first), html_inside(second)) == ("first", "second")
    assert [o["text"] for o in state[out]["state"]["outputs"]] == ["one"]
    # every reference resolves inside the stored state, and only shown widgets are stored
    for model in state.values():
        for value in model["state"].values():
            refs = value if isinstance(value, list) else [value]
            for ref in refs:
                if isinstance(ref, str) and ref.startswith("IPY_MODEL_"):
                    assert ref.removeprefix("IPY_MODEL_") in state, ref
    assert all(m["model_name"] != "HTMLModel" or m["state"]["value"] in ("first", "second") for m in state.values())
    assert sum(1 for m in state.values() if m["model_name"] == "HTMLModel") == 2
