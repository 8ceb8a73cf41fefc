"""A Pyodide memory snapshot of a started kernel, made at build time, restored in the browser.

Without it, every learner's browser starts Python from scratch: initialise the interpreter,
unpack two dozen wheels, then import IPython, ipykernel's stand-in, traitlets, comm,
ipywidgets and ``lesson`` -- in WebAssembly, before the first cell can run. Here that work is
done once, at build time, by the very same ``pyodide.asm.wasm`` under Node.js:

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

In the browser, the kernel worker (patched at build time by :func:`patch_kernel_worker`)
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
#: What the first cell of every notebook runs (see ``lesson/lab.py``), and ipywidgets: run in
#: the throw-away interpreter only, to learn which modules to pre-import into the snapshot.
FIRST_CELL = """
import contextlib, io, ipywidgets, lesson.lab
with contextlib.redirect_stdout(io.StringIO()):
    lesson.lab.setup().close()
"""

NODE_SCRIPT = r"""
const [pyodideDir, mode, packagesJson, argJson, outDir, withKernel] = process.argv.slice(2);
const fs = await import("node:fs");
const zlib = await import("node:zlib");
const { loadPyodide } = await import(pyodideDir + "/pyodide.mjs");
const packages = JSON.parse(packagesJson);
const quiet = { messageCallback() {} };
if (mode === "modules") {
  const py = await loadPyodide({ indexURL: pyodideDir + "/", packages });
  py.runPython("import piplite.piplite, pyodide_kernel");
  py.runPython(JSON.parse(argJson));
  const names = py.runPython(`
import sys
[n for n, m in list(sys.modules.items())
 if getattr(m, "__file__", None) and not n.startswith(("pyodide_kernel", "__main__"))]
`).toJs();
  fs.writeFileSync(outDir + "/modules.json", JSON.stringify(names));
  process.exit(0);
}
const py = await loadPyodide({ indexURL: pyodideDir + "/", packages, _makeSnapshot: true });
const loaded = { ...py.loadedPackages };
py.globals.set("_mods", JSON.parse(fs.readFileSync(argJson, "utf8")));
const failed = py.runPython(`
import importlib, sys
_failed = []
for _n in _mods:
    if _n not in sys.modules:
        try:
            importlib.import_module(_n)
        except Exception as e:
            _failed.append(f"{_n}: {e!r}")
_failed
`).toJs();
py.runPython("del _mods, _failed, _n");
if (failed.length) { console.error("could not pre-import: " + failed.join("; ")); process.exit(3); }
// the kernel itself: IPython shell, comm manager, output streams (their browser callbacks
// are attached after the restore, by the worker's initGlobals, as without a snapshot)
if (withKernel === "kernel") py.runPython("import pyodide_kernel");
py.runPython("import gc; gc.collect()");
// site-packages: files in Emscripten's JS file system, not in the WebAssembly memory
const site = py.runPython("import site; site.getsitepackages()[0]");
const files = [], chunks = [];
const walk = (dir) => {
  for (const name of py.FS.readdir(dir)) {
    if (name === "." || name === "..") continue;
    const path = dir + "/" + name;
    const st = py.FS.stat(path);
    if (py.FS.isDir(st.mode)) walk(path);
    else { const data = py.FS.readFile(path); files.push([path, data.length]); chunks.push(data); }
  }
};
walk(site);
const header = Buffer.from(JSON.stringify({ files, loaded }));
const len = Buffer.alloc(4); len.writeUInt32LE(header.length);
fs.writeFileSync(outDir + "/files.bin.gz", zlib.gzipSync(Buffer.concat([len, header, ...chunks]), { level: 6 }));
// the snapshot expects an empty loadedPackages table; the browser refills it from `loaded`
for (const k of Object.keys(py.loadedPackages)) delete py.loadedPackages[k];
const pub = Object.getOwnPropertyNames(py), api = Object.getOwnPropertyNames(py._api);
const snap = py.makeMemorySnapshot({ serializer: (obj) => {
  // browser objects Python holds that are not reachable from globalThis: name them
  if (obj === py) return { pyodide: "" };
  const p = pub.find((n) => { try { return py[n] === obj; } catch { return false; } });
  if (p) return { pyodide: p };
  const a = api.find((n) => { try { return py._api[n] === obj; } catch { return false; } });
  if (a) return { pyodideApi: a };
  throw new Error("snapshot: Python holds a JavaScript object it cannot name: " + String(obj).slice(0, 80));
} });
fs.writeFileSync(outDir + "/snapshot.bin.gz", zlib.gzipSync(snap, { level: 6 }));
console.log(JSON.stringify({ memory: snap.length, files: files.length, packages: Object.keys(loaded).length }));
"""


def _digest(pyodide_dir: Path, packages: list[str]) -> str:
    """Hash of everything the snapshot depends on: runtime, lock (wheel hashes), recipe."""
    h = hashlib.sha256()
    for name in ("pyodide.asm.wasm", "pyodide.asm.mjs", "python_stdlib.zip", "pyodide-lock.json"):
        h.update(hashlib.sha256((pyodide_dir / name).read_bytes()).digest())
    h.update(json.dumps([packages, FIRST_CELL, SNAPSHOT_KERNEL, NODE_SCRIPT]).encode())
    return h.hexdigest()[:20]


def _node(cmd: list[str]) -> str:
    """Run Node; on failure, stop the build with the end of its error output."""
    done = subprocess.run(cmd, capture_output=True, text=True)
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
            script = work / "snapshot.mjs"
            script.write_text(NODE_SCRIPT)
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


# --- the kernel worker --------------------------------------------------------------------

WORKER_HELPERS = r"""
const splState = { py: null, files: null };
// Stage marks for benchmarks/bench_cold_start.py (read from the browser console).
const splStage = (name) => console.debug(`lite-kernel stage=${name} t=${Date.now()}`);
async function splFetchGz(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await new Response(r.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer());
}
function splDeserialize(o) {
  if ("pyodide" in o) {
    if (!o.pyodide) return new Proxy({}, { get: (_, k) => splState.py[k], has: (_, k) => k in splState.py });
    const k = o.pyodide;
    return (...a) => splState.py[k](...a);
  }
  if ("pyodideApi" in o) { const k = o.pyodideApi; return (...a) => splState.py._api[k](...a); }
  throw new Error("memory snapshot: unknown entry " + JSON.stringify(o));
}
async function splCompile(url) {
  try {
    return await WebAssembly.compileStreaming(fetch(url));
  } catch (err) {  // e.g. a server that does not say application/wasm
    console.warn(`${url}: streaming compile failed (${err}), compiling from a buffer`);
    return WebAssembly.compile(await (await fetch(url)).arrayBuffer());
  }
}
function splSkipSecondWasmFetch(url) {
  // loadPyodide fetches pyodide.asm.wasm itself, for the instantiateStreaming call that
  // splOptions replaces: answer that one fetch with an empty body instead of 10 MB again.
  const href = new URL(url, location.href).href, realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    if (String(input instanceof Request ? input.url : input) !== href) return realFetch(input, init);
    globalThis.fetch = realFetch;
    return Promise.resolve(new Response(new Uint8Array(0), { headers: { "Content-Type": "application/wasm" } }));
  };
}
async function splOptions(base) {
  // Everything starts at once: the WebAssembly compile does not wait for the snapshot
  // (loadPyodide would only instantiate after awaiting _loadSnapshot).
  const wasm = splCompile(base + "pyodide.asm.wasm");
  splSkipSecondWasmFetch(base + "pyodide.asm.wasm");
  const snapshot = splFetchGz(base + "%(snapshot)s");
  splState.files = splFetchGz(base + "%(files)s");
  wasm.then(() => splStage("wasm-compiled"));
  snapshot.then(() => splStage("snapshot-fetched"));
  splState.files.then(() => splStage("files-fetched"));
  const create = (await import(base + "pyodide.asm.mjs")).default;
  return {
    packages: [], _loadSnapshot: snapshot, _snapshotDeserializer: splDeserialize,
    createPyodideModule: async (settings) => {
      // Pyodide's own instantiateWasm adds imports and then calls instantiateStreaming on
      // its own fetch: hand it the module compiled meanwhile instead.
      const pyodideInstantiate = settings.instantiateWasm;
      settings.instantiateWasm = (imports, receive) => {
        const streaming = WebAssembly.instantiateStreaming;
        WebAssembly.instantiateStreaming = async (_response, imps) => {
          WebAssembly.instantiateStreaming = streaming;
          const module = await wasm;
          return { module, instance: await WebAssembly.instantiate(module, imps) };
        };
        return pyodideInstantiate(imports, receive);
      };
      const [mod, snap] = await Promise.all([create(settings), snapshot]);
      mod.growMemory(snap.length);  // the memory is the module's own: make room first
      return mod;
    },
  };
}
async function splRestored(py) {
  splStage("python-restored");
  splState.py = py;
  const buf = await splState.files;
  const n = new DataView(buf.buffer, buf.byteOffset).getUint32(0, true);
  const index = JSON.parse(new TextDecoder().decode(buf.subarray(4, 4 + n)));
  let off = 4 + n;
  const made = new Set();
  for (const [path, size] of index.files) {
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (!made.has(dir)) { py.FS.mkdirTree(dir); made.add(dir); }
    py.FS.writeFile(path, buf.subarray(off, off + size), { canOwn: true });
    off += size;
  }
  Object.assign(py.loadedPackages, index.loaded);
  py.runPython("__import__('importlib').invalidate_caches(); __import__('random').seed()");
  splStage("files-written");
}
// Early start (tools/lite_early_kernel.py): a page that opens a notebook creates this worker
// while JupyterLab is still loading, named "spl-early PYODIDE_URL"; the worker then restores
// Python at once, and the kernel adopts it when it starts (splLoad).
splState.out = (s) => console.log(s);
splState.err = (s) => console.error(s);
async function splStart(load, opts) {
  // Python from the build's snapshot, its installed files written back.
  const py = await load({ ...opts, ...await splOptions(opts.indexURL) });
  await splRestored(py);
  return py;
}
const splEarly = (() => {
  const named = /^spl-early (\S+)$/.exec(self.name || "");
  if (!named) return { take: () => null };
  const pyodideUrl = named[1], indexURL = pyodideUrl.slice(0, pyodideUrl.lastIndexOf("/") + 1);
  splStage("early-start");
  let pending = import(pyodideUrl).then(({ loadPyodide }) => splStart(loadPyodide, {
    indexURL, stdout: (s) => splState.out(s), stderr: (s) => splState.err(s) }));
  pending.catch(() => {});  // reported when the kernel adopts it
  return {
    take(init, opts) {
      const started = pending;
      pending = null;
      if (!started) return null;
      const url = new URL(init.pyodideUrl, location.href).href;
      const extra = Object.keys(init.loadPyodideOptions || {}).filter((k) => k !== "packages");
      if (url !== pyodideUrl || extra.length) {
        console.warn(`early kernel start not used: it loaded ${pyodideUrl}, the kernel asks for ${url}` +
                     (extra.length ? ` with options ${extra}` : ""));
        return null;
      }
      splState.out = opts.stdout;
      splState.err = opts.stderr;
      return started;
    },
  };
})();
async function splLoad(load, init, opts) {
  // The kernel's Python: the one the early start restored, or restored now from the snapshot.
  const early = splEarly.take(init, opts);
  if (early) {
    try {
      const py = await early;
      splStage("early-adopted");
      return py;
    } catch (err) {
      console.warn(`early kernel start failed (${err}); starting Python again`);
    }
  }
  return splStart(load, opts);
}
"""

# (anchor in the minified jupyterlite-pyodide-kernel 0.8.6 worker, replacement)
STAGE_EDITS = [
    ("await this.initRuntime(e),await this.initFilesystem(e),await this.initPackageManager(e),"
     "await this.initKernel(e),await this.initGlobals(e),null==(t=this._initializer)||t.resolve()",
     'splStage("worker-start"),await this.initRuntime(e),splStage("python-ready"),'
     'await this.initFilesystem(e),await this.initPackageManager(e),'
     'splStage("package-manager-ready"),await this.initKernel(e),splStage("kernel-imported"),'
     'await this.initGlobals(e),splStage("kernel-ready"),'
     'null==(t=this._initializer)||t.resolve()'),
]
SNAPSHOT_EDITS = [
    ("this._pyodide=await n({indexURL:s,stdout:", "this._pyodide=await splLoad(n,e,{indexURL:s,stdout:"),
]


def apply_edits(text: str, edits: list[tuple[str, str]], name: str, owner: str) -> str:
    """Replace each anchor of ``edits`` in ``text``; stop the build unless each occurs exactly once.

    Args:
        name: the file, for the error message.
        owner: the module holding the edits, for the error message.
    """
    for anchor, replacement in edits:
        if text.count(anchor) != 1:
            raise SystemExit(f"{name}: the patch no longer fits (anchor {anchor!r} found "
                             f"{text.count(anchor)} times): the kernel extension changed, "
                             f"update {owner}")
        text = text.replace(anchor, replacement)
    return text


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
                       "tools/lite_snapshot.py")
    helpers = WORKER_HELPERS % {"snapshot": SNAPSHOT_FILE, "files": FILES_FILE}
    worker.write_text(helpers + text)
    return worker
