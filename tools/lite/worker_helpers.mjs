// Serving Patterns Lab: prepended to JupyterLite's kernel worker (a module worker) by
// tools/lite/worker.py, which fills in splOptions' two placeholders (the snapshot files' names,
// as JSON strings). The worker's own code, patched there too, calls splStage and splLoad.
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
  const snapshot = splFetchGz(base + __SNAPSHOT_FILE__);
  splState.files = splFetchGz(base + __FILES_FILE__);
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
