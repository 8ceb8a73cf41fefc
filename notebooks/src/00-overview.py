# %% [markdown]
# # 00 · Overview: six ways to serve a prediction
#
# You have a trained model. Next month it has to answer real traffic. *How* it answers — a REST
# endpoint, a gRPC service, a nightly batch job, a stream consumer, code on the user's
# device, or (for a language model) a stream of tokens — decides its latency, its cost, what happens when the network fails, and how you
# will test it. This lesson shows each pattern running for real, and measures it honestly.
#
# **What you will learn**
#
# - the six serving patterns, what each is good at, and a rubric to choose between the first
#   five (generative serving answers a different question: text, token by token);
# - the request/response contract every pattern shares, and why validation belongs in it;
# - how to load-test a prediction service: percentiles instead of averages, closed versus
#   open loop, and why a stalled server can hide in the wrong kind of test;
# - the operations around a model server: timeouts, retries, load shedding, readiness,
#   canary and shadow deployments.
#
# **Four ways to use the lesson**
#
# 1. *Read* the site: every notebook is there with its outputs, executed on the build machine.
# 2. *Run in your browser*: the **Open in JupyterLite** button runs the notebook offline in
#    the page (Pyodide). There are no sockets there, so the patterns run in-process.
# 3. *Run locally*: `make lab` (it installs what it needs, then starts JupyterLab on 127.0.0.1 over `notebooks/`).
#    Then the notebooks start real REST and gRPC servers on `127.0.0.1`.
# 4. *Use the command line*: `python -m lesson` runs the demo; `lesson serve rest`,
#    `lesson serve grpc` and `lesson loadtest --url ...` run servers and load tests.
#
# The first cell sets the lab up and prints which of the two worlds it found. Every pattern
# serves the lesson's real model, `diabetes-mlp`: a small neural network trained on the
# scikit-learn diabetes data, shipped inside the package as a checksummed artifact.

# %%
import lesson
from lesson.lab import setup

lab = setup()  # the real model, diabetes-mlp; in local Jupyter its REST and gRPC servers too
patients, progression = lab.heldout()  # held-out patients and their observed progression

# %% [markdown]
# ## The landscape
#
# `describe_serving_landscape()` is the lesson's one-line summary of each pattern. The
# *latency* column is a claim, not a measurement — notebook 06 replaces it with figures
# measured on the machine that ran it.

# %%
from lesson.widgets import table

landscape = lesson.describe_serving_landscape()
table([{"pattern": name, **facts} for name, facts in landscape.items()],
      caption="describe_serving_landscape(): what each pattern is for")

# %% [markdown]
# ## The simplest model, and the real one
#
# A model, to a server, is anything that turns a row of numbers into a prediction. The
# original lesson's toy, `averaged_ensembled_model`, is the smallest possible example — the
# mean of the features, scaled — and it still works everywhere in the package:

# %%
lesson.averaged_ensembled_model([0.2, 0.4, 0.6])

# %% [markdown]
# The real model takes ten measurements of a patient (age, sex, body-mass index, blood
# pressure and six blood serum values) and predicts disease progression one year later. Its
# metadata says what it is; the held-out rows shipped with it let us compare its predictions
# with what was observed:

# %%
print(lab.model.metadata().description)
for row, observed in zip(patients[:3], progression[:3]):
    print(f"predicted {lab.model.predict([row])[0]:6.1f}   observed {observed:6.1f}")

# %% [markdown]
# ## One model, many doors
#
# Every pattern is a thin layer over one core: *validate → predict → respond*. So the same
# input gets the same prediction through every door, and the metadata says which door it
# came through. `lab.targets` holds them all; here is one request sent to each:

# %%
payload = {"instances": [patients[0]]}
rows = []
for key, target in lab.targets.items():
    response = lab.endpoint(key)(payload)
    rows.append({"target": key, "pattern": target.pattern, "transport (metadata)": response["metadata"]["transport"],
                 "prediction": f'{response["predictions"][0]:.4f}'})
spread = max(float(r["prediction"]) for r in rows) - min(float(r["prediction"]) for r in rows)
print(f"largest difference between any two targets: {spread:.4f}")
table(rows, caption="The same request through every target")

# %% [markdown]
# The core that all of them call is short enough to read:

# %%
lab.show_source(lesson.PredictionService.predict)

# %% [markdown]
# ## A first load test
#
# The original lesson measured an endpoint with `run_synthetic_load_test`: call it once per
# payload, one after another, and report the average latency and throughput. It now reports
# percentiles too — and the difference between the average and the p99 is the first lesson
# about latency: a few slow requests pull the average up, yet it cannot say how many there were
# or how slow they were; the p99 and the max can.

# %%
payloads = [{"instances": [patients[i % len(patients)]]} for i in range(200)]
first = lesson.run_synthetic_load_test(lab.endpoint("rest"), payloads)
first

# %%
from lesson.teaching.verdicts import latency_text  # digits to the clock's resolution, or "below" it

tick = first.clock_resolution
print(f"average {latency_text(first.avg_latency, tick_s=tick)}, p50 {latency_text(first.p50, tick_s=tick)}, "
      f"p99 {latency_text(first.p99, tick_s=tick)}, max {latency_text(first.max_latency, tick_s=tick)} "
      f"(clock resolution {tick * 1e6:.3g} µs)")

# %% [markdown]
# ## The load-test panel
#
# Every notebook has a panel like this one. Pick a target, set the load, press **Run**. Each
# run is bounded (requests and seconds), keeps its results, and draws them beside the earlier
# runs. The cell after it runs two small tests from code so that this page shows real figures.

