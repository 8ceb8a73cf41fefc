# %% [markdown]
# # 06 · Load testing, honestly
#
# A load test answers one question: *what latency will users see at the traffic we expect,
# and where does it break?* It is easy to get a confident wrong answer. In this notebook you will
#
# 1. put every pattern under the same load, side by side, and fill the serving landscape of
#    notebook 00 with figures measured just now;
# 2. see **coordinated omission**: how a closed-loop test hides a stalled server, and how an
#    open-loop test (latency measured from each request's *intended* send time) shows it;
# 3. see why **percentiles cannot be averaged**;
# 4. watch **queueing blow-up** as the arrival rate approaches a server's capacity, with
#    Poisson arrivals, and see how evenly spaced, Poisson and bursty arrivals at the same mean
#    rate give the same server different tails.

# %%
import lesson
from lesson.lab import setup

lab = setup()  # the real model, diabetes-mlp; in local Jupyter its REST and gRPC servers too

# %% [markdown]
# ## Every pattern under the same load
#
# Same payloads, same number of requests, same concurrency, one target after another. In
# local Jupyter, `rest` and `grpc` are real servers over loopback; the others run in-process.
# In the browser, everything is in-process.

# %%
panel = lab.panel("rest", requests=300, concurrency=4, title="Every pattern, same load")
panel

# %%
by_pattern = {}
for key in ["in-process", "rest", "grpc", "batch", "streaming", "edge"]:
    by_pattern[key] = await panel.run_async(target=key)
panel.report()

# %% [markdown]
# Now the landscape of notebook 00, with the claim ("latency": low, medium…) beside what was
# measured on this machine, in this run:

# %%
from lesson.widgets import table

landscape = lesson.describe_serving_landscape()
pattern_of = {"rest": "REST", "grpc": "gRPC", "batch": "batch", "streaming": "streaming", "edge": "edge"}
rows = []
for key, pattern in pattern_of.items():
    result = by_pattern[key].result
    rows.append({"pattern": pattern, "notebook 00 claimed": landscape[pattern]["latency"],
                 "measured via": lab.targets[key].label,
                 "p50 ms": round(result.p50 * 1000, 3), "p99 ms": round(result.p99 * 1000, 3),
                 "req/s": round(result.throughput), "errors": result.error_count})
table(rows, caption="The serving landscape, filled with figures measured just now (300 requests, 4 workers)")

# %%
from IPython.display import Markdown

from lesson.teaching.verdicts import claims_against_measured

clock_tick = by_pattern["rest"].result.clock_resolution
ways = {"over a real server": [k for k in pattern_of if k in lab.servers],
        "in-process": [k for k in pattern_of if k not in lab.servers]}
contradicted = []
for keys in ways.values():  # compare only rows measured the same way
    claims = {pattern_of[k]: landscape[pattern_of[k]]["latency"] for k in keys}
    p50s = {pattern_of[k]: by_pattern[k].result.p50 for k in keys}
    contradicted += claims_against_measured(claims, p50s, tick_s=clock_tick)
compared = "; ".join(f"{way}: {', '.join(pattern_of[k] for k in keys)}" for way, keys in ways.items() if keys)
Markdown(f"Compared within rows measured the same way ({compared}), "
         + (f"the measured p50s contradict notebook 00's words (by more than 25 %) in {len(contradicted)} "
            f"pair{'s' if len(contradicted) != 1 else ''}:\n\n" + "\n".join(f"- {c}" for c in contradicted)
            if contradicted else "no measured p50 contradicts notebook 00's words by more than 25 %."))

# %% [markdown]
# Read it with care: the in-process rows measure the adapters (a function call), the REST and
# gRPC rows (in local Jupyter) measure a real network stack, a real server and a Python client
# sharing this kernel's CPU. "Batch" and "streaming" are not about per-request latency at all:
# batch is judged by rows per second by a deadline, streaming by freshness.
#
# The sixth pattern, **generative** (notebook 10), has no single latency: an answer is written
# token by token, so the user waits once for the first token (TTFT) and then for each of the
# others (TPOT). Its row is measured here on the engine of notebook 10, in this kernel, with
# the pure-Python `tiny-lm`: four requests of 12 tokens each, arriving together.

