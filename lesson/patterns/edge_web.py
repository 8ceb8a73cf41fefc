"""ONNX Runtime Web in the browser's kernel: the same ``.onnx`` file, run by the field's runtime.

In JupyterLite the kernel is Pyodide in a Web Worker. This module loads ``onnxruntime-web``
(its wasm-only, single-threaded build, served by the site itself under
``<lite>/static/onnxruntime-web/``; the site build copies it from npm) on first use, through
Pyodide's JavaScript interface: a dynamic ``import()`` from the worker. Only a notebook that
calls it pays the download. It creates an ``InferenceSession`` from an artifact's verified
bytes (:func:`lesson.core.artifacts.load_artifact`) and runs it on float32 rows::

    >>> from lesson.patterns.edge_web import ort_web_session
    >>> session = await ort_web_session("diabetes-mlp-onnx")      # doctest: +SKIP
    >>> await session.predict([[59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]])  # doctest: +SKIP

Standard library only at import; ``js`` and ``pyodide`` are touched only in the browser
(:data:`lesson.core.runtime.IN_BROWSER`). In CPython the same files run with ``onnxruntime``.
The measured rows are in :mod:`lesson.patterns.edge_web_measure`.
"""

from __future__ import annotations

import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesson.core.artifacts import load_artifact
from lesson.core.runtime import IN_BROWSER

