# %% [markdown]
# # 05 · Edge: the model runs where the data is
#
# Sometimes the best server is no server. A keyboard that suggests the next word, a camera
# that spots a defect on the line, a field app that must work without signal: the model runs
# **on the device**. There is no network round trip, the data never leaves the device
# (privacy), and it keeps working offline. The price: the device is small, so the model must be
# small, and you cannot patch it as easily as a server.
#
# **The browser you may be reading this in is the lesson's edge device.** In JupyterLite, the
# model below runs inside the page, in Pyodide, with no network at all. In this notebook you will
#
# 1. run the lesson's real model — a small MLP trained on the scikit-learn diabetes data — as
#    an on-device runtime;
# 2. compare it with an **int8-quantised** variant: size on disk, time per prediction and
#    accuracy on held-out data, measured here;
# 3. load-test both, and compare them with a round trip to a server.

# %%
import lesson
from lesson.lab import edge_targets, setup

lab = setup()  # the real model, diabetes-mlp; in local Jupyter its REST and gRPC servers too

# %% [markdown]
# ## The model on the device
#
# The model ships inside the package as a versioned artifact with a manifest and checksums,
# stored as JSON, never as a pickle (loading a pickle can run arbitrary code: a section below
# shows it). Loading verifies the checksums. It predicts disease progression one year after baseline from ten measurements:

# %%
meta = lab.model.metadata()
print(meta.name, "version", meta.version, "|", meta.description)
print("inputs:", ", ".join(f["name"] for f in meta.inputs[0]["features"]))

# %% [markdown]
# `edge_inference_adapter` wraps it as the on-device runtime: it accepts a flat feature list,
# a list of rows or a full payload, validates like every other pattern, and says `edge`:

# %%
fp64, int8 = edge_targets()
for target in (fp64, int8):
    lab.add_target(target)
patient = fp64.sample_rows[0]
run_on_device = lesson.edge_inference_adapter(lab.model, quantise=False)
run_on_device(patient)

# %% [markdown]
# ## Quantisation: smaller weights, (almost) the same answers
#
# The int8 variant stores each weight matrix as 8-bit integers with one float scale per
# tensor: `q = round(W / s)`, `s = max|W| / 127`. It is *weight-only*: biases, inputs and
# activations stay float, so inference multiplies each integer weight by a float input and
# rescales the sum (`s * sum(q_i * x_i)`). Here is how the package computes the quantised weights:

# %%
from lesson.patterns.edge import compare_edge_models
from lesson.models.int8 import quantise_tensor

lab.show_source(quantise_tensor)

# %% [markdown]
# The comparison below is measured now, on this machine (or in your browser): bytes on disk,
# microseconds per prediction (the median of several timed groups), and error on the held-out
# rows that ship with the artifact.

# %%
comparison = compare_edge_models()
comparison

# %% [markdown]
# ## Cold start: what it costs to get the model ready
#
# A device (or a new server replica) must read the artifact, check its checksums, build the
# model and answer a first prediction before it is useful. The cell below times each step
# now, on this machine or in your browser (medians of 7 repetitions; in the browser the clock
# ticks in 0.1 ms steps, so figures below that read as one tick or zero).

# %%
import statistics
import time

from lesson.core.artifacts import load_artifact
from lesson.models.mlp import MLPModel
from lesson.widgets import table

steps = {"load_artifact (read + sha256 + JSON)": [], "build the model": [], "first prediction": [],
         "a later prediction": []}
row = [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]
for _ in range(7):
    t0 = time.perf_counter(); artifact = load_artifact("diabetes-mlp")
    t1 = time.perf_counter(); cold_model = MLPModel.from_artifact(artifact)
    t2 = time.perf_counter(); cold_model.predict([row])
    t3 = time.perf_counter(); cold_model.predict([row])
    t4 = time.perf_counter()
    for name, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
        steps[name].append(seconds)
table([{"step": name, "median ms": round(statistics.median(v) * 1000, 3), "max ms": round(max(v) * 1000, 3)}
       for name, v in steps.items()], caption="Measured now: cold-start steps of the diabetes MLP artifact")

# %% [markdown]
# ## Packaging safely: loading a pickle runs code
#
# Many tutorials save a model with `pickle` (or `joblib`, which uses it). A pickle is not
# data: it is a small program that `pickle.load` executes, and it may import and call *any*
# function. Whoever wrote the file chooses what your server runs when it loads the model.
# The cell below proves it harmlessly: it builds a pickle whose object says "to rebuild me,
# call `record_call`" — a function that only appends a note to a list (an attacker would
# name `os.system` instead) — looks inside it without loading it, then loads it:

