# %% [markdown]
# # 04 · Streaming: a prediction for every event, as it happens
#
# Fraud checks on card payments, recommendations after each click, alerts on sensor readings:
# here the input is a *stream of events*, and each prediction must be ready seconds (or less)
# after its event happened. Nobody sends a request; producers append events to a **log**
# (Kafka, Redis Streams, Pulsar, Kinesis), and a **consumer group** reads the log, scores each
# event and writes the result downstream.
#
# A log is not a queue. The producer appends and moves on; the broker keeps the entries (up to
# a retention bound) whether or not anyone has read them; each entry has an ID (an offset), and
# a consumer group remembers how far it has read and which entries its consumers hold without
# having acknowledged them. What matters follows from that: **lag** (how far the group is
# behind the log), **freshness** (event time to result), **acknowledgement after the durable
# write**, **duplicates and redelivery** (delivery is *at least once*), an **idempotent sink**
# that turns it into an exactly-once *effect*, **order per key**, and **bad events** (one
# malformed event must not stop the stream). In this notebook you will
#
# 1. score events with the package's event-stream adapter and see how it handles bad events;
# 2. run a real broker (Redis Streams) with two consumers, kill one mid-run, and account for
#    every event; chart lag and freshness over time;
# 3. see what a consumer group does to per-key order, and how partitions keep it;
# 4. compare the log with an in-process bounded queue, and load-test the streaming target.

# %%
import lesson
from lesson.lab import setup

lab = setup()  # the real model, diabetes-mlp; in local Jupyter its REST and gRPC servers too
patients, progression = lab.heldout()  # held-out patients and their observed progression

# %% [markdown]
# ## Events in, predictions out
#
# An event is `{"id", "key", "instances"}`. The adapter yields one result per event, in
# order, and its metadata names the event. A bad event does not end the stream: by default it
# becomes an *error record* (a dead letter) in its place, and the next event is scored as usual.

# %%
from lesson.patterns.streaming.events import EventStreamAdapter, is_error

events = [
    {"id": "e1", "key": "patient-7", "instances": patients[0]},
    {"id": "e2", "key": "patient-3", "instances": [patients[1][0], "oops", *patients[1][2:]]},  # malformed
    {"id": "e3", "key": "patient-7", "instances": patients[2]},
]
adapter = lesson.event_stream_adapter(lab.model)
for record in adapter(events):
    meta = record["metadata"]
    outcome = f"ERROR {record['error']['message']}" if is_error(record) else record["predictions"]
    print(f"{meta['event_id']} key={meta['key']}: {outcome}")

# %%
lab.show_source(EventStreamAdapter.process)

# %% [markdown]
# ## A real log: Redis Streams with a consumer group
#
# Locally the notebook starts the project's own broker, Debian's `redis-server`, on a free
# loopback port (and stops it at the end). The pipeline is the one `lesson stream` runs from a
# shell:
#
# - the **producer** appends events with `XADD` to one of 4 partitions (a key always maps to
#   the same one), with `MAXLEN ~` bounding the retention: a consumer that falls further behind
#   than that loses events (Redis 7 trims them even while pending; `XAUTOCLAIM` then reports
#   their ids as deleted, and the lesson counts them as lost to retention), which is why lag is
#   watched;
# - each **consumer** of the group reads with `XREADGROUP`, scores every valid event of a read
#   in one vectorised model call, writes results and dead letters through one atomic Lua script
#   (`HSETNX` on the event id: the result is the "seen" mark), and only then `XACK`s;
# - a consumer that dies leaves its entries *pending*; a sibling claims them with `XAUTOCLAIM`
#   once they have been idle long enough, and finishes them. The sink refuses what it already has.
#
# In the browser there are no sockets and no subprocesses: nothing there pretends to be Redis.
# The browser path runs the package's in-process consumer instead, and says so.

# %%
import asyncio

from lesson.widgets import table
from lesson.widgets.charts import display_chart, line_chart

broker = None
if not lab.in_browser:
    from lesson.servers.broker import BrokerUnavailableError, start_broker

    try:
        broker = start_broker()
    except BrokerUnavailableError as exc:
        print(f"No real broker here ({exc}); the in-process consumer runs instead.")
print(f"Streaming path: real broker, redis-server at {broker.url}" if broker else
      "Streaming path: in-process consumer (no broker: browser, or redis-server missing)")

# %% [markdown]
# Two consumers, `a` (its own process) and `b` (this kernel), share the group. The producer
# appends 6,000 events at 1,500 per second (2 % appended twice, as a retrying producer would;
# 0.5 % with a bad payload). At the first moment after one second when `a` holds entries it
# has read but not yet acknowledged, it is stopped and killed with SIGKILL, mid-batch (the
# chart's title gives the moment).

# %%
if broker:
    from lesson.teaching.broker_demo import crash_recovery_demo

    demo = await crash_recovery_demo(broker.url, events=6000, rate=1500.0, kill_after_s=1.0)
    display(table(demo.table(), caption="The run's accounting, read from the broker (measured)"))
    display_chart(line_chart(demo.chart_rows(), x="seconds", y="value", color="series",
                             title=f"Lag and freshness; consumer a killed at {demo.killed_at_s} s"))