#: The npm ``onnxruntime-web`` version the site serves (pinned in ``tools/lite/ort_web.py``).
ORT_WEB_VERSION = "1.30.0"
#: Where the site serves it, relative to the JupyterLite root (the folder of ``lab/``).
ORT_WEB_DIR = "static/onnxruntime-web/"
#: The ES module imported first; it loads the other two from ``ort.env.wasm.wasmPaths``.
ORT_WEB_MODULE = "ort.wasm.min.mjs"
#: What a device downloads to run a model with it: the module, the wasm glue and the wasm.
ORT_WEB_FILES = (ORT_WEB_MODULE, "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
#: The execution provider asked for (the only one in the wasm-only build).
PROVIDER = "wasm"
MODEL_FILE = "model.onnx"
N_FEATURES = 10


class BrowserOnlyError(RuntimeError):
    """ONNX Runtime Web runs only in the browser's kernel (JupyterLite)."""


@dataclass
class OrtWeb:
    """The loaded ``onnxruntime-web`` module and what it reported about itself."""

    module: Any = field(repr=False)
    version: str
    base_url: str
    threads: int
    proxy: bool


_loaded: OrtWeb | None = None


def _require_browser() -> None:
    if not IN_BROWSER:
        raise BrowserOnlyError(
            "ONNX Runtime Web runs only in the browser (JupyterLite's Pyodide kernel); in "
            "CPython run the same .onnx file with onnxruntime (pip install '.[edge]')"
        )


def lite_root_from(worker_url: str) -> str:
    """The JupyterLite root URL (ending in ``/``) from the kernel worker's own URL.

    The kernel worker is served from ``<root>/extensions/@jupyterlite/.../comlink.worker.*.js``.

    Raises:
        ValueError: the URL is not under a JupyterLite ``extensions/`` folder.
    """
    head, sep, _ = worker_url.partition("/extensions/")
    if not sep or "://" not in head:
        raise ValueError(
            f"cannot find the JupyterLite root in {worker_url!r}: pass base_url= the URL of "
            f"the folder that holds {ORT_WEB_DIR}"
        )
    return head + "/"


def ort_web_base_url() -> str:
    """The URL of the site's own copy of ``onnxruntime-web`` (browser only)."""
    _require_browser()
    import js  # Pyodide's view of the worker's global scope

    return lite_root_from(str(js.location.href)) + ORT_WEB_DIR


async def load_ort_web(base_url: str | None = None) -> OrtWeb:
    """Import the site's ``onnxruntime-web`` once (single-threaded, no proxy worker).

    Args:
        base_url: folder URL of the ``ORT_WEB_FILES`` (default: the site's, from the worker's URL).

    Raises:
        BrowserOnlyError: in CPython.
        RuntimeError: the served module is not version :data:`ORT_WEB_VERSION`.
    """
    global _loaded
    _require_browser()
    if _loaded is not None and base_url in (None, _loaded.base_url):
        return _loaded
    from pyodide.code import run_js

    base = base_url or ort_web_base_url()
    if not base.endswith("/"):
        base += "/"
    importer = run_js("(url) => import(url)")
    ort = await importer(base + ORT_WEB_MODULE)
    wasm = ort.env.wasm
    wasm.numThreads = 1  # no cross-origin isolation here: no SharedArrayBuffer, no threads
    wasm.proxy = False  # run in this (the kernel's) worker, not in another one
    wasm.wasmPaths = base  # the site's own copy, never a CDN
    version = str(ort.env.versions.web)
    if version != ORT_WEB_VERSION:
        raise RuntimeError(
            f"{base}{ORT_WEB_MODULE} is onnxruntime-web {version}, "
            f"the lesson expects {ORT_WEB_VERSION}"
        )
    _loaded = OrtWeb(ort, version, base, int(wasm.numThreads), bool(wasm.proxy))
    return _loaded


async def runtime_bytes(ort: OrtWeb) -> dict[str, int]:
    """Bytes of each of :data:`ORT_WEB_FILES` as served: what a device downloads to run a model.

    Read from the worker's resource timing entries (what was actually fetched); a file with
    no entry (the browser's buffer was full) is asked for with a ``HEAD`` request.
    """
    import js

    sizes = {}
    for entry in js.performance.getEntriesByType("resource"):
        name = str(entry.name)
        if name.startswith(ort.base_url) and name[len(ort.base_url) :] in ORT_WEB_FILES:
            sizes[name[len(ort.base_url) :]] = int(entry.decodedBodySize)
    for name in ORT_WEB_FILES:
        if not sizes.get(name):
            from pyodide.ffi import to_js

            head = to_js({"method": "HEAD"}, dict_converter=js.Object.fromEntries)
            response = await js.fetch(ort.base_url + name, head)
            sizes[name] = int(response.headers.get("content-length") or 0)
    return sizes


def float32_rows(rows: Any) -> tuple[array.array, int]:
    """Validate rows of :data:`N_FEATURES` numbers; return them as one flat float32 array.

    Raises:
        TypeError: ``rows`` is not a list of rows of real numbers.
        ValueError: no rows, or a row with the wrong number of features.
    """
    if not isinstance(rows, (list, tuple)) or not rows:
        raise ValueError("rows must be a non-empty list of rows")
    flat = array.array("f")
    for i, row in enumerate(rows):
        if not isinstance(row, (list, tuple)) or len(row) != N_FEATURES:
            raise ValueError(f"row {i} must be a list of {N_FEATURES} numbers")
        for value in row:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"row {i}: {value!r} is not a number")
        flat.extend(row)
    return flat, len(rows)


@dataclass
class OrtWebSession:
    """An ``InferenceSession`` of one artifact's ``model.onnx`` in ONNX Runtime Web."""

    name: str
    version: str
    model_bytes: int
    input_name: str
    output_name: str
    provider: str
    ort: OrtWeb = field(repr=False)
    session: Any = field(repr=False)

    async def predict(self, rows: Any) -> list[float]:
        """Predictions (Python floats) for ``rows`` of raw features, computed in float32."""
        flat, n = float32_rows(rows)
        return await self.run_flat(flat, n)

    def _feeds(self, flat: array.array, n: int) -> Any:
        import js
        from pyodide.ffi import to_js

        data = js.Float32Array.new(len(flat))
        data.assign(flat)
        tensor = self.ort.module.Tensor.new("float32", data, to_js([n, N_FEATURES]))
        return to_js({self.input_name: tensor}, dict_converter=js.Object.fromEntries)

    async def run_flat(self, flat: array.array, n: int) -> list[float]:
        """Run on ``n`` rows already packed as float32 (what :meth:`predict` does after checks)."""
        outputs = await self.session.run(self._feeds(flat, n))
        return getattr(outputs, self.output_name).data.to_memoryview().tolist()

    async def time_runs(self, rows: Any, calls: int) -> float:
        """Seconds for ``calls`` runs on ``rows`` in a JavaScript loop (one await from Python).

        What a page's own script pays per call; each await of a JavaScript promise from
        Python adds the bridge's cost on top (measure :meth:`predict` for that).
        """
        if not 1 <= calls <= 1 << 20:
            raise ValueError("calls must be in 1..1048576")
        flat, n = float32_rows(rows)
        return float(await _js_run_loop()(self.session, self._feeds(flat, n), calls))


