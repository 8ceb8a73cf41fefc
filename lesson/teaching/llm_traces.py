"""Where a streamed answer's first token waits: the p99-TTFT and a p50-TTFT request of a short
run, drawn as waterfalls (notebook 10).

`traced_streams` runs against a real generative server started with ``trace_ratio`` and
``debug_routes`` (CPython: aiohttp, OpenTelemetry): every request carries a sampled
``traceparent``; the server's ``llm.queued`` / ``llm.prefill`` / ``llm.decode`` spans come back
from ``GET /debug/spans``. `in_process_streams` needs only the standard library (the browser):
the same engine in this kernel, each request's phases read from its `RequestTimeline`, no
server, no OpenTelemetry.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from lesson.core.stats import format_ms
from lesson.teaching.traces import Waterfall, pick, quantile_names, waterfall_rows

__all__ = ["StreamTraceRun", "StreamWaterfall", "in_process_streams", "traced_streams"]

#: span names as the waterfall shows them
SHORT = {"llm.queued": "queued", "llm.prefill": "prefill", "llm.decode": "decode"}
#: where a first token's wait goes, in the order it happens
BEFORE = "before the server's span (connecting; the server's event loop busy with engine steps)"
PARSED = "in the server before the queue (parsing, checks)"
AFTER = "after it was sampled (its way to the client)"


@dataclass
class StreamWaterfall(Waterfall):
    """One streamed request's spans in ms from its start, and its time to first token."""

    ttft_ms: float = 0.0

    def _start(self, name: str) -> float | None:
        return next((start for n, start, _ in self.spans if n == name), None)

    def ttft_shares(self) -> dict[str, float]:
        """How the time to first token divides, in order: before the server's span, in the
        server before the engine's queue, queued for admission, prefill, after the sampling."""
        ttft = self.ttft_ms or 1.0
        queued, prefill = self.duration("queued"), self.duration("prefill")
        server, queue = self._start("server"), self._start("queued")
        before = server if server is not None else 0.0
        parsed = queue - server if server is not None and queue is not None else 0.0
        return {
            BEFORE: max(0.0, before) / ttft,
            PARSED: max(0.0, parsed) / ttft,
            "queued for admission": queued / ttft,
            "prefill": prefill / ttft,
            AFTER: max(0.0, ttft - before - parsed - queued - prefill) / ttft,
        }


@dataclass
class StreamTraceRun:
    """The traced streams of one run and the two picked from them by TTFT."""

    source: str
    requests: int
    p99: StreamWaterfall
    p50: StreamWaterfall

    def rows(self) -> list[dict[str, Any]]:
        """Rows for `lesson.widgets.charts.timeline_chart`: one per span, the slow one first."""
        return waterfall_rows((self.p99, self.p50))

    def markers(self) -> list[dict[str, Any]]:
        """Each drawn request's first token, a tick on each of its rows (``timeline_chart``'s
        ``markers``)."""
        return [
            {"request": f"{w.label} · {name}", "at_ms": round(w.ttft_ms, 4)}
            for w in (self.p99, self.p50)
            for name, *_ in w.spans
        ]

    def sentence(self) -> str:
        parts = []
        for w in (self.p99, self.p50):
            listed = ", ".join(f"{v:.0%} {k}" for k, v in w.ttft_shares().items() if v >= 0.005)
            parts.append(
                f"the {w.label} waited {format_ms(w.ttft_ms / 1000)} for its first token: {listed}"
            )
        shares = self.p99.ttft_shares()
        where = max(shares, key=shares.__getitem__)
        ms = lambda w: w.ttft_ms * w.ttft_shares()[where] / 1000
        return (
            f"Of {self.requests} streamed requests ({self.source}), {parts[0]}; {parts[1]}. "
            f"Where the tail waited: {where.split(' (')[0]}, {format_ms(ms(self.p99))} of the "
            f"{self.p99.label}'s first token against {format_ms(ms(self.p50))} of the "
            f"{self.p50.label}'s." + self._span_ends()
        )

    def _span_ends(self) -> str:
        """Why a server span can end after its parent, the client's (both on this machine's
        clock): the client stops at ``[DONE]``, the server when its handler has returned."""
        later = []
        for w in (self.p99, self.p50):
            server, client = w.end("server"), w.end("client")
            if server is not None and client is not None and server > client:
                later.append(f"{format_ms((server - client) / 1000)} ({w.label})")
        if not later:
            return ""
        return (
            f" The server span ends after its parent, the client's, by {' and '.join(later)}: "
            "the client stops its clock when it reads data: [DONE]; the server ends its span "
            "when its handler returns, after [DONE] was written, the response closed and the "
            "phase spans recorded, on an event loop that also runs the engine's steps."
        )


