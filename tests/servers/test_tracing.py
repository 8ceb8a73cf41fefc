"""Traces (`--trace-ratio`): a real REST server on loopback and a real gRPC server in this
process; the client's span is the parent of the server's (W3C ``traceparent`` over HTTP and
gRPC metadata), the server's span holds ``infer`` and, under it, the batcher's queue wait and
the model call; off by default; the sampling ratio is kept."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from server_support import http, python_output

from lesson.clients.grpc import GrpcClient
from lesson.clients.rest import RestClient
from lesson.clients.tracing import Tracing
from lesson.servers.grpc_server import create_server
from lesson.servers.launch import free_port, running_server
from lesson.servers.tracing import INFER, MODEL, QUEUE

ROW = [0.02] * 10  # the real model's ten features
BATCHING = {"max_batch_size": 8, "max_delay_ms": 2.0}


def tree(spans: list[dict], client_span: dict) -> dict[str, dict]:
    """The server's spans of the client span's trace, by name, checked to nest in time."""
    mine = [s for s in spans if s["trace_id"] == client_span["trace_id"]]
    by_name = {s["name"]: s for s in mine}
    by_id = {s["span_id"]: s for s in mine}
    server = next(s for s in mine if s["kind"] == "server")
    assert server["parent_id"] == client_span["span_id"]  # traceparent propagated
    # the server's span can close a little after the client has read the answer (the last
    # chunk is on the socket before the server's app returns): it starts within the client's
    assert client_span["start_ns"] <= server["start_ns"] <= client_span["end_ns"]
    for span in mine:
        if span is not server:  # within one process: children within their parent
            parent = by_id[span["parent_id"]]
            assert parent["start_ns"] <= span["start_ns"] <= span["end_ns"] <= parent["end_ns"]
    return {"server": server, **by_name}


def test_a_rest_request_traced_from_the_client_to_the_model_call():
    client_tracing = Tracing(1.0, "test-client")
    with running_server("rest", trace_ratio=1.0, debug_routes=True, **BATCHING) as server:
        client = RestClient(server.url, tracing=client_tracing)
        client.default_model()
        with ThreadPoolExecutor(8) as pool:  # concurrent requests: some share a model call
            list(pool.map(lambda _: client.predict({"instances": [ROW]}), range(40)))
        garbled = http(  # a malformed traceparent is ignored (not sampled), never an error
            "POST",
            f"{server.url}/v1/models/diabetes-mlp:predict",
            {"instances": [ROW]},
            {"content-type": "application/json", "traceparent": "not-a-trace"},
        )
        assert garbled[0] == 200
        status, _, body = http("GET", f"{server.url}/debug/spans")
    assert status == 200
    spans = json.loads(body)["spans"]
    calls = [s for s in client_tracing.take() if s["name"].endswith(":predict")]
    assert len(calls) == 40
    batch_sizes = []
    for call in calls:
        named = tree(spans, call)
        assert named["server"]["attributes"]["http.response.status_code"] == 200
        infer, queue, model = named[INFER], named[QUEUE], named[MODEL]
        assert infer["parent_id"] == named["server"]["span_id"]
        assert queue["parent_id"] == model["parent_id"] == infer["span_id"]
        assert queue["end_ns"] <= model["start_ns"]  # waited, then the call that served it
        batch_sizes.append(model["attributes"]["batch.requests"])
    assert max(batch_sizes) > 1, batch_sizes  # 8 clients at once: batches formed


@pytest.mark.parametrize("options", [{}, BATCHING], ids=["inline", "batched"])
def test_a_grpc_call_traced_through_its_metadata(options):
    grpc_server, backend, port = create_server("127.0.0.1", 0, trace_ratio=1.0, **options)
    grpc_server.start()
    client_tracing = Tracing(1.0, "test-client")
    try:
        backend.warm_up()
        with GrpcClient(f"127.0.0.1:{port}", tracing=client_tracing) as client:
            client.predict({"instances": [ROW]})
    finally:
        grpc_server.stop(0)
        backend.close()
    (call,) = [s for s in client_tracing.take() if s["name"] == "grpc ModelInfer"]
    named = tree(backend.tracing.take(), call)
    assert named["server"]["name"].endswith("/ModelInfer")
    assert named[MODEL]["parent_id"] == named[INFER]["span_id"]
    assert (QUEUE in named) == bool(options)


def test_tracing_is_off_by_default_and_loads_no_sdk():
    with running_server("rest", debug_routes=True) as server:
        RestClient(server.url).predict({"instances": [ROW]})
        status, _, _ = http("GET", f"{server.url}/debug/spans")
    assert status == 409
    code = (
        "import sys; from lesson.servers.rest.app import create_app; "
        "from lesson.servers.grpc_server import create_server; "
        "create_app(); create_server('127.0.0.1', 0); "
        "print([m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'lesson.servers.tracing'))])"
    )
    assert python_output(code) == "[]"


def test_the_sampling_ratio_is_kept_and_a_sampled_parent_is_followed():
    grpc_server, backend, port = create_server("127.0.0.1", 0, trace_ratio=0.25)
    grpc_server.start()
    try:
        backend.warm_up()
        with GrpcClient(f"127.0.0.1:{port}") as client:
            for _ in range(200):  # no traceparent: the server samples a quarter
                client.predict({"instances": [ROW]})
            roots = sum(s["kind"] == "server" for s in backend.tracing.take())
            for ratio in (1.0, 0.0):  # a traceparent: the server follows the caller's decision
                with GrpcClient(f"127.0.0.1:{port}", tracing=Tracing(ratio)) as traced:
                    for _ in range(10):
                        traced.predict({"instances": [ROW]})
                followed = sum(s["kind"] == "server" for s in backend.tracing.take())
                assert followed == (10 if ratio else 0)
    finally:
        grpc_server.stop(0)
        backend.close()
    assert 25 <= roots <= 75, roots  # binomial(200, 0.25): 50 ± 6; outside is < 1e-4

    def sampled(seed: int) -> int:  # a seeded tracer's decisions repeat
        tracing = Tracing(0.25, seed=seed)
        for _ in range(400):
            with tracing.tracer.start_as_current_span("root"):
                pass
        return len(tracing.take())

    assert sampled(7) == sampled(7)
    assert 60 <= sampled(7) <= 140


def test_a_grpc_servers_spans_read_from_its_http_port():
    """Out of process: a `lesson serve grpc` subprocess returns its spans from GET /debug/spans on
    its --metrics-port (with --debug-routes), beside /metrics; an unknown path is not served."""
    metrics_port = free_port()
    client_tracing = Tracing(1.0, "test-client")
    with running_server(
        "grpc", trace_ratio=1.0, debug_routes=True, metrics_port=metrics_port, **BATCHING
    ) as server:
        with GrpcClient(server.url, tracing=client_tracing) as client:
            client.predict({"instances": [ROW]})
        base = f"http://127.0.0.1:{metrics_port}"
        status, headers, body = http("GET", f"{base}/debug/spans")
        assert status == 200 and headers["content-type"] == "application/json"
        assert http("GET", f"{base}/debug/spans")[2] == b'{"ratio": 1.0, "spans": []}'  # taken
        metrics = http("GET", f"{base}/metrics")
    assert metrics[0] == 200 and b"lesson_requests_total" in metrics[2]
    (call,) = [s for s in client_tracing.take() if s["name"] == "grpc ModelInfer"]
    named = tree(json.loads(body)["spans"], call)
    assert named["server"]["name"].endswith("/ModelInfer")
    assert named[QUEUE]["parent_id"] == named[MODEL]["parent_id"] == named[INFER]["span_id"]


def test_offloaded_inference_keeps_its_model_span():
    """`offload` runs the model on a worker thread: the request's context goes with it."""
    client_tracing = Tracing(1.0, "test-client")
    with running_server("rest", trace_ratio=1.0, debug_routes=True, offload=True) as server:
        client = RestClient(server.url, tracing=client_tracing)
        client.default_model()
        for _ in range(3):
            client.predict({"instances": [ROW]})
        status, _, body = http("GET", f"{server.url}/debug/spans")
    assert status == 200
    for call in [s for s in client_tracing.take() if s["name"].endswith(":predict")]:
        named = tree(json.loads(body)["spans"], call)
        assert named[MODEL]["parent_id"] == named[INFER]["span_id"]
        assert QUEUE not in named  # no batcher: no queue span