else:
    from lesson.patterns.streaming.consumer import StreamConsumer, generate_events

    in_process = await StreamConsumer(lab.model).run(generate_events(2000, keys=16, rate=1000, duplicate_every=50))
    display(table([in_process.summary()], caption="In-process consumer (no broker in the browser; measured)"))

# %% [markdown]
# ## Order per key
#
# Redis Streams keeps the order of entries *within one stream*. A consumer group spreads one
# stream's entries over its consumers, so two consumers reading the same partition can write
# results for one key out of order (the faster one overtakes). The lesson keeps per-key order
# the way Kafka does: partition by key, and one consumer per partition. Both, measured:

# %%
if broker:
    from lesson.teaching.broker_demo import ordering_demo

    order_rows = await ordering_demo(broker.url, events=3000, keys=16)
    display(table(order_rows, caption="Results written out of their key's order (measured)"))
else:
    print("In the browser the in-process consumer keeps order per key by construction: one "
          "asyncio worker per partition of keys.")

# %% [markdown]
# ## An asynchronous stream, and freshness
#
# Real events arrive over time. Below, a producer emits 200 events at about 400 per second,
# stamping each with its event time; the consumer scores them through `adapter.astream` as
# they arrive. Freshness is the time from an event's timestamp to its prediction. (In the
# browser the clock ticks in steps of about 0.1 ms, so very small figures are coarse there.)

# %%
import time


async def producer(n, rate_per_s):
    for i in range(n):
        yield {"id": f"ev-{i}", "key": f"user-{i % 5}", "event_time": time.perf_counter(),
               "instances": [patients[i % len(patients)]]}
        await asyncio.sleep(1 / rate_per_s)


adapter = lesson.event_stream_adapter(lab.model)

# %% [markdown]
# The adapter's metadata carries what it knows about the event (`event_id`, `key`,
# `sequence`), not arbitrary fields such as our `event_time`; so the consumer keeps the send
# times itself, keyed by event id:

# %%
async def consume_with_times(stream):
    sent_at, freshness_ms = {}, []

    async def remember(source):
        async for event in source:
            sent_at[event["id"]] = event["event_time"]
            yield event

    async for record in adapter.astream(remember(stream)):
        freshness_ms.append((time.perf_counter() - sent_at.pop(record["metadata"]["event_id"])) * 1000)
    return sorted(freshness_ms)

freshness = await consume_with_times(producer(200, 400))
table([{"events": len(freshness)} | {f"p{q} ms": round(lesson.percentile(freshness, q), 3) for q in (50, 90, 99)}
       | {"max ms": round(freshness[-1], 3)}], caption="Freshness, ms from event time to prediction (measured)")

# %% [markdown]
# ## The other design: an in-process bounded queue
#
# Inside one process, between a fast producer and a slow consumer, there is a queue. If it is
# unbounded, a burst becomes memory growth and ever-staler predictions; if it is **bounded**, a
# full queue makes the producer wait. That is *backpressure*, and it couples the two: the
# producer runs at the consumer's speed. A log decouples them instead — the producer never
# waits, the broker absorbs the backlog (up to its retention), and lag is what grows. (A
# producer can still choose to wait — the log never asks it to: `lesson stream produce
# --max-lag N` polls the group's backlog before each batch of appends and pauses while it
# exceeds `N`. It is off by default, and this notebook's producer does not use it.) Here the consumer takes 5 ms per event and the producer would
# like to send every 1 ms; the queue holds 10 events.

# %%
async def run_pipeline(n_events, queue_size, consumer_ms):
    queue = asyncio.Queue(maxsize=queue_size)
    producer_waits, depth, found_full = [], [], 0

    async def produce():
        nonlocal found_full
        for i in range(n_events):
            found_full += queue.full()
            start = time.perf_counter()
            await queue.put({"id": f"b-{i}", "instances": patients[i % len(patients)]})  # waits when full
            producer_waits.append((time.perf_counter() - start) * 1000)
            depth.append(queue.qsize())  # events waiting just after this one went in
            await asyncio.sleep(0.001)
        await queue.put(None)

    async def consume():
        scored = 0
        while (event := await queue.get()) is not None:
            adapter.process(event)
            scored += 1
            await asyncio.sleep(consumer_ms / 1000)
        return scored

    _, scored = await asyncio.gather(produce(), consume())
    return {"events sent": n_events, "events scored": scored, "max queue depth": max(depth),
            "puts that found it full": found_full, "producer waited (ms, total)": round(sum(producer_waits))}

queue_run = await run_pipeline(60, queue_size=10, consumer_ms=5)
table([queue_run], caption="Bounded queue of 10 (measured)")

# %% [markdown]
# ## Under load
#
# The `streaming` target sends each request as one event (with an id and a key) through the
# same adapter. Compare it with the REST and gRPC targets under the same load:

# %%
panel = lab.panel("streaming", requests=300, concurrency=2)
panel

# %%
await panel.run_async(target="streaming")
await panel.run_async(target="grpc")
panel.report()

# %% [markdown]
# ## What to notice
#
# Each point below is computed from the runs above (rerun them and the sentences change).