def _run(source: str, waterfalls: list[StreamWaterfall]) -> StreamTraceRun:
    if not waterfalls:
        raise RuntimeError("no complete trace came back from the run")
    by_ttft = lambda w: w.ttft_ms
    p99, p50 = pick(waterfalls, 0.99, by_ttft), pick(waterfalls, 0.50, by_ttft)
    p99.label, p50.label = (f"{q}-TTFT request" for q in quantile_names(len(waterfalls)))
    return StreamTraceRun(source, len(waterfalls), p99, p50)


async def traced_streams(
    url: str, prompts: list[str], *, concurrency: int = 12, max_tokens: int = 16
) -> StreamTraceRun:
    """One streamed request per prompt, ``concurrency`` at a time, each traced from the client;
    the server (``trace_ratio`` set, ``debug_routes`` on) returns its spans."""
    import asyncio

    import aiohttp

    from lesson.clients.tracing import Tracing
    from lesson.loadtest.llm_wire import stream_once
    from lesson.loadtest.settings import clock
    from lesson.loadtest.streams import StreamTiming

    tracing = Tracing(1.0, "notebook")
    slots = asyncio.Semaphore(concurrency)
    sent: list[tuple[str, StreamTiming]] = []

    async def one(session: Any, i: int, prompt: str) -> None:
        body = {"prompt": prompt, "max_tokens": max_tokens, "ignore_eos": True, "stream": True}
        async with slots:
            with tracing.client_span("POST /v1/completions") as headers:
                timing = StreamTiming(clock())
                await stream_once(session, url, {**body, "seed": i}, timing, headers=headers)
            sent.append((headers["traceparent"].split("-")[1], timing))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async with session.get(url + "/debug/spans") as resp:  # forget anything traced before
            resp.raise_for_status()
        await asyncio.gather(*(one(session, i, p) for i, p in enumerate(prompts)))
        async with session.get(url + "/debug/spans") as resp:
            if resp.status != 200:
                raise RuntimeError(f"GET /debug/spans answered {resp.status}")
            spans = json.loads(await resp.read())["spans"]
    by_trace: dict[str, list[dict]] = {}
    for span in spans:
        by_trace.setdefault(span["trace_id"], []).append(span)
    calls = {call["trace_id"]: call for call in tracing.take()}
    waterfalls = []
    for trace_id, timing in sent:
        server, call = by_trace.get(trace_id), calls.get(trace_id)
        if not server or call is None or not timing.ok or timing.ttft is None:
            continue
        origin = call["start_ns"]
        w = StreamWaterfall("", (call["end_ns"] - origin) / 1e6, ttft_ms=timing.ttft * 1000)
        w.spans.append(("client", 0.0, w.total_ms))
        for span in sorted(server, key=lambda s: (s["start_ns"], -s["end_ns"])):  # parents first
            name = "server" if span["kind"] == "server" else SHORT.get(span["name"], span["name"])
            w.spans.append(
                (name, (span["start_ns"] - origin) / 1e6, (span["end_ns"] - origin) / 1e6)
            )
        waterfalls.append(w)
    return _run("traced over HTTP", waterfalls)


def in_process_streams(
    model: Any, prompts: list[str], *, max_num_seqs: int = 4, max_tokens: int = 8
) -> StreamTraceRun:
    """The same phases without a server or OpenTelemetry: every prompt queued at once on an
    engine in this kernel with ``max_num_seqs`` slots, each request's phases read from its
    `RequestTimeline` (TTFT from its queueing)."""
    from lesson.patterns.generative import Engine, EngineConfig, SamplingParams

    engine = Engine(model, EngineConfig(max_num_seqs=max_num_seqs))
    ids = [
        engine.add_request(
            model.encode(prompt),
            SamplingParams(max_tokens=max_tokens, temperature=0.8, seed=i, ignore_eos=True),
        )
        for i, prompt in enumerate(prompts)
    ]
    deadline = time.monotonic() + 120
    while engine.has_work() and time.monotonic() < deadline:
        engine.step()
    waterfalls = []
    for rid in ids:
        t = engine.timeline(rid)
        if t.admitted_at is None or not t.token_times:
            continue
        ms = lambda at, t=t: (at - t.queued_at) * 1000
        w = StreamWaterfall("", ms(t.token_times[-1]), ttft_ms=ms(t.token_times[0]))
        w.spans += [
            ("request", 0.0, w.total_ms),
            ("queued", 0.0, ms(t.admitted_at)),
            ("prefill", ms(t.admitted_at), ms(t.token_times[0])),
            ("decode", ms(t.token_times[0]), ms(t.token_times[-1])),
        ]
        waterfalls.append(w)
    return _run("the engine in this kernel, no server, no OpenTelemetry", waterfalls)
