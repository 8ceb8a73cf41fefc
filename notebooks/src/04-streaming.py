# %% [markdown]
# # 04 · Streaming: a prediction for every event, as it happens
#
# Fraud checks on card payments, recommendations after each click, alerts on sensor readings:
# here the input is a *stream of events*, and each prediction must be ready seconds (or less)
# after its event happened. Nobody sends a request; a **consumer** reads events from a log or
# broker (Kafka, Kinesis, Pub/Sub), scores each one, and emits the result downstream.
#
# What matters changes accordingly: **freshness** (event time to prediction), **order** (per
# key), **duplicates** (brokers deliver *at least once*), **bad events** (one malformed event
# must not stop the stream), and **backpressure** (a slow consumer must slow the producer,
# not drop events or eat all memory). In this notebook you will
#
# 1. score a stream with the package's event-stream adapter and see how it handles bad events;
# 2. consume an asynchronous stream and measure freshness as percentiles;
# 3. watch a bounded queue apply backpressure;
# 4. load-test the streaming target beside the others.

# %%
import lesson
from lesson.core.artifacts import load_artifact
from lesson.core.artifacts import load_heldout
from lesson.lab import setup, show_source
from lesson.models.mlp import load_default_mlp

model = load_default_mlp()  # the real model (diabetes-mlp); the servers run the same one with numpy
lab = setup(model=model, registry="lesson.models.mlp_numpy:serving_registry")
patients, progression = load_heldout(load_artifact(model.name, model.version))  # held-out rows

# %% [markdown]
# ## Events in, predictions out
#
# An event is `{"id", "key", "instances"}`. The adapter yields one result per event, in
# order, and its metadata names the event. A bad event does not end the stream: by default it
# becomes an *error record* (a dead letter) in its place, and the next event is scored as usual.

# %%
events = [
    {"id": "e1", "key": "patient-7", "instances": patients[0]},
    {"id": "e2", "key": "patient-3", "instances": [patients[1][0], "oops", *patients[1][2:]]},  # malformed
    {"id": "e3", "key": "patient-7", "instances": patients[2]},
]
adapter = lesson.event_stream_adapter(lab.model)
for record in adapter(events):
    meta = record["metadata"]
    outcome = f"ERROR {record['error']['message']}" if lesson.is_error(record) else record["predictions"]
    print(f"{meta['event_id']} key={meta['key']}: {outcome}")

# %%
show_source(lesson.EventStreamAdapter.process)

# %% [markdown]
# ## An asynchronous stream, and freshness
#
# Real events arrive over time. Below, a producer emits 200 events at about 400 per second,
# stamping each with its event time; the consumer scores them through `adapter.astream` as
# they arrive. Freshness is the time from an event's timestamp to its prediction. (In the
# browser the clock ticks in steps of about 0.1 ms, so very small figures are coarse there.)

# %%
import asyncio
import time

from lesson.widgets import table


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
table([{"events": len(freshness)} | {f"p{q}": round(lesson.percentile(freshness, q), 3) for q in (50, 90, 99)}
       | {"max": round(freshness[-1], 3)}], caption="Freshness, ms from event time to prediction (measured)")

# %% [markdown]
# ## Backpressure with a bounded queue
#
# Between a fast producer and a slow consumer there is a queue. If it is unbounded, a burst
# becomes memory growth and ever-staler predictions. If it is **bounded**, a full queue makes
# the producer wait: the stream slows down, and nothing is lost. Here the consumer takes 5 ms
# per event and the producer would like to send every 1 ms; the queue holds 10 events.

# %%
async def run_pipeline(n_events, queue_size, consumer_ms):
    queue = asyncio.Queue(maxsize=queue_size)
    producer_waits, depth = [], []

    async def produce():
        for i in range(n_events):
            start = time.perf_counter()
            await queue.put({"id": f"b-{i}", "instances": patients[i % len(patients)]})  # waits when full
            producer_waits.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.001)
        await queue.put(None)

    async def consume():
        scored = 0
        while (event := await queue.get()) is not None:
            depth.append(queue.qsize())
            adapter.process(event)
            scored += 1
            await asyncio.sleep(consumer_ms / 1000)
        return scored

    _, scored = await asyncio.gather(produce(), consume())
    return {"events sent": n_events, "events scored": scored, "max queue depth": max(depth),
            "producer waited (ms, total)": round(sum(producer_waits), 1)}

table([await run_pipeline(60, queue_size=10, consumer_ms=5)], caption="Bounded queue of 10 (measured)")

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
# - **Freshness includes waiting.** Scoring takes microseconds here; freshness is dominated by
#   how events are delivered and queued. That is why streaming systems watch consumer lag.
# - **A bad event became a record, not an outage.** The stream kept flowing; the error went to
#   where someone can inspect it (a dead-letter topic in production).
# - **The bounded queue never grew past its bound,** every event was scored, and the producer
#   absorbed the difference by waiting. An unbounded queue would have hidden the overload until
#   memory ran out.
# - **Measure where the user is.** Freshness was taken from the event's own timestamp, not
#   from when the consumer happened to pick it up — the same idea as open-loop load testing
#   in notebook 06.
#
# ## Exercises
#
# **1. Score each event once.** Brokers redeliver. Write `dedupe(events)` keeping the first
# event of each `id`, in order.

# %%
from lesson.teaching.exercises import check


def dedupe(events):
    raise NotImplementedError("your code here")


check("dedupe_events", dedupe)

# %% [markdown]
# **2. Measure freshness.** Write `freshness(events) -> list of ms` from each event's
# `event_time` and `scored_at` (both in seconds).

# %%
def freshness_ms(events):
    raise NotImplementedError("your code here")


check("freshness", freshness_ms)

# %% [markdown]
# **3. Size the queue (no checker).** Rerun `run_pipeline` with `queue_size` 1, 10 and 100,
# and with `consumer_ms` 0.5. Which setting changes the producer's waiting, and which changes
# how stale the last event is when it is scored?

# %%
lab.close()
