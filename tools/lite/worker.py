"""Patch JupyterLite's built kernel worker: stage marks, and Python from the memory snapshot.

The worker bundle (``comlink.worker.*.js`` of jupyterlite-pyodide-kernel 0.8.6, minified) gets

* the helpers of ``worker_helpers.mjs`` (beside this file) prepended: fetch and restore the
  snapshot made by ``tools/lite/snapshot.py`` while the WebAssembly compiles, write the
  installed files back, and adopt a worker started early by the page
  (``tools/lite/early_kernel.py``);
* anchored edits (:data:`STAGE_EDITS`, :data:`SNAPSHOT_EDITS`): stage marks
  (``lite-kernel stage=NAME t=EPOCH_MS`` on the console, read by
  ``benchmarks/bench_cold_start.py``) and ``loadPyodide`` replaced by ``splLoad``.
"""

from __future__ import annotations

from pathlib import Path

from tools.lite.patch import apply_edits, js_source
from tools.lite.snapshot import FILES_FILE, SNAPSHOT_FILE

HELPERS_FILE = "worker_helpers.mjs"

# (anchor in the minified jupyterlite-pyodide-kernel 0.8.6 worker, replacement)
STAGE_EDITS = [
    (("await this.initRuntime(e),await this.initFilesystem(e),await this.initPackageManager(e),"
      "await this.initKernel(e),await this.initGlobals(e),null==(t=this._initializer)||t.resolve()"),
     ('splStage("worker-start"),await this.initRuntime(e),splStage("python-ready"),'
      'await this.initFilesystem(e),await this.initPackageManager(e),'
      'splStage("package-manager-ready"),await this.initKernel(e),splStage("kernel-imported"),'
      'await this.initGlobals(e),splStage("kernel-ready"),'
      'null==(t=this._initializer)||t.resolve()')),
]
SNAPSHOT_EDITS = [
    ("this._pyodide=await n({indexURL:s,stdout:", "this._pyodide=await splLoad(n,e,{indexURL:s,stdout:"),
]


def patch_kernel_worker(lite_out: Path, snapshot: bool = True) -> Path:
    """Patch the built kernel worker; return the patched file.

    Args:
        lite_out: the built JupyterLite folder.
        snapshot: start Python from the memory snapshot; without it, only the stage marks
            (``lite-kernel stage=... t=...`` on the console) are added.
    """
    static = lite_out / "extensions" / "@jupyterlite" / "pyodide-kernel-extension" / "static"
    workers = sorted(static.glob("comlink.worker.*.js"))
    if len(workers) != 1:
        raise SystemExit(f"expected one kernel worker bundle in {static}, found {workers}")
    worker = workers[0]
    text = worker.read_text()
    if "splStage" in text:
        raise SystemExit(f"{worker} is patched already (rebuild the lite site first)")
    text = apply_edits(text, STAGE_EDITS + (SNAPSHOT_EDITS if snapshot else []), worker.name,
                       "tools/lite/worker.py")
    helpers = js_source(__file__, HELPERS_FILE, SNAPSHOT_FILE=SNAPSHOT_FILE, FILES_FILE=FILES_FILE)
    worker.write_text(helpers + text)
    return worker
