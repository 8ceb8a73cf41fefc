"""Build the offline JupyterLite for the site: ``_build/lite`` (copied to ``site/lite``).

    .venv/bin/python -m tools.lite.build [--notebooks DIR]

Steps (registries only, downloads cached under ``.cache/``):

1. check the pins: jupyterlite-pyodide-kernel expects exactly ``PYODIDE_VERSION``;
   the browser's ipywidgets equals the one that executes the site's notebooks;
2. build the ``lesson`` wheel (pure Python, ``py3-none-any``) from the work tree;
3. Pyodide core from npm + PyPI wheels + a rewritten lock (``tools/lite/pyodide.py``);
4. contents = the notebooks with outputs stripped;
5. ``jupyter lite build`` with ``lite/jupyter-lite.json`` (preloaded packages, no PyPI
   fallback) and a browser storage name that changes with every release;
6. ``onnxruntime-web`` (npm, wasm-only) under ``static/onnxruntime-web/`` for notebook 05
   (``tools/lite/ort_web.py``);
7. a memory snapshot of the started kernel's Python (``tools/lite/snapshot.py``), restored by
   the browser's kernel worker instead of starting Python from scratch
   (``tools/lite/worker.py``), started while JupyterLab is still loading when the page opens
   a notebook (``tools/lite/early_kernel.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version as installed_version
from pathlib import Path

import nbformat

from tools.lite.early_kernel import patch_early_kernel
from tools.lite.ort_web import ORT_WEB_VERSION, copy_ort_web
from tools.lite.pyc import precompile_wheels
from tools.lite.pyodide import ExtraWheel, build_offline_pyodide, pypi_wheel, sha256_of
from tools.lite.snapshot import make_snapshot
from tools.lite.worker import patch_kernel_worker
from tools.paths import BUILD, CACHE, ROOT
from tools.site.npm import npm_package

LITE_CONFIG = ROOT / "lite"
VENV_SHARE = Path(sys.prefix) / "share" / "jupyter" / "labextensions"
KERNEL_EXT = VENV_SHARE / "@jupyterlite" / "pyodide-kernel-extension"
WIDGETS_EXT = VENV_SHARE / "@jupyter-widgets" / "jupyterlab-manager"

# Pinned together; checked by check_pins().
PYODIDE_VERSION = "314.0.6"
JUPYTERLITE_VERSION = "0.8.6"
BROWSER_WHEELS = {"comm": "0.2.3", "ipywidgets": "8.1.9", "jupyterlab_widgets": "3.0.17"}
# Shipped from Pyodide's own lock. The kernel installs ipykernel, comm, pyodide-kernel, jedi
# and ipython through piplite unless they are preloaded, and piplite cannot reach PyPI here:
# all of them must be in the lock AND in loadPyodideOptions.packages.
LOCK_PACKAGES = ["micropip", "ipython", "jedi"]


def check_pins() -> None:
    """Fail the build when the versions that must move together have drifted."""
    from jupyterlite_pyodide_kernel.constants import PYODIDE_VERSION as kernel_pyodide

    problems = []
    if kernel_pyodide != PYODIDE_VERSION:
        problems.append(f"jupyterlite-pyodide-kernel expects pyodide {kernel_pyodide}, "
                        f"the build pins {PYODIDE_VERSION}")
    for dist in ("jupyterlite-core", "jupyterlite-pyodide-kernel"):
        if installed_version(dist) != JUPYTERLITE_VERSION:
            problems.append(f"{dist} is {installed_version(dist)}, pinned {JUPYTERLITE_VERSION}")
    for dist, pinned in BROWSER_WHEELS.items():
        # The notebooks are executed with the local ipywidgets; their stored widget state
        # must match what the browser kernel ships.
        if installed_version(dist) != pinned:
            problems.append(f"{dist} is {installed_version(dist)} here, browser pins {pinned}")
    if problems:
        raise SystemExit("version pins disagree:\n  " + "\n  ".join(problems))


def build_lesson_wheel(out: Path) -> Path:
    """Build the ``lesson`` wheel from a clean copy of the work tree (no build/ litter)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("lesson-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="lesson-src-") as tmp:
        src = Path(tmp)
        shutil.copy2(ROOT / "pyproject.toml", src)
        readme = ROOT / "README.md"
        if readme.exists():
            shutil.copy2(readme, src)
        else:  # the package metadata names README.md; keep the wheel buildable meanwhile
            (src / "README.md").write_text("Serving Patterns Lab\n")
        shutil.copytree(ROOT / "lesson", src / "lesson",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "--no-build-isolation", "-w", str(out), str(src)], check=True)
    wheels = list(out.glob("lesson-*.whl"))
    if len(wheels) != 1 or not wheels[0].name.endswith("-py3-none-any.whl"):
        raise SystemExit(f"expected one pure-Python lesson wheel, got {wheels}")
    return wheels[0]


