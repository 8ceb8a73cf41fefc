"""Pre-compile the browser's pure-Python wheels to Python 3.14 bytecode, with Pyodide in Node.

PyPI wheels hold only ``.py`` files, so the browser kernel compiles every module it imports
at start-up (IPython alone is most of a second of bytecode compilation per hundred modules
in WebAssembly). Here each wheel is rewritten with ``.pyc`` files in place of its ``.py``
files (sourceless, like Pyodide's own pre-compiled distribution), compiled by the very
Python that runs in the browser: the npm ``pyodide`` package under Node.js, running
``pyc.mjs`` (beside this file). Results are cached in ``.cache/pyc`` by wheel hash and
Pyodide version.

The ``lesson`` wheel is NOT compiled: learners read its source (``??``, ``show_source``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

#: The Node.js script that loads Pyodide and rewrites the wheels.
NODE_SCRIPT = Path(__file__).with_name("pyc.mjs")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def precompile_wheels(wheels: list[Path], pyodide_npm: Path, pyodide_version: str,
                      cache: Path) -> None:
    """Replace each wheel in ``wheels`` (in place) by its bytecode-compiled version.

    Args:
        wheels: pure-Python wheels to compile (in the offline Pyodide folder).
        pyodide_npm: the unpacked npm ``pyodide`` package (the compiler).
        pyodide_version: part of the cache key (bytecode is version-specific).
        cache: folder of compiled wheels, keyed by the source wheel's sha256.
    """
    if shutil.which("node") is None:
        raise SystemExit("node is missing: apt-get install -y nodejs (it runs Pyodide to "
                         "pre-compile the browser's wheels)")
    cache.mkdir(parents=True, exist_ok=True)
    todo = {}
    for wheel in wheels:
        key = cache / f"{pyodide_version}-{_sha256(wheel)[:16]}-{wheel.name}"
        if key.exists():
            shutil.copy2(key, wheel)
        else:
            todo[wheel] = key
    if not todo:
        return
    with tempfile.TemporaryDirectory(prefix="pyc-") as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        (work / "out").mkdir()
        for wheel in todo:
            shutil.copy2(wheel, work / "in" / wheel.name)
        subprocess.run(["node", str(NODE_SCRIPT), str(pyodide_npm.resolve()), str(work),
                        json.dumps([w.name for w in todo])], check=True)
        for wheel, key in todo.items():
            shutil.copy2(work / "out" / wheel.name, key)
            shutil.copy2(key, wheel)
