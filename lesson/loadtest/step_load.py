"""An open-loop step load (low → high → low) and its time series, second by second.

An autoscaler is judged over time, not by one percentile: how long the queue grows before a
replica is added, and what p99 does meanwhile. `run_step_load` sends POST requests at the rate
each `Step` asks for (evenly spaced, at the intended time whatever earlier requests did: an
open loop), records each request's intended time, end and outcome, and `per_second` turns the
records into one row per second: requests intended, answered, failed, in flight at the end of
the second (sent or due, not yet answered: what a user would be waiting on) and the p99 of the
requests intended in that second (latency from the intended time, so waiting for a free
connection counts).

Bounded: at most ``max_requests`` in all and ``max_in_flight`` at once (a request due when the
bound is reached waits, and its wait counts); each request has a ``timeout``; the run ends
``grace_s`` after the last step whatever is still running (those count as ``unfinished``).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from lesson.core.stats import percentile

__all__ = ["RequestRecord", "Step", "per_second", "run_step_load", "step_offsets"]


@dataclass(frozen=True)
class Step:
    """``seconds`` of load at ``rate`` requests per second (0: none)."""

    seconds: float
    rate: float

    def __post_init__(self) -> None:
        if not 0 < self.seconds <= 3600:
            raise ValueError(f"a step lasts (0, 3600] s, got {self.seconds}")
        if not 0 <= self.rate <= 10_000:
            raise ValueError(f"a step's rate must be in [0, 10000] req/s, got {self.rate}")


@dataclass(frozen=True)
class RequestRecord:
    """One request: intended send time and end (seconds from the start), outcome."""

    intended: float
    ended: float | None  # None: still running when the run ended
    error: str | None  # None: a 2xx answer; else ``http_<status>``, an exception's name...


def step_offsets(steps: list[Step], max_requests: int) -> list[float]:
    """The intended send times (seconds from the start): evenly spaced within each step."""
    offsets: list[float] = []
    began = 0.0
    for step in steps:
        count = int(step.seconds * step.rate)
        offsets += [began + i / step.rate for i in range(count)] if count else []
        began += step.seconds
    return offsets[:max_requests]


async def run_step_load(
    url: str,
    body: dict,
    steps: list[Step],
    *,
    max_requests: int = 20_000,
    max_in_flight: int = 256,
    timeout: float = 30.0,
    grace_s: float = 10.0,
) -> list[RequestRecord]:
    """Send the step load to ``url`` (``http://127.0.0.1:PORT/path``); one record per request."""
    from lesson.clients.http1 import Http1Pool

    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise ValueError(f"expected http://HOST:PORT/path, got {url!r}")
    if not 1 <= max_in_flight <= 4096 or not 1 <= max_requests <= 1_000_000:
        raise ValueError("max_in_flight must be in 1..4096 and max_requests in 1..1000000")
    payload = json.dumps(body).encode()
    pool = Http1Pool(parts.hostname, parts.port, limit=max_in_flight, timeout=timeout)
    slots = asyncio.Semaphore(max_in_flight)
    ends: dict[int, tuple[float, str | None]] = {}
    offsets = step_offsets(steps, max_requests)
    start = time.perf_counter()

    async def one(i: int) -> None:
        async with slots:
            try:
                status, _, _ = await pool.request("POST", parts.path, payload)
                error = None if 200 <= status < 300 else f"http_{status}"
            except Exception as exc:  # counted by kind, never raised: the run goes on
                error = type(exc).__name__
            ends[i] = (time.perf_counter() - start, error)

    tasks = []
    try:
        for i, offset in enumerate(offsets):
            delay = start + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(i)))
        total = sum(s.seconds for s in steps)
        remaining = start + total + grace_s - time.perf_counter()
        if tasks:
            await asyncio.wait(tasks, timeout=max(remaining, 0.1))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()
    return [
        RequestRecord(offset, *ends[i]) if i in ends else RequestRecord(offset, None, "unfinished")
        for i, offset in enumerate(offsets)
    ]


def per_second(records: list[RequestRecord], seconds: int) -> list[dict]:
    """One row per second ``t`` (0..seconds-1): ``intended``, ``ok``, ``errors`` (of the
    requests intended in [t, t+1)), ``in_flight`` (intended before t+1, not ended by then) and
    ``p99_ms`` of that second's answered requests (None when none was answered)."""
    rows = []
    for t in range(seconds):
        mine = [r for r in records if t <= r.intended < t + 1]
        ok = sorted(r.ended - r.intended for r in mine if r.error is None and r.ended is not None)
        waiting = sum(
            1 for r in records if r.intended < t + 1 and (r.ended is None or r.ended >= t + 1)
        )
        rows.append(
            {
                "t": t,
                "intended": len(mine),
                "ok": len(ok),
                "errors": len(mine) - len(ok),
                "in_flight": waiting,
                "p99_ms": round(percentile(ok, 99) * 1e3, 1) if ok else None,
            }
        )
    return rows
