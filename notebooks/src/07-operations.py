# %% [markdown]
# # 07 · Operations: keeping a model server up
#
# A model server that answers correctly on a quiet afternoon is half the job. The other half
# is what it does when things go wrong: a slow dependency, a traffic spike, a deploy, a new
# model version that is subtly worse. In this notebook you will see, running:
#
# 1. **timeouts** — bound how long anyone waits;
# 2. **load shedding** — refuse quickly instead of queueing without bound (a real server in
#    local Jupyter);
# 3. **retries and retry storms** — how naive retries multiply load exactly when the server
#    is overloaded, and how backoff with jitter avoids it;
# 4. **liveness, readiness and draining** — what a load balancer needs to know;
# 5. **shadow and canary** — comparing a candidate model on real traffic before it serves.

# %%
import asyncio
import time

import lesson
from lesson.lab import accelerator_registry, server_target, setup, show_source
from lesson.widgets import table

lab = setup()

# %% [markdown]
# For these experiments we need a model with a real cost per call. The lesson's **simulated
# accelerator** holds a "device" for a fixed time per call, one call at a time (it sleeps; it
# is a simulation and says so in its metadata). Its capacity is easy to reason about.

# %%
from lesson.accelerator import SimulatedAcceleratorModel

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
rows = [[0.2, 0.4, 0.6, 0.8]]
for timeout_s in (0.2, 0.01):
    start = time.perf_counter()
    try:
        prediction = await asyncio.wait_for(slow_device.predict_async(rows), timeout=timeout_s)
        outcome = f"answered {prediction}"
    except asyncio.TimeoutError:
        outcome = "gave up (TimeoutError)"
    print(f"timeout {timeout_s * 1000:>5.0f} ms: {outcome} after {(time.perf_counter() - start) * 1000:.1f} ms")

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
# — one that accepts up to 64 requests in flight, one that sheds above 4 — and sends both the
# same open-loop overload: 1,000 requests per second, about twice the device's capacity.

# %%
from contextlib import ExitStack

shedding_runs = []
if lab.servers:
    from lesson.servers.launch import running_server

    with ExitStack() as servers:
        shed_panel = None
        for key, bound in (("queue-64", 64), ("shed-4", 4)):
            handle = servers.enter_context(running_server(
                "rest", registry="lesson.lab:accelerator_registry", max_in_flight=bound, offload=True))
            target = lab.add_target(server_target(key, handle, label=f"REST, 2 ms device, max_in_flight={bound}"))
            servers.callback(target.endpoint.close)
        shed_panel = lab.panel("queue-64", targets=["queue-64", "shed-4"], concurrency=64)
        for key in ("queue-64", "shed-4"):
            shedding_runs.append(await shed_panel.run_async(target=key, rate=1000, requests=1000))
        shed_panel.report()
else:
    print("In-process path: no servers in the browser. Run locally to see a real server shed load.")

# %%
for run in shedding_runs:
    r = run.result
    print(f"{run.target}: {r.successes} served of {r.requests}, errors {dict(r.errors) or 'none'}, "
          f"p50 {r.p50 * 1000:.1f} ms, p99 {r.p99 * 1000:.1f} ms")

# %% [markdown]
# Read the two rows: the queueing server answers (almost) everything, but late — its p99 is the
# length of the queue. The shedding server refuses part of the traffic at once and serves the
# rest at close to the device's own speed. Which is right depends on whether a late answer is
# worth anything to your caller; usually it is not.
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
# flight. Clients arrive at 700 per second (above capacity) for 0.6 s, with three policies.
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


async def experiment(policy, retries, backoff, rate=700, seconds=0.6, limit=4):
    serve, rng, loop = make_server(limit), random.Random(1), asyncio.get_running_loop()
    start, tasks = loop.time(), []
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        tasks.append(asyncio.ensure_future(client(serve, retries, backoff, rng)))
    outcomes = await asyncio.gather(*tasks)
    served = sum(ok for ok, _ in outcomes)
    attempts = sum(n for _, n in outcomes)
    return {"policy": policy, "clients": len(outcomes), "attempts sent": attempts,
            "load amplification": round(attempts / len(outcomes), 2), "served": served,
            "served %": round(100 * served / len(outcomes), 1), "took s": round(loop.time() - start, 2)}


no_wait = lambda attempt, rng: 0.0  # noqa: E731
exponential_jitter = lambda attempt, rng: rng.uniform(0, min(0.2, 0.01 * 2**attempt))  # noqa: E731
storm = [await experiment("no retries", 0, no_wait),
         await experiment("3 immediate retries", 3, no_wait),
         await experiment("3 retries, backoff + jitter", 3, exponential_jitter)]
table(storm, caption="Measured: 700 clients/s against a 2 ms device that sheds above 4 in flight")

