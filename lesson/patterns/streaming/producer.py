"""Append realistic events to the broker's log, at a rate, with duplicates and bad events on request.

Each event carries an id, a key, its event time and the default model's 10 features (rows of
the held-out set shipped in the ``diabetes-mlp`` artifact, so predictions can be checked
against every other pattern). The producer never waits for consumers — that is what a log
buys — unless asked to bound the lag (``max_lag``): then it pauses while the group's
undelivered + pending entries exceed it.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lesson.core.artifacts import load_artifact, load_heldout
from lesson.patterns.streaming.log import DEFAULT_MAXLEN, StreamLayout, as_text, encode_event

MAX_EVENTS = 1_000_000
MAX_RATE = 100_000.0
PIPELINE = 256


@dataclass
class ProduceReport:
    """What one producer run appended."""

    appended: int = 0
    unique: int = 0
    duplicates: int = 0
    bad: int = 0
    paused_s: float = 0.0
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        return dict(vars(self))


def event_rows() -> list[list[float]]:
    """The rows events carry: the default model's held-out set (checksummed in its artifact)."""
    rows, _ = load_heldout(load_artifact("diabetes-mlp"))
    return rows


async def group_backlog(client: Any, layout: StreamLayout, group: str) -> int:
    """Entries of the log not yet delivered to ``group`` plus those delivered but not acknowledged."""
    import redis.exceptions

    total = 0
    for stream in layout.streams:
        try:
            groups = await client.xinfo_groups(stream)
        except redis.exceptions.ResponseError:  # no such stream yet
            continue
        info = next((g for g in groups if as_text(g.get("name")) == group), None)
        if info is None:
            total += await client.xlen(stream)
            continue
        lag = info.get("lag")
        total += int(info.get("pending") or 0) + (int(lag) if lag is not None else 0)
    return total


def _bad_features(rng: random.Random, row: list[float]) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return json.dumps(row[:-1])  # a feature missing
    if kind == 1:
        return json.dumps([float("nan"), *row[1:]])  # NaN (JSON extension, as Python writes it)
    return json.dumps(["high", *row[1:]])  # wrong type


async def produce(
    client: Any,
    layout: StreamLayout,
    *,
    events: int,
    rate: float | None = None,
    duplicates: float = 0.0,
    keys: int = 16,
    bad_fraction: float = 0.0,
    seed: int = 0,
    max_lag: int | None = None,
    group: str = "scorers",
    maxlen: int = DEFAULT_MAXLEN,
    max_seconds: float = 600.0,
    clock: Callable[[], float] = time.time,
    progress: Callable[[ProduceReport], None] | None = None,
) -> ProduceReport:
    """Append ``events`` events (plus duplicates) to the log; bounded in events and seconds.

    Args:
        client: a ``redis.asyncio.Redis``.
        layout: where the run lives.
        events: unique events to append (1..1,000,000).
        rate: events per second (None: as fast as the broker takes them).
        duplicates: probability that an event is appended a second time (a producer retry).
        keys: distinct keys (ordering keys, e.g. patients).
        bad_fraction: share of events with a bad payload (missing feature, NaN, wrong type).
        seed: random seed (the same seed gives the same events).
        max_lag: pause while the group's backlog exceeds this (None: never wait for consumers).
        group: the consumer group ``max_lag`` watches.
        maxlen: retention per partition (``XADD MAXLEN ~``).
        max_seconds: stop appending after this long.
        clock: stamps each event's time.
        progress: called after each pipeline with the report so far.
    """
    if not 1 <= events <= MAX_EVENTS:
        raise ValueError(f"events must be in 1..{MAX_EVENTS}, got {events}")
    if rate is not None and not 0 < rate <= MAX_RATE:
        raise ValueError(f"rate must be in (0, {MAX_RATE:g}] events/s, got {rate}")
    for name, value in (("duplicates", duplicates), ("bad_fraction", bad_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in 0..1, got {value}")
    if not 1 <= keys <= 1_000_000:
        raise ValueError(f"keys must be in 1..1000000, got {keys}")
    if not 0 < max_seconds <= 3600:
        raise ValueError(f"max_seconds must be in (0, 3600], got {max_seconds}")
    rng = random.Random(seed)
    rows = event_rows()
    report = ProduceReport()
    start = time.monotonic()
    i = 0
    while i < events and time.monotonic() - start < max_seconds:
        if max_lag is not None:
            report.paused_s += await _wait_for_backlog(
                client, layout, group, max_lag, start + max_seconds
            )
        due = events if rate is None else min(events, int((time.monotonic() - start) * rate) + 1)
        due = min(due, i + PIPELINE)
        if due <= i:
            await asyncio.sleep(
                min(0.05, (i + 1) / rate - (time.monotonic() - start)) if rate else 0
            )
            continue
        pipe = client.pipeline(transaction=False)
        added = 0
        for n in range(i, due):
            key = f"k{rng.randrange(keys)}"
            row = rows[n % len(rows)]
            fields = encode_event(f"e{n}", key, clock(), row)
            if bad_fraction and rng.random() < bad_fraction:
                fields["x"] = _bad_features(rng, row)
                report.bad += 1
            copies = 2 if duplicates and rng.random() < duplicates else 1
            for _ in range(copies):
                pipe.xadd(layout.stream_for(key), fields, maxlen=maxlen, approximate=True)
            pipe.sadd(layout.ids, fields["id"])
            added += copies
            report.duplicates += copies - 1
        pipe.hincrby(layout.stats, "produced", added)
        await pipe.execute()
        report.appended += added
        report.unique += due - i
        i = due
        if progress is not None:
            progress(report)
    report.wall_s = time.monotonic() - start
    return report


async def _wait_for_backlog(
    client: Any, layout: StreamLayout, group: str, max_lag: int, deadline: float
) -> float:
    """Sleep while the backlog exceeds ``max_lag`` (until ``deadline``); returns the seconds paused."""
    paused = 0.0
    while time.monotonic() < deadline and await group_backlog(client, layout, group) > max_lag:
        await asyncio.sleep(0.02)
        paused += 0.02
    return paused
