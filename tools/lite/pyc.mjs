// Pre-compile pure-Python wheels to bytecode with the npm pyodide package (Pyodide under Node).
// Run by tools/lite/pyc.py: node pyc.mjs PYODIDE_DIR WORK_DIR NAMES_JSON
// (rewrites WORK_DIR/in/NAME into WORK_DIR/out/NAME, each .py replaced by its .pyc).
const [pyodideDir, workDir, namesJson] = process.argv.slice(2);
const { loadPyodide } = await import(pyodideDir + "/pyodide.mjs");
const py = await loadPyodide({ indexURL: pyodideDir + "/" });
py.FS.mkdir("/work");
py.FS.mount(py.FS.filesystems.NODEFS, { root: workDir }, "/work");
py.globals.set("names", JSON.parse(namesJson));
py.runPython(`
import importlib._bootstrap_external as ext, os, sys, warnings, zipfile
warnings.simplefilter("ignore")
site = "/lib/python%d.%d/site-packages" % sys.version_info[:2]
for name in names:
    src, dst = "/work/in/" + name, "/work/out/" + name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith(".py") and ".data/" not in info.filename:
                try:
                    code = compile(data, site + "/" + info.filename, "exec", dont_inherit=True)
                except SyntaxError:
                    zout.writestr(info, data)      # keep what does not compile (py2 tests)
                    continue
                pyc = ext._code_to_timestamp_pyc(code, 0, len(data))
                zout.writestr(info.filename[:-3] + ".pyc", bytes(pyc))
            else:
                zout.writestr(info, data)
`);
