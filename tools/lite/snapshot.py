"""A Pyodide memory snapshot of a started kernel, made at build time, restored in the browser.

Without it, every learner's browser starts Python from scratch: initialise the interpreter,
unpack two dozen wheels, then import IPython, ipykernel's stand-in, traitlets, comm,
ipywidgets and ``lesson`` -- in WebAssembly, before the first cell can run. Here that work is
done once, at build time, by the very same ``pyodide.asm.wasm`` under Node.js
(``snapshot.mjs`` beside this file):

1. a throw-away interpreter imports what the kernel imports (``pyodide_kernel``, ``piplite``),
   runs what the first cell of a notebook runs (``lesson.lab.setup()``, see
   :data:`FIRST_CELL`) and lists the modules that are then loaded;
2. a fresh interpreter (``_makeSnapshot``) imports exactly those modules, then starts the
   kernel (``import pyodide_kernel``: the IPython shell, comm manager and output streams;
   :data:`SNAPSHOT_KERNEL`), and its WebAssembly memory is written to
   ``static/pyodide/snapshot.bin.gz``. The few browser objects Python then holds (Pyodide's
   own API functions) are recorded by name and re-bound in the browser;
3. the files the packages installed (site-packages lives in Emscripten's in-memory file
   system, which is JavaScript, not WebAssembly memory) go to ``site-packages.bin.gz``.

In the browser, the kernel worker (patched at build time by ``tools/lite/worker.py``)
passes the snapshot to ``loadPyodide`` (``_loadSnapshot``), writes the files back, marks the
packages loaded and re-seeds ``random`` (the snapshot would otherwise give every learner the
same random sequence). The worker then goes on as without a snapshot: its
``import pyodide_kernel`` finds the kernel made at build time, and it attaches the browser
callbacks (comms, output streams, input) to it. Known differences: the IPython profile folder
made at build time is not in the browser's file system, and ``os.environ`` is the one Pyodide
had under Node.js (``HOME=/home/pyodide``, ``LANG=C.UTF-8``, ``_`` = the build script ...).

The WebAssembly compile starts together with the downloads (``WebAssembly.compileStreaming``
on the worker's own fetch) instead of after the snapshot is in memory, and the kernel worker
prints stage marks (``lite-kernel stage=NAME t=EPOCH_MS``) that
``benchmarks/bench_cold_start.py`` reads.

Results are cached in ``.cache/snapshot`` by the hash of everything they depend on.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

SNAPSHOT_FILE = "snapshot.bin.gz"
FILES_FILE = "site-packages.bin.gz"
#: Also start the kernel (``import pyodide_kernel``: the IPython shell) in the snapshot.
SNAPSHOT_KERNEL = True
#: What the first cell of every notebook runs (see ``lesson/lab/``), and ipywidgets: run in
#: the throw-away interpreter only, to learn which modules to pre-import into the snapshot.
FIRST_CELL = """
import contextlib, io, ipywidgets, lesson.lab
with contextlib.redirect_stdout(io.StringIO()):
    lesson.lab.setup().close()
"""

#: The Node.js script that makes the snapshot (its two modes: see the file).
NODE_SCRIPT = Path(__file__).with_name("snapshot.mjs")


def _digest(pyodide_dir: Path, packages: list[str]) -> str:
    """Hash of everything the snapshot depends on: runtime, lock (wheel hashes), recipe."""
    h = hashlib.sha256()
    for name in ("pyodide.asm.wasm", "pyodide.asm.mjs", "python_stdlib.zip", "pyodide-lock.json"):
        h.update(hashlib.sha256((pyodide_dir / name).read_bytes()).digest())
    h.update(json.dumps([packages, FIRST_CELL, SNAPSHOT_KERNEL, NODE_SCRIPT.read_text()]).encode())
    return h.hexdigest()[:20]


def _node(cmd: list[str]) -> str:
    """Run Node; on failure, stop the build with the end of its error output."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"making the kernel snapshot failed ({cmd[3]}):\n"
                         f"{done.stderr[-3000:]}")
    return done.stdout


def make_snapshot(pyodide_dir: Path, packages: list[str], cache: Path) -> dict:
    """Write ``snapshot.bin.gz`` and ``site-packages.bin.gz`` into ``pyodide_dir``.

    Args:
        pyodide_dir: the offline Pyodide folder (runtime, wheels, rewritten lock).
        packages: the lock packages the kernel preloads (``loadPyodideOptions.packages``).
        cache: folder of finished snapshots, keyed by :func:`_digest`.

    Returns:
        Sizes: ``memory`` (bytes of WebAssembly memory), ``files``, ``packages``,
        ``snapshot_gz``, ``files_gz`` (bytes served).
    """
    if shutil.which("node") is None:
        raise SystemExit("node is missing: apt-get install -y nodejs (it runs Pyodide to "
                         "make the kernel's memory snapshot)")
    key = cache / _digest(pyodide_dir, packages)
    if not (key / "done.json").exists():
        with tempfile.TemporaryDirectory(prefix="snapshot-") as tmp:
            work = Path(tmp)
            # Run from the temporary folder: Python's os.environ["_"] in the snapshot (it is
            # published) is the script's path, which must not name the build machine's folders.
            script = shutil.copy2(NODE_SCRIPT, work / NODE_SCRIPT.name)
            base = ["node", str(script), str(pyodide_dir.resolve())]
            _node([*base, "modules", json.dumps(packages), json.dumps(FIRST_CELL), str(work)])
            out = _node([*base, "snapshot", json.dumps(packages), str(work / "modules.json"),
                         str(work), "kernel" if SNAPSHOT_KERNEL else "modules-only"])
            stats = json.loads(out.strip().splitlines()[-1])
            for old in cache.glob("*"):  # ~20 MB each: drop those unused for a day
                if time.time() - old.stat().st_mtime > 86400:
                    shutil.rmtree(old, ignore_errors=True)
            key.mkdir(parents=True, exist_ok=True)
            shutil.copy2(work / "snapshot.bin.gz", key / SNAPSHOT_FILE)
            shutil.copy2(work / "files.bin.gz", key / FILES_FILE)
            (key / "done.json").write_text(json.dumps(stats))
    stats = json.loads((key / "done.json").read_text())
    key.touch()  # in use
    for name in (SNAPSHOT_FILE, FILES_FILE):
        shutil.copy2(key / name, pyodide_dir / name)
    stats["snapshot_gz"] = (pyodide_dir / SNAPSHOT_FILE).stat().st_size
    stats["files_gz"] = (pyodide_dir / FILES_FILE).stat().st_size
    return stats
