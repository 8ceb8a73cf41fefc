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
#    model called as a plain function, to see what the transport costs.
#
# The first cell sets the lab up. In local Jupyter it starts the real REST server (FastAPI
# served by uvicorn) and the gRPC server on free `127.0.0.1` ports, and stops them when the
# kernel shuts down. In JupyterLite (this notebook running in your browser) there are no
# sockets, so the same REST handler runs in-process. The line it prints says which path ran.

# %%
import lesson
from lesson.lab import setup, show_source

lab = setup()

# %% [markdown]
# ## The contract
#
# The request is `{"instances": [...]}`: one row of features, or a list of rows. The response
# is `{"predictions": [...], "metadata": {...}}` with one prediction per row. `lab.endpoint("rest")`
# is a function that sends a payload to the REST target and returns the decoded response —
# over the wire when the server runs, in-process in the browser.

# %%
rest = lab.endpoint("rest")
response = rest({"instances": [[0.2, 0.4, 0.6, 0.8]]})
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
rest({"instances": [[0.1, 0.2, 0.3, 0.4], [0.9, 0.8, 0.7, 0.6], [0.5, 0.5, 0.5, 0.5]]})["predictions"]

# %% [markdown]
# ## Validation is part of the API
#
# A server that accepts anything will, sooner or later, return a confident wrong answer to a
# malformed request. The lesson's service validates every request first and refuses a bad one
# with an error that names the field and the problem (over HTTP: status 422, or 413 when the
# body is too large). `lab.try_call` sends a payload and shows the error instead of raising it:

# %%
bad_requests = {
    "missing field": {"rows": [[0.1, 0.2]]},
    "wrong type": {"instances": [[0.1, "high"]]},
    "empty": {"instances": []},
    "ragged rows": {"instances": [[0.1, 0.2], [0.3]]},
    "a bool is not a number": {"instances": [[True, 0.2]]},
    "too many rows": {"instances": [[0.0, 0.0]] * (lesson.DEFAULT_LIMITS.max_instances + 1)},
}
for name, payload in bad_requests.items():
    answer = lab.try_call("rest", payload)
    print(f"{name:24} -> {answer.get('error', answer)}")

# %% [markdown]
# The bounds are explicit and configurable — a request can never make the server allocate
# without limit:

# %%
lesson.DEFAULT_LIMITS

# %% [markdown]
# The same parser runs behind every transport (REST, gRPC, batch, streaming, edge), so they
# all refuse the same inputs with the same messages. Here is how it checks one value — note
# that `True` is refused although Python treats it as the number 1 (run
# `lesson.parse_v1_request??` to read the whole parser):

# %%
show_source(lesson.schema.as_number)

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
    url = f"{lab.servers['rest'].url}/v1/models/averaged_ensemble:predict"
    for body in ({"instances": [[0.2, 0.4, 0.6, 0.8]]}, {"instances": [[0.2, "x"]]}):
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
# to an open loop: requests leave on a fixed schedule whether or not earlier ones have
# answered, like real users do.

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
rest_p50, fn_p50 = over_rest.result.p50, as_function.result.p50
tick = as_function.result.clock_resolution
print(f"p50 through the REST target: {rest_p50 * 1000:.3f} ms; as a plain call: {fn_p50 * 1000:.4f} ms")
if fn_p50 <= 2 * tick:
    print(f"The plain call is within two ticks of this clock ({tick * 1000:.2g} ms per tick): "
          "too fast to time one call at a time here, so the ratio would mean nothing.")
else:
    print(f"The REST target's median is {rest_p50 / fn_p50:,.0f}x the plain call's.")
print(f"throughput: {over_rest.result.throughput:,.0f} req/s vs {as_function.result.throughput:,.0f} req/s")

# %% [markdown]
# ## What to notice
#
# - **Percentiles, not the mean.** The gap between p50 and p99 is the experience of your unluckiest
#   users in every hundred. Read both.
# - **The transport dominates.** The model here is tiny, so almost all of the REST latency is
#   HTTP, JSON and the network stack — compare the two rows above. With a heavy model the
#   ratio shrinks, but the fixed cost per request stays.
# - **Concurrency is not free.** Raise *Concurrency* in the panel to 16 and run again: throughput
#   rises while the server has idle capacity, then p99 climbs as requests queue. The
#   load-testing notebook (06) explores this on purpose.
# - **The load generator is part of the measurement.** Here the client runs in this kernel, in
#   Python threads, on the same CPU as the server, so the figures include its cost too.
# - In the browser every "request" is a function call, the clock ticks in steps of about
#   0.1 ms, and the event loop's own scheduling dominates throughput: the figures there show
#   the adapters and the browser, not a network.

# %% [markdown]
# ## Exercises
#
# **1. Add validation for a new field.** Clients want to send an optional decision
# `"threshold"` with the instances. Write `parse(payload) -> (rows, threshold)`: rows as
# `lesson.parse_v1_request` returns them, and `threshold` a number in [0, 1] (default 0.5).
# Reject anything else with `lesson.ValidationError` naming the field.

# %%
from lesson.exercises import check


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
# **3. Find the knee (no checker: read your own figures).** In the panel, run the REST target
# at concurrency 1, 4, 16 and 64 with 1,000 requests each. At which concurrency does
# throughput stop growing? What happens to p99 after that point, and why?
#
# **4. Payload size.** Keep concurrency at 4 and raise *Instances per request* from 1 to 64.
# Throughput in *requests* per second falls — what happens to *rows* per second
# (requests/s × instances)? What does that tell you about batching on the client's side?

# %% [markdown]
# When you are done, stop the servers (they also stop when the kernel shuts down):

# %%
lab.close()
