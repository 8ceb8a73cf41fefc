"""The notebooks: generated from their sources, stripped, and shaped like a lesson."""

from __future__ import annotations

import json
import re
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = ["00-overview", "01-rest", "02-grpc", "03-batch", "04-streaming", "05-edge",
            "06-load-testing", "07-resilience", "08-rollout", "09-capstone",
            "10-generative"]


def cells(path: pathlib.Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_every_notebook_is_there():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


def test_notebooks_match_their_sources():
    pytest.importorskip("jupytext")
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "make_notebooks.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_shape(path):
    all_cells = cells(path)
    code = [source(c) for c in all_cells if c["cell_type"] == "code"]
    markdown = "\n".join(source(c) for c in all_cells if c["cell_type"] == "markdown")
    # the first code cell sets the lab up (the browser test waits for its sentinel line)
    assert "import lesson" in code[0] and "setup(" in code[0]
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in all_cells if c["cell_type"] == "code"), "outputs must be stripped in git"
    joined = "\n".join(code)
    # a real load test runs: the panel over the lab's targets, or (10) the stream harness
    panel = ".panel(" in joined and ".report()" in joined
    assert (panel or "run_streams(" in joined) and "await " in joined
    assert joined.count('check("') + joined.count("check('") >= 2  # exercises with checks
    assert "## What to notice" in markdown and "## Exercises" in markdown
    assert code[-1].strip() == "lab.close()"
    assert "matplotlib" not in joined  # it does not exist in the offline browser
    assert json.loads(path.read_text())["metadata"]["execution"]["timeout"] > 0


#: Topics of issue 7 that must have a runnable demonstration, and the call that runs it.
DEMONSTRATIONS = {
    "schema evolution, versioned models over the real REST route": ("01-rest", "RolloutClient.connect("),
    "a breaking contract change, flagged and refused": ("01-rest", "CONTRACT_V2_REQUIRED"),
    "unpickling runs code (harmless payload)": ("05-edge", "show_pickle_runs_code("),
    "a tampered artifact is refused": ("05-edge", "show_tamper_refused("),
}


@pytest.mark.parametrize("topic", sorted(DEMONSTRATIONS))
def test_topic_is_demonstrated_by_running_code(topic):
    notebook, call = DEMONSTRATIONS[topic]
    path = ROOT / "notebooks" / f"{notebook}.ipynb"
    code = "\n".join(source(c) for c in cells(path) if c["cell_type"] == "code")
    assert call in code, f"{notebook} does not run {call} ({topic})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_starts_with_lab_setup_and_its_defaults(path):
    """The first cell is ``lab = setup()`` (08 and 09: the REST server only; 10: none, it starts
    the generative server itself), nothing more to pass."""
    first = source(next(c for c in cells(path) if c["cell_type"] == "code"))
    assert re.search(r'^lab = setup\((servers=\("rest",\)|servers=\(\))?\)', first, re.M), first
    assert "load_default_mlp" not in first and "registry=" not in first


def test_setup_defaults_serve_the_real_model_in_process_and_in_the_servers():
    """Not the toy: with no arguments the lab and the servers serve ``diabetes-mlp``."""
    from lesson.lab import Lab
    from lesson.servers.options import load_registry

    lab = Lab()
    assert lab.model.name == "diabetes-mlp"
    assert load_registry(None).get().name == "diabetes-mlp"
    rows, targets = lab.heldout()
    assert len(rows) == len(targets) > 0 and len(rows[0]) == lab.model.n_features
