# %% [markdown]
# # 01 · REST: one request, one response, over HTTP
#
# REST is where most models start their life in production: a URL, a JSON body, a JSON answer.
# Every language and every tool speaks it, so it is the easiest pattern to call, debug, cache,
# secure and document. In this notebook you will
#
# 1. send the lesson's V1 request to a REST endpoint and read the answer and its metadata;
# 2. see what a *bad* request gets back — a typed error that names the field — and why that is
#    part of the contract, not an afterthought;
# 3. load-test the endpoint and read its latency percentiles, then compare it with the same
#    model called as a plain function, to see what the transport costs;
# 4. change the contract without breaking anyone: add a field, serve two versions of the
#    model side by side, and watch old and new clients keep working.
#
# The model is the lesson's real one: `diabetes-mlp`, a small neural network (one hidden layer
# of ReLU units) trained on the scikit-learn diabetes data, shipped as a checksummed artifact.
# It predicts disease progression one year after baseline from ten measurements of a patient.
#
# The first cell sets the lab up. In local Jupyter it starts the real REST server (FastAPI
# served by uvicorn) and the gRPC server on free `127.0.0.1` ports, both serving that model
# (run by numpy), and stops them when the kernel shuts down. In JupyterLite (this notebook
# running in your browser) there are no sockets, so the same REST handler runs in-process with
# the pure-Python copy of the model. The line it prints says which path ran.

# %%
import lesson
from lesson.lab import setup

lab = setup()  # the real model, diabetes-mlp; in local Jupyter its REST and gRPC servers too
patients, progression = lab.heldout()  # held-out patients and their observed progression

# %% [markdown]
# ## The contract
#
# The request is `{"instances": [...]}`: one row of features, or a list of rows. The response
# is `{"predictions": [...], "metadata": {...}}` with one prediction per row. `lab.endpoint("rest")`
# is a function that sends a payload to the REST target and returns the decoded response —
# over the wire when the server runs, in-process in the browser. The row is one patient from
# the held-out data that ships with the artifact; these are the ten features, in order:

# %%
print(", ".join(feature["name"] for feature in lab.model.metadata().inputs[0]["features"]))
patient = patients[0]
rest = lab.endpoint("rest")
response = rest({"instances": [patient]})
response

# %% [markdown]
# The metadata says which transport answered, which model and which version, and
# `latency_ms`: the time the *server* spent validating and predicting. The client waits
# longer than that — serialisation, the network, queueing — and that difference is what the
# load test below measures.
#
# One request may carry several rows. The server scores them in one call and returns the
# predictions in the same order:

# %%
answer = rest({"instances": patients[:3]})["predictions"]
for predicted, observed in zip(answer, progression[:3]):
    print(f"predicted {predicted:6.1f}   observed a year later {observed:6.1f}")

# %% [markdown]
# ## Validation is part of the API
#
# A server that accepts anything will, sooner or later, return a confident wrong answer to a
# malformed request. The lesson's service validates every request first and refuses a bad one
# with an error that names the field and the problem (over HTTP: status 422, or 413 when the
# body is too large). `lab.try_call` sends a payload and shows the error instead of raising it:

# %%
from lesson.core.schema import DEFAULT_LIMITS, parse_v1_request

bad_requests = {
    "missing field": {"rows": [[0.1, 0.2]]},
    "wrong type": {"instances": [[0.1, "high"]]},
    "empty": {"instances": []},
    "ragged rows": {"instances": [[0.1, 0.2], [0.3]]},
    "a bool is not a number": {"instances": [[True, 0.2]]},
    "3 features, not 10": {"instances": [patient[:3]]},
    "too many rows": {"instances": [[0.0, 0.0]] * (DEFAULT_LIMITS.max_instances + 1)},
}
for name, payload in bad_requests.items():
    answer = lab.try_call("rest", payload)
    print(f"{name:24} -> {answer.get('error', answer)}")

# %% [markdown]
# The bounds are explicit and configurable — a request can never make the server allocate
# without limit:

# %%
DEFAULT_LIMITS

# %% [markdown]
# The same parser runs behind every transport (REST, gRPC, batch, streaming, edge), so they
# all refuse the same inputs with the same messages. Here is how it checks one value — note
# that `True` is refused although Python treats it as the number 1 (run
# `parse_v1_request??` to read the whole parser):

