"""The kernel memory snapshot shipped with the JupyterLite build, the worker patch using it,
and the early start of that worker while JupyterLab loads.

The browser side (the kernel really starts from the snapshot and runs the notebook) is
checked in ``test_browser.py``; here: the patch fits the pinned kernel extension, and the
shipped snapshot belongs to the shipped runtime and packages.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import struct
import zipfile
from pathlib import Path

import pytest

from tools.lite.build import KERNEL_EXT
from tools.lite.early_kernel import APP_PAGES, EXTENSION_EDIT, patch_early_kernel
from tools.lite.snapshot import FILES_FILE, SNAPSHOT_FILE
from tools.lite.worker import SNAPSHOT_EDITS, STAGE_EDITS, patch_kernel_worker

SNAPSHOT_MAGIC = 1886286592  # Pyodide's snapshot header


def _pristine_worker(tmp_path: Path) -> Path:
    static = tmp_path / "extensions" / "@jupyterlite" / "pyodide-kernel-extension" / "static"
    static.mkdir(parents=True)
    (src,) = sorted((KERNEL_EXT / "static").glob("comlink.worker.*.js"))
    shutil.copy2(src, static / src.name)
    return static / src.name


@pytest.mark.parametrize("snapshot", [True, False])
def test_worker_patch_fits_the_pinned_kernel_extension(tmp_path, snapshot):
    worker = _pristine_worker(tmp_path)
    before = worker.read_text()
    assert patch_kernel_worker(tmp_path, snapshot=snapshot) == worker
    after = worker.read_text()
    for _, replacement in STAGE_EDITS:
        assert replacement in after
    assert all((replacement in after) == snapshot for _, replacement in SNAPSHOT_EDITS)
    assert len(after) > len(before)
    with pytest.raises(SystemExit, match="patched already"):
        patch_kernel_worker(tmp_path, snapshot=snapshot)


def test_worker_patch_refuses_a_worker_it_does_not_know(tmp_path):
    worker = _pristine_worker(tmp_path)
    worker.write_text(worker.read_text().replace("initRuntime", "startRuntime"))
    with pytest.raises(SystemExit, match="no longer fits"):
        patch_kernel_worker(tmp_path)


def test_built_worker_starts_python_from_the_snapshot(site):
    static = site / "lite" / "extensions" / "@jupyterlite" / "pyodide-kernel-extension" / "static"
    (worker,) = static.glob("comlink.worker.*.js")
    text = worker.read_text()
    assert "splLoad(n,e," in text and "splRestored(py)" in text and "_loadSnapshot" in text
    assert f'"{SNAPSHOT_FILE}"' in text and f'"{FILES_FILE}"' in text


def test_snapshot_belongs_to_the_shipped_runtime_and_packages(site):
    pyodide = site / "lite" / "static" / "pyodide"
    build_id = re.search(r'BUILD_ID:"([0-9a-f]{64})"', (pyodide / "pyodide.mjs").read_text())[1]
    with gzip.open(pyodide / SNAPSHOT_FILE) as f:
        header = f.read(48)
    magic, _, _, _ = struct.unpack("<4I", header[:16])
    assert magic == SNAPSHOT_MAGIC
    assert "".join(f"{w:08x}" for w in struct.unpack("<8I", header[16:48])) == build_id
    # the files written back in the browser are the shipped wheels' files
    raw = gzip.decompress((pyodide / FILES_FILE).read_bytes())
    (n,) = struct.unpack("<I", raw[:4])
    index = json.loads(raw[4:4 + n])
    lock = json.loads((pyodide / "pyodide-lock.json").read_text())
    preload = json.loads((site / "lite" / "jupyter-lite.json").read_text())[
        "jupyter-config-data"]["litePluginSettings"][
        "@jupyterlite/pyodide-kernel-extension:kernel"]["loadPyodideOptions"]["packages"]
    canon = {re.sub(r"[-_.]+", "-", k).lower() for k in index["loaded"]}
    assert {re.sub(r"[-_.]+", "-", k).lower() for k in preload} <= canon, canon
    offsets, off = {}, 4 + n
    for path, size in index["files"]:
        offsets[path] = (off, size)
        off += size
    assert off == len(raw)
    lesson_whl = pyodide / lock["packages"]["lesson"]["file_name"]
    with zipfile.ZipFile(lesson_whl) as zf:
        shipped = zf.read("lesson/lab/__init__.py")
    (path,) = [p for p in offsets if p.endswith("site-packages/lesson/lab/__init__.py")]
    start, size = offsets[path]
    assert raw[start:start + size] == shipped, "snapshot files are not the shipped lesson wheel"


def test_snapshot_carries_none_of_the_build_machines_environment(site):
    """The snapshot is published: the build's environment variables (CI tokens, paths) must not
    be in the Python memory it captured. Pyodide's own small environment is."""
    memory = gzip.decompress((site / "lite" / "static" / "pyodide" / SNAPSHOT_FILE).read_bytes())
    pyodide_own = {"HOME=/home/pyodide", "LANG=C.UTF-8", "USER=web", "LOGNAME=web", "PWD=/", "PATH=/"}
    assert b"HOME=/home/pyodide" in memory  # what os.environ holds in the browser
    leaked = sorted(name for name, value in os.environ.items()
                    if len(value) >= 4 and f"{name}={value}" not in pyodide_own
                    and f"{name}={value}".encode() in memory)
    assert not leaked, f"the snapshot holds the build's environment: {leaked}"