# %% tags=["hide-input"]
from IPython.display import Markdown

points = []
if broker:
    r = demo.report
    peak = max(demo.timeline, key=lambda s: s["backlog"])
    fresh_peak = max((s["freshness_p99_ms"] or 0) for s in demo.timeline)
    points += [
        f"- **Nothing was lost.** Consumer `a` was killed at {demo.killed_at_s} s holding {demo.pending_at_kill} "
        f"unacknowledged entries; `b` claimed {demo.survivor.claimed} (redelivered: {r.redelivered}) and finished. "
        f"Of {r.unique_ids} unique events, {r.scored} were scored and {r.dead_lettered} dead-lettered: "
        f"lost = {r.lost}.",
        f"- **At-least-once delivery, exactly-once effect.** The log held {r.produced} entries for "
        f"{r.unique_ids} events and redelivered {r.redelivered}; the sink refused {r.duplicates_suppressed} "
        "deliveries of an id it already had, so every result was written once.",
        f"- **Lag is the saturation signal.** The backlog peaked at {peak['backlog']} entries {peak['t']} s into "
        f"the run ({'after' if peak['t'] > demo.killed_at_s else 'before'} `a` was killed at {demo.killed_at_s} s) "
        f"and freshness p99 reached {fresh_peak:.0f} ms; the producer appended at its own pace throughout "
        "(it never waits for a log's consumers): the broker held the backlog.",
    ]
    shared, per_partition = order_rows
    points.append(f"- **Order per key needs one consumer per partition.** Two consumers sharing the partitions "
                  f"wrote {shared['results out of key order']} results out of their key's order; one consumer "
                  f"per partition wrote {per_partition['results out of key order']}.")
else:
    points.append(f"- **In the browser** the in-process consumer scored {in_process.scored} events and skipped "
                  f"{in_process.duplicates} duplicate deliveries; no broker ran here, so lag and redelivery "
                  "could not be measured (run the notebook locally for them).")
from lesson.teaching.verdicts import latency_text

clock_tick = lesson.clock_resolution()
fresh_p99 = lesson.percentile(freshness, 99)
points += [
    f"- **Freshness includes waiting.** In-process, through the adapter at 400 events/s, freshness was p50 "
    f"{latency_text(lesson.percentile(freshness, 50) / 1000, tick_s=clock_tick, digits=2)} and p99 "
    f"{latency_text(fresh_p99 / 1000, tick_s=clock_tick, digits=2)}"
    + ((f"; on the broker, once a backlog built up, p99 reached {fresh_peak:.0f} ms: time waiting in the log, "
        "not scoring, is what makes predictions stale." if fresh_peak > fresh_p99 else
        f"; on the broker its p99 peaked at {fresh_peak:.0f} ms, no higher: this run's backlog did not age "
        "its predictions.") if broker else "."),
    (f"- **The bounded queue filled to {queue_run['max queue depth']} of 10:** {queue_run['puts that found it full']} "
     f"of {queue_run['events sent']} puts found it full and waited for the consumer, "
     f"{queue_run['producer waited (ms, total)']} ms in all, and all {queue_run['events scored']} events were scored: "
     "backpressure couples producer and consumer, where a log lets lag grow instead."
     if queue_run["puts that found it full"] else
     f"- **The bounded queue never filled** (at most {queue_run['max queue depth']} of 10), so the producer never "
     "waited on it: rerun the cell; with a consumer 5x slower than the producer it should fill."),
    "- **A bad event became a record, not an outage:** the stream kept flowing and the error went where "
    "someone can inspect it (the dead-letter stream).",
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

show_quiz(quiz_for("04-streaming"))

# %% [markdown]
# ## Exercises
#
# **1. Score each event once, in bounded memory.** Brokers redeliver, and a stream never ends.
# Write `dedupe(events, capacity)` keeping the first event of each `id`, in order, while
# remembering at most `capacity` ids.

# %%
from lesson.teaching.exercises import check


def dedupe(events, capacity):
    raise NotImplementedError("your code here")


check("dedupe_events", dedupe)

# %% [markdown]
# **2. Measure freshness.** Write `freshness_ms(events) -> list of ms` from each event's
# `event_time` and `scored_at` (both in seconds).

# %%
def freshness_ms(events):
    raise NotImplementedError("your code here")


check("freshness", freshness_ms)

# %% [markdown]
# **3. Make the sink idempotent.** This sink writes every delivery. Fix it so a duplicate or a
# redelivery after a crash changes nothing: the checker replays both.

# %%
def sink(store, event_id, prediction):
    store["results"][event_id] = prediction
    store["out"].append(event_id)
    return True


check("idempotent_sink", sink)

# %% [markdown]
# **4. Size the queue (no checker).** Rerun `run_pipeline` with `queue_size` 1, 10 and 100,
# and with `consumer_ms` 0.5. Which setting changes the producer's waiting, and which changes
# how stale the last event is when it is scored?

# %%
if broker:  # stop the notebook's broker (it would also stop when the kernel exits)
    from lesson.servers.broker import stop_broker

    stop_broker(broker)

# %%
lab.close()