# %%
from lesson.core.artifacts import load_artifact
from lesson.models.lm import load_tiny_lm
from lesson.patterns.generative import EngineConfig
from lesson.teaching.generative import run_requests

tiny_lm = load_tiny_lm(load_artifact("tiny-lm"))
prompts = ["The if statement ", "A list ", "Exceptions are ", "The while loop "]
gen = run_requests(tiny_lm, [(p, 12) for p in prompts], EngineConfig(max_num_seqs=4))
g = gen.summary()
table([{"pattern": "generative", "notebook 00 claimed": landscape["generative"]["latency"],
        "measured via": "tiny-lm engine, in this kernel (pure Python)",
        "first token p50 ms": round(g.ttft.median * 1000, 1), "first token max ms": round(g.ttft.max * 1000, 1),
        "per token p50 ms": round(g.tpot.median * 1000, 1), "whole answer p50 ms": round(g.e2el.median * 1000, 1),
        "tokens/s": round(g.output_throughput), "errors": g.failed}],
      caption=f"The generative row, measured just now ({g.completed} requests, {g.output_tokens} tokens)")
print(f"A whole answer took {g.e2el.median / g.ttft.median:.1f}x as long as its first token (p50): "
      "which one users feel depends on whether the answer is streamed to them.")
#
# ## Coordinated omission: a stall the closed loop cannot see
#
# A closed-loop test sends the next request only when the previous one has answered. If the
# server stalls for 200 ms, the test *stops sending* during the stall — so the only slow
# sample is the one request that was in flight. Real users do not wait for each other: they
# keep arriving. An **open-loop** test sends on a fixed schedule and measures each request
# from the moment it *should* have been sent.
#
# Below, an in-process endpoint that answers in microseconds, except for one 200 ms stall at
# its 100th call. Each run gets a fresh endpoint (a `Target` built per run). The endpoint is
# `async` and stalls with `await asyncio.sleep`, so the same code runs in the browser (where
# a blocking `time.sleep` is not allowed) and here, driven by the asyncio harness.

# %%
import asyncio
import itertools

from lesson.widgets import Target


def stalling_endpoint(stall_at=100, stall_s=0.2):
    inner = lab.endpoint("in-process")
    calls = itertools.count()

    async def endpoint(payload):
        if next(calls) == stall_at:
            await asyncio.sleep(stall_s)  # the server freezes: a GC pause, a lock, a noisy neighbour
        return inner(payload)

    return endpoint


lab.add_target(Target(key="stalls", label="In-process endpoint that stalls for 200 ms once", pattern="in-process",
                      make_endpoint=stalling_endpoint, n_features=lab.model.n_features, asynchronous=True))
stall_panel = lab.panel("stalls", targets=["stalls"], requests=400, concurrency=1)
stall_panel

# %%
from lesson.teaching.verdicts import latency_text

closed = await stall_panel.run_async(rate=0)      # closed loop, 1 worker
opened = await stall_panel.run_async(rate=400)    # open loop, 400 requests/s for 1 s
stall_panel.report()
slow_closed, slow_open = (sum(1 for x in run.result.latencies if x > 0.05) for run in (closed, opened))
for run, slow in ((closed, slow_closed), (opened, slow_open)):
    r, tick = run.result, run.result.clock_resolution  # latency_text: digits to the clock, as in the later cells
    print(f"{r.mode:>6} loop: p50 {latency_text(r.p50, tick_s=tick)}, p99 {latency_text(r.p99, tick_s=tick)}, "
          f"max {latency_text(r.max_latency, tick_s=tick)}; {slow} requests slower than 50 ms; {r.error_count} errors")

