# %% [markdown]
# # 07 · Resilience: keeping a model server up
#
# A model server that answers correctly on a quiet afternoon is half the job. The other half
# is what it does when things go wrong: a slow dependency, a traffic spike, a deploy, a flood
# of calls it should never have received. In this notebook you will
#
# 1. bound every wait with a **timeout**, and see what the caller gets when it fires;
# 2. watch **load shedding** at work: two real servers (local Jupyter) given the same overload,
#    one with a deep queue and one that refuses early, with the queue inside each charted;
# 3. measure a **retry storm**: how naive retries multiply load exactly when the server is
#    overloaded, and how backoff with jitter avoids it;
# 4. see **liveness, readiness and draining**: what a load balancer needs to know while a
#    server stops;
# 5. put **authentication at the boundary**: a gateway checks the API key; the model server
#    never sees it;
# 6. **observe it**: a real Prometheus scrapes the servers (local Jupyter), a burn-rate alert
#    fires during an injected fault, and the p99 it estimates is set beside the exact one;
# 7. **scale out**: replicas and autoscaling on Ray Serve, a recorded step-load run beside a
#    simulation of the same policy, and the cold start after scaling to zero.
#
# Rolling out a new model version (shadow, canary, rollback, schema evolution) is the next
# notebook, 08.

# %%
import asyncio
import time

import lesson
from lesson.lab import setup
from lesson.widgets import table

lab = setup()  # the real model, diabetes-mlp; in local Jupyter its REST and gRPC servers too
patients, progression = lab.heldout()  # held-out patients and their observed progression

# %% [markdown]
# For these experiments we need a model with a real cost per call. The lesson's **simulated
# accelerator** holds a "device" for a fixed time per call, one call at a time (it sleeps; it
# is a simulation and says so in its metadata). Its capacity is easy to reason about.

# %%
from lesson.models.accelerator import SimulatedAcceleratorModel

slow_device = SimulatedAcceleratorModel(lab.model, fixed_cost_s=0.050)  # 50 ms per call
slow_device.metadata().description

# %% [markdown]
# ## 1. Timeouts
#
# Without a timeout, a caller waits as long as the slowest dependency. With one, it gives up
# after a bound and can fall back (a cached answer, a default, an error the user understands).
# `asyncio.wait_for` is the building block; gRPC calls carry a *deadline* that the server sees
# too, and the lesson's servers have a per-request `timeout_s` (HTTP 504 / `DEADLINE_EXCEEDED`).

# %%
rows = [patients[0]]
timeouts = []
for timeout_s in (0.2, 0.01):
    start = time.perf_counter()
    try:
        prediction = await asyncio.wait_for(slow_device.predict_async(rows), timeout=timeout_s)
        outcome = f"answered {prediction}"
    except asyncio.TimeoutError:
        outcome = "gave up (TimeoutError)"
    waited_ms = (time.perf_counter() - start) * 1000
    timeouts.append({"timeout ms": timeout_s * 1000, "answered": outcome.startswith("answered"), "waited ms": waited_ms})
    print(f"timeout {timeout_s * 1000:>5.0f} ms: {outcome} after {waited_ms:.1f} ms")

# %% [markdown]
# A timeout frees the *caller*. The work it abandoned may still be running on the server —
# which is why deadlines should travel with the request, and why a server should stop work
# whose caller has gone.
#
# ## 2. Load shedding
#
# A server that accepts every request queues them when it is overloaded; the queue grows, every
# request gets slower, and eventually all of them time out — *nobody* is served. Shedding
# refuses what it cannot serve soon (HTTP 503 / `RESOURCE_EXHAUSTED`), quickly, so the rest are
# served on time and the client knows to back off.
#
# In local Jupyter the next cell starts two REST servers in front of the simulated 2 ms device
# (so about 500 calls a second at most) — one that accepts up to 32 requests in flight, one
# that sheds above 4 — and sends both the same open-loop overload: 700 requests per second for
# about a second, with up to 64 in flight from the client, so both servers' bounds really bind.
# While each run goes on, a sampler reads the server's own `lesson_requests_in_flight` gauge
# from `/metrics` every 20 ms: the queue *inside* the server.

# %%
import re
import urllib.request
from contextlib import ExitStack

from IPython.display import display

from lesson.widgets.charts import display_chart, line_chart

