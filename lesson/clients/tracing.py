"""OpenTelemetry tracing, in-process: a sampled tracer whose finished spans stay in a bounded
buffer (no collector), and the W3C ``traceparent`` header that links a client's span to the
server's.

Imported only when tracing is on (a server's ``--trace-ratio``, a client's ``tracing=``): with
it off, nothing here and nothing of the OpenTelemetry SDK is loaded (FastAPI imports the API
itself, a few inert modules). Each `Tracing` has its own
`TracerProvider` (not the global one), so a client and a server in one process, or two
servers, keep their spans apart. Sampling is ``ParentBased(TraceIdRatioBased(ratio))``: a
request that arrives with a sampled ``traceparent`` is traced, one that arrives without is
traced with probability ``ratio`` (decided from its trace id; ``seed`` makes the ids, and so
the decisions, repeatable). A server decides at the door instead (``at_door=True``,
`Tracing.admits`): an unsampled request then opens no span at all, which is what makes 10 %
sampling cheap (an unsampled SDK span still costs ~7 µs).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["MAX_SPANS", "RecentSpans", "Tracing", "span_record"]

#: finished spans a `Tracing` keeps (oldest dropped first)
MAX_SPANS = 20_000

_PROPAGATOR = TraceContextTextMapPropagator()
_SAMPLED_FLAGS = frozenset(f"{n:02x}" for n in range(1, 256, 2))


class RecentSpans(SpanProcessor):
    """A span processor that keeps the last ``max_spans`` finished spans (turned into plain
    dicts when read, not on the request's path)."""

    def __init__(self, max_spans: int = MAX_SPANS) -> None:
        self._spans: deque[ReadableSpan] = deque(maxlen=max_spans)

    def on_end(self, span: ReadableSpan) -> None:
        self._spans.append(span)  # deque.append is atomic

    def take(self, clear: bool = True) -> list[dict[str, Any]]:
        """The kept spans, oldest first (and forget them, unless ``clear=False``)."""
        if not clear:
            return [span_record(span) for span in list(self._spans)]
        spans = []
        while self._spans:  # popleft, not copy-then-clear: a span ending meanwhile is kept
            spans.append(self._spans.popleft())
        return [span_record(span) for span in spans]


class _SeededIds(IdGenerator):
    """Random trace and span ids from one seeded generator (repeatable sampling decisions)."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def generate_span_id(self) -> int:
        with self._lock:
            return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        with self._lock:
            return self._random.getrandbits(128) or 1


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """A finished span as JSON-ready data: ids in hex, times in ns since the epoch."""
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": None if parent is None else f"{parent.span_id:016x}",
        "kind": span.kind.name.lower(),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "attributes": dict(span.attributes or {}),
    }


class Tracing:
    """A tracer sampled at ``ratio`` whose finished spans are kept in `spans` (bounded).

    Args:
        ratio: share of root traces sampled, in [0, 1] (children follow their parent).
        service: the ``service.name`` resource attribute.
        max_spans: spans kept in the buffer.
        seed: makes trace ids and sampling decisions repeatable.
        at_door: the caller decides with `admits` before it opens a root span; the provider
            records every span it is asked for (``ParentBased(ALWAYS_ON)``).
    """

    def __init__(
        self,
        ratio: float = 1.0,
        service: str = "lesson",
        *,
        max_spans: int = MAX_SPANS,
        seed: int | None = None,
        at_door: bool = False,
    ) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"the trace sampling ratio must be in [0, 1], got {ratio}")
        from opentelemetry.sdk.resources import Resource

        self.ratio = ratio
        self.spans = RecentSpans(max_spans)
        self._random = random.Random(seed)
        self.provider = TracerProvider(
            sampler=ParentBased(ALWAYS_ON if at_door else TraceIdRatioBased(ratio)),
            resource=Resource.create({"service.name": service}),
            id_generator=RandomIdGenerator() if seed is None else _SeededIds(seed),
        )
        self.provider.add_span_processor(self.spans)
        self.tracer = self.provider.get_tracer("lesson")

    def admits(self, traceparent: str | None) -> bool:
        """Trace this request? As its ``traceparent`` says (the sampled flag), else with
        probability ``ratio``."""
        if traceparent is not None:  # version-traceid-spanid-flags; bit 0 of flags: sampled
            flags = traceparent.rsplit("-", 1)[-1]
            return len(flags) == 2 and flags in _SAMPLED_FLAGS
        return self._random.random() < self.ratio

    def extract(self, carrier: dict[str, str]) -> Context:
        """The remote parent carried by a ``traceparent`` header (or an empty context)."""
        return _PROPAGATOR.extract(carrier)

    @contextmanager
    def client_span(self, name: str) -> Iterator[dict[str, str]]:
        """A CLIENT span around one call; yields the headers (``traceparent``) to send with it."""
        with self.tracer.start_as_current_span(name, kind=trace.SpanKind.CLIENT):
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier)
            yield carrier

    def take(self, clear: bool = True) -> list[dict[str, Any]]:
        """The finished spans kept so far, oldest first."""
        return self.spans.take(clear)

    def shutdown(self) -> None:
        self.provider.shutdown()