def _pristine_extension(tmp_path: Path) -> Path:
    """The pinned kernel extension's static folder and two app pages, as a build leaves them."""
    worker = _pristine_worker(tmp_path)
    for chunk in (KERNEL_EXT / "static").glob("*.js"):
        if not (worker.parent / chunk.name).exists():
            shutil.copy2(chunk, worker.parent / chunk.name)
    for name in APP_PAGES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("<!DOCTYPE html><html><head><title>JupyterLite</title></head>"
                                     "<body></body></html>")
    return worker


def test_early_start_patch_fits_the_pinned_kernel_extension(tmp_path):
    worker = _pristine_extension(tmp_path)
    patch_kernel_worker(tmp_path)
    changed = patch_early_kernel(tmp_path, worker, "./static/pyodide/pyodide.mjs")
    chunk, *pages = changed
    assert EXTENSION_EDIT[1] in chunk.read_text()
    assert [p.relative_to(tmp_path).as_posix() for p in pages] == list(APP_PAGES)
    for page in pages:
        html = page.read_text()
        # the page names the very worker file the build patched, and the offline Pyodide
        assert f'new URL("{worker.relative_to(tmp_path).as_posix()}", root)' in html
        assert 'new URL("static/pyodide/pyodide.mjs", root)' in html
        assert html.index('id="spl-early-kernel"') < html.index("<title>")
    with pytest.raises(SystemExit, match="initWorker"):  # the chunk is patched already
        patch_early_kernel(tmp_path, worker, "./static/pyodide/pyodide.mjs")


def test_early_start_patch_refuses_an_extension_it_does_not_know(tmp_path):
    worker = _pristine_extension(tmp_path)
    for chunk in worker.parent.glob("*.js"):
        chunk.write_text(chunk.read_text().replace("initWorker(e){", "makeWorker(e){"))
    with pytest.raises(SystemExit, match="kernel extension changed"):
        patch_early_kernel(tmp_path, worker, "./static/pyodide/pyodide.mjs")


def test_built_site_starts_the_kernel_worker_early(site):
    lite = site / "lite"
    static = lite / "extensions" / "@jupyterlite" / "pyodide-kernel-extension" / "static"
    (worker,) = static.glob("comlink.worker.*.js")
    assert "splEarly.take(init, opts)" in worker.read_text()
    assert sum(EXTENSION_EDIT[1] in c.read_text() for c in static.glob("*.js")) == 1
    for name in APP_PAGES:
        assert worker.name in (lite / name).read_text(), name