IN_FLIGHT = re.compile(r"^lesson_requests_in_flight\{[^}]*\} ([0-9.e+]+)$", re.M)


async def sampled(url, run, every_s=0.02):
    """Run ``run`` (a coroutine) while sampling the server's in-flight gauge; (record, samples)."""
    samples, loop = [], asyncio.get_running_loop()

    def read():
        text = urllib.request.urlopen(url + "/metrics", timeout=2).read().decode()
        return float(IN_FLIGHT.search(text).group(1))

    task = asyncio.ensure_future(run)
    while not task.done():
        samples.append(await loop.run_in_executor(None, read))
        await asyncio.sleep(every_s)
    return await task, samples


shedding_runs, queue_depth = [], {}
if lab.servers:
    from lesson.servers.launch import running_server

    bounds = {"queue-32": 32, "shed-4": 4}
    with ExitStack() as servers:
        urls = {}
        for key, bound in bounds.items():
            handle = servers.enter_context(running_server(
                "rest", registry="lesson.lab:accelerator_registry", max_in_flight=bound, offload=True))
            urls[key] = handle.url
            target = lab.add_server_target(key, handle, label=f"REST, 2 ms device, max_in_flight={bound}",
                                           n_features=lab.model.n_features)
            servers.callback(target.endpoint.close)
        shed_panel = lab.panel("queue-32", targets=list(bounds), concurrency=64)
        display(shed_panel)
        for key in bounds:
            record, samples = await sampled(urls[key], shed_panel.run_async(target=key, rate=700, requests=700))
            shedding_runs.append(record)
            queue_depth[key] = samples
        shed_panel.report()
else:
    lab.add_batching_target()
    shed_panel = lab.panel("batching", targets=["batching"], concurrency=32)
    display(shed_panel)
    unbatched = {"max_batch_size": 1, "max_delay_ms": 0}
    capacity_run = await shed_panel.run_async(rate=0, requests=100, concurrency=1, knobs=unbatched)  # closed loop
    capacity = capacity_run.result.throughput
    print(f"In-process path: no server processes in the browser, so here is only the queueing half. "
          f"One request at a time, the device served {capacity:,.0f} requests/s; now the same device, with "
          f"no bound on requests in flight, at twice that rate ({2 * capacity:,.0f}/s).")
    shedding_runs.append(await shed_panel.run_async(rate=round(2 * capacity), requests=300, knobs=unbatched))
    shed_panel.report()

# %%
for run, depth in zip(shedding_runs, list(queue_depth.values()) or [None] * len(shedding_runs)):
    r = run.result
    inside = f"; requests in flight inside the server: peak {max(depth):.0f}" if depth else ""
    print(f"{run.target}: {r.successes} of {r.requests} served, refused {r.errors.get('OverloadedError', 0)}, "
          f"other errors {sum(v for k, v in r.errors.items() if k != 'OverloadedError')}; "
          f"p50 {r.p50 * 1000:.1f} ms, p99 {r.p99 * 1000:.1f} ms; late sends {r.late_sends}{inside}")
if queue_depth:
    display_chart(line_chart([{"sample": i, "server": key, "in flight": v}
                              for key, values in queue_depth.items() for i, v in enumerate(values)],
                             x="sample", y="in flight", color="server",
                             title="Requests in flight inside each server, sampled every 20 ms (measured)"))

# %%
from IPython.display import Markdown

if queue_depth:
    (deep, deep_q), (shallow, shallow_q) = zip(shedding_runs, queue_depth.values())
    d, sh = deep.result, shallow.result
    refused = {k: run.result.errors.get("OverloadedError", 0) for k, run in zip(queue_depth, shedding_runs)}
    text = (f"Both servers refused what exceeded their bound: {refused['queue-32']} and "
            f"{refused['shed-4']} of 700 requests. What differs is the queue they kept: inside the deep one up to "
            f"{max(deep_q):.0f} requests waited for the device at a time, so those it served took {d.p50 * 1000:.1f} ms "
            f"at the median and {d.p99 * 1000:.1f} ms at p99; the shallow one held at most {max(shallow_q):.0f}, and "
            f"served {sh.successes} requests in {sh.p50 * 1000:.1f} ms (p99 {sh.p99 * 1000:.1f} ms) — "
            f"{'about as many' if abs(sh.successes - d.successes) <= 0.1 * d.successes else ('more' if sh.successes > d.successes else 'fewer')}"
            f" ({sh.successes} against {d.successes}), {d.p50 / sh.p50:.1f}x sooner at the median. "
            + (("A deeper queue buys no capacity; it buys waiting. " if d.successes <= sh.successes else
                f"The deeper queue served {d.successes / sh.successes - 1:.0%} more for {d.p99 / sh.p99:.1f}x the "
                "p99: a little capacity, bought with a lot of waiting. ")
               if d.successes <= 1.1 * sh.successes and d.p99 > sh.p99
               else "On this run the deeper queue did not only add waiting: compare the served counts and p99s. "))
