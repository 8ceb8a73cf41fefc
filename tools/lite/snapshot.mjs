// The kernel's memory snapshot, made with the npm pyodide package under Node (tools/lite/snapshot.py).
//   node snapshot.mjs PYODIDE_DIR modules PACKAGES_JSON FIRST_CELL_JSON OUT_DIR
//     -> OUT_DIR/modules.json: the modules loaded once the kernel and the first cell ran;
//   node snapshot.mjs PYODIDE_DIR snapshot PACKAGES_JSON MODULES_JSON_FILE OUT_DIR kernel|modules-only
//     -> OUT_DIR/snapshot.bin.gz (WebAssembly memory) and OUT_DIR/files.bin.gz (site-packages),
//        and one JSON line of sizes on stdout.
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
