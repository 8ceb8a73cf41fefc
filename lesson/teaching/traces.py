"""Where the tail waits: a short load test's traces, the p99 and a p50 request drawn as
waterfalls (notebook 07).

`traced_load` runs against a real REST server started with ``trace_ratio`` and
``debug_routes`` (CPython: OpenTelemetry, sockets, threads): every request carries a sampled
``traceparent``, the server's spans come back from ``GET /debug/spans``. `in_process_load`
needs only the standard library (the browser): the same micro-batcher in this process, each
request's queue wait and model call read from `BATCH_TIMING`, no OpenTelemetry, no server.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from lesson.core.stats import format_ms
from lesson.patterns.microbatching.common import BATCH_TIMING

__all__ = [
    "TraceRun",
    "Waterfall",
    "in_process_load",
    "pick",
    "quantile_names",
    "traced_load",
    "waterfall_rows",
]

#: span names as the waterfall shows them
SHORT = {"infer": "infer", "batcher.queue": "queue", "model": "model"}


@dataclass
class Waterfall:
    """One request's spans, in ms from the start of its outermost span."""

    label: str
    total_ms: float
    spans: list[tuple[str, float, float]] = field(default_factory=list)  # (name, start, end)
    batch_requests: int = 1

    def duration(self, name: str) -> float:
        return sum(end - start for n, start, end in self.spans if n == name)

    def end(self, name: str) -> float | None:
        """When the first span called ``name`` ended (ms), None if there is none."""
        return next((end for n, _, end in self.spans if n == name), None)

    def shares(self) -> dict[str, float]:
        """Shares of the whole request: queued in the batcher, in the model call, waiting to
        be resumed after it (the answer is ready, the request's task or thread has not run
        yet), elsewhere in the server, and outside the server's span (none without a server)."""
        total = self.total_ms or 1.0
        queued, model = self.duration("queue") / total, self.duration("model") / total
        served = (
            self.duration("server") / total if any(n == "server" for n, *_ in self.spans) else 1.0
        )
        model_end = self.end("model")
        outer_end = self.end("infer") if self.end("infer") is not None else self.end("request")
        resumed = (
            max(0.0, outer_end - model_end) / total
            if model_end is not None and outer_end is not None
            else 0.0
        )
        return {
            "queued in the batcher": queued,
            "in the model call": model,
            "waiting to be resumed after the model call": resumed,
            "elsewhere in the server (parsing, validation, the framework)": max(
                0.0, served - queued - model - resumed
            ),
            "outside the server's span (client, sockets, the server's event loop)": max(
                0.0, 1.0 - served
            ),
        }


@dataclass
class TraceRun:
    """The traced requests of one run and the two picked from them."""

    source: str
    requests: int
    p99: Waterfall
    p50: Waterfall

    def rows(self) -> list[dict[str, Any]]:
        """Rows for `lesson.widgets.charts.timeline_chart`: one per span, the slow one first."""
        return waterfall_rows((self.p99, self.p50))

    def sentence(self) -> str:
        parts = []
        for w in (self.p99, self.p50):
            shares = {k: v for k, v in w.shares().items() if v >= 0.005}
            listed = ", ".join(f"{v:.0%} {k}" for k, v in shares.items())
            parts.append(
                f"the {w.label} took {format_ms(w.total_ms / 1000)}: {listed} "
                f"(its model call served {w.batch_requests} request(s))"
            )
        where, share = max(self.p99.shares().items(), key=lambda kv: kv[1])
        p50_share = self.p50.shares()[where]
        return (
            f"Of {self.requests} requests ({self.source}), {parts[0]}; {parts[1]}. "
            f"Where the tail waited: {where.split(' (')[0]}, {share:.0%} of the {self.p99.label} "
            f"against {p50_share:.0%} of the {self.p50.label}."
        )


def waterfall_rows(waterfalls: Any) -> list[dict[str, Any]]:
    """Rows for `lesson.widgets.charts.timeline_chart`: one per span of each waterfall."""
    return [
        {
            "request": f"{w.label} · {name}",
            "phase": name,
            "start_ms": round(start, 4),
            "end_ms": round(end, 4),
        }
        for w in waterfalls
        for name, start, end in w.spans
    ]