# %%
from lesson.teaching import deserialisation

lab.show_source(deserialisation.RunsCodeWhenUnpickled)

# %%
pickle_demo = deserialisation.show_pickle_runs_code()
print(pickle_demo.to_text())

# %% [markdown]
# Nothing warned that code ran; `pickle.loads` simply returned what the function returned.
# Reading the opcodes first (`callables_in_pickle`, built on `pickletools`) shows what a file
# would call, but an allow-list of "safe" functions is easy to get wrong. The rule is simpler:
# never unpickle a file you did not produce, and ship models in a format that is only data.
#
# That is what this lesson's artifacts are: plain JSON files (weights, scaler, held-out rows)
# and a `manifest.json` listing each file's size and sha256. Loading checks every file before
# any of it is used. The cell below copies the shipped artifact into a temporary directory,
# loads the copy, changes **one byte** of `weights.json` (same size, a different digit) and
# loads it again:

# %%
import tempfile

with tempfile.TemporaryDirectory() as workdir:
    tamper_demo = deserialisation.show_tamper_refused(workdir)
print(tamper_demo.to_text())

# %% [markdown]
# A changed weight would otherwise have loaded silently and given slightly wrong predictions
# forever. The manifest catches accidents (a truncated download, a bad disk) and tampering
# with a file; to catch someone who rewrites the manifest too, pin the manifest's own
# checksum where you deploy (`load_artifact(..., expected_manifest_sha256=...)`). Production
# formats with the same idea: ONNX and safetensors (data, no code), plus a signed checksum.

# %% [markdown]
# ## Pitfall: training/serving skew gives wrong answers with no error
#
# The model receives ten bare numbers. It cannot tell whether they arrive in the order
# training used, or in the same units. The artifact was trained on raw measurements in this
# order: `age, sex, bmi, bp, s1 … s6`, with the cholesterol values `s1`–`s3` in mg/dL (the
# manifest describes every input). Two client bugs that happen in practice:
#
# - **wrong order**: the client's column mapping swaps two features, `s3` (HDL) and `s6`
#   (blood sugar);
# - **wrong units**: the client sends cholesterol in mmol/L, the SI unit used in much of the
#   world, instead of mg/dL (mg/dL ÷ 38.67).
#
# The cell sends the held-out rows (whose true outcomes are known) all three ways and
# measures the mean absolute error (MAE):

# %%
names = list(lab.model.params.feature_names)
print("s1..s3 as the manifest describes them:",
      "; ".join(i["description"] for i in lab.model.manifest["inputs"] if i["name"] in ("s1", "s2", "s3")))
heldout_rows, heldout_truth = lab.heldout()
i_s3, i_s6 = names.index("s3"), names.index("s6")
swapped = [list(r) for r in heldout_rows]
for r in swapped:
    r[i_s3], r[i_s6] = r[i_s6], r[i_s3]
skewed_inputs = {
    "correct": heldout_rows,
    "wrong order (s3 and s6 swapped)": swapped,
    "wrong units (cholesterol in mmol/L)": [[v / 38.67 if n in ("s1", "s2", "s3") else v for n, v in zip(names, r)]
                                            for r in heldout_rows],
}
skew_rows = []
for label, rows in skewed_inputs.items():
    predictions = lab.model.predict(rows)  # no exception for any of the three
    skew_rows.append({
        "inputs": label,
        "MAE": round(sum(abs(p - y) for p, y in zip(predictions, heldout_truth)) / len(predictions), 1),
        "predictions min..max": f"{min(predictions):.0f}..{max(predictions):.0f}",
    })
table(skew_rows, caption=f"Measured now: {len(heldout_rows)} held-out rows, true outcomes "
      f"{min(heldout_truth):.0f}..{max(heldout_truth):.0f}")

# %%
print("MAE of always answering the training mean (manifest, metrics.heldout_mean_baseline):",
      lab.model.manifest["metrics"]["heldout_mean_baseline"]["mae"])