# %%
print(f"The same stall, the same server: the closed loop saw {slow_closed} request(s) slower than 50 ms, "
      f"the open loop {slow_open}" + (f" ({slow_open / max(slow_closed, 1):.0f}x as many): every request that "
                                      "arrived during the stall and had to wait, as users would have."
                                      if slow_open > slow_closed else
                                      ": on this run the open loop did not see more; look at the errors and late "
                                      "sends above before trusting either run."))

# %% [markdown]
# In the harness's open loop, request *i* is due at `start + i / rate`, and its latency is
# `done - intended`, not `done - sent` (read `lesson.run_load_test??`).

# %% [markdown]
# ## Percentiles cannot be averaged
#
# Two runs, two p99s. Their average is *not* the p99 of all the requests together: a
# percentile is a rank in one distribution. Pool the raw samples (or merge histograms) instead.
# The harness's percentile is the nearest-rank one:

# %%
lab.show_source(lesson.percentile)

# %%
a, b = closed.result, opened.result
pooled = sorted(a.latencies + b.latencies)
tick = max(a.clock_resolution, b.clock_resolution)
print(f"p99 of run A (closed loop) {latency_text(a.p99, tick_s=tick)}, of run B (open loop) {latency_text(b.p99, tick_s=tick)}")
print(f"average of the two p99s: {latency_text((a.p99 + b.p99) / 2, tick_s=tick)}")
print(f"p99 of all {len(pooled)} requests pooled: {latency_text(lesson.percentile(pooled, 99), tick_s=tick)}")

# %% [markdown]
# ## Queueing blow-up near saturation
#
# A server that needs 2 ms per request can serve at most about 500 requests per second. What
# does latency do as traffic approaches that? Below, the lesson's **simulated accelerator**
# (it holds a "device" for 2 ms + 20 µs per call, one call at a time, by sleeping — a
# simulation, labelled as such) with batching off, called in-process with asyncio (in local
# Jupyter and in the browser alike). First its real capacity is measured by offering far more
# traffic than it can take, so it never idles (sleeping, waking and the hand-offs between
# tasks add their own time to the 2 ms): the capacity is the rate of *successful* answers.
# Then it gets open-loop traffic at rising shares of that capacity, about two seconds each,
# with **Poisson arrivals** (independent users: some gaps short, some long, as real traffic
# arrives). Beside each offered rate the table shows the achieved rate of successful requests:
# a point is past capacity only if the server could not keep up with it. These are real runs
# of real code against a simulated device.

# %%
lab.add_batching_target()
knee_panel = lab.panel("batching", targets=["batching"], concurrency=64, title="Rising arrival rate")
knee_panel

# %%
no_batching = {"max_batch_size": 1, "max_delay_ms": 0}
capacity_run = await knee_panel.run_async(rate=2000, requests=1000, knobs=no_batching)  # far above capacity
capacity = capacity_run.result.goodput  # successful answers per second while it never idled
device = lab.targets["batching"].extra["device"]
hold_ms = device.call_cost_s(1) * 1000  # what one 1-row call holds the device for
print(f"measured capacity (open loop far above it, so the device never idles): {capacity:,.0f} requests/s, "
      f"i.e. {1000 / capacity:.2f} ms per request, of which the device is set to hold {hold_ms:.2f} ms")

# %%
from lesson.teaching.knee import knee_row

knee = []
for share in (0.25, 0.5, 0.8, 0.9, 0.95, 1.3):
    rate = round(share * capacity)
    run = await knee_panel.run_async(rate=rate, requests=2 * rate, knobs=no_batching, arrivals="poisson",
                                     seed=6)  # about 2 s each
    knee.append(knee_row(run.result, share, capacity))
knee_panel.report()

where_knee = "in the browser (asyncio, coarse timers)" if lab.in_browser else "in this kernel (asyncio)"
table(knee, caption=f"Measured {where_knee}: one simulated 2 ms device, Poisson arrivals at rising shares of its "
                    f"measured capacity ({capacity:,.0f} successful req/s)")