def quantile_names(n: int) -> tuple[str, str]:
    """What the p99 and p50 picks of ``n`` requests are called: with fewer than 100 the p99 is
    simply the slowest (nearest rank), so it is named so."""
    return ("p99", "p50") if n >= 100 else ("slowest", "median")


def pick(waterfalls: list[Any], q: float, key: Any = lambda w: w.total_ms) -> Any:
    """The waterfall at quantile ``q`` of ``key`` (nearest rank)."""
    ordered = sorted(waterfalls, key=key)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _run(source: str, waterfalls: list[Waterfall]) -> TraceRun:
    if not waterfalls:
        raise RuntimeError("no complete trace came back from the run")
    p99, p50 = pick(waterfalls, 0.99), pick(waterfalls, 0.50)
    p99.label, p50.label = (f"{q} request" for q in quantile_names(len(waterfalls)))
    return TraceRun(source, len(waterfalls), p99, p50)


def traced_load(url: str, payload: Any, *, requests: int = 400, concurrency: int = 8) -> TraceRun:
    """``requests`` predictions from ``concurrency`` threads, each traced from the client; the
    server (``trace_ratio`` set, ``debug_routes`` on) returns its spans."""
    from concurrent.futures import ThreadPoolExecutor

    from lesson.clients.rest import RestClient
    from lesson.clients.tracing import Tracing

    tracing = Tracing(1.0, "notebook")
    plain = RestClient(url)
    client = RestClient(url, model=plain.default_model(), tracing=tracing)
    plain.request("GET", "/debug/spans")  # forget anything traced before this run
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: client.predict(payload), range(requests)))
    status, _, body = plain.request("GET", "/debug/spans")
    if status != 200:
        raise RuntimeError(f"GET /debug/spans answered {status}: {body[:200]!r}")
    by_trace: dict[str, list[dict]] = {}
    for span in json.loads(body)["spans"]:
        by_trace.setdefault(span["trace_id"], []).append(span)
    waterfalls = []
    for call in tracing.take():
        server = by_trace.get(call["trace_id"])
        if not server:
            continue
        origin = call["start_ns"]
        w = Waterfall("", (call["end_ns"] - origin) / 1e6)
        w.spans.append(("client", 0.0, w.total_ms))
        for span in sorted(server, key=lambda s: (s["start_ns"], -s["end_ns"])):  # parents first
            name = "server" if span["kind"] == "server" else SHORT.get(span["name"], span["name"])
            w.spans.append(
                (name, (span["start_ns"] - origin) / 1e6, (span["end_ns"] - origin) / 1e6)
            )
            w.batch_requests = span["attributes"].get("batch.requests", w.batch_requests)
        waterfalls.append(w)
    return _run("traced over REST", waterfalls)


async def in_process_load(
    model: Any,
    rows: list,
    *,
    requests: int = 400,
    concurrency: int = 8,
    max_batch_size: int = 8,
    max_delay_ms: float = 2.0,
) -> TraceRun:
    """The same measurement without a server or OpenTelemetry: ``concurrency`` asyncio tasks
    send ``requests`` to a micro-batcher in this process; each request's queue wait and model
    call come from `BATCH_TIMING`."""
    from lesson.patterns.microbatching import MicroBatcher

    batcher = MicroBatcher.for_model(model, max_batch_size, max_delay_ms)
    waterfalls: list[Waterfall] = []

    async def worker(count: int) -> None:
        for _ in range(count):
            timing: list[int] = []
            token = BATCH_TIMING.set(timing)
            started = time.time_ns()
            try:
                await batcher.predict(rows)
            finally:
                BATCH_TIMING.reset(token)
            ended = time.time_ns()
            w = Waterfall("", (ended - started) / 1e6)
            w.spans.append(("request", 0.0, w.total_ms))
            if len(timing) >= 3:
                call, done, w.batch_requests = timing[-3:]
                w.spans.append(("queue", 0.0, max(0, call - started) / 1e6))
                w.spans.append(("model", (call - started) / 1e6, (done - started) / 1e6))
            waterfalls.append(w)

    try:
        share = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
        await asyncio.gather(*(worker(n) for n in share))
    finally:
        await batcher.close()
    return _run("in-process micro-batcher, no server, no OpenTelemetry", waterfalls)