_run_loop: Any = None


def _js_run_loop() -> Any:
    """A JavaScript ``(session, feeds, k) => seconds`` running ``session.run`` k times."""
    global _run_loop
    if _run_loop is None:
        from pyodide.code import run_js

        _run_loop = run_js(
            "async (session, feeds, k) => { const t0 = performance.now();"
            " for (let i = 0; i < k; i++) { await session.run(feeds); }"
            " return (performance.now() - t0) / 1000; }"
        )
    return _run_loop


def _names(manifest: dict[str, Any], key: str) -> list[str] | None:
    """Tensor names the manifest records under ``key`` (``inputs``/``outputs``), if it does."""
    onnx = manifest.get("onnx")
    entries = onnx.get(key) if isinstance(onnx, dict) else None
    if not isinstance(entries, list):
        return None
    names = [e.get("name") for e in entries if isinstance(e, dict)]
    return [n for n in names if isinstance(n, str)] or None


async def ort_web_session(
    name: str,
    version: str | int | None = None,
    *,
    root: Path | str | None = None,
    base_url: str | None = None,
) -> OrtWebSession:
    """Create an ONNX Runtime Web session from the verified bytes of artifact ``name``.

    Args:
        name: an artifact holding ``model.onnx`` (e.g. ``"diabetes-mlp-onnx"``).
        version: its version (default: the newest).
        root: artifacts root (default: the ones shipped in the package).
        base_url: where ``onnxruntime-web`` is served (default: the site's copy).

    Raises:
        BrowserOnlyError: in CPython (run the file with ``onnxruntime`` there).
        lesson.core.artifacts.ArtifactError: the artifact is missing or fails its checksums.
        ValueError: the graph does not have one input and one output named as the manifest says.
    """
    _require_browser()
    artifact = load_artifact(name, version, root=root)
    if MODEL_FILE not in artifact.files:
        raise ValueError(f"{name}/{artifact.version} has no {MODEL_FILE}")
    ort = await load_ort_web(base_url)
    import js
    from pyodide.ffi import to_js

    raw = artifact.files[MODEL_FILE]
    buffer = js.Uint8Array.new(len(raw))
    buffer.assign(raw)
    options = to_js(
        {"executionProviders": [PROVIDER], "graphOptimizationLevel": "all"},
        dict_converter=js.Object.fromEntries,
    )
    session = await ort.module.InferenceSession.create(buffer, options)
    inputs, outputs = list(session.inputNames), list(session.outputNames)
    for key, found in (("inputs", inputs), ("outputs", outputs)):
        expected = _names(artifact.manifest, key)
        if len(found) != 1 or (expected is not None and expected != found):
            raise ValueError(
                f"{name}/{artifact.version}: graph {key} {found}, "
                f"manifest {expected or '(not recorded)'}; expected one"
            )
    return OrtWebSession(
        name=name,
        version=artifact.version,
        model_bytes=len(raw),
        input_name=inputs[0],
        output_name=outputs[0],
        provider=PROVIDER,
        ort=ort,
        session=session,
    )