# %% [markdown]
# (In the browser the event loop's timers are coarse — a few milliseconds — and every request
# shares one thread with the load generator, so these runs are noisy there and the generator
# itself can become the bottleneck. Run the notebook locally for clean figures.)
#
# And the same question on a virtual clock, which can go further in no time (a **simulation**;
# no request is sent):

# %%
from lesson.teaching.simulation import simulate_batching_server

simulated = []
for rate in (100, 250, 400, 450, 480, 490):
    sim = simulate_batching_server(rate_per_s=rate, requests=4000)
    simulated.append({"rate/s": rate, "p50 ms": round(sim.p50_ms, 2), "p99 ms": round(sim.p99_ms, 2),
                      "utilisation": f"{sim.utilisation:.0%}", "saturated": sim.saturated})
table(simulated, caption="SIMULATION: the same 2 ms device, Poisson arrivals (saturated: busy at least 98 % of the time)")

# %% [markdown]
# ## How requests arrive: evenly spaced, Poisson, bursty
#
# An open loop sends on a schedule that does not wait for answers — but *which* schedule?
# Evenly spaced arrivals (one every 1/rate seconds) are the gentlest load there is: no two
# requests ever arrive together, so a server below capacity almost never queues. Real users
# act independently, which is closer to a **Poisson** process (exponential gaps), and real
# traffic is often burstier still. The harness draws all three from a seed
# (`run_load_test(..., arrivals="uniform" | "poisson" | "gamma", burstiness=..., seed=...)`;
# gamma gaps with burstiness < 1 are burstier than Poisson, as in vLLM's serving benchmark).
#
# Below, the same simulated device at the same mean rate — 70 % of the capacity measured
# above — under each process, for about three seconds each.

# %%
from lesson.teaching.knee import arrivals_verdict, arrivals_row

arrivals_panel = lab.panel("batching", targets=["batching"], concurrency=64,
                           title="Same mean rate, three arrival processes")
same_rate = round(0.7 * capacity)
by_arrivals = {}
for name, process, burstiness in (("uniform", "uniform", 1.0), ("Poisson", "poisson", 1.0),
                                  ("bursty (gamma, burstiness 0.25)", "gamma", 0.25)):
    run = await arrivals_panel.run_async(rate=same_rate, requests=3 * same_rate, knobs=no_batching,
                                         arrivals=process, burstiness=burstiness, seed=6)
    by_arrivals[name] = run.result
arrivals_panel.report()
table([arrivals_row(name, r) for name, r in by_arrivals.items()],
      caption=f"Measured {where_knee}: one simulated 2 ms device at {same_rate} req/s (70 % of its measured capacity), "
              "three arrival processes")

# %%
print(arrivals_verdict(by_arrivals, same_rate, capacity))

# %% [markdown]
# The same question on a virtual clock (a **simulation**: no request is sent, no timer is
# involved, so neither a busy machine nor the browser's coarse timers disturb it): one device
# that holds 2.02 ms per request, 4,000 requests per row.

# %%
from lesson.loadtest.arrivals import Arrivals

sim_capacity = 1000 / 2.02
processes = (("uniform", Arrivals("uniform")), ("Poisson", Arrivals("poisson", seed=6)),
             ("bursty (gamma, burstiness 0.25)", Arrivals("gamma", burstiness=0.25, seed=6)))
sim_arrivals = []
for share in (0.7, 0.9):
    for name, process in processes:
        sim = simulate_batching_server(rate_per_s=share * sim_capacity, requests=4000, arrivals=process)
        sim_arrivals.append({"share of capacity": f"{share:.0%}", "arrivals": name, "p50 ms": round(sim.p50_ms, 2),
                             "p99 ms": round(sim.p99_ms, 2)})
table(sim_arrivals, caption=f"SIMULATION: one 2.02 ms device (capacity {sim_capacity:.0f}/s), three arrival processes")
at = {(row["share of capacity"], row["arrivals"]): row["p99 ms"] for row in sim_arrivals}
for share in ("70%", "90%"):
    u, p, g = (at[(share, name)] for name, _ in processes)
    order = ("the burstier the arrivals, the longer the tail" if u < p < g else
             "the order did not follow burstiness on this simulation")
    print(f"At {share} of capacity: p99 {u} ms evenly spaced, {p} ms Poisson ({p / u:.1f}x), "
          f"{g} ms bursty ({g / u:.1f}x): {order}.")