# %%
panel = lab.panel("rest", requests=300, concurrency=4)
panel

# %%
by_target = {key: await panel.run_async(target=key) for key in ("rest", "grpc", "in-process")}
panel.report()

# %% [markdown]
# ## Choosing a pattern
#
# The lesson's rubric applies a few ordered rules to numbers you know about your workload —
# who calls, how fresh a prediction must be, the p99 objective, whether it must work offline,
# whether the answer is text a model writes token by token.
# It states its reasons so that you can disagree with a specific one.

# %%
from lesson.teaching.rubric import RUBRIC, Workload, recommend_pattern

table(RUBRIC, caption="The rubric, in the order its rules apply")

# %%
print(recommend_pattern(Workload(caller="service", p99_slo_ms=50, requests_per_s=2000)))
print(recommend_pattern(Workload(caller="scheduler", freshness_s=24 * 3600, requests_per_s=50)))
print(recommend_pattern(Workload(caller="device", must_work_offline=True)))
print(recommend_pattern(Workload(caller="browser", p99_slo_ms=500, generates_text=True)))

# %% [markdown]
# ## What to notice
#
# Each point is computed from the runs above (rerun them and the sentences change).

# %% tags=["hide-input"]
from IPython.display import Markdown

from lesson.teaching.verdicts import compare_text, latency_text

answers = {}
for row in rows:
    answers.setdefault(row["prediction"], []).append(row["target"])
common = max(answers, key=lambda p: len(answers[p]))
others = [f"{', '.join(targets)} returned {p}" for p, targets in answers.items() if p != common]
tick = first.clock_resolution
gap = (first.avg_latency - first.p50) / first.p50 if first.p50 > tick else None
notes = [
    f"- **One model, many doors.** {len(answers[common])} of {len(rows)} targets returned {common}"
    + (f"; {'; '.join(others)} ("
       + (f"the servers ({', '.join(sorted(lab.servers))}) run the model with numpy, the in-process targets in pure "
          "Python, and " if lab.servers else "every target ran in this kernel, in pure Python; ")
       + f"the edge target rounds its inputs to 3 places first: the largest difference was {spread:.4f})"
       if others else ", every one of them") + ". The patterns differ in *transport* and *timing*, not in the model, "
    "which is what makes it safe to move a model from one pattern to another.",
    f"- **An average describes nobody.** The first load test's mean was {latency_text(first.avg_latency, tick_s=tick)}"
    + (f", {abs(gap):.0%} {'above' if gap > 0 else 'below'} its p50 ({latency_text(first.p50, tick_s=tick)})"
       if gap is not None else f", its p50 {latency_text(first.p50, tick_s=tick)}")
    + f"; its p99 was {latency_text(first.p99, tick_s=tick)} and its slowest request "
    f"{latency_text(first.max_latency, tick_s=tick)}: the mean mixes the slow requests into a figure no request "
    "had, while the percentiles say what the typical and the unlucky user saw.",
]
fn = by_target["in-process"].result
for key, name in (("rest", "REST"), ("grpc", "gRPC")):
    r = by_target[key].result
    notes.append(f"- **{name} against a plain call.** " + compare_text(f"The {name} target", r.p50, "the plain call", fn.p50,
                                                 tick_s=r.clock_resolution)
                 + (" — over a real network stack: for a small model, the transport *is* the latency."
                    if key in lab.servers and r.p50 > fn.p50 else
                    " — in-process here: no network is in either figure." if key not in lab.servers else "."))
Markdown("\n".join(notes))

# %% [markdown]
# ## Where to go next
#
# `01-rest` and `02-grpc` (online serving), `03-batch` (throughput and dynamic batching),
# `04-streaming` (events), `05-edge` (on the device), `06-load-testing` (every pattern under
# the same load, and the traps of load testing), `07-resilience` (timeouts, retries and load
# shedding), `08-rollout` (versions, canary and shadow deployments, schema evolution) and
# `09-capstone` (serve it for real: meet an SLO, checked with an open-loop test).

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

show_quiz(quiz_for("00-overview"))

# %% [markdown]
# ## Exercises
#
# **1. Choose a pattern for four scenarios.** `lesson.teaching.exercises.SCENARIOS` describes four
# workloads. Return a dict mapping each scenario's name to one of `"REST"`, `"gRPC"`,
# `"batch"`, `"streaming"`, `"edge"`, `"generative"`.

# %%
from lesson.teaching.exercises import SCENARIOS, check

for name, workload in SCENARIOS.items():
    print(f"{name}: {workload}")

# %%
answer = {name: "REST" for name in SCENARIOS}  # change these
check("pick_patterns", answer)

# %% [markdown]
# **2. Compute a percentile.** Write `percentile(samples, q)` returning the nearest-rank
# q-th percentile: the smallest sample such that at least q % of the samples are ≤ it.

# %%
def percentile(samples, q):
    raise NotImplementedError("your code here")


check("percentile", percentile)

# %% [markdown]
# **3. Read the panel (no checker).** Run the panel's `in-process` target with 1 and then 8
# workers. Does the throughput grow eight-fold?
#
# - *In local Jupyter* the load generator runs in Python threads inside this kernel, and the
#   model is Python too: what limits them?
# - *In the browser* there are no threads: the 8 "workers" are asyncio tasks on one event
#   loop, and the in-process model never yields while it computes. How many predictions can
#   run at the same moment, then, and what does concurrency change?

# %%
lab.close()