# %% [markdown]
# No call failed, and the skewed predictions fall in about the same range as the real
# outcomes, so nothing downstream would notice. Yet compare the MAE column with the line above: a model
# fed skewed inputs can be no better than always answering the average. Two checks at the
# boundary, both in `lesson.teaching.skew`, turn the silent error into a loud one:
#
# 1. **Named features.** The client sends `{"age": 59, "sex": 2, ...}`; the server builds the
#    row in the artifact's order, so the order of the keys cannot matter, and a missing or
#    misspelt name is refused with an error that names it.
# 2. **Training ranges.** The manifest records each feature's minimum and maximum in
#    training (`feature_stats`); a value more than 10 % of that range beyond either end is
#    refused.

# %%
from lesson.teaching.skew import check_training_ranges, out_of_range_rows, rows_from_named_features, training_ranges

records = [dict(zip(names, r)) for r in heldout_rows]
reordered = [dict(sorted(rec.items(), reverse=True)) for rec in records]  # same values, keys in another order
same = lab.model.predict(rows_from_named_features(names, reordered)) == lab.model.predict(heldout_rows)
print("named features, keys in another order -> same predictions as the correct rows:", same)
try:
    misspelt = {("HDL" if name == "s3" else name): value for name, value in records[0].items()}
    rows_from_named_features(names, [misspelt])
except lesson.ValidationError as error:
    print("misspelt name refused:", error)

ranges = training_ranges(lab.model.manifest)
for label, rows in skewed_inputs.items():
    print(f"range check, {label}: {len(out_of_range_rows(rows, names, ranges))} of {len(rows)} rows refused")
try:
    check_training_ranges(skewed_inputs["wrong units (cholesterol in mmol/L)"][:1], names, ranges)
except lesson.ValidationError as error:
    print("first mmol/L row refused:", error)

# %% [markdown]
# Read the counts. Named features make the order bug impossible. The range check refuses
# every row in the wrong units, because each cholesterol value is far below the smallest one
# seen in training (the error above names both), but it lets through the swapped rows whose values happen to fit both ranges: it is
# a tripwire, not a proof. The durable fix is one feature function shared by training and
# serving, versioned with the model, plus monitoring of live inputs against `feature_stats`.

# %% [markdown]
# ## On the field's runtime: ONNX and ONNX Runtime
#
# The int8 model above is the lesson's own, in plain Python: it teaches the idea, but no device
# ships a hand-written loop. A team taking a model to a phone, a browser or a gateway runs a
# pipeline like this one:
#
# 1. **Export** the trained model to a portable file. ONNX is a graph of standard operators
#    (`MatMul`, `Add`, `Relu`, ...) with the weights inside; `training/export_onnx.py` builds it
#    from the shipped artifact's weights, scaler included, so the file takes the ten raw
#    measurements and returns the prediction.
# 2. **Quantise** it with the runtime's own tools (`onnxruntime.quantization`): dynamic int8
#    and static int8.
# 3. **Validate the accuracy**: score held-out rows with each file and compare with the float
#    model before anything ships (the export refuses a float32 graph more than 1e-6 relative
#    from the lesson's MLP, and records each variant's held-out error in its manifest).
# 4. **Package**: every file in a versioned directory with a manifest that pins its sha256, its
#    opset and the names of its input and output, like every other artifact here.
# 5. **Run it on the device** with a runtime built for it: ONNX Runtime in CPython (the
#    lesson's servers serve these files by name, with the V2 platform `onnxruntime_onnx` that
#    Triton uses), ONNX Runtime Web in the browser.
#
# What the three manifests say about their files (read now):

# %%
from lesson.models.onnx_runtime import ONNX_NAMES

onnx_files = []
for onnx_name in ONNX_NAMES:
    onnx_artifact = load_artifact(onnx_name)
    described = onnx_artifact.manifest["onnx"]
    tensor = lambda t: f"{t['name']} {t['datatype']} {t['shape']}"
    onnx_files.append({
        "artifact": f"{onnx_name}/{onnx_artifact.version}",
        "bytes": len(onnx_artifact.files[described["file"]]),
        "IR / opset": f"{described['ir_version']} / {described['opsets']}",
        "producer": described["producer_name"],
        "operators": ", ".join(described["operators"]),
        "input -> output": f"{tensor(described['inputs'][0])} -> {tensor(described['outputs'][0])}",
        "held-out MAE": onnx_artifact.manifest["metrics"]["heldout"]["mae"],
    })
table(onnx_files, caption="The ONNX files as their manifests describe them")

