"""The streaming consumer: order per key, backpressure, idempotency, freshness, isolation."""

from __future__ import annotations

import asyncio
import time

import pytest

from lesson.core.stats import percentile
from lesson.models.mlp import load_default_mlp
from lesson.patterns.streaming.consumer import Event, StreamConsumer, generate_events

ROW = [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]


def make_events(n: int, keys: int = 5) -> list[Event]:
    now = time.time()
    return [
        Event(f"e{i}", f"k{i % keys}", [*ROW[:2], 20 + i % 20, *ROW[3:]], now) for i in range(n)
    ]


def test_every_event_scored_correctly_and_in_order_per_key():
    model = load_default_mlp()
    events = make_events(500, keys=7)
    out = []
    report = asyncio.run(StreamConsumer(model, partitions=3, max_batch=16).run(events, out.append))
    assert report.scored == 500 and report.errors == 0 and len(out) == 500
    expected = dict(
        zip((e.event_id for e in events), model.predict([list(e.features) for e in events]))
    )
    assert all(abs(r.prediction - expected[r.event_id]) < 1e-9 for r in out)
    for key in {e.key for e in events}:
        sent = [e.event_id for e in events if e.key == key]
        got = [r.event_id for r in out if r.key == key]
        assert got == sent
    assert report.model_calls < 500  # queued events of one partition share a call


def test_duplicates_are_scored_once():
    class Counting:
        def __init__(self):
            self.rows = 0
            self.inner = load_default_mlp()

        def predict(self, rows):
            self.rows += len(rows)
            return self.inner.predict(rows)

    model = Counting()
    events = make_events(100)
    stream = events + events[10:30] + [events[5]]  # redelivered
    out = []
    report = asyncio.run(StreamConsumer(model).run(stream, out.append))
    assert report.received == 121 and report.duplicates == 21 and report.scored == 100
    assert model.rows == 100
    assert sorted(r.event_id for r in out) == sorted(e.event_id for e in events)


def test_dedup_memory_is_bounded():
    consumer = StreamConsumer(load_default_mlp(), dedup_capacity=10)
    events = make_events(30)
    asyncio.run(consumer.run(events))
    assert len(consumer._seen) == 10


def test_backpressure_slows_the_producer_and_loses_nothing():
    """A slow sink: the producer can only run a bounded distance ahead of the consumer."""
    produced = 0
    consumed = 0
    max_ahead = 0
    n = 200

    async def producer():
        nonlocal produced, max_ahead
        for e in make_events(n, keys=4):
            produced += 1
            max_ahead = max(max_ahead, produced - consumed)
            yield e

    async def slow_sink(result):
        nonlocal consumed
        await asyncio.sleep(0.001)
        consumed += 1

    consumer = StreamConsumer(load_default_mlp(), partitions=2, queue_size=5, max_batch=4)
    report = asyncio.run(consumer.run(producer(), slow_sink))
    assert consumed == n == report.scored  # nothing lost
    # in flight at most: 2 queues x 5 + a batch of 4 per worker + the event being put
    assert max_ahead <= 2 * 5 + 2 * 4 + 2
    assert report.max_queue_depth == 5
    assert report.producer_blocked_s > 0.05  # the producer really waited


def test_bad_events_get_an_error_and_the_rest_are_scored():
    events = make_events(40)
    events[7] = Event("bad", "k2", ROW[:4], time.time())  # wrong width
    events[20] = Event("nan", "k0", [*ROW[:9], float("nan")], time.time())
    out = []
    report = asyncio.run(
        StreamConsumer(load_default_mlp(), partitions=1, max_batch=64).run(events, out.append)
    )
    assert report.errors == 2 and report.scored == 38
    errors = {r.event_id: r.error for r in out if r.error}
    assert set(errors) == {"bad", "nan"}
    assert "expects 10" in errors["bad"] and "finite" in errors["nan"]
    assert [r.event_id for r in out] == [
        e.event_id for e in events
    ]  # one partition: total order kept


def test_freshness_is_measured_from_event_time():
    async def stale():
        for e in make_events(50):
            yield Event(e.event_id, e.key, e.features, time.time() - 0.5)  # happened 0.5 s ago

    report = asyncio.run(StreamConsumer(load_default_mlp()).run(stale()))
    f = report.freshness_percentiles()
    assert 0.5 <= f["p50"] <= f["p90"] <= f["p99"] <= f["max"] < 5
    assert "freshness" in report.to_text() and report.summary()["freshness_s"]["p99"] == f["p99"]


def test_paced_generator_and_freshness_stays_low_when_keeping_up():
    report = asyncio.run(
        StreamConsumer(load_default_mlp()).run(generate_events(200, rate=1000, duplicate_every=20))
    )
    assert report.scored == 200 and report.duplicates == 10
    assert report.wall_s >= 0.15  # paced at 1000/s
    assert report.freshness_percentiles()["p50"] < 0.05


def test_percentile_and_bounds():
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3, 4], 100) == 4
    with pytest.raises(ValueError, match="partitions"):
        StreamConsumer(load_default_mlp(), partitions=0)
    with pytest.raises(ValueError, match="queue_size"):
        StreamConsumer(load_default_mlp(), queue_size=10**9)


def test_async_model_is_awaited_and_batches_per_partition():
    """With the (simulated) accelerator, queued events of a partition share one device call."""
    from lesson.models.accelerator import SimulatedAcceleratorModel

    sim = SimulatedAcceleratorModel(load_default_mlp(), fixed_cost_s=0.002, per_row_s=20e-6)
    out = []
    report = asyncio.run(
        StreamConsumer(sim, partitions=2, max_batch=32).run(make_events(200), out.append)
    )
    assert report.scored == 200 and sim.rows == 200
    assert sim.calls < 100  # far fewer device calls than events
    assert [r.prediction for r in out if r.key == "k1"] == pytest.approx(
        load_default_mlp().predict([e.features for e in make_events(200) if e.key == "k1"])
    )


def test_same_consumer_remembers_ids_across_runs():
    consumer = StreamConsumer(load_default_mlp())
    first = asyncio.run(consumer.run(make_events(20)))
    again = asyncio.run(consumer.run(make_events(25)))  # e0..e19 redelivered, e20..e24 new
    assert first.scored == 20 and again.scored == 5 and again.duplicates == 20