# %% [markdown]
# ## Autoscaling signals: CPU saturates, an uncapped queue keeps counting
#
# An autoscaler adds servers when a signal crosses a threshold. The usual signal is CPU
# utilisation, the fraction of time the server is busy. It cannot go above 100 %: once the
# server is always busy, 10 % more traffic and twice the traffic look the same. The number
# of requests **in flight** (queued or being served) keeps growing with the excess, and p99
# with it — *where nothing caps the queue* — so there it still tells you how far over capacity
# you are and how many servers to add.
#
# A real server usually caps it. The lesson's servers count a request in their
# `lesson_requests_in_flight` gauge only once it is admitted, admit at most `max_in_flight`,
# and answer the excess at once with 503 / `RESOURCE_EXHAUSTED`, so the gauge never passes the
# bound (notebook 07 reads it while servers bounded at 32 and 4 shed load). Past the cap that
# gauge saturates just like CPU,
# and the overload shows only in the rate of refusals: watch both, or count requests where
# they wait before admission (a proxy or queue in front of the server).
#
# The cell below is a **simulation** on a virtual clock (`simulate_load_signals`; no request
# is sent): one server, one request at a time, 2 ms each, Poisson arrivals for 10 seconds of
# virtual time at rising shares of its capacity. For each rate it prints the busy fraction,
# the mean number in flight over the window, the number still in flight when the window
# closes, and p99. The last column is what a queue that grows at (rate − capacity) would hold
# after 10 s, for comparison with the measured backlog.

# %%
from lesson.teaching.simulation import simulate_load_signals

signals = []
for share in (0.5, 0.8, 0.9, 0.95, 1.0, 1.1, 1.3, 1.5):
    sig = simulate_load_signals(rate_per_s=share * 500, service_ms=2.0, duration_s=10.0)
    signals.append({"offered rate/s": round(sig.rate_per_s), "share of capacity": f"{sig.offered_load:.0%}",
                    "busy (CPU-like)": f"{sig.utilisation:.1%}", "mean in flight": round(sig.mean_in_flight, 1),
                    "in flight at end": f"{sig.in_flight_at_end:,}", "p99 ms": round(sig.p99_ms, 1),
                    "excess × 10 s": f"{max(0, round((sig.rate_per_s - sig.capacity_per_s) * sig.duration_s)):,}"})
table(signals, caption="SIMULATION: one 2 ms server (capacity 500/s), 10 s of Poisson arrivals per rate")

# %% [markdown]
# Read the columns from the top (the cell below puts the run's own figures into words):

# %%
rows_by_share = {row["share of capacity"]: row for row in signals}
at_cap, at_130, at_150 = rows_by_share["100%"], rows_by_share["130%"], rows_by_share["150%"]
print(f"Busy (the CPU-like signal): {rows_by_share['50%']['busy (CPU-like)']} at 50 % of capacity, "
      f"{at_cap['busy (CPU-like)']} at 100 %, {at_130['busy (CPU-like)']} at 130 %, {at_150['busy (CPU-like)']} at 150 %.")
print(f"In flight at the end of 10 s: {at_cap['in flight at end']} at 100 %, {at_130['in flight at end']} at 130 % "
      f"(excess x 10 s: {at_130['excess × 10 s']}), {at_150['in flight at end']} at 150 % "
      f"(excess: {at_150['excess × 10 s']}); p99 {at_cap['p99 ms']} -> {at_130['p99 ms']} -> {at_150['p99 ms']} ms.")

