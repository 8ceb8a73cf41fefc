"""A notebook that fails, or finishes, leaves no kernel and no server process behind.

Run after the notebooks in the same session (``pytest --nbmake notebooks/ tests/notebooks/``):
the first test then checks every kernel nbmake started and every server those kernels
started. The second test makes a notebook fail right after it started the real servers.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

psutil = pytest.importorskip("psutil")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from lesson.lab import LAB_PARENT_ENV, READY_SENTINEL  # noqa: E402

#: Set by conftest.py before any notebook runs; inherited by kernels and their servers.
MARKER = "LESSON_NOTEBOOK_SESSION"


def marked_processes(marker_value: str) -> list:
    """Live processes (not this one or its ancestors) whose environment carries the marker."""
    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.parents())}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        if proc.pid in mine or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if proc.environ().get(MARKER) == marker_value:
                found.append(proc)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def _is_kernel(proc) -> bool:
    return any("ipykernel" in part for part in proc.info.get("cmdline") or [])


def _is_notebook_server(proc) -> bool:
    """A lesson server started by a notebook (tagged by lesson.lab, or a child of a kernel)."""
    cmdline = " ".join(proc.info.get("cmdline") or [])
    if "lesson.servers.cli" not in cmdline:
        return False
    try:
        if LAB_PARENT_ENV in proc.environ():
            return True
        parent = proc.parent()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    if parent is None or parent.pid == 1:
        return True  # orphaned: whoever started it is gone
    try:
        return "ipykernel" in " ".join(parent.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return True


def leftovers(marker_value: str, *, everything: bool = False, timeout: float = 30.0) -> list[str]:
    """Kernels and notebook servers carrying the marker still alive after ``timeout`` s
    (servers drain for a moment). ``everything``: any marked process at all."""
    deadline = time.monotonic() + timeout
    while True:
        found = [p for p in marked_processes(marker_value)
                 if everything or _is_kernel(p) or _is_notebook_server(p)]
        if not found or time.monotonic() >= deadline:
            return [f"{p.pid}: {' '.join(p.info.get('cmdline') or [])}" for p in found]
        time.sleep(0.25)


def test_notebooks_run_in_this_session_left_no_kernel_or_server():
    assert leftovers(os.environ[MARKER]) == []


@pytest.mark.server
@pytest.mark.slow
def test_a_failing_cell_does_not_leave_the_servers_running(monkeypatch, tmp_path):
    marker = uuid.uuid4().hex
    monkeypatch.setenv(MARKER, marker)  # the kernel (and its servers) inherit it
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import lesson\nfrom lesson.lab import setup\nlab = setup()"),
        nbformat.v4.new_code_cell("raise RuntimeError('a learner broke this cell')"),
        nbformat.v4.new_code_cell("lab.close()  # never reached"),
    ])
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="a learner broke this cell"):
        client.execute()
    first_output = "".join(nb.cells[0].outputs[0]["text"])
    assert first_output.startswith(READY_SENTINEL)
    if "real servers" not in first_output:
        pytest.skip("the servers package is not installed: nothing to leave behind")
    assert leftovers(marker) == []
    assert leftovers(marker, everything=True) == []  # nothing at all from that kernel is left