else:
    r = shedding_runs[0].result
    text = (f"With no bound, the device served {r.successes} of {r.requests} requests, but each waited behind the "
            f"ones before it: p50 {r.p50 * 1000:.1f} ms, p99 {r.p99 * 1000:.1f} ms, against about 2 ms for the "
            "call itself. Locally, the same overload meets two servers that refuse what they cannot serve soon. ")
late = sum(run.result.late_sends for run in shedding_runs)
text += (f"The load generator missed its schedule by more than 1 ms for {late} sends" +
         (" — it shares this kernel's CPU with a Python client, and those latencies include that lag." if late > 35
          else ", so the latencies are the servers'."))
Markdown(text)

# %% [markdown]
# Which queue is right depends on whether a late answer is still worth anything to your
# caller; usually it is not.
#
# ## 3. Retries, and the retry storm
#
# Retrying a failed request is right when the failure is transient. But when the failure is
# *overload*, an immediate retry is more load on the server that is already drowning: each
# client's one request becomes two, three, four attempts — a **retry storm**. Backoff (wait
# longer after each failure) with **jitter** (randomise the wait, so clients do not retry in
# lockstep) spreads the retries out.
#
# Below, a small in-process server in front of the 2 ms device sheds above 4 requests in
# flight. Two kinds of overload, each met with three client policies:
#
# - a **burst**: 100 clients arrive within 10 ms (a cache flush, a cron job, a reconnect);
# - **sustained** overload: 700 clients per second for 0.6 s, above what the device can serve.
#
# Everything is measured on this machine; it runs in the browser too.

# %%
import random

device = SimulatedAcceleratorModel(lab.model)  # 2 ms + 20 µs per call


class Overloaded(Exception):
    pass


def make_server(limit):
    in_flight = 0

    async def serve(rows):
        nonlocal in_flight
        if in_flight >= limit:
            raise Overloaded("503: too many requests in flight")
        in_flight += 1
        try:
            return await device.predict_async(rows)
        finally:
            in_flight -= 1

    return serve


async def client(serve, retries, backoff, rng):
    attempts = 0
    for attempt in range(retries + 1):
        attempts += 1
        try:
            await serve(rows)
            return True, attempts
        except Overloaded:
            if attempt < retries:
                await asyncio.sleep(backoff(attempt, rng))
    return False, attempts


async def experiment(scenario, arrivals, policy, retries, backoff, limit=4):
    serve, rng, loop = make_server(limit), random.Random(1), asyncio.get_running_loop()
    start, tasks = loop.time(), []
    for offset in arrivals:  # open loop: clients arrive on schedule, whatever happened before
        await asyncio.sleep(max(0.0, start + offset - loop.time()))
        tasks.append(asyncio.ensure_future(client(serve, retries, backoff, rng)))
    outcomes = await asyncio.gather(*tasks)
    served = sum(ok for ok, _ in outcomes)
    attempts = sum(n for _, n in outcomes)
    return {"overload": scenario, "policy": policy, "clients": len(outcomes), "attempts sent": attempts,
            "load amplification": round(attempts / len(outcomes), 2), "served": served,
            "served %": round(100 * served / len(outcomes), 1), "took s": round(loop.time() - start, 2)}


no_wait = lambda attempt, rng: 0.0  # noqa: E731
backoff_with_jitter = lambda attempt, rng: rng.uniform(0, min(0.2, 0.01 * 2**attempt))  # noqa: E731
scenarios = {"burst": [i * 0.0001 for i in range(100)], "sustained": [i / 700 for i in range(420)]}
policies = [("no retries", 0, no_wait), ("5 immediate retries", 5, no_wait),
            ("5 retries, backoff + jitter", 5, backoff_with_jitter)]