# %% [markdown]
# **Opset and versions.** An ONNX file declares the version of the operator set it uses (the
# *opset*) and of the file format (the *IR version*); a runtime loads files up to the versions
# it knows and refuses newer ones. The export pins both (the columns above) so that older
# runtimes and ONNX Runtime Web read the file; exporting with a converter's newest defaults can
# give a file that devices in the field refuse. The quantiser writes its own `producer`, so the
# manifest records who made each file, from which float artifact (`exported_from`, with that
# manifest's sha256), and with which library versions. The model's version is the directory it
# lives in; a new export is a new version, never an edited file.
#
# **Why static quantisation needs a calibration set.** int8 stores a number as
# `q = round(x / scale) + zero_point`. For the weights, the scale comes from the weights
# themselves. The *activations* (what flows between the layers) depend on the input, so their
# range is unknown until data flows. `quantize_dynamic` measures it on every call: the
# operators above include `DynamicQuantizeLinear` for that. `quantize_static` fixes every
# scale in the file ahead of time from the ranges that a **calibration set** produces:
# representative inputs run through the float model. Here that is the training rows (the
# manifest says how many), never the held-out rows, which must stay unseen to validate the
# accuracy honestly. The static file is in QDQ form: `QuantizeLinear` / `DequantizeLinear`
# pairs around each product, which int8 hardware (NPUs, CPUs with int8 dot products) can fuse
# into integer kernels.

# %%
print(load_artifact(ONNX_NAMES[2]).manifest["calibration"])

# %% [markdown]
# Now all the variants in one table, measured here: the bytes of each model file, the bytes of
# the runtime a device must also download, the held-out error and the largest change in one
# prediction, and the time per call for one row and for 64 rows (p50 and p99 over groups of
# calls that take turns, so a busy moment hits every variant alike). In the browser,
# ONNX Runtime does not run in this kernel's Python, so its CPython rows are left out.

# %%
from lesson.patterns.edge_runtimes import compare_edge_runtimes

runtimes = compare_edge_runtimes()
if lab.in_browser:
    print("ONNX Runtime (CPython) rows: skipped — onnxruntime does not run in Pyodide.")
elif not any(r["variant"].startswith("ORT") for r in runtimes.rows):
    print("ONNX Runtime rows: skipped — onnxruntime is not installed (pip install 'lesson[edge]').")
runtimes

# %% [markdown]
# Read from the table above (computed from its figures):

# %% tags=["hide-input"]
from IPython.display import Markdown

from lesson.teaching.edge_verdicts import runtime_verdicts

Markdown("\n".join(f"- {verdict}" for verdict in runtime_verdicts(runtimes)))

# %% [markdown]
# **Choose a variant (checked).** A device team has an accuracy budget (how much the held-out
# MAE may grow) and a download budget (runtime plus model).
# Write `choose_variant(rows, max_mae_increase, max_download_bytes)`: among the rows (dicts with the
# table's keys: `variant`, `delta_mae`, `runtime_bytes`, `model_bytes`, `b1_p50_us`, ...) within
# both budgets (inclusive), return the name of the fastest at batch 1, the smaller download on a
# tie, or `None` when nothing fits. Then try it on `runtimes.rows`.

# %%
from lesson.teaching.exercises import check


def choose_variant(rows, max_mae_increase, max_download_bytes):
    raise NotImplementedError("your code here")


check("choose_edge_variant", choose_variant)

# %% [markdown]
# ## Under load, and against a server
#
# The panel has both variants. The cell after it runs each with the same 300 requests drawn
# from the held-out rows, then sends the same load to the REST target for comparison (in
# local Jupyter that is a real round trip over loopback to a server running the same MLP
# with numpy; in the browser it is the REST adapter in-process).

# %%
panel = lab.panel("edge-int8", targets=["edge-fp64", "edge-int8", "rest"], requests=300, concurrency=1)
panel

# %%
fp64_run = await panel.run_async(target="edge-fp64")
int8_run = await panel.run_async(target="edge-int8")
rest_run = await panel.run_async(target="rest")
panel.report()

# %% [markdown]
# ## What to notice
#
# Computed from the comparison table and the runs above:

# %% tags=["hide-input"]
from IPython.display import Markdown

from lesson.teaching.verdicts import latency_range_text, latency_text