# %% [markdown]
# Past capacity the busy fraction cannot rise further, while this simulation's uncapped backlog
# keeps counting the excess arrivals: the queue says "about this many requests too many per
# second", which is what a scale-out decision needs. This is why many serving platforms can
# scale on queue depth, concurrency or in-flight requests per replica — for example Knative's
# concurrency target, which KServe uses in its serverless mode, or KEDA on a queue length —
# rather than on CPU alone, and why a GPU server, whose CPU may idle while the device is
# saturated, needs them even more. Not every platform does by default: KServe's raw deployment
# mode scales through the Kubernetes HPA on CPU or memory, and concurrency-based scaling needs
# Knative
# ([KServe: autoscaling with the Kubernetes HPA](https://kserve.github.io/website/docs/model-serving/predictive-inference/autoscaling/hpa-autoscaler)).

# %% [markdown]
# ## Check your load tester
#
# A load tester is code too, and this notebook has trusted one all along. Before you believe
# its figures, hold it against tools other people trust, on the same server, in the same run:
#
# - **wrk**, written in C, one thread, one request in flight per connection;
# - **locust**, the Python load tool many teams use (`FastHttpUser`, headless);
# - **`lesson loadtest`**, this lesson's harness, in its own process, as you would run it
#   from a terminal.
#
# One after another, each for the same seconds at the same number of connections, against the
# real REST server's V1 route. Each tool reports its own requests per second, p50 and p99.
# In the browser there are no processes to start and no sockets to load, so this section only
# runs in a local Jupyter.

# %%
import json

from lesson.loadtest.outside import compare_load_tools
from lesson.widgets.charts import bar_chart, display_chart

tool_runs = []
if "rest" in lab.servers:
    body = json.dumps(lab.example_payload()).encode()
    tool_runs = compare_load_tools(lab.servers["rest"].url, path=f"/v1/models/{lab.model.name}:predict", body=body,
                                   model=lab.model.name, connections=8, seconds=3, progress=print)
    display(table([run.row() for run in tool_runs],
                  caption="Same server, same route, 8 connections, 3 s each, one tool after another"))
    display_chart(bar_chart([{"tool": run.tool, "figure": name, "ms": value}
                             for run in tool_runs if run.available
                             for name, value in (("p50", run.p50_ms), ("p99", run.p99_ms))],
                            x="tool", y="ms", color="figure", title="Latency each tool measured (ms)"))
else:
    print("Skipped here: wrk and locust are processes on a real machine, and this browser has neither "
          "processes nor sockets. Run the notebook in a local Jupyter to compare the tools.")

# %% [markdown]
# How to read it: each tool runs in its own process, one after another, so the tools differ
# by their own cost per request *and* by what the server and the machine did during their
# seconds. wrk's client costs least; locust's Python users cost more per request. If that
# cost is what separates them, on a machine where server and load share the cores, the
# costlier client shows fewer requests per second *and* a higher latency; if a tool shows more
# requests per second *and* a lower latency, the server's speed moved between runs by more
# than the clients differ. The cell below says which of these this run shows. A harness you
# can trust lands near wrk: the verdict compares this run's figures with the targets the
# lesson holds its harness to (throughput within 15 % of wrk's, p50 within 20 %).

# %%
from lesson.teaching.verdicts import tool_agreement_text

by_tool = {run.tool: run for run in tool_runs if run.available}
if "wrk" in by_tool and "lesson loadtest" in by_tool:
    wrk_run, ours = by_tool["wrk"], by_tool["lesson loadtest"]
    rps_ratio, p50_ratio = ours.rps / wrk_run.rps, ours.p50_ms / wrk_run.p50_ms
    holds = abs(rps_ratio - 1) <= 0.15 and abs(p50_ratio - 1) <= 0.20
    print(f"lesson loadtest / wrk: throughput {rps_ratio:.2f}x, p50 {p50_ratio:.2f}x -> "
          + ("within the targets on this run." if holds else
             "outside the targets on this run: rerun it on an idle machine before you blame either tool; "
             "benchmarks/bench_peers.py pins server and load to separate cores and takes medians of 3."))
    if "locust" in by_tool:
        loc = by_tool["locust"]
        print(tool_agreement_text("locust", "wrk", rps=loc.rps, reference_rps=wrk_run.rps,
                                  p50_ms=loc.p50_ms, reference_p50_ms=wrk_run.p50_ms))
