// Stage marks of the page's main thread, for benchmarks/bench_cold_start.py (a Playwright
// init script: it runs before the page's own scripts). Each mark is epoch milliseconds
// (performance.timeOrigin + performance.now(), the clock of the worker's Date.now() marks),
// kept in window.__splMarks; the first time a stage is reached wins.
(() => {
  if (self !== top || self.__splMarks) return;
  const marks = (self.__splMarks = {});
  const now = () => performance.timeOrigin + performance.now();
  const mark = (name) => { if (!(name in marks)) marks[name] = now(); };
  const SENTINEL = __SENTINEL__;

  // config-utils.js appends the app's bundle.js once it has merged the configuration files.
  const append = Node.prototype.appendChild;
  Node.prototype.appendChild = function (node) {
    if (node instanceof HTMLScriptElement && /\/build\/[\w-]+\/bundle\.js/.test(node.src)) {
      Node.prototype.appendChild = append;
      mark("config-merged");
      // Expose the application object (JupyterLab's exposeAppInBrowser) to the hooks below.
      const data = document.getElementById("jupyter-config-data");
      data.textContent = JSON.stringify({ ...JSON.parse(data.textContent), exposeAppInBrowser: "true" });
      node.addEventListener("load", () => mark("bundle-executed"));
    }
    return append.call(this, node);
  };

  // Every webpack/rspack chunk registers itself by pushing onto this global when it executes:
  // the last push before the application object exists is "every initial chunk executed".
  let inner = Array.prototype.push;
  const chunks = [];
  Object.defineProperty(chunks, "push", {
    configurable: true,
    get() {
      const f = inner;
      return function (...items) { marks["chunks-executed"] = now(); return f.apply(this, items); };
    },
    set(f) { inner = f; },
  });
  self.rspackChunk_JUPYTERLAB_CORE_OUTPUT = chunks;

  // The application object, once every plugin is registered.
  let app;
  Object.defineProperty(self, "jupyterapp", {
    configurable: true,
    get: () => app,
    set(value) {
      app = value;
      marks["chunks-executed-before-app"] = marks["chunks-executed"];
      mark("app-created");
      app.started.then(() => mark("shell-started"));
      app.restored.then(() => mark("shell-restored"));
      app.commands.commandExecuted.connect((_, args) => {
        if (args.id === "notebook:run-all-cells") mark("run-all");
      });
      app.shell.currentChanged?.connect(() => watch(app.shell.currentWidget));
      watch(app.shell.currentWidget);
    },
  });

  function watch(widget) {
    if (!widget || !widget.context || !widget.sessionContext || marks["notebook-opened"]) return;
    mark("notebook-opened");
    widget.context.ready.then(() => mark("notebook-model-loaded"));
    widget.sessionContext.ready.then(() => mark("kernel-connected"));
  }

  // Visible cells and the first output: polled (cheap queries, every 20 ms) until both seen.
  const poll = setInterval(() => {
    if (!marks["notebook-visible"] && document.querySelector(".jp-Notebook .jp-Cell")) {
      mark("notebook-visible");
    }
    const outputs = document.querySelectorAll(".jp-OutputArea-output");
    for (const out of outputs) {
      if (out.textContent.includes(SENTINEL)) { mark("first-output"); clearInterval(poll); break; }
    }
  }, 20);
})();