# %%
lab.show_source(lesson.core.schema.as_number)

# %% [markdown]
# ## What travels on the wire
#
# With the real server running, here is the raw exchange: a `POST` to
# `/v1/models/{name}:predict` with a JSON body, and the status line, headers and body that come
# back. (In the browser there is no socket, so this cell says so instead.)

# %%
import json
import urllib.error
import urllib.request

if "rest" in lab.servers:
    url = f"{lab.servers['rest'].url}/v1/models/{lab.model.name}:predict"
    for body in ({"instances": [patient]}, {"instances": [[0.2, "x"]]}):
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                status, headers, text = reply.status, reply.headers, reply.read().decode()
        except urllib.error.HTTPError as error:
            status, headers, text = error.code, error.headers, error.read().decode()
        print(f"POST {url}\n  body    {json.dumps(body)}")
        print(f"  status  {status}\n  type    {headers['content-type']}\n  reply   {text}\n")
else:
    print("In-process path: no HTTP here. Run this notebook in local Jupyter to see the wire.")

# %% [markdown]
# ## Load-test it
#
# One request tells you almost nothing about latency: the next one may queue behind another,
# hit a garbage collection, or wait for a free worker. A load test sends many requests and
# reports the *distribution*: p50 (the median), p90, p95, p99 and the maximum.
#
# The panel below is bounded (at most 5,000 requests and 20 seconds a run), so no click can
# start an endless run. *Concurrency* is how many requests are in flight at once in a closed
# loop (each worker waits for its answer before sending the next). A *rate* above 0 switches
# to an open loop: requests leave on a schedule that does not depend on the answers, as real
# users keep arriving while a server is slow. (The schedule here is evenly spaced; real arrivals
# are closer to random — Poisson — and burstier, and bursts queue where even spacing barely does:
# notebook 06 compares them.)

# %%
panel = lab.panel("rest", requests=300, concurrency=4)
panel

# %% [markdown]
# The next cell runs a small load test from code, exactly as pressing **Run** does, and shows
# its table and chart here (the panel keeps every run for comparison). Then it runs the same
# load against the model called as a plain function, with no transport at all.

# %%
over_rest = await panel.run_async()
as_function = await panel.run_async(target="in-process")
panel.report()

# %%
from lesson.teaching.verdicts import latency_text

rest_p50, fn_p50 = over_rest.result.p50, as_function.result.p50
tick = as_function.result.clock_resolution
print(f"p50 through the REST target: {latency_text(rest_p50, tick_s=tick)}; "
      f"as a plain call: {latency_text(fn_p50, tick_s=tick)} (clock resolution {tick * 1e6:.3g} µs)")
if fn_p50 <= 2 * tick:
    print(f"The plain call is within two ticks of this clock ({tick * 1000:.2g} ms per tick): "
          "too fast to time one call at a time here, so the ratio would mean nothing.")
else:
    print(f"The REST target's median is about {float(f'{rest_p50 / fn_p50:.2g}'):,.0f}x the plain call's.")
print(f"throughput: {over_rest.result.throughput:,.0f} req/s vs {as_function.result.throughput:,.0f} req/s")
n_parameters = sum(len(layer.weights) * len(layer.weights[0]) + len(layer.bias) for layer in lab.model.params.layers)
print(f"the model: {n_parameters} weights and biases, {lab.model.n_features} inputs")

# %% [markdown]
# ## What to notice
#
# Each point below is computed from the runs above (rerun them and the sentences change).

# %% tags=["hide-input"]
import os

from IPython.display import Markdown

from lesson.teaching.verdicts import latency_text, ratio