def strip_notebooks(src: Path, dest: Path) -> list[Path]:
    """Copy ``src/*.ipynb`` into ``dest`` without outputs, counts or widget state."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        nb.metadata.pop("widgets", None)
        nb.metadata["kernelspec"] = {"display_name": "Python (Pyodide)",
                                     "language": "python", "name": "python"}
        target = dest / path.name
        nbformat.write(nb, target)
        written.append(target)
    if not written:
        raise SystemExit(f"no notebooks in {src}")
    return written


def release_tag(files: list[Path]) -> str:
    """Short hash of everything a learner sees, so browser storage changes per release."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def write_lite_config(lite_src: Path, tag: str, preload: list[str], lock: dict) -> None:
    """Copy ``lite/*.json`` and fill in the storage names; check the preload list."""
    config = json.loads((LITE_CONFIG / "jupyter-lite.json").read_text())
    data = config["jupyter-config-data"]
    data["contentsStorageName"] = f"serving-patterns-lab-{tag}"
    data["settingsStorageName"] = f"serving-patterns-lab-{tag}"
    kernel = data["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    configured = kernel["loadPyodideOptions"]["packages"]
    unknown = sorted(set(configured) - set(lock["packages"]))
    if unknown:
        raise SystemExit(f"lite/jupyter-lite.json preloads packages not in the lock: {unknown}")
    if sorted(configured) != sorted(preload):
        raise SystemExit(f"lite/jupyter-lite.json preloads {configured}, the build ships {preload}")
    (lite_src / "jupyter-lite.json").write_text(json.dumps(config, indent=2))
    # Settings defaults: cells out of view are attached when the browser is idle ("defer":
    # a faster first paint, and unlike "full" windowing every cell and output ends up in the
    # page), and never ask the internet for news or updates. The plugins the lesson does
    # not use are disabled in jupyter-lite.json (both measured by bench_cold_start.py).
    shutil.copy2(LITE_CONFIG / "overrides.json", lite_src / "overrides.json")
    build_config = json.loads((LITE_CONFIG / "jupyter_lite_config.json").read_text())
    build_config["LiteBuildConfig"]["federated_extensions"] = [str(KERNEL_EXT), str(WIDGETS_EXT)]
    (lite_src / "jupyter_lite_config.json").write_text(json.dumps(build_config, indent=2))


def compile_bytecode(pyodide_dir: Path, npm_dir: Path, lock: dict) -> None:
    """Pre-compile every shipped wheel but ``lesson`` to bytecode; re-hash the lock."""
    entries = {k: e for k, e in lock["packages"].items() if k != "lesson"}
    precompile_wheels([pyodide_dir / e["file_name"] for e in entries.values()], npm_dir,
                      PYODIDE_VERSION, CACHE / "pyc")
    for entry in entries.values():
        entry["sha256"] = sha256_of(pyodide_dir / entry["file_name"])
    (pyodide_dir / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True))