full, small = comparison.rows[0], comparison.rows[1]
speed = full["latency_us"] / small["latency_us"]
device_p50 = {run.label: run.result.p50 for run in (fp64_run, int8_run)}
tick = rest_run.result.clock_resolution
points = [
    f"- **Size:** the int8 weights file is {small['disk_bytes']:,} bytes against {full['disk_bytes']:,} "
    f"({full['disk_bytes'] / small['disk_bytes']:.1f}x smaller), the parameters {small['tensor_bytes']:,} bytes "
    f"against {full['tensor_bytes']:,} ({full['tensor_bytes'] / small['tensor_bytes']:.1f}x; not 8x, because the "
    "biases and scales stay float) — what decides whether a model fits a phone's app bundle or a microcontroller's flash.",
    f"- **Accuracy:** on the {comparison.heldout_n} held-out rows the MAE moved by {small['delta_mae']:+.3f} "
    f"({full['mae']:.3f} → {small['mae']:.3f}; R² {full['r2']:.3f} → {small['r2']:.3f}) and no prediction "
    f"changed by more than {comparison.max_abs_prediction_change:.3f}. Always measure it: quantisation can hurt "
    "a model with outlier weights much more (exercise 4).",
    f"- **Speed per prediction:** the int8 model took {small['latency_us']:.1f} µs, the full-precision one "
    f"{full['latency_us']:.1f} µs ({speed:.2f}x its speed"
    + ("). In pure Python each weight is a Python object whatever its precision, so fewer bits do not make the "
       "arithmetic faster by themselves. " if 0.8 <= speed <= 1.25 else
       f"; {'faster' if speed > 1 else 'slower'} on this run, yet in pure Python each weight is a Python object "
       "whatever its precision, so the bits are not the reason: the two models' code differs, and a busy machine "
       "moves such timings — rerun the comparison cell before you read much into it). ")
    + "On real hardware a weight-only "
    f"scheme like this one can pay in memory traffic — {full['tensor_bytes'] / small['tensor_bytes']:.1f}x fewer "
    "bytes of parameters to move, which matters for a large model limited by memory bandwidth — but not in "
    "arithmetic: int8 dot products and integer SIMD (phone NPUs, CPUs with int8 dot-product instructions) multiply "
    "int8 by int8, and here the activations stay float. Schemes that quantise the activations too can use them. "
    "A tiny model in Python can show neither.",
    f"- **Latency:** on the device the p50 was {latency_range_text(list(device_p50.values()), tick_s=tick)}, "
    f"compute only; the REST target's p50 was {latency_text(rest_run.result.p50, tick_s=tick)}"
    + (", a round trip over loopback to a real server." if "rest" in lab.servers else
       " — in the browser that is the REST adapter in-process, so no network is in it either."),
    "- **What you give up:** every device runs the version it has. Rolling out a new model means shipping an "
    "update and living with old versions in the field — version your artifacts and keep the request and "
    "response schemas backwards compatible (notebook 01 shows how).",
    f"- **Packaging:** a pickle runs code when it is loaded (the demo above recorded the call); a JSON "
    "artifact with a checksummed manifest is only data, and the one changed byte was refused.",
]
Markdown("\n".join(points))

# %% [markdown]
# ## Check yourself
#
# A few questions on the ideas of this notebook that are most often misunderstood. Click an
# option: each one says why it is right or wrong. The buttons need a running kernel: on the
# site's page, open the notebook in JupyterLite to answer. (Without widgets, the cell prints
# the questions and how to answer them from code.)

# %%
from lesson.teaching.quizzes import quiz_for
from lesson.widgets.quiz import show_quiz

show_quiz(quiz_for("05-edge"))

# %% [markdown]
# ## Exercises
#
# **1. Quantise.** Write `quantise(weights) -> (scale, ints)`: symmetric per-tensor int8 for
# a flat list of floats.

# %%
from lesson.teaching.exercises import check


def quantise(weights):
    raise NotImplementedError("your code here")


check("quantise_int8", quantise)

# %% [markdown]
# **2. Dequantise.** Write `dequantise(scale, ints) -> floats`.

# %%
def dequantise(scale, ints):
    raise NotImplementedError("your code here")


check("dequantise_int8", dequantise)

# %% [markdown]
# **3. Detect a tampered artifact.** Write `tampered_files(manifest, files)`: `files` maps
# file names to their bytes; return the sorted names of the files the manifest lists that
# are missing, have the wrong size, or whose sha256 differs from the manifest's (ignore files
# the manifest does not list). The checker runs it on the real artifact's files, untouched
# and altered.

