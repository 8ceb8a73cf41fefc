"""Prometheus metrics shared by the REST and gRPC servers.

Each server gets its own `CollectorRegistry`, so several servers in one process (tests) do
not collide. Labels are bounded: `route` is a route template (never a raw path) and `model`
is a registered model name or `-`.

The exposition is prometheus_client's (`generate_latest`): a counter `lesson_requests`, a
histogram `lesson_request_latency_seconds` and a gauge `lesson_requests_in_flight`, with the
same names, labels, buckets and `_created` samples as its `Counter`/`Histogram`/`Gauge`.
The counting itself is plain Python under one lock, summed up when scraped: a request
pays one lock and a `bisect` instead of about five locked prometheus_client updates (the
gRPC server's hot path; measured with callgrind: ~27k of ~700k instructions a request
before, a few thousand after).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

#: latency buckets in seconds: 100 µs .. 10 s
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_LE = [floatToGoString(b) for b in LATENCY_BUCKETS] + ["+Inf"]

REQUESTS = "lesson_requests"
LATENCY = "lesson_request_latency_seconds"
IN_FLIGHT = "lesson_requests_in_flight"


class _Latency:
    """One histogram child: counts per bucket (not cumulative; the last is +Inf), sum, created."""

    __slots__ = ("buckets", "sum", "created")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0
        self.created = time.time()


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
        self.in_flight_gauge = InFlightGauge()
        self.registry = CollectorRegistry()
        self.registry.register(self)  # scraped through collect()

    def observe(self, route: str, model: str, code: str | int, seconds: float) -> None:
        """Count one request and record its latency (the hot path: one lock)."""
        key = (route, model, code if type(code) is str else str(code))
        index = bisect_left(LATENCY_BUCKETS, seconds)  # first bucket with seconds <= le
        with self._lock:
            counted = self._requests.get(key)
            if counted is None:
                counted = self._requests[key] = [0, time.time()]
            counted[0] += 1
            latency = self._latency.get(key[:2])
            if latency is None:
                latency = self._latency[key[:2]] = _Latency()
            latency.buckets[index] += 1
            latency.sum += seconds

    def collect(self) -> list[Metric]:
        """The three metric families, as prometheus_client's own metrics would expose them."""
        with self._lock:
            requests = [(k, v[0], v[1]) for k, v in self._requests.items()]
            latency = [(k, list(v.buckets), v.sum, v.created) for k, v in self._latency.items()]
        t = self.transport
        counter = Metric(REQUESTS, "Requests served, by route, model and status code.", "counter")
        for (route, model, code), count, created in requests:
            labels = {"transport": t, "route": route, "model": model, "code": code}
            counter.add_sample(REQUESTS + "_total", labels, float(count))
            counter.add_sample(REQUESTS + "_created", labels, created)
        histogram = Metric(LATENCY, "Server-side request latency, by route and model.", "histogram")
        for (route, model), buckets, total, created in latency:
            labels = {"transport": t, "route": route, "model": model}
            cumulative = 0
            for le, count in zip(_LE, buckets):
                cumulative += count
                histogram.add_sample(LATENCY + "_bucket", dict(labels, le=le), float(cumulative))
            histogram.add_sample(LATENCY + "_count", labels, float(cumulative))
            histogram.add_sample(LATENCY + "_sum", labels, total)
            histogram.add_sample(LATENCY + "_created", labels, created)
        gauge = Metric(IN_FLIGHT, "Inference requests being served right now.", "gauge")
        gauge.add_sample(IN_FLIGHT, {"transport": t}, float(self.in_flight_gauge.value))
        return [counter, histogram, gauge]

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
