"""`ServerMetrics` (the servers' cheap hot-path counting) exposes exactly what prometheus_client's
own Counter / Histogram / Gauge would for the same observations, so scrapers and dashboards
see no difference; counts stay exact under concurrent updates."""

from __future__ import annotations

import re
import threading

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from lesson.servers.metrics import LATENCY_BUCKETS, ServerMetrics

OBSERVATIONS = [
    ("ModelInfer", "diabetes-mlp", "OK", 0.00005),
    ("ModelInfer", "diabetes-mlp", "OK", 0.0001),  # exactly on a bucket bound: counted in it
    ("ModelInfer", "diabetes-mlp", "INVALID_ARGUMENT", 0.0003),
    ("ModelInfer", "-", "NOT_FOUND", 0.002),
    ("ModelStreamInfer", "diabetes-mlp", "OK", 1.0),
    ("/v1/models/{name}:predict", "diabetes-mlp", 200, 0.0025),  # REST passes int status codes
    ("ModelInfer", "diabetes-mlp", "OK", 12.0),  # over the last bound: +Inf only
]
#: the handler-only histogram (REST's second one): route, model, seconds
HANDLER = [
    ("/v1/models/{name}:predict", "diabetes-mlp", 0.0004),
    ("/v2/models/{name}/infer", "-", 0.03),
]


def _reference(transport: str) -> str:
    registry = CollectorRegistry()
    requests = Counter(
        "lesson_requests",
        "Requests served, by route, model and status code.",
        ["transport", "route", "model", "code"],
        registry=registry,
    )
    latency = Histogram(
        "lesson_request_latency_seconds",
        "Server-side request latency, by route and model.",
        ["transport", "route", "model"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    handler = Histogram(
        "lesson_handler_latency_seconds",
        "Time in the route's handler only (REST), by route and model.",
        ["transport", "route", "model"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    in_flight = Gauge(
        "lesson_requests_in_flight",
        "Inference requests being served right now.",
        ["transport"],
        registry=registry,
    )
    gauge = in_flight.labels(transport)
    for route, model, code, seconds in OBSERVATIONS:
        requests.labels(transport, route, model, str(code)).inc()
        latency.labels(transport, route, model).observe(seconds)
    for route, model, seconds in HANDLER:
        handler.labels(transport, route, model).observe(seconds)
    gauge.inc(), gauge.inc(), gauge.dec()
    return generate_latest(registry).decode()


def _without_created_values(text: str) -> str:
    return re.sub(r"^(\S+_created\{.*\}) \S+$", r"\1 <time>", text, flags=re.M)


def test_exposition_matches_prometheus_client():
    metrics = ServerMetrics("grpc")
    for route, model, code, seconds in OBSERVATIONS:
        metrics.observe(route, model, code, seconds)
    for route, model, seconds in HANDLER:
        metrics.observe_handler(route, model, seconds)
    gauge = metrics.in_flight_gauge
    gauge.inc(), gauge.inc(), gauge.dec()
    gauge.inc()
    assert 'lesson_requests_in_flight{transport="grpc"} 2.0' in metrics.render().decode()
    gauge.dec()
    got = metrics.render().decode()
    assert _without_created_values(got) == _without_created_values(_reference("grpc"))
    assert (
        "lesson_request_latency_seconds_bucket"
        '{le="0.0001",model="diabetes-mlp",route="ModelInfer",transport="grpc"} 2.0' in got
    )
    assert (
        'lesson_request_latency_seconds_bucket{le="+Inf",model="diabetes-mlp",route="ModelInfer",transport="grpc"} 4.0'
        in got
    )


def test_a_fresh_server_exposes_zero_in_flight():
    text = ServerMetrics("rest").render().decode()
    assert 'lesson_requests_in_flight{transport="rest"} 0.0' in text
    assert "# TYPE lesson_requests_total counter" in text
    assert "# TYPE lesson_request_latency_seconds histogram" in text
    assert "# TYPE lesson_handler_latency_seconds histogram" in text


def test_the_ring_keeps_the_latest_exact_latencies():
    metrics = ServerMetrics("rest")
    metrics.observe("r", "m", 200, 0.5)
    assert metrics.take_recent() == []  # off until asked for
    metrics.keep_recent(3)
    for seconds in (0.001, 0.002, 0.003, 0.004):
        metrics.observe("r", "m", 200, seconds)
    assert metrics.take_recent() == [0.002, 0.003, 0.004]  # the oldest fell out
    assert metrics.take_recent() == []
    with pytest.raises(ValueError, match="size"):
        metrics.keep_recent(0)


def test_counts_stay_exact_under_concurrent_updates():
    metrics = ServerMetrics("grpc")

    def work() -> None:
        for _ in range(2000):
            metrics.in_flight_gauge.inc()
            metrics.observe("ModelInfer", "m", "OK", 0.001)
            metrics.in_flight_gauge.dec()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    text = metrics.render().decode()
    assert (
        'lesson_requests_total{code="OK",model="m",route="ModelInfer",transport="grpc"} 16000.0'
        in text
    )
    assert (
        'lesson_request_latency_seconds_count{model="m",route="ModelInfer",transport="grpc"} 16000.0'
        in text
    )
    assert 'lesson_requests_in_flight{transport="grpc"} 0.0' in text
