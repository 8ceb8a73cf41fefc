"""Serve ONNX Runtime Web from the site: npm ``onnxruntime-web``, wasm-only, into the lite build.

Notebook 05 imports it from the kernel's worker (:mod:`lesson.patterns.edge_web`), so the
files must sit at ``<lite>/static/onnxruntime-web/``: the ES module ``ort.wasm.min.mjs`` and
the two files it loads from ``ort.env.wasm.wasmPaths`` (``ort-wasm-simd-threaded.mjs`` and
``.wasm``). Nothing is fetched at page run time from anywhere but the site itself.

Pins checked at build time: the npm package is :data:`ORT_WEB_VERSION`, the served module
reports it, and the lesson expects the same version, folder and file names.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tools.site.npm import npm_package

ORT_WEB_VERSION = "1.30.0"


def check_ort_web_pins(package: Path) -> None:
    """Fail the build when the npm package, its module or the lesson disagree on the version."""
    from lesson.patterns import edge_web

    problems = []
    meta = json.loads((package / "package.json").read_text())
    if meta.get("version") != ORT_WEB_VERSION:
        problems.append(f"npm onnxruntime-web is {meta.get('version')}, pinned {ORT_WEB_VERSION}")
    if edge_web.ORT_WEB_VERSION != ORT_WEB_VERSION:
        problems.append(
            f"lesson.patterns.edge_web expects onnxruntime-web "
            f"{edge_web.ORT_WEB_VERSION}, the build pins {ORT_WEB_VERSION}"
        )
    for name in edge_web.ORT_WEB_FILES:
        if not (package / "dist" / name).is_file():
            problems.append(f"onnxruntime-web {ORT_WEB_VERSION} has no dist/{name}")
    module = package / "dist" / edge_web.ORT_WEB_MODULE
    if module.is_file() and f'"{ORT_WEB_VERSION}"' not in module.read_text():
        problems.append(f"dist/{edge_web.ORT_WEB_MODULE} does not carry version {ORT_WEB_VERSION}")
    if problems:
        raise SystemExit("onnxruntime-web pins disagree:\n  " + "\n  ".join(problems))


def copy_ort_web(lite_out: Path) -> dict[str, int]:
    """Copy the wasm-only ``onnxruntime-web`` into ``lite_out``; return each file's bytes."""
    from lesson.patterns import edge_web

    package = npm_package("onnxruntime-web", ORT_WEB_VERSION)
    check_ort_web_pins(package)
    target = lite_out / edge_web.ORT_WEB_DIR
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    sizes = {}
    for name in edge_web.ORT_WEB_FILES:
        shutil.copy2(package / "dist" / name, target / name)
        sizes[name] = (target / name).stat().st_size
    shutil.copy2(package / "package.json", target / "package.json")  # version and licence
    return sizes
