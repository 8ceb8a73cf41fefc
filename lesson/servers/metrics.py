"""Prometheus metrics shared by the REST and gRPC servers.

Each server gets its own `CollectorRegistry`, so several servers in one process (tests) do
not collide. Labels are bounded: `route` is a route template (never a raw path) and `model`
is a registered model name or `-`.

The exposition is prometheus_client's (`generate_latest`): a counter `lesson_requests`, the
histograms `lesson_request_latency_seconds` and `lesson_handler_latency_seconds` and a gauge
`lesson_requests_in_flight`, with the same names, labels, buckets and `_created` samples as its
`Counter`/`Histogram`/`Gauge`. Where each latency starts and stops:

* `lesson_request_latency_seconds` — REST: the whole request as the server sees it, from the
  ASGI entry until the response is sent (`lesson.servers.rest.timing.RequestTimer`); gRPC: the
  `ModelInfer` method (grpcio's own queueing and sending lie outside). Still outside on REST:
  the socket's queue, uvicorn's parsing, the wait for the event loop before the app is called
  and the client's own time; a load generator's latency is always larger.
* `lesson_handler_latency_seconds` — REST only: the route's guarded block (body read, model,
  response built), not the response's send nor the wait before the handler ran.

The counting itself is plain Python under one lock, summed up when scraped: a request
pays one lock and a `bisect` instead of about five locked prometheus_client updates (the
gRPC server's hot path; measured with callgrind: ~27k of ~700k instructions a request
before, a few thousand after).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections import deque

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from lesson.core.stats import LATENCY_BUCKETS  # chosen around the lesson's SLOs: see there

_LE = [floatToGoString(b) for b in LATENCY_BUCKETS] + ["+Inf"]

REQUESTS = "lesson_requests"
LATENCY = "lesson_request_latency_seconds"
HANDLER_LATENCY = "lesson_handler_latency_seconds"
#: most recent request latencies kept by `ServerMetrics.keep_recent` (the debug route's ring)
RECENT_MAX = 100_000
IN_FLIGHT = "lesson_requests_in_flight"


class _Latency:
    """One histogram child: counts per bucket (not cumulative; the last is +Inf), sum, created."""

    __slots__ = ("buckets", "sum", "created")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0
        self.created = time.time()

    def add(self, seconds: float) -> None:
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # first bucket with seconds <= le
        self.sum += seconds


class InFlightGauge:
    """Requests being served right now (``inc``/``dec`` around each one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def inc(self) -> None:
        with self._lock:
            self.value += 1

    def dec(self) -> None:
        with self._lock:
            self.value -= 1


class ServerMetrics:
    """Request counts and latency histograms per route and model, and requests in flight."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], list[float]] = {}  # key -> [count, created]
        self._latency: dict[tuple[str, str], _Latency] = {}
        self._handler: dict[tuple[str, str], _Latency] = {}
        #: the latest request latencies (seconds), when `keep_recent` turned the ring on
        self.recent: deque[float] | None = None
        self.in_flight_gauge = InFlightGauge()
        self.registry = CollectorRegistry()
        self.registry.register(self)  # scraped through collect()

    def observe(self, route: str, model: str, code: str | int, seconds: float) -> None:
        """Count one request and record its latency (the hot path: one lock)."""
        key = (route, model, code if type(code) is str else str(code))
        with self._lock:
            counted = self._requests.get(key)
            if counted is None:
                counted = self._requests[key] = [0, time.time()]
            counted[0] += 1
            latency = self._latency.get(key[:2])
            if latency is None:
                latency = self._latency[key[:2]] = _Latency()
            latency.add(seconds)
            if self.recent is not None:
                self.recent.append(seconds)

    def observe_handler(self, route: str, model: str, seconds: float) -> None:
        """Record the handler's own time (the second histogram; REST)."""
        with self._lock:
            latency = self._handler.get((route, model))
            if latency is None:
                latency = self._handler[(route, model)] = _Latency()
            latency.add(seconds)

    def keep_recent(self, size: int = RECENT_MAX) -> None:
        """Keep the latest ``size`` request latencies in :attr:`recent` (the exact values the
        histogram only counts in buckets: the debug route reads them to check an estimate)."""
        if not 1 <= size <= RECENT_MAX:
            raise ValueError(f"size must be in 1..{RECENT_MAX}, got {size}")
        with self._lock:
            self.recent = deque(maxlen=size)

    def take_recent(self) -> list[float]:
        """The kept latencies, oldest first, and forget them (empty if none are kept)."""
        with self._lock:
            taken = list(self.recent or ())
            if self.recent is not None:
                self.recent.clear()
        return taken

    def collect(self) -> list[Metric]:
        """The metric families, as prometheus_client's own metrics would expose them."""
        with self._lock:
            requests = [(k, v[0], v[1]) for k, v in self._requests.items()]
            latency = [(k, list(v.buckets), v.sum, v.created) for k, v in self._latency.items()]
            handler = [(k, list(v.buckets), v.sum, v.created) for k, v in self._handler.items()]
        t = self.transport
        counter = Metric(REQUESTS, "Requests served, by route, model and status code.", "counter")
        for (route, model, code), count, created in requests:
            labels = {"transport": t, "route": route, "model": model, "code": code}
            counter.add_sample(REQUESTS + "_total", labels, float(count))
            counter.add_sample(REQUESTS + "_created", labels, created)
        histograms = [
            _histogram(LATENCY, "Server-side request latency, by route and model.", t, latency),
            _histogram(
                HANDLER_LATENCY,
                "Time in the route's handler only (REST), by route and model.",
                t,
                handler,
            ),
        ]
        gauge = Metric(IN_FLIGHT, "Inference requests being served right now.", "gauge")
        gauge.add_sample(IN_FLIGHT, {"transport": t}, float(self.in_flight_gauge.value))
        return [counter, *histograms, gauge]

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


def _histogram(name: str, doc: str, transport: str, children: list) -> Metric:
    histogram = Metric(name, doc, "histogram")
    for (route, model), buckets, total, created in children:
        labels = {"transport": transport, "route": route, "model": model}
        cumulative = 0
        for le, count in zip(_LE, buckets):
            cumulative += count
            histogram.add_sample(name + "_bucket", dict(labels, le=le), float(cumulative))
        histogram.add_sample(name + "_count", labels, float(cumulative))
        histogram.add_sample(name + "_sum", labels, total)
        histogram.add_sample(name + "_created", labels, created)
    return histogram