elif "rest" in lab.servers:
    print("No verdict: " + "; ".join(f"{run.tool}: {run.note}" for run in tool_runs if not run.available))
else:
    print("No verdict in the browser: nothing was run.")

# %% [markdown]
# ## What to notice
#
# Each point below is computed from the runs above (rerun them and the sentences change).

# %% tags=["hide-input"]
from IPython.display import Markdown

from lesson.teaching.knee import knee_sentence
from lesson.teaching.verdicts import spread_text

pooled_p99 = lesson.percentile(pooled, 99)
notes = [
    "- **Compare like with like.** The side-by-side runs used the same payloads, requests and concurrency; "
    + spread_text({key: run.result.p50 for key, run in by_pattern.items()}, tick_s=clock_tick)
    + ". Say which machine, client and server produced a figure.",
    (f"- **Closed loops hide stalls.** One 200 ms stall: the closed loop counted {slow_closed} slow request(s), the "
     f"open loop {slow_open}. Use an open loop (arrivals that do not wait for answers) for latency objectives, and "
     "report late sends." if slow_open > slow_closed else
     f"- **The stall did not separate the loops this time.** The closed loop counted {slow_closed} slow request(s), "
     f"the open loop {slow_open}: rerun the stall cells (an open loop should keep sending through the stall)."),
    f"- **Never average percentiles.** The two runs' p99s averaged to "
    f"{latency_text((a.p99 + b.p99) / 2, tick_s=max(a.clock_resolution, b.clock_resolution))}; the p99 of their pooled "
    f"samples was {latency_text(pooled_p99, tick_s=max(a.clock_resolution, b.clock_resolution))}. Keep raw samples or "
    "mergeable histograms.",
    "- " + knee_sentence(knee, capacity),
    "- **Arrivals shape the tail.** " + arrivals_verdict(by_arrivals, same_rate, capacity),
]
if by_tool.get("wrk") and by_tool.get("lesson loadtest"):
    notes.append(f"- **Check your load tester.** Against wrk on the same server, the harness measured "
                 f"{by_tool['lesson loadtest'].rps / by_tool['wrk'].rps:.2f}x its throughput and "
                 f"{by_tool['lesson loadtest'].p50_ms / by_tool['wrk'].p50_ms:.2f}x its p50.")
else:
    notes.append("- **Check your load tester** could not run here (no wrk or no local server); the Load "
                 "testing page shows a recorded comparison with wrk, locust, h2load and Triton's perf_analyzer.")
if lab.path != "servers":
    notes.append("- **In the browser** every run above was in-process and on a coarse clock: the shapes hold, the "
                 "absolute figures are the browser's, not a server's.")
Markdown("\n".join(notes))

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

show_quiz(quiz_for("06-load-testing"))

# %% [markdown]
# ## Exercises
#
# **1. Latency without coordinated omission.** Write `latencies(intended, sent, done)` for an
# open-loop test: three lists of times (seconds) per request; return each request's latency.

# %%
from lesson.teaching.exercises import check


def latencies(intended, sent, done):
    raise NotImplementedError("your code here")


check("open_loop_latencies", latencies)

# %% [markdown]
# **2. Combine two runs.** Write `pooled(run_a, run_b, q)` returning the q-th percentile of
# both runs' samples together (each run is a list of latencies).

# %%
def pooled(run_a, run_b, q):
    raise NotImplementedError("your code here")


check("pooled_percentile", pooled)

# %% [markdown]
# **3. Find this machine's knee (no checker).** In the first panel, choose `rest` and an open
# loop (a rate above 0). Raise the rate until p99 more than doubles from its low-load value.
# How close to the closed-loop throughput did you get? Check *errors* and the late sends in
# the table: a load generator that cannot keep up is measuring itself.

# %%
lab.close()
