"""Assemble an offline Pyodide folder for JupyterLite from registry-only sources.

* core runtime: the npm package ``pyodide@X`` (``pyodide.mjs``, ``pyodide.asm.{mjs,wasm}``,
  ``python_stdlib.zip``, ``pyodide-lock.json``);
* packages: the PyPI wheels of exactly the versions the upstream lock names (pure Python
  only: wasm wheels of numpy & co. exist only on Pyodide's CDN);
* ``pyodide-lock.json``: pruned to what we ship, ``sha256`` rewritten to the PyPI bytes
  (the browser enforces it as Subresource Integrity), plus entries for our own wheels so
  ``loadPyodideOptions.packages`` can preload them.

Used by ``tools/lite/build.py``; adapted from the team recipe in
``../shared/recipes/offline-jupyterlite``.

Why not the ``pyodide-lock`` package (PyPI) for reading and writing the lock: its last release
for this venv's Python 3.11 is 0.1.2 (0.1.3 and later require Python >= 3.12), and 0.1.2's
``InfoSpec`` requires an ``info.version`` field that Pyodide 314's lock no longer has, so
``PyodideLockSpec.from_json`` rejects the very lock it would rewrite. The rewrite is plain
JSON (prune, re-hash, add entries), so the dependency would not save much code either.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

CORE_FILES = ["pyodide.mjs", "pyodide.js", "pyodide.asm.mjs", "pyodide.asm.wasm",
              "python_stdlib.zip", "package.json"]


@dataclass(frozen=True)
class ExtraWheel:
    """A wheel added to the lock under ``name`` with lock dependencies ``depends``."""

    name: str
    path: Path
    depends: tuple[str, ...] = field(default_factory=tuple)


def canonical(name: str) -> str:
    """PEP 503 normalised name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheel_metadata(path: Path) -> tuple[str, str, list[str]]:
    """Return (distribution name, version, top-level import names) of a wheel."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    header = dict(line.split(": ", 1) for line in meta.split("\n\n")[0].splitlines()
                  if ": " in line)
    tops = sorted({n.split("/")[0].removesuffix(".py") for n in names
                   if not n.split("/")[0].endswith((".dist-info", ".data"))})
    return header["Name"], header["Version"], tops


def lock_closure(lock: dict, roots: list[str]) -> set[str]:
    """Canonical names of ``roots`` plus their transitive lock dependencies."""
    pkgs = {canonical(k): v for k, v in lock["packages"].items()}
    want: set[str] = set()
    todo = [canonical(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in want:
            continue
        if name not in pkgs:
            raise SystemExit(f"{name}: not in the upstream pyodide-lock.json")
        want.add(name)
        todo += [canonical(d) for d in pkgs[name]["depends"]]
    return want


def pypi_wheel(file_name: str, dist: str, version: str, cache: Path) -> Path:
    """The PyPI wheel ``file_name`` (downloaded once into ``cache``)."""
    cache.mkdir(parents=True, exist_ok=True)
    whl = cache / file_name
    if not whl.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary=:all:", "--python-version", "3.14",
                        "-d", str(cache), f"{dist}=={version}"], check=True)
    if not whl.exists():
        raise SystemExit(f"pip did not produce {file_name} for {dist}=={version}")
    return whl


def build_offline_pyodide(npm_dir: Path, out: Path, packages: list[str],
                          extras: list[ExtraWheel], wheel_cache: Path) -> dict:
    """Write an offline Pyodide distribution into ``out`` and return its lock.

    Args:
        npm_dir: the unpacked npm ``pyodide`` package (``.../package``).
        out: target folder (JupyterLite's well-known ``<lite_dir>/static/pyodide``).
        packages: upstream lock packages to ship (dependencies are added).
        extras: our own wheels to add to the lock.
        wheel_cache: where PyPI wheels are cached between builds.
    """
    lock = json.loads((npm_dir / "pyodide-lock.json").read_text())
    upstream = {canonical(k): (k, v) for k, v in lock["packages"].items()}
    out.mkdir(parents=True, exist_ok=True)
    for name in CORE_FILES:
        shutil.copy2(npm_dir / name, out / name)

    keep: dict[str, dict] = {}
    for name in sorted(lock_closure(lock, packages)):
        key, entry = upstream[name]
        entry = dict(entry)
        if not entry["file_name"].endswith("-none-any.whl"):
            raise SystemExit(f"{name}: {entry['file_name']} is not pure Python; it exists "
                             "only on Pyodide's CDN, so it cannot be shipped offline")
        whl = pypi_wheel(entry["file_name"], entry["name"], entry["version"], wheel_cache)
        shutil.copy2(whl, out / whl.name)
        entry["sha256"] = sha256_of(whl)   # PyPI bytes differ from Pyodide's rebuilds
        entry["unvendored_tests"] = False
        keep[key] = entry

    for extra in extras:
        dist, version, tops = wheel_metadata(extra.path)
        shutil.copy2(extra.path, out / extra.path.name)
        keep[extra.name] = {
            "name": dist, "version": version, "file_name": extra.path.name,
            "install_dir": "site", "sha256": sha256_of(extra.path),
            "package_type": "package", "imports": tops, "depends": list(extra.depends),
            "unvendored_tests": False, "shared_library": False,
        }

    shipped = {canonical(k) for k in keep}
    missing = {canonical(d) for e in keep.values() for d in e["depends"]} - shipped
    if missing:
        raise SystemExit(f"lock entries depend on packages not shipped: {sorted(missing)}")
    lock["packages"] = keep
    (out / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True))
    return lock