storm = []
for scenario, arrivals in scenarios.items():
    for policy, retries, backoff in policies:
        storm.append(await experiment(scenario, arrivals, policy, retries, backoff))
table(storm, caption="Measured: clients against a 2 ms device that sheds above 4 in flight")

# %%
by = {(row["overload"], row["policy"]): row for row in storm}
for scenario in scenarios:
    none, now, later = (by[(scenario, policy)] for policy, _, _ in policies)
    print(f"{scenario}: immediate retries sent {now['load amplification']}x the attempts and served "
          f"{now['served']} clients (no retries: {none['served']}); backoff + jitter served {later['served']} "
          f"with {later['load amplification']}x the attempts")

# %% [markdown]
# What to look for in the table and the two lines above (the verdicts, computed from this
# run, are in "What to notice" at the end):
#
# - **Immediate retries**: a refused client comes straight back, several times, while the
#   server is still overloaded. Compare their attempts with the clients they served.
# - **Backoff with jitter**: the retries land later, spread out, when the server may have room.
#   Does the burst get served?
# - **Sustained overload**: the served count is bounded by what the device can do in the time.
#   Does any client policy move it? If not, that is the case for load shedding on the server
#   and a **retry budget** on the client (retries may be at most, say, 10 % of requests), and
#   for retrying only **idempotent** requests — a prediction is idempotent; "charge the card"
#   is not, without an idempotency key.
#
# ## 4. Liveness, readiness and draining
#
# A load balancer asks two different questions. **Live**: is the process healthy, or should
# it be restarted? **Ready**: should it get traffic *now*? A server is live but not ready while
# it loads and warms its model, and while it **drains** on shutdown: it reports not-ready, the
# balancer stops sending, in-flight requests finish, then it exits. The lesson's servers do
# exactly this; below, a REST server is asked to stop with SIGTERM and a one-second grace.

# %%
import signal
import urllib.error
import urllib.request