# %% [markdown]
# Immediate retries multiply the attempts the overloaded server must refuse, for little or no
# gain in clients served. Backoff with jitter serves more clients for fewer wasted attempts,
# because the retries arrive when there is room. Production clients add a **retry budget**
# (retries may be at most, say, 10 % of requests) and retry only **idempotent** requests —
# a prediction is idempotent; "charge the card" is not, without an idempotency key.
#
# ## 4. Liveness, readiness and draining
#
# A load balancer asks two different questions. **Live**: is the process healthy, or should
# it be restarted? **Ready**: should it get traffic *now*? A server is live but not ready while
# it loads and warms its model, and while it **drains** on shutdown: it reports not-ready, the
# balancer stops sending, in-flight requests finish, then it exits. The lesson's servers do
# exactly this; below, a REST server is asked to stop with SIGTERM and a one-second grace.

# %%
import json
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


if lab.servers:
    with running_server("rest", drain_grace_s=1.0) as handle:
        base = handle.url
        print(f"before: live {probe(base + '/v2/health/live')}, ready {probe(base + '/v2/health/ready')}")
        handle.process.send_signal(signal.SIGTERM)
        start, seen = time.perf_counter(), []
        while time.perf_counter() - start < 2.5 and handle.process.poll() is None:
            seen.append((round(time.perf_counter() - start, 1), probe(base + "/v2/health/live"), probe(base + "/v2/health/ready")))
            time.sleep(0.25)
        print("after SIGTERM (seconds, live, ready):", seen)
        print("exit code:", handle.process.wait(10))
else:
    print("In-process path: no server process to stop in the browser. Run locally to see draining.")

# %% [markdown]
# ## 5. Shadow and canary: a new model meets real traffic
#
# Before a candidate model serves anyone, run it in **shadow**: mirror the production traffic
# to it, keep its answers out of the response, and compare. Then a **canary**: let it serve a
# small, fixed share of requests (chosen by a stable hash, so one user stays on one arm) and
# watch its error rate and latency before widening the share.
#
# Here the production model is the full-precision MLP of notebook 05 and the candidate is its
# int8 variant; the traffic is the held-out rows, whose true outcomes we know.

# %%
import hashlib

from lesson.edge import load_edge_model, load_heldout
from lesson.artifacts import load_artifact
from lesson.mlp import load_default_mlp

production, candidate = load_default_mlp(), load_edge_model()
traffic, truth = load_heldout(load_artifact(candidate.name, candidate.version))

shadow = []
for row, y in zip(traffic, truth):
    served = production.predict([row])[0]          # the user gets this one
    mirrored = candidate.predict([row])[0]         # computed on a copy, never returned
    shadow.append((served, mirrored, y))
mae = lambda pairs: sum(abs(p - y) for p, y in pairs) / len(pairs)  # noqa: E731
table([{"requests mirrored": len(shadow),
        "production MAE": round(mae([(s, y) for s, _, y in shadow]), 3),
        "candidate MAE": round(mae([(m, y) for _, m, y in shadow]), 3),
        "largest disagreement": round(max(abs(s - m) for s, m, _ in shadow), 4)}],
      caption="Shadow: both models on the same mirrored traffic (measured)")

# %%
def arm(request_id, canary_share=0.10):
    bucket = int(hashlib.sha256(request_id.encode()).hexdigest(), 16) % 1000
    return "candidate" if bucket < canary_share * 1000 else "production"


arms = {"production": [], "candidate": []}
for i, (row, y) in enumerate(zip(traffic * 10, truth * 10)):
    which = arm(f"user-{i % 300}")
    model = candidate if which == "candidate" else production
    start = time.perf_counter()
    prediction = model.predict([row])[0]
    arms[which].append((time.perf_counter() - start, abs(prediction - y)))
table([{"arm": name, "requests": len(v), "share": f"{len(v) / sum(map(len, arms.values())):.0%}",
        "MAE": round(sum(e for _, e in v) / len(v), 3),
        "median µs": round(sorted(t for t, _ in v)[len(v) // 2] * 1e6, 1)} for name, v in arms.items()],
      caption="Canary: about 10 % of users (by a stable hash) served by the candidate (measured)")

# %% [markdown]
# ## What to notice
#
# - **Every wait needs a bound**: timeouts for callers, bounded queues and in-flight limits for
#   servers. Unbounded waiting turns a slow moment into an outage.
# - **Fail fast under overload.** A quick 503 with "retry later" is a better answer than a
#   slow success that arrives after the caller gave up.
# - **Retries are load.** Count attempts, not requests; back off with jitter; cap retries with a
#   budget; retry only idempotent calls.
# - **Ready is not live.** Draining (not-ready first, then stop) is what makes deploys invisible.
# - **Compare before you switch.** Shadow shows how a candidate *would* have answered; a canary
#   shows how it behaves when it *does* answer, on a small, stable share of users.
#
# ## Exercises
#
# **1. Backoff with jitter.** Write `delay(attempt, *, base_s, cap_s, rng)` returning the
# seconds to wait before retry number `attempt` (0 for the first retry), with full jitter.

# %%
from lesson.exercises import check


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
# experiment: what happens to load amplification and to clients served?

# %%
lab.close()
