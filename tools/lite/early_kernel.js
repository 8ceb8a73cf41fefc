/* Serving Patterns Lab: start the notebook's Python while JupyterLab loads
   (tools/lite/early_kernel.py; the kernel adopts this worker when it starts). */
(function () {
  try {
    var path = new URLSearchParams(location.search).get("path") || "";
    if (!/\.ipynb$/.test(path) || self.crossOriginIsolated || !self.Worker) return;
    var root = new URL("..", location.href);
    var worker = new Worker(new URL(__WORKER_URL__, root), {
      type: "module", name: "spl-early " + new URL(__PYODIDE_URL__, root).href });
    self.__splEarlyWorker = worker;
    setTimeout(function () {
      if (self.__splEarlyWorker === worker) { self.__splEarlyWorker = undefined; worker.terminate(); }
    }, 120000);
  } catch (err) {
    console.warn("early kernel start skipped: " + err);
  }
})();