def probe(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return "no answer"


drain = None
if lab.servers:
    with running_server("rest", drain_grace_s=1.0) as handle:
        base = handle.url
        before = (probe(base + "/v2/health/live"), probe(base + "/v2/health/ready"))
        print(f"before: live {before[0]}, ready {before[1]}")
        handle.process.send_signal(signal.SIGTERM)
        start, seen = time.perf_counter(), []
        while time.perf_counter() - start < 2.5 and handle.process.poll() is None:
            seen.append((round(time.perf_counter() - start, 1), probe(base + "/v2/health/live"), probe(base + "/v2/health/ready")))
            time.sleep(0.25)
        print("after SIGTERM (seconds, live, ready):", seen)
        drain = {"before": before, "seen": seen, "exit": handle.process.wait(10)}
        print("exit code:", drain["exit"])
else:
    print("In-process path: no server process to stop in the browser. Run locally to see draining.")

# %% [markdown]
# ## 5. Authentication at the boundary: the gateway checks, the model server never sees a key
#
# Who may call the model is decided in front of it, in the gateway (API gateway, ingress,
# service mesh), not in the model server: keys and tokens are checked and rotated in one
# place for every service, and the model server listens only where the gateway can reach it
# (the lesson's servers bind 127.0.0.1). The server keeps the decisions only it can make:
# input bounds, validation, its own load shedding, and which verified caller may use which
# model (the site's Operations page lists both sides).
#
# `lesson.teaching.gateway.api_key_gateway` is a minimal gateway in front of the same prediction code
# path the servers run. It answers **401** when there is no key, **403** when the key is
# wrong, and otherwise forwards the request with the credential headers removed and the
# verified caller's name added in `x-client-id`. It compares keys with
# `hmac.compare_digest`, whose run time does not depend on how many leading characters
# match, so timing cannot be used to guess a key one character at a time:

# %%
from lesson.teaching.gateway import GatewayRequest, GatewayResponse, api_key_gateway, key_from_env, redact

lab.show_source(api_key_gateway)

# %% [markdown]
# The key comes from the environment, as a secret store would provide it. This demo generates
# a random one with `secrets.token_urlsafe` and prints only its first characters: a key in a
# notebook output is saved in the `.ipynb` and published with it.

# %%
import os
import secrets

from lesson.core.service import PredictionService

os.environ.setdefault("LESSON_DEMO_API_KEY", secrets.token_urlsafe(32))  # a secret store does this in production
api_key = key_from_env("LESSON_DEMO_API_KEY")
print("API key read from LESSON_DEMO_API_KEY:", redact(api_key))

model_service = PredictionService.for_model(lab.model)
seen_by_model = []


def model_server(request):  # no authentication here, by design
    seen_by_model.append(dict(request.headers))
    return GatewayResponse(200, model_service.predict(request.body, transport="REST"))


gateway = api_key_gateway(model_server, {"clinic-app": api_key})
attempts = {
    "no key": {},
    "wrong key": {"X-API-Key": secrets.token_urlsafe(32)},
    "right key": {"X-API-Key": api_key, "X-Request-Id": "req-1"},
}
outcomes = []
for label, headers in attempts.items():
    before = len(seen_by_model)
    response = gateway(GatewayRequest(headers=headers, body={"instances": patients[:1]}))
    outcomes.append({"request": label, "status": response.status,
                     "answer": response.body.get("detail") or f"prediction {response.body['predictions'][0]:.1f}",
                     "reached the model": len(seen_by_model) > before})
table(outcomes, caption="Measured now: three requests through the API-key gateway")

# %%
print("headers the model server received:", seen_by_model)

# %% [markdown]
# A refused request that never reaches the model costs the gateway, not the replica; an
# accepted request that arrives without `x-api-key` leaves the model server no credential to
# log, cache or leak. It trusts `x-client-id` only because nothing but the gateway can reach
# it; a caller who sends its own `x-client-id` has it overwritten. In production the same
# split holds with TLS, OAuth 2.0 / OpenID Connect tokens and per-caller rate limits in the
# gateway.

# %% [markdown]
# ## 6. Observe it: RED metrics, a percentile estimate, an SLO alert
#
# Record the **RED** metrics: **R**ate of requests, **E**rrors, **D**uration as a histogram.
# The lesson's servers count requests by route, model and status, and count each request's
# latency into fixed **buckets** (`lesson_request_latency_seconds`; REST times the whole
# request, from the ASGI entry until the response is sent). A **Prometheus** server scrapes
# those counters every second and answers queries over any window. Locally, the lab starts
# Debian's `prometheus` on a free loopback port with rules for an SLO of 99 % successful
# requests: an alert that fires when the error budget burns 14.4 times too fast over BOTH a
# long and a short window (the SRE workbook's 1 h and 5 min, scaled down 60 times here to
# 1 min and 5 s, so it fires and resolves within seconds).
#
# First the alert: steady load, then for 8 seconds half the requests fail (an injected fault,
# `POST /debug/fault`), while Prometheus's own alerts API is asked for the alert's state.

# %%
observed = None
if lab.servers and not lab.in_browser:
    from lesson.servers.promql import error_ratio, latency_quantile, request_rate
    from lesson.teaching.observe import compare_p99, fire_alert

    prometheus = lab.start_prometheus()  # scrapes the REST and gRPC servers every second
    prometheus.api.wait_until_up(timeout=40)
    rest_url = lab.servers["rest"].url
    alert = fire_alert(rest_url, prometheus.url, error_ratio=0.5, fault_seconds=8.0, timeout_s=30.0,
                       on_state=lambda t, state: print(f"{t:5.1f} s after the fault began: {state}"))
    red = [{"query": name, "PromQL": expr, "value": f"{prometheus.api.value(expr):.3g}"}
           for name, expr in (("requests per second", request_rate("rest", "30s")),
                              ("share of server errors", error_ratio("rest", "30s")),
                              ("p99 latency (s)", latency_quantile(0.99, "rest", "30s")))]
    observed = {"alert": alert, "red": red}
    display(table(red, caption=f"Measured now: Prometheus at {prometheus.url}, the last 30 s (the fault included)"))
else:
    print("Prometheus is local-only: it runs beside the real servers in a local Jupyter (`make lab`), "
          "not in the browser. Below, the same histogram arithmetic runs in-process.")

# %% [markdown]
# Now the percentile. A histogram keeps only how many requests fell into each bucket, so
# `histogram_quantile(0.99, sum by (le) (rate(...)))` finds the bucket the 99th percentile
# falls in and **interpolates** inside it: an estimate, exact only to within that bucket. (Sum
# the buckets of every replica first, then estimate once: percentiles cannot be averaged.)
# Below, one load test's p99 three ways: the harness's (the client's clock), the server's exact
# one (its own timing of each request, read from `GET /debug/timings`), and Prometheus's
# estimate over exactly those requests (the bucket counts at the scrape just after the run
# minus those just before it), and the query a dashboard runs, `rate(...[window])`, whose window
# holds whatever else the server answered in it. Where the browser runs, the same arithmetic
# runs in-process over the harness's own latencies.

# %%
from lesson.core.stats import bucket_counts, format_ms, histogram_quantile, percentile

if observed is not None:
    comparison = compare_p99(rest_url, prometheus.url, concurrency=8, requests=1500)
    observed["p99"] = comparison
    display(table(comparison.rows(), caption=f"Measured now: one run of {comparison.requests} requests at 8 connections"))
    print(comparison.sentence())
else:
    from lesson.loadtest import run_load_test

    local = run_load_test(lab.endpoint("in-process"), lab.example_payload(), max_requests=2000, max_duration=10)
    samples = sorted(local.latencies)
    estimate = histogram_quantile(0.99, bucket_counts(samples))
    observed_local = {"exact": percentile(samples, 99), "estimate": estimate, "n": len(samples)}
    display(table([{"p99": "exact, from every latency", "value": format_ms(observed_local["exact"])},
                   {"p99": "estimated from the buckets", "value": format_ms(estimate)}],
                  caption=f"Measured now, in-process ({'browser: a 0.1 ms clock' if lab.in_browser else 'CPython'}): "
                          f"{len(samples)} calls, no server, no Prometheus"))

# %% [markdown]
# Metrics say *how many* requests were slow; a **trace** says where one slow request spent its
# time. With OpenTelemetry, the client opens a span for its call and sends the span's id in the
# W3C `traceparent` header (gRPC: the call's metadata); the server opens its own span as that
# span's child, and under it the wait in the micro-batcher's queue and the model call that
# served the request. Tracing is off by default (`--trace-ratio` turns it on, sampling that share
# of the requests; `benchmarks/bench_tracing.py` measures what it costs). Below, a short load
# test against a micro-batching server with tracing on: every request is traced, the p99 and a
# p50 request are drawn as waterfalls.

# %%
from lesson.teaching.traces import in_process_load, traced_load
from lesson.widgets.charts import display_chart, timeline_chart

if lab.servers and not lab.in_browser:
    from lesson.servers.launch import running_server

    with running_server("rest", trace_ratio=0.0, debug_routes=True, max_batch_size=8, max_delay_ms=2.0) as traced:
        # ratio 0: the server traces only the requests whose traceparent says "sampled" (all of ours)
        traces = traced_load(traced.url, lab.example_payload(), requests=400, concurrency=8)
    where = "measured now over REST on this machine, micro-batching"
else:
    print("Tracing runs against the local servers (OpenTelemetry, sockets, threads): not in the browser. "
          "Below, the same span timings from an in-process run: the micro-batcher in this kernel, no server.")
    traces = await in_process_load(lab.model, lab.example_payload()["instances"], requests=400, concurrency=8)
    where = "measured now, in-process (browser: a 0.1 ms clock)" if lab.in_browser else "measured now, in-process"
display_chart(timeline_chart(traces.rows(), title={"text": f"Two of {traces.requests} traced requests", "subtitle": where},
                             x_title="ms from the request's start"))
print(traces.sentence())

# %% [markdown]
# ## 7. Scale out: replicas and autoscaling on Ray Serve
#
# One server has a ceiling; past it you run **replicas** behind a router and let an
# **autoscaler** choose how many. `lesson serve ray` deploys this notebook's REST app, unchanged
# (the same routes, validation and errors), on **Ray Serve**: Ray's HTTP proxy routes each request
# to a replica, and the autoscaler adds replicas when the requests in flight per replica pass a
# target (`--target-ongoing`), after an **upscale delay**, and removes them after a **downscale
# delay**, down to zero if allowed. Each replica takes at most `max_ongoing_requests` at once (Ray's
# default 5); the rest wait in the proxy, which answers 503 once `max_queued_requests` wait: the
# same bounded queue and early refusal as the lesson's `max_in_flight` in section 2.
#
# A Ray cluster takes tens of seconds to start and the run below a minute and a half, too slow
# for this notebook, so it was **recorded** once (`benchmarks/record_ray_autoscaling.py`: its
# date, command and machine are in the record) with short delays so it fits. Beside it, the
# **same policy** runs here on a **virtual clock** (`lesson.teaching.autoscaling_sim`: no Ray,
# standard library only, so it runs in the browser too), driven by the same step load (low,
# high, low, then none) against the simulated accelerator with a slow call, one call at a time
# per replica. The record's settings and figures are quoted below the chart, from the record.

# %%
from dataclasses import asdict

from IPython.display import Markdown

from lesson.teaching.autoscaling import load_record, sentences, simulate_record, simulation_sentence, summarize
from lesson.widgets.charts import display_chart
from lesson.widgets.scaling_chart import autoscaling_chart

record = load_record()  # written by benchmarks/record_ray_autoscaling.py
scaling = summarize(record)
simulated = simulate_record(record)  # the same policy and steps, on a virtual clock
display_chart(autoscaling_chart(record["series"], simulated=[asdict(row) for row in simulated],
                                title=f"Step load: Ray Serve recorded {scaling.date}, and the policy simulated"))
Markdown("\n\n".join(sentences(scaling) + [simulation_sentence(record, simulated)]))

# %% [markdown]
# ## What to notice
#
# Each point is computed from the runs above (and says so when the browser path ran).

# %% tags=["hide-input"]
fast, tight = timeouts
points = [
    f"- **Every wait needs a bound.** With a {fast['timeout ms']:.0f} ms timeout the 50 ms device "
    + (f"answered after {fast['waited ms']:.0f} ms" if fast["answered"] else f"did not answer in time ({fast['waited ms']:.0f} ms)")
    + f"; with {tight['timeout ms']:.0f} ms the caller "
    + (f"gave up after {tight['waited ms']:.1f} ms, free to fall back, instead of waiting 50 ms."
       if not tight["answered"] else f"still got an answer ({tight['waited ms']:.1f} ms): the bound did not bind here.")
]
if queue_depth:
    d, sh = (run.result for run in shedding_runs)
    deeper_buys_waiting = d.successes <= 1.1 * sh.successes and d.p99 > sh.p99
    points.append(
        f"- **Fail fast under overload.** Given the same 700 requests, the server bounded at 4 served {sh.successes} "
        f"(p99 {sh.p99 * 1000:.1f} ms) and the one bounded at 32 served {d.successes} (p99 {d.p99 * 1000:.1f} ms), "
        f"with up to {max(queue_depth['queue-32']):.0f} requests queued inside it: "
        + (("the deeper queue bought waiting, not capacity." if d.successes <= sh.successes else
            f"the deeper queue bought {d.successes / sh.successes - 1:.0%} more served requests with "
            f"{d.p99 / sh.p99:.1f}x the p99.") if deeper_buys_waiting else
           "on this run the deeper queue did not only add waiting; compare the p99s and served counts above."))
else:
    r = shedding_runs[0].result
    points.append(
        f"- **Fail fast under overload.** With no bound, at twice its measured capacity the device served "
        f"{r.successes} of {r.requests}, at p99 {r.p99 * 1000:.1f} ms against about 2 ms a call: every request waited "
        "behind the queue. Run it locally to see two real servers shed the excess.")
burst = {policy: by[("burst", policy)] for policy, _, _ in policies}
sustained = [by[("sustained", policy)] for policy, _, _ in policies]
rates = [row["served"] / row["took s"] for row in sustained]  # clients served per second of the run
none, now, later = burst.values()
points.append(
    f"- **Retries are load.** In the burst, immediate retries sent {now['load amplification']}x the attempts and "
    f"served {now['served']} of {now['clients']} clients (no retries: {none['served']}); backoff with jitter served "
    f"{later['served']} with {later['load amplification']}x. "
    + ("Spreading the retries out is what served the burst. " if later["served"] > max(now["served"], none["served"])
       else "On this run spreading them out did not serve more of the burst. ")
    + f"Under sustained overload the three policies served {', '.join(str(row['served']) for row in sustained)} of "
    f"{sustained[0]['clients']} clients, at {', '.join(f'{rate:.0f}' for rate in rates)} a second of the run"
    + (": no retry policy raised the rate more than 10 % above that of no retries"
       + (f"; backoff served more only by taking longer ({sustained[-1]['took s']} s against "
          f"{sustained[0]['took s']} s)" if sustained[-1]["served"] > sustained[0]["served"] else "")
       + ", and every retry was an extra attempt."
       if max(rates[1:]) <= 1.1 * rates[0] else
       ": on this run a retry policy served more than 10 % faster than no retries; compare the attempts it cost."))
if drain:
    not_ready = next(((t, live, ready) for t, live, ready in drain["seen"] if ready != 200), None)
    points.append(
        f"- **Ready is not live.** Before SIGTERM the server answered live {drain['before'][0]}, ready {drain['before'][1]}; "
        + (f"at the first probe after it ({not_ready[0]} s) ready was {not_ready[2]} while live was {not_ready[1]}: "
           "the balancer stops "
           "sending while requests in flight finish" if not_ready else "no probe saw it not-ready before it exited")
        + f"; it exited with code {drain['exit']}.")
else:
    points.append("- **Ready is not live.** The browser has no server process to stop: run the notebook locally to "
                  "see readiness turn false while liveness holds, during the drain.")
if observed is not None:
    run, cmp_ = observed["alert"], observed["p99"]
    points.append(
        f"- **Observe it.** During the fault ({run.error_ratio:.0%} of requests failing for {run.fault_seconds:.0f} s) "
        + (f"the burn-rate alert was pending after {run.first('pending')} s, firing after {run.first('firing')} s "
           f"and resolved {run.resolved_after()} s after the fault began. " if run.first("firing") is not None
           else "the alert did not fire within the time allowed on this run. ")
        + f"The client's p99 was {format_ms(cmp_.harness_p99)}, the server's own {format_ms(cmp_.server_p99)}: "
        "a server's percentile leaves out the socket, the event loop's queue and the client, so it flatters. "
        f"Prometheus estimated {format_ms(cmp_.promql_p99)} from the buckets, "
        f"{cmp_.gap_text()}.")
else:
    points.append(
        f"- **Observe it.** In-process, the p99 of {observed_local['n']} calls was {format_ms(observed_local['exact'])}; "
        f"estimated from the buckets alone, {format_ms(observed_local['estimate'])}. Prometheus is local-only: "
        "run the notebook locally to see it scrape the servers and the alert fire.")
tail_where, tail_share = max(traces.p99.shares().items(), key=lambda kv: kv[1])
points.append(
    f"- **Trace the tail.** The p99 request of the traced run took {format_ms(traces.p99.total_ms / 1000)} against "
    f"{format_ms(traces.p50.total_ms / 1000)} for the p50 one; its largest part was {tail_where.split(' (')[0]} "
    f"({tail_share:.0%}). A metric could not have said which part of the request grew; a trace of that one "
    "request does" + (" (in-process here: run the notebook locally for the server's spans)." if lab.in_browser or not lab.servers else "."))
refused = [o for o in outcomes if o["status"] in (401, 403)]
accepted = seen_by_model[-1] if seen_by_model else {}
points.append(
    f"- **Authenticate at the boundary.** The gateway refused {len(refused)} of {len(outcomes)} requests "
    f"({', '.join(str(o['status']) for o in refused)}); "
    + ("none of them reached the model. " if not any(o["reached the model"] for o in refused)
       else "yet some reached the model. ")
    + ("The accepted one arrived without its API key" if "x-api-key" not in accepted else "The accepted one arrived WITH its key")
    + f", as caller {accepted.get('x-client-id')!r}.")
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

show_quiz(quiz_for("07-resilience"))

# %% [markdown]
# ## Exercises
#
# **1. Backoff with jitter.** Write `delay(attempt, *, base_s, cap_s, rng)` returning the
# seconds to wait before retry number `attempt` (0 for the first retry), with full jitter.

# %%
from lesson.teaching.exercises import check


def delay(attempt, *, base_s, cap_s, rng):
    raise NotImplementedError("your code here")


check("backoff", delay)

# %% [markdown]
# **2. Batching knobs for a p99 target.** Give `(max_batch_size, max_delay_ms)` so that the
# simulated 2 ms accelerator serves 1,500 requests per second with p99 ≤ 15 ms (checked on the
# queueing simulation of notebook 03).

# %%
check("batching_knobs", (1, 0.0))  # change these

# %% [markdown]
# **3. A retry budget (no checker).** Change `client` so that retries are allowed only while
# retries so far are under 10 % of first attempts (share a counter between clients). Rerun the
# two scenarios: what happens to load amplification, and to clients served in the burst?

# %%
lab.close()