# %%
def tampered_files(manifest, files):
    raise NotImplementedError("your code here")


check("tampered_files", tampered_files)

# %% [markdown]
# **4. The accuracy budget (no checker).** Use your two functions to quantise a weight list
# with one large outlier, e.g. `[0.01] * 99 + [5.0]`, and dequantise it again. What happened
# to the small weights? Why is per-tensor scaling fragile, and what would per-channel scaling
# change?

# %% [markdown]
# ## ONNX Runtime Web: the same file, in this browser
#
# The pure-Python model teaches the idea; a team ships the model as an `.onnx` file and runs it
# with a runtime built for the device. In this browser that runtime is **ONNX Runtime Web**: the
# same C++ ONNX Runtime compiled to WebAssembly, here its wasm-only, single-threaded build. The
# site serves its files itself (nothing comes from a CDN), and only this notebook downloads
# them, the first time the cell below asks for a session. The cell loads the three ONNX files
# shipped with the lesson (float32, int8 dynamic, int8 static) from their checksummed
# artifacts, runs them on the held-out rows, and times them exactly like the pure-Python model:
# groups of calls, because the browser's clock ticks in 0.1 ms. In local Jupyter the same files
# run with `onnxruntime` in CPython (the table above); this cell says so and measures nothing.

# %%
if lab.in_browser:
    from IPython.display import Markdown, display

    from lesson.patterns.edge_runtimes import compare_edge_runtimes
    from lesson.patterns.edge_web import ort_web_session
    from lesson.patterns.edge_web_measure import measure_ort_web, speed_ratio
    from lesson.teaching.edge_verdicts import runtime_verdicts

    browser_table = compare_edge_runtimes()  # the lesson's own runtimes, in this kernel
    web_rows = await measure_ort_web()  # downloads ONNX Runtime Web once, from this site
    for web_row in web_rows:
        browser_table.add_row(web_row)
    web_float = web_rows[0]
    print(f"ONNX Runtime Web: {web_float['runtime']}, execution provider {web_float['provider']!r}; "
          f"{web_float['runtime_bytes']:,} bytes of runtime downloaded from this site")
    float_session = await ort_web_session("diabetes-mlp-onnx")  # loaded already: no second download
    print("ORT-web float32 predictions, first 5 held-out rows:",
          await float_session.predict(lab.heldout()[0][:5]))
    display(browser_table)
    worst = web_float["max_rel_diff_vs_python"]
    print(f"float32 ORT-web vs the pure-Python float model, {browser_table.heldout_n} held-out rows: "
          f"largest relative difference {worst:.1e}, {'within' if worst <= 1e-6 else 'NOT within'} 1e-6")
    python_float = browser_table.row("pure-Python float")
    from_python = {key: python_float[key] / web_float[f"{key}_from_python"] for key in ("b1_p50_us", "b64_p50_us")}
    print(f"batch 64: ORT-web float32 ran at {speed_ratio(python_float, web_float):.1f}x the pure-Python "
          f"model's speed (batch 1: {speed_ratio(python_float, web_float, 1):.2f}x), called from a "
          f"JavaScript loop; awaited one call at a time from Python: {from_python['b64_p50_us']:.1f}x "
          f"(batch 1: {from_python['b1_p50_us']:.2f}x): each await of a JavaScript promise from Python "
          f"costs ~{web_float['b1_p50_us_from_python'] - web_float['b1_p50_us']:,.0f} µs here")
    web_verdicts = [line for line in runtime_verdicts(browser_table) if "ORT-web" in line]
    display(Markdown("\n".join(f"- {line}" for line in web_verdicts)))
else:
    print("ONNX Runtime Web runs in the browser: open this notebook in JupyterLite (the site's "
          "'Open in JupyterLite' button) to run the three .onnx files there. Here, in CPython, "
          "the same files run with onnxruntime.")

# %% [markdown]
# Read the lines under the table (in JupyterLite): they are computed from it. The `.onnx` file is
# the one `onnxruntime` runs in CPython, byte for byte. What a device pays is mostly the
# runtime's download, not the model's. And the bridge matters: a page calls the session from its
# own script, while this kernel can also await each call from Python, which crosses into
# JavaScript and back every time; the two ratios printed above show what that crossing costs.

# %%
lab.close()
