"""Streaming inference: an event-driven consumer on asyncio (runs in the browser too).

Events arrive on an async stream (an async iterator: a Kafka consumer, a WebSocket, a gRPC
stream, or :func:`generate_events` here). The consumer

- scores each event with a core ``Model`` (several events queued for one key partition are
  scored in one call);
- emits results **in order per key**: keys are partitioned (stable hash) over a few workers,
  and each worker handles its partition in arrival order;
- applies **backpressure**: each partition's queue is bounded; when it is full the consumer
  stops pulling from the stream, so the producer slows down and nothing is dropped;
- is **idempotent**: an event id seen before is skipped (scored once), within a bounded
  memory of recent ids (kept across runs of the same consumer);
- measures **freshness**: time from the event's timestamp to its prediction, reported as
  percentiles.

    >>> import asyncio
    >>> from lesson.models.mlp import load_default_mlp
    >>> report = asyncio.run(StreamConsumer(load_default_mlp()).run(generate_events(100)))
    >>> report.scored, report.duplicates
    (100, 0)

Standard library only.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
import zlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lesson.core.stats import percentile


@dataclass(frozen=True)
class Event:
    """One event on the stream.

    Attributes:
        event_id: unique id; a repeat of an id is a duplicate delivery.
        key: ordering key (e.g. a patient id); results for a key come out in arrival order.
        features: the model's input row.
        event_time: when the event happened, on the consumer's ``clock`` (default
            ``time.time()``, seconds since the epoch).
    """

    event_id: str
    key: str
    features: Sequence[float]
    event_time: float


@dataclass(frozen=True)
class ScoredEvent:
    """The result for one event: a prediction, or the error that stopped it."""

    event_id: str
    key: str
    prediction: float | None
    error: str | None
    event_time: float
    scored_time: float

    @property
    def freshness_s(self) -> float:
        """Seconds from the event to its prediction."""
        return self.scored_time - self.event_time


FRESHNESS_WINDOW = 100_000


@dataclass
class StreamReport:
    """What a run did. ``received == scored + errors + duplicates``."""

    received: int = 0
    scored: int = 0
    errors: int = 0
    duplicates: int = 0
    model_calls: int = 0
    max_queue_depth: int = 0
    producer_blocked_s: float = 0.0
    wall_s: float = 0.0
    #: freshness of the most recent scored events (bounded: a stream may never end)
    freshness_s: deque = field(default_factory=lambda: deque(maxlen=FRESHNESS_WINDOW), repr=False)

    def freshness_percentiles(self) -> dict[str, float]:
        """p50, p90, p99 and max freshness in seconds (over the last 100,000 scored events)."""
        values = sorted(self.freshness_s)
        return {
            "p50": percentile(values, 50),
            "p90": percentile(values, 90),
            "p99": percentile(values, 99),
            "max": values[-1] if values else math.nan,
        }

    def summary(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "received": self.received,
            "scored": self.scored,
            "errors": self.errors,
            "duplicates": self.duplicates,
            "model_calls": self.model_calls,
            "max_queue_depth": self.max_queue_depth,
            "producer_blocked_s": round(self.producer_blocked_s, 6),
            "wall_s": round(self.wall_s, 6),
            "freshness_s": self.freshness_percentiles(),
        }

    def to_text(self) -> str:
        f = self.freshness_percentiles()
        ms = {k: v * 1e3 for k, v in f.items()}
        return (
            f"received {self.received}, scored {self.scored}, errors {self.errors}, duplicates skipped "
            f"{self.duplicates}, in {self.model_calls} model calls over {self.wall_s:.3f} s\n"
            f"freshness (event -> prediction): p50 {ms['p50']:.2f} ms, p90 {ms['p90']:.2f} ms, "
            f"p99 {ms['p99']:.2f} ms, max {ms['max']:.2f} ms\n"
            f"backpressure: deepest queue {self.max_queue_depth}, producer held back "
            f"{self.producer_blocked_s * 1e3:.1f} ms"
        )


_END = object()
Sink = Callable[[ScoredEvent], "Awaitable[None] | None"]


class StreamConsumer:
    """Score an async stream of :class:`Event` with a model.

    Args:
        model: a core ``Model`` (``predict(rows) -> list[float]``; an ``async predict_async``
            is used instead when the model has one).
        partitions: workers; each owns the keys that hash to it (1..64).
        queue_size: events buffered per partition before the stream is paused (1..100,000).
        max_batch: most queued events of one partition scored in one call (1..4096).
        dedup_capacity: how many recent event ids are remembered for de-duplication.
        clock: the clock event times are on (default ``time.time``).
    """

    def __init__(
        self,
        model: Any,
        *,
        partitions: int = 4,
        queue_size: int = 64,
        max_batch: int = 32,
        dedup_capacity: int = 100_000,
        clock: Callable[[], float] = time.time,
    ):
        for name, value, hi in (
            ("partitions", partitions, 64),
            ("queue_size", queue_size, 100_000),
            ("max_batch", max_batch, 4096),
            ("dedup_capacity", dedup_capacity, 10_000_000),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
                raise ValueError(f"{name} must be an integer in 1..{hi}, got {value!r}")
        self.model = model
        self.partitions = partitions
        self.queue_size = queue_size
        self.max_batch = max_batch
        self.dedup_capacity = dedup_capacity
        self.clock = clock
        self._seen: OrderedDict[str, None] = OrderedDict()

    def partition_of(self, key: str) -> int:
        """Stable partition of a key (the same in every run and process)."""
        return zlib.crc32(str(key).encode("utf-8")) % self.partitions

    def _is_duplicate(self, event_id: str) -> bool:
        if event_id in self._seen:
            self._seen.move_to_end(event_id)
            return True
        self._seen[event_id] = None
        if len(self._seen) > self.dedup_capacity:
            self._seen.popitem(last=False)
        return False

    async def run(
        self, events: AsyncIterable[Event] | Iterable[Event], sink: Sink | None = None
    ) -> StreamReport:
        """Consume ``events`` to the end; call ``sink(result)`` for each scored event.

        Args:
            events: an async iterable (or a plain iterable) of :class:`Event`.
            sink: called with each :class:`ScoredEvent`, in order per key; may be async
                (a slow async sink slows the whole pipeline down: backpressure).

        Returns:
            A :class:`StreamReport`.
        """
        report = StreamReport()
        queues = [asyncio.Queue(self.queue_size) for _ in range(self.partitions)]
        start = time.perf_counter()
        workers = [asyncio.ensure_future(self._work(q, sink, report)) for q in queues]
        try:
            async for event in _aiter(events):
                report.received += 1
                if self._is_duplicate(event.event_id):
                    report.duplicates += 1
                    continue
                q = queues[self.partition_of(event.key)]
                if q.full():
                    t0 = time.perf_counter()
                    await q.put(event)  # the stream is not read meanwhile: backpressure
                    report.producer_blocked_s += time.perf_counter() - t0
                else:
                    q.put_nowait(event)
                report.max_queue_depth = max(report.max_queue_depth, q.qsize())
            for q in queues:
                await q.put(_END)
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
        report.wall_s = time.perf_counter() - start
        return report

    async def _work(self, q: asyncio.Queue, sink: Sink | None, report: StreamReport) -> None:
        while True:
            first = await q.get()
            if first is _END:
                return
            batch = [first]
            done = False
            while len(batch) < self.max_batch and not q.empty():
                item = q.get_nowait()
                if item is _END:
                    done = True
                    break
                batch.append(item)
            for result in await self._score(batch, report):
                if result.error is None:
                    report.scored += 1
                    report.freshness_s.append(result.freshness_s)
                else:
                    report.errors += 1
                if sink is not None:
                    out = sink(result)
                    if inspect.isawaitable(out):
                        await out
            if done:
                return
            await asyncio.sleep(0)  # let the other partitions and the pump run

    async def _predict(self, rows: list[list[float]]) -> list[float]:
        predict_async = getattr(self.model, "predict_async", None)  # e.g. the simulated accelerator
        if predict_async is not None:
            return list(await predict_async(rows))
        return list(self.model.predict(rows))

    async def _score(self, batch: list[Event], report: StreamReport) -> list[ScoredEvent]:
        """Score a batch in one call; if it fails, score each event alone so only the bad
        ones carry an error."""
        report.model_calls += 1
        try:
            outputs = await self._predict([list(e.features) for e in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"model returned {len(outputs)} outputs for {len(batch)} events")
        except Exception as exc:  # reported per event, never crashes the stream
            if len(batch) > 1:
                return [r for e in batch for r in await self._score([e], report)]
            e, now = batch[0], self.clock()
            return [
                ScoredEvent(
                    e.event_id, e.key, None, f"{type(exc).__name__}: {exc}", e.event_time, now
                )
            ]
        now = self.clock()
        return [
            ScoredEvent(e.event_id, e.key, float(p), None, e.event_time, now)
            for e, p in zip(batch, outputs)
        ]


async def _aiter(events: AsyncIterable[Event] | Iterable[Event]) -> AsyncIterator[Event]:
    if hasattr(events, "__aiter__"):
        async for e in events:  # type: ignore[union-attr]
            yield e
    else:
        for e in events:  # type: ignore[union-attr]
            yield e


async def generate_events(
    n: int,
    *,
    keys: int = 8,
    rate: float | None = None,
    duplicate_every: int = 0,
    seed: int = 0,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Event]:
    """A demo stream: ``n`` events over ``keys`` keys with realistic diabetes features.

    Args:
        n: events to produce (1..1,000,000).
        keys: distinct keys.
        rate: events per second (None: as fast as the consumer takes them).
        duplicate_every: re-send every k-th event (same id) to exercise de-duplication.
        seed: random seed.
        clock: stamps ``event_time`` when each event is produced.
    """
    import random

    if not 1 <= n <= 1_000_000:
        raise ValueError(f"n must be in 1..1000000, got {n}")
    rng = random.Random(seed)
    base = [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]
    start = time.perf_counter()
    for i in range(n):
        if rate:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        features = [v * (1 + rng.uniform(-0.1, 0.1)) for v in base]
        features[1] = rng.choice((1, 2))
        event = Event(f"e{i}", f"k{i % keys}", features, clock())
        yield event
        if duplicate_every and (i + 1) % duplicate_every == 0:
            yield event
