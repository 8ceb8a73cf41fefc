"""Traces of the generative server's requests (``lesson serve llm --trace-ratio``).

A SERVER span per sampled ``POST`` (`lesson.servers.tracing.TracingMiddleware`: the caller's
W3C ``traceparent`` is its parent), held open until the stream ends or the client goes away,
and under it one span per phase of the generation:

- ``llm.queued``: from the engine's queue until the scheduler admitted the request;
- ``llm.prefill``: from that step's start until the first token was sampled (a long prompt's
  chunks, and any preemption's recomputation, lie inside it);
- ``llm.decode``: from the first token to the last (one span for the whole phase, with its token
  count and longest gap as attributes: a span per token would cost a span per token).

A client that disconnects ends the spans where the generation stopped, and the server span says
so (``llm.cancelled``, finish reason ``abort``). The engine knows nothing of OpenTelemetry: its
`RequestTimeline` (standard library: queued, admitted, each token's time, on the engine's clock)
comes up with the sequence (`driver.Sequence.timeline`) and the spans are made from it here,
once, when the request ends. Off by default, and then this module and the SDK are not imported.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace

from lesson.clients.tracing import Tracing

__all__ = ["DECODE", "PREFILL", "QUEUED", "GenerationTracer"]

QUEUED, PREFILL, DECODE = "llm.queued", "llm.prefill", "llm.decode"


class GenerationTracer:
    """The generative server's `Tracing` (sampled at the door) and its phase spans."""

    def __init__(self, ratio: float) -> None:
        self.tracing = Tracing(ratio, "lesson-llm-server", at_door=True)
        self.tracer = self.tracing.tracer

    def record(self, timeline: Any, prompt_tokens: int, finish: str | None, tokens: int) -> None:
        """Add the phase spans of one generation under the current (server) span, if sampled.

        ``timeline``: the engine's `RequestTimeline` (None: only the attributes are set);
        ``finish``: the finish reason, None if the client went away first.
        """
        span = trace.get_current_span()
        if not span.is_recording():
            return
        cancelled = finish is None
        span.set_attribute("gen_ai.usage.input_tokens", prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", tokens)
        span.set_attribute("gen_ai.response.finish_reasons", ["abort" if cancelled else finish])
        span.set_attribute("llm.cancelled", cancelled)
        if timeline is None:
            return
        now_ns, now = time.time_ns(), time.perf_counter()
        floor = getattr(span, "start_time", None) or 0

        def ns(t: float) -> int:  # the engine's clock (perf_counter) on the spans' (epoch ns)
            return min(now_ns, max(floor, now_ns - int((now - t) * 1e9)))

        parent = trace.set_span_in_context(span)
        token_times = list(timeline.token_times)
        admitted = timeline.admitted_at
        first = token_times[0] if token_times else None
        self._span(QUEUED, parent, ns(timeline.queued_at), ns(admitted if admitted else now))
        if admitted is None:
            return
        prefill = {
            "llm.prompt_tokens": timeline.prompt_tokens,
            "llm.prefix_hit_tokens": timeline.prefix_hit_tokens,
            "llm.preemptions": len(timeline.readmitted_at),
        }
        self._span(PREFILL, parent, ns(admitted), ns(first if first else now), prefill)
        if first is None:
            return
        gaps = [b - a for a, b in zip(token_times, token_times[1:], strict=False)]
        decode = {
            "llm.decode.tokens": len(token_times) - 1,
            "llm.decode.max_gap_ms": round(max(gaps, default=0.0) * 1000, 3),
        }
        end = now if cancelled else token_times[-1]
        self._span(DECODE, parent, ns(first), ns(end), decode)

    def _span(self, name: str, parent: Any, start: int, end: int, attrs: Any = None) -> None:
        self.tracer.start_span(name, parent, start_time=start, attributes=attrs).end(
            end_time=max(start, end)
        )