r = over_rest.result
session = 20  # calls a page view or short session might make (an assumption, not measured here)
tail = ratio(r.p99, r.p50, tick_s=tick)
notes = [
    f"- **Percentiles, not the mean.** Through the REST target p50 was {latency_text(r.p50, tick_s=tick, digits=2)} "
    f"and p99 {latency_text(r.p99, tick_s=tick, digits=2)}" + (f" ({tail:.1f}x)" if tail is not None else "")
    + ": 1 *request* in 100 took longer than the p99. The mean "
    f"({latency_text(r.avg_latency, tick_s=tick, digits=2)}) mixes the fast and the slow into one figure that says neither.",
    f"- **Users make many requests.** A user whose page or session makes {session} calls sees at least one slower "
    f"than the p99 with probability 1 − 0.99^{session} = {1 - 0.99 ** session:.0%} (if the calls' latencies are "
    "independent): the tail is common, not rare.",
]
if fn_p50 > 2 * tick:
    share = max(0.0, 1 - fn_p50 / rest_p50)
    notes.append(f"- **The transport dominates.** The model has {n_parameters} weights and biases; calling it as a "
                 f"plain function took {latency_text(fn_p50, tick_s=tick)} at p50, so {share:.0%} of the REST target's median is "
                 "the transport (HTTP, JSON, the network stack, the client). With a heavy model that share shrinks, "
                 "but the fixed cost per request stays.")
else:
    notes.append(f"- **The transport dominates** — or would, if this clock could time one plain call "
                 f"({tick * 1000:.2g} ms per tick): the model has only {n_parameters} weights and biases.")
notes.append("- **Concurrency is not free.** Raise *Concurrency* in the panel to 16 and run again: watch whether "
             "throughput still rises and how p99 moves as requests queue. Notebook 06 explores this on purpose.")
if "rest" in lab.servers:
    notes.append(f"- **The load generator is part of the measurement.** The client ran in this kernel, in Python "
                 f"threads, on the same {os.cpu_count()} CPU(s) as the server, so the "
                 f"{r.throughput:,.0f} req/s include its cost too.")
else:
    notes.append(f"- **In the browser** every \"request\" was a function call on a clock that ticks every "
                 f"{tick * 1000:.2g} ms, and the event loop's own scheduling set the throughput: the figures show the "
                 "adapters and the browser, not a network.")
Markdown("\n".join(notes))

# %% [markdown]
# ## Changing the contract without breaking clients
#
# Clients upgrade on their own schedule: a mobile app released last year still sends last
# year's request. So a serving API may *grow*, but every request that worked yesterday must
# still work today. Two things get versioned, on different clocks:
#
# - the **request contract** — which fields a body may carry (`lesson.teaching.evolution.RequestContract`);
# - the **model** — which weights answer (the `ModelRegistry` holds several versions by name).
#
# The demonstration serves `diabetes-mlp` in two real versions: **v1** with the shipped float
# weights, whose contract accepts `instances` and nothing else (strictly: an unknown field is
# refused, so a typo cannot pass unnoticed), and **v2**, the same network with int8 weights,
# whose contract adds an *optional* field `request_id` that the server echoes back. v2 was
# registered last, so a request that names no version gets it.
#
# In local Jupyter the cell starts the real REST app (FastAPI + uvicorn) for this service on
# another loopback port, in a thread of this kernel; in the browser the same calls go to the
# service in-process. Either way each line shows the route, the status and the answer.

# %%
from lesson.teaching.evolution import CONTRACT_V1, CONTRACT_V2, CONTRACT_V2_REQUIRED, rollout_service
from lesson.teaching.rollout import RolloutClient

rollout = rollout_service()
client = RolloutClient.connect(rollout, over_http="rest" in lab.servers)
print("requests go to:", client.where)
for meta in rollout.registry.list():
    contract = rollout.contract_for(rollout.registry.get(meta.name, meta.version))
    fields = ", ".join(f.name for f in contract.fields) or "none"
    print(f"  {meta.name} v{meta.version} ({meta.platform}): contract v{contract.version}, optional fields: {fields}")

# %%
old_body = {"instances": [patient]}                           # last year's client
new_body = {"instances": [patient], "request_id": "visit-0042"}  # this year's client
print(client.explain("old client, default route (no version named)", old_body))
print(client.explain("old client, pinned to v1", old_body, version="1"))
print(client.explain("new client, default route", new_body))
print(client.explain("new client sends its new field to v1", new_body, version="1"))
print(client.explain("a client pins a version that does not exist", old_body, version="3"))