def build_lite(notebooks: Path, out: Path = BUILD / "lite", bytecode: bool = True,
               snapshot: bool = True) -> Path:
    """Build the offline JupyterLite into ``out``; return it.

    Args:
        notebooks: folder of the lesson notebooks (copied without outputs).
        out: output folder.
        bytecode: pre-compile the third-party wheels (faster kernel start).
        snapshot: ship a memory snapshot of the started kernel (much faster kernel start).
    """
    t0 = time.monotonic()
    check_pins()
    wheels = BUILD / "wheels"
    lesson_whl = build_lesson_wheel(wheels)
    pypi_cache = CACHE / "pypi"
    browser = {name: pypi_wheel(f"{name}-{ver}-py3-none-any.whl", name, ver, pypi_cache)
               for name, ver in BROWSER_WHEELS.items()}
    kext = KERNEL_EXT / "static" / "pypi"

    def one(pattern: str) -> Path:
        found = sorted(kext.glob(pattern))
        if len(found) != 1:
            raise SystemExit(f"{pattern}: expected one wheel in {kext}, found {found}")
        return found[0]

    lite_src = BUILD / "lite-src"
    shutil.rmtree(lite_src, ignore_errors=True)
    lite_src.mkdir(parents=True)
    extras = [
        ExtraWheel("comm", browser["comm"]),
        ExtraWheel("jupyterlab-widgets", browser["jupyterlab_widgets"]),
        ExtraWheel("widgetsnbextension", one("widgetsnbextension-4.*-py3-none-any.whl")),
        ExtraWheel("ipywidgets", browser["ipywidgets"],
                   ("comm", "ipython", "traitlets", "widgetsnbextension", "jupyterlab-widgets")),
        ExtraWheel("lesson", lesson_whl),
        ExtraWheel("piplite", one("piplite-*.whl"), ("micropip",)),
        ExtraWheel("pyodide-kernel", one("pyodide_kernel-*.whl"), ("comm", "ipython")),
        ExtraWheel("ipykernel", one("ipykernel-*.whl"), ("pyodide-kernel",)),
    ]
    npm_dir = npm_package("pyodide", PYODIDE_VERSION)
    lock = build_offline_pyodide(npm_dir, lite_src / "static" / "pyodide", LOCK_PACKAGES,
                                 extras, pypi_cache)
    if bytecode:
        compile_bytecode(lite_src / "static" / "pyodide", npm_dir, lock)
    # The same wheels under pypi/ let `%pip install` work offline too (piplite index).
    (lite_src / "pypi").mkdir()
    for whl in [lesson_whl, *browser.values()]:
        shutil.copy2(whl, lite_src / "pypi" / whl.name)
    contents = strip_notebooks(notebooks, lite_src / "content")
    preload = ["micropip", "piplite", "ipykernel", "pyodide-kernel", "comm", "ipython",
               "jedi", "ipywidgets", "lesson"]
    write_lite_config(lite_src, release_tag([*contents, lesson_whl]), preload, lock)

    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([str(Path(sys.executable).parent / "jupyter"), "lite", "build",
                    "--lite-dir", str(lite_src), "--output-dir", str(out)],
                   cwd=lite_src, check=True)
    built = json.loads((out / "jupyter-lite.json").read_text())["jupyter-config-data"]
    url = built["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"].get(
        "pyodideUrl")
    if url != "./static/pyodide/pyodide.mjs":
        raise SystemExit(f"pyodideUrl is {url!r}, not the offline copy")
    ort_sizes = copy_ort_web(out)
    print(f"lite: onnxruntime-web {ORT_WEB_VERSION} (wasm-only) "
          f"{sum(ort_sizes.values()) / 1e6:.1f} MB under static/onnxruntime-web/")
    worker = patch_kernel_worker(out, snapshot=snapshot)
    if snapshot:
        patch_early_kernel(out, worker, url)
        stats = make_snapshot(out / "static" / "pyodide", preload, CACHE / "snapshot")
        print(f"lite: kernel snapshot {stats['memory'] / 1e6:.0f} MB of memory "
              f"({stats['snapshot_gz'] / 1e6:.1f} MB gz) + {stats['files']} files "
              f"({stats['files_gz'] / 1e6:.1f} MB gz)")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    print(f"lite: {out} ({size:.0f} MB, pyodide {PYODIDE_VERSION}, {len(contents)} notebooks) "
          f"in {time.monotonic() - t0:.1f}s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    ap.add_argument("--out", type=Path, default=BUILD / "lite")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="ship the wheels as PyPI has them (.py only; slower kernel start)")
    ap.add_argument("--no-snapshot", action="store_true",
                    help="no kernel memory snapshot (Python starts from scratch in the browser)")
    args = ap.parse_args()
    build_lite(args.notebooks, args.out, bytecode=not args.no_bytecode,
               snapshot=not args.no_snapshot)


if __name__ == "__main__":
    main()
