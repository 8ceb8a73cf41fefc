"""Score events from the broker's log in a consumer group, crash-safe (redis-py, asyncio).

One loop, bounded in events and seconds:

1. **claim** what a dead consumer left: ``XAUTOCLAIM`` hands this consumer the entries another
   consumer read but never acknowledged, once they have been idle ``min_idle_ms``
   (counted as ``redelivered``). A pending entry the log trimmed away (retention, ``MAXLEN``
   or ``XDEL``) cannot be scored: Redis >= 7.0 drops it from the pending list and names it in
   ``XAUTOCLAIM``'s third reply element; it is counted as ``lost_to_retention``;
2. **read** new entries: ``XREADGROUP ... >`` up to ``batch`` per call;
3. **score** every valid event of the batch in one vectorised ``model.predict(rows)``; a bad
   event (missing feature, NaN, wrong type) becomes a dead letter with its reason;
4. **write** results and dead letters with the idempotent sink (one Lua script, atomic:
   :data:`lesson.patterns.streaming.log.SINK_SCRIPT`), then
5. **acknowledge** (``XACK``) — only now, so a crash anywhere before leaves the entries pending
   and a sibling finishes them: at-least-once delivery, exactly-once *effect*.

If the broker goes away the consumer retries with a bounded, growing backoff and resumes.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lesson.patterns.streaming.log import (
    DEFAULT_MAXLEN,
    SINK_SCRIPT,
    BadEvent,
    StreamLayout,
    as_text,
    decode_event,
    sink_arguments,
)

MAX_BATCH = 4096
MAX_SECONDS = 3600.0


class BrokerDownError(ConnectionError):
    """The broker did not answer within the retry budget; the message names its address."""


@dataclass
class ConsumeReport:
    """What one consumer did in one run."""

    consumer: str
    read: int = 0
    claimed: int = 0
    scored: int = 0
    dead_lettered: int = 0
    duplicates_suppressed: int = 0
    lost_to_retention: int = 0
    batches: int = 0
    reconnects: int = 0
    wall_s: float = 0.0
    stopped_by: str = ""

    def summary(self) -> dict[str, Any]:
        return dict(vars(self))


async def ensure_groups(client: Any, layout: StreamLayout, group: str) -> None:
    """Create ``group`` on every partition (from the log's start; the streams too if new)."""
    import redis.exceptions

    for stream in layout.streams:
        try:
            await client.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


@dataclass
class BrokerConsumer:
    """One consumer of a group (see the module docstring for the loop).

    Args:
        client: a ``redis.asyncio.Redis``.
        layout: where the run lives on the broker.
        model: a core ``Model`` (``predict(rows)``, ``metadata().n_features``).
        group: the consumer group's name.
        consumer: this consumer's name within the group.
        partitions: the partitions this consumer reads (default: all; one consumer per
            partition keeps every key's order).
        batch: most entries per read (1..4096), scored in one model call.
        block_ms: how long a read waits for new entries.
        min_idle_ms: how long an entry must be pending before it is claimed from another consumer.
        max_events: stop after reading this many (None: no bound but ``max_seconds``).
        max_seconds: stop after this long (at most an hour).
        idle_exit_s: stop once nothing new arrived for this long (None: never).
        delay_ms: sleep between reading and scoring each batch (a slow consumer, for lessons).
        retry_budget_s: how long to keep retrying an unreachable broker.
    """

    client: Any
    layout: StreamLayout
    model: Any
    group: str = "scorers"
    consumer: str = "c1"
    partitions: list[int] | None = None
    batch: int = 128
    block_ms: int = 200
    min_idle_ms: int = 2000
    max_events: int | None = None
    max_seconds: float = 60.0
    idle_exit_s: float | None = None
    delay_ms: float = 0.0
    retry_budget_s: float = 30.0
    maxlen: int = DEFAULT_MAXLEN
    on_batch: Callable[[ConsumeReport], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.batch <= MAX_BATCH:
            raise ValueError(f"batch must be in 1..{MAX_BATCH}, got {self.batch}")
        if not 0 < self.max_seconds <= MAX_SECONDS:
            raise ValueError(f"max_seconds must be in (0, {MAX_SECONDS:g}], got {self.max_seconds}")
        parts = (
            list(range(self.layout.partitions))
            if self.partitions is None
            else list(self.partitions)
        )
        if not parts or any(not 0 <= p < self.layout.partitions for p in parts):
            raise ValueError(
                f"partitions must be in 0..{self.layout.partitions - 1}, got {self.partitions}"
            )
        self._streams = [self.layout.events(p) for p in parts]
        self._n_features = getattr(self.model.metadata(), "n_features", None)
        self._sink: Any = None

    async def run(self) -> ConsumeReport:
        """Consume until a bound is reached; returns what this consumer did."""
        report = ConsumeReport(self.consumer)
        start = time.monotonic()
        last_new = start
        await self._retrying(report, lambda: ensure_groups(self.client, self.layout, self.group))
        self._sink = self.client.register_script(SINK_SCRIPT)
        while True:
            now = time.monotonic()
            if now - start >= self.max_seconds:
                report.stopped_by = "max_seconds"
                break
            if self.max_events is not None and report.read >= self.max_events:
                report.stopped_by = "max_events"
                break
            if self.idle_exit_s is not None and now - last_new >= self.idle_exit_s:
                report.stopped_by = "idle"
                break
            entries = await self._retrying(report, lambda: self._claim(report))
            report.claimed += len(entries)
            if not entries:
                entries = await self._retrying(report, self._read)
            if not entries:
                continue
            last_new = time.monotonic()
            report.read += len(entries)
            if self.delay_ms:
                await asyncio.sleep(self.delay_ms / 1000.0)
            await self._retrying(report, functools.partial(self._handle, entries, report))
            report.batches += 1
            if self.on_batch is not None:
                self.on_batch(report)
        report.wall_s = time.monotonic() - start
        return report

    async def _claim(self, report: ConsumeReport) -> list[tuple[str, str, dict]]:
        """Entries idle in other consumers' pending lists, now this consumer's.

        Pending entries the log no longer holds are counted as lost to retention: Redis >= 7.0
        returns their ids in a third element and drops them from the pending list; older
        servers return them with no fields and keep them pending, so they are acknowledged here.
        """
        claimed: list[tuple[str, str, dict]] = []
        lost = 0
        for stream in self._streams:
            result = await self.client.xautoclaim(
                stream,
                self.group,
                self.consumer,
                self.min_idle_ms,
                start_id="0-0",
                count=self.batch - len(claimed),
            )
            empty = []
            for entry_id, fields in result[1]:
                if fields:
                    claimed.append((stream, entry_id, fields))
                else:  # Redis < 7.0: trimmed while pending, returned empty
                    empty.append(entry_id)
            if empty:
                await self.client.xack(stream, self.group, *empty)
            lost += len(empty) + (len(result[2]) if len(result) > 2 and result[2] else 0)
            if len(claimed) >= self.batch:
                break
        if claimed:
            await self.client.hincrby(self.layout.stats, "redelivered", len(claimed))
        if lost:
            await self.client.hincrby(self.layout.stats, "lost_to_retention", lost)
            report.lost_to_retention += lost
        return claimed

    async def _read(self) -> list[tuple[str, str, dict]]:
        got = await self.client.xreadgroup(
            self.group,
            self.consumer,
            {s: ">" for s in self._streams},
            count=self.batch,
            block=self.block_ms,
        )
        return [
            (as_text(stream), entry_id, fields)
            for stream, entries in (got or [])
            for entry_id, fields in entries
        ]

    async def _handle(self, entries: list[tuple[str, str, dict]], report: ConsumeReport) -> None:
        """Score, write through the sink, then acknowledge."""
        good: list[tuple[str, str, float, list[float]]] = []
        items: list[tuple[str, str, float, str]] = []
        for stream, entry_id, fields in entries:
            try:
                good.append(decode_event(fields, self._n_features))
            except BadEvent as exc:
                event_id = (
                    as_text(fields.get(b"id", fields.get("id", "")))
                    or f"{stream}/{as_text(entry_id)}"
                )
                items.append(
                    (event_id, as_text(fields.get(b"key", fields.get("key", ""))), 0.0, f"d:{exc}")
                )
        if good:
            predictions = self.model.predict([row for *_, row in good])
            items += [
                (eid, key, t, f"p:{float(p)!r}") for (eid, key, t, _), p in zip(good, predictions)
            ]
        keys, args = sink_arguments(self.layout, items, self.maxlen)
        scored, dead, dup = await self._sink(keys=keys, args=args)
        report.scored += int(scored)
        report.dead_lettered += int(dead)
        report.duplicates_suppressed += int(dup)
        by_stream: dict[str, list[str]] = {}
        for stream, entry_id, _ in entries:
            by_stream.setdefault(stream, []).append(entry_id)
        for stream, ids in by_stream.items():
            await self.client.xack(stream, self.group, *ids)

    async def _retrying(self, report: ConsumeReport, step: Callable[[], Any]) -> Any:
        """Run ``step``; on a lost connection retry with backoff (0.05 s doubling to 2 s) within the budget."""
        import redis.exceptions

        deadline = time.monotonic() + self.retry_budget_s
        delay = 0.05
        while True:
            try:
                return await step()
            except (
                redis.exceptions.ConnectionError,
                redis.exceptions.TimeoutError,
                OSError,
            ) as exc:
                if time.monotonic() + delay > deadline:
                    raise BrokerDownError(
                        f"the broker at {_address(self.client)} did not answer for "
                        f"{self.retry_budget_s:g} s: {exc}"
                    ) from None
                report.reconnects += 1
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)


def _address(client: Any) -> str:
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {}) or {}
    return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