# %% [markdown]
# Read the lines above from top to bottom:
#
# - the **old client** got a valid answer from both versions: adding an optional field broke
#   nobody;
# - the **new client** got its `request_id` back from v2 — and a 422 naming
#   `body.request_id` from v1, whose strict contract does not know it. That is why the order
#   of a rollout matters: first every route a client may reach (every server, every version
#   it may be pinned to) accepts the new field, then clients start sending it;
# - an unknown version is a 404 that lists the versions that exist.
#
# **Pinning versus default routing.** A client that names no version moved to v2 the moment
# v2 was registered, and its answer changed without it asking. A client that pins `v1` keeps
# v1's answer until it chooses to move:

# %%
pinned = client.predict(old_body, version="1").body["predictions"][0]
default = client.predict(old_body).body["predictions"][0]
print(f"pinned to v1: {pinned:.4f}; default route (v2 now): {default:.4f}; "
      f"difference {default - pinned:+.4f} for the same patient")

# %% [markdown]
# **Which changes break old clients?** `changes_from` compares two contracts and marks each
# change. Adding an optional field is compatible; making it required is not — and it is cheap
# to check before shipping (a test in CI), rather than after, from the error logs:

# %%
for change in CONTRACT_V2.changes_from(CONTRACT_V1):
    print("v1 -> v2 as shipped:", change)
for change in CONTRACT_V2_REQUIRED.changes_from(CONTRACT_V1):
    print("v1 -> v2 had it made request_id required:", change)
with RolloutClient.connect(rollout_service({"1": CONTRACT_V1, "2": CONTRACT_V2_REQUIRED}),
                           over_http="rest" in lab.servers) as breaking:
    print(breaking.explain("old client, if v2 had shipped with request_id REQUIRED", old_body))

# %% [markdown]
# **A tolerant reader hides the problem instead.** The lesson's main REST server (the one the
# load test used; in the browser, its handler in-process) does not reject unknown fields; it
# ignores them. A new client talking to it gets a 200 — and no sign that its field was
# dropped, unless it checks for the echo:

# %%
reply = rest({"instances": [patient], "request_id": "visit-0042"})
print("status 200; metadata keys:", sorted(reply["metadata"]))
print("request_id echoed?", "request_id" in reply["metadata"])
client.close()

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

show_quiz(quiz_for("01-rest"))

# %% [markdown]
# ## Exercises
#
# **1. Add validation for a new field.** Clients want to send an optional decision
# `"threshold"` with the instances. Write `parse(payload) -> (rows, threshold)`: rows as
# `parse_v1_request` returns them, and `threshold` a number in [0, 1] (default 0.5).
# Reject anything else with `lesson.ValidationError` naming the field.

# %%
from lesson.teaching.exercises import check


def parse(payload):
    raise NotImplementedError("your code here")


check("validate_threshold", parse)

# %% [markdown]
# **2. Map failures to status codes.** Write `status_for(kind) -> (http_status, grpc_code)` for
# the kinds `unknown_model`, `invalid_body`, `too_large`, `overloaded` and `timeout`
# (`grpc_code` as the upper-case name, e.g. `"NOT_FOUND"`).

# %%
def status_for(kind):
    raise NotImplementedError("your code here")


check("status_for_error", status_for)

# %% [markdown]
# **3. Evolve a contract without breaking old clients.** A partner team wants to send the
# name of their app in an optional string field `client` (at most 32 characters). Return a
# `RequestContract` version `"3"` that keeps every v2 body valid, accepts `client`, refuses a
# bad `client` naming the field, and still refuses misspelt fields. Check yourself first with
# `contract.changes_from(CONTRACT_V2)`.

# %%
from lesson.teaching.evolution import Field, RequestContract

contract_v3 = RequestContract("3", (Field("client", "string", required=True),))  # fix me
check("compatible_contract", contract_v3)

# %% [markdown]
# **4. Find the knee (no checker: read your own figures).** In the panel, run the REST target
# at concurrency 1, 4, 16 and 64 with 1,000 requests each. At which concurrency does
# throughput stop growing? What happens to p99 after that point, and why? Then keep
# concurrency at 4 and raise *Instances per request* from 1 to 64: throughput in *requests*
# per second falls — what happens to *rows* per second (requests/s × instances)?

# %% [markdown]
# When you are done, stop the servers (they also stop when the kernel shuts down):

# %%
lab.close()
