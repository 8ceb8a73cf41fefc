"""Prometheus metrics shared by the REST and gRPC servers.

Each server gets its own `CollectorRegistry`, so several servers in one process (tests) do
not collide. Labels are bounded: `route` is a route template (never a raw path) and `model`
is a registered model name or `-`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: latency buckets in seconds: 100 µs .. 10 s
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)


class ServerMetrics:
    """Request counts and latency histograms per route and model, and requests in flight."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, transport: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lesson_requests", "Requests served, by route, model and status code.",
            ["transport", "route", "model", "code"], registry=self.registry,
        )
        self.latency = Histogram(
            "lesson_request_latency_seconds", "Server-side request latency, by route and model.",
            ["transport", "route", "model"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.in_flight = Gauge(
            "lesson_requests_in_flight", "Inference requests being served right now.",
            ["transport"], registry=self.registry,
        )
        self.transport = transport
        self.in_flight_gauge = self.in_flight.labels(transport)
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, route: str, model: str, code: str | int, seconds: float) -> None:
        """Count one request and record its latency (label children cached: this is the hot path)."""
        key = (route, model, str(code))
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(self.transport, route, model, key[2]),
                        self.latency.labels(self.transport, route, model))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    @contextmanager
    def track_in_flight(self) -> Iterator[None]:
        self.in_flight_gauge.inc()
        try:
            yield
        finally:
            self.in_flight_gauge.dec()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

