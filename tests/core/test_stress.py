"""Stress: 16+ concurrent workers, hundreds of requests through every adapter.

Every response must be schema-valid AND numerically right (compared with the original
function applied to the same rows). The adapters share one PredictionService, so this also
checks that the shared core has no state that concurrent callers could corrupt.
"""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from lesson import (
    PredictionService,
    averaged_ensembled_model,
    batch_scoring_runner,
    edge_inference_adapter,
    ensure_response_schema,
    event_stream_adapter,
    fastapi_rest_adapter,
    grpc_streaming_adapter,
    run_load_test,
    run_load_test_async,
)
from lesson.original_api import round_rows

WORKERS = 16
REQUESTS = 400


def make_payloads(n=REQUESTS, seed=11):
    rng = random.Random(seed)
    payloads = []
    for i in range(n):
        width = rng.randint(1, 12)
        if i % 2:
            payloads.append({"instances": [rng.uniform(-5, 5) for _ in range(width)]})
        else:
            payloads.append(
                {
                    "instances": [
                        [rng.uniform(-5, 5) for _ in range(width)] for _ in range(rng.randint(1, 8))
                    ]
                }
            )
    return payloads


def rows_of(payload):
    instances = payload["instances"]
    return [instances] if not isinstance(instances[0], list) else instances


def expected(payload, quantise=False):
    rows = rows_of(payload)
    if quantise:
        rows = round_rows(rows)
    return [averaged_ensembled_model(row)[0] for row in rows]


def verify(response, payload, transport, quantise=False):
    ensure_response_schema(response)
    if response["predictions"] != expected(payload, quantise):
        raise AssertionError(f"wrong predictions for {payload}: {response['predictions']}")
    if response["metadata"]["transport"] != transport:
        raise AssertionError(f"wrong transport {response['metadata']['transport']}")
    return response


SERVICE = PredictionService()
PAYLOADS = make_payloads()


REST = fastapi_rest_adapter(None, service=SERVICE)
GRPC = grpc_streaming_adapter(None, service=SERVICE)
EDGE = edge_inference_adapter(None, service=SERVICE)
STREAM = event_stream_adapter(service=SERVICE)


def endpoints():
    def rest(payload):
        return verify(REST(payload), payload, "REST")

    def grpc(payload):
        # a small bidirectional stream per call: the payload and two neighbours
        i = PAYLOADS.index(payload)
        batch = [PAYLOADS[(i + k) % len(PAYLOADS)] for k in range(3)]
        responses = list(GRPC(iter(batch)))
        for response, sent in zip(responses, batch, strict=True):
            verify(response, sent, "gRPC")
        return responses[0]

    def batch(payload):
        batches = [payload["instances"], payload["instances"]]
        responses = batch_scoring_runner(None, batches, service=SERVICE)
        for response in responses:
            verify(response, payload, "batch")
            if response["metadata"]["batch_size"] != len(payload["instances"]):
                raise AssertionError("wrong batch_size")
        return responses[0]

    def edge(payload):
        return verify(EDGE(payload["instances"]), payload, "edge", quantise=True)

    def stream(payload):
        response = next(STREAM([{"id": "x", "key": "k", **payload}]))
        return verify(response, payload, "streaming")

    return {"rest": rest, "grpc": grpc, "batch": batch, "edge": edge, "streaming": stream}


@pytest.mark.parametrize("name", ["rest", "grpc", "batch", "edge", "streaming"])
def test_adapter_under_16_concurrent_workers(name):
    endpoint = endpoints()[name]
    result = run_load_test(
        endpoint, PAYLOADS, concurrency=WORKERS, max_requests=REQUESTS, max_duration=60, warmup=0
    )
    assert result.errors == {}, (result.errors, result.error_examples)
    assert result.successes == REQUESTS == result.requests


@pytest.mark.parametrize("name", ["rest", "edge"])
def test_adapter_under_32_asyncio_workers(name):
    endpoint = endpoints()[name]
    result = asyncio.run(
        run_load_test_async(
            endpoint, PAYLOADS, concurrency=32, max_requests=REQUESTS, max_duration=60, warmup=0
        )
    )
    assert result.errors == {} and result.successes == REQUESTS


def test_raw_thread_pool_every_adapter_interleaved():
    """All adapters at once from 24 threads, results checked outside the harness."""
    eps = endpoints()
    jobs = [(name, p) for p in PAYLOADS[:200] for name in eps]
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(lambda job: (job, eps[job[0]](job[1])), jobs))
    assert len(results) == len(jobs) == 1000
    for (name, payload), response in results:
        assert response["predictions"] == expected(payload, quantise=(name == "edge"))


def test_bad_inputs_under_load_are_typed_errors_not_crashes():
    good, bad = {"instances": [0.5]}, {"instances": [0.5, "x"]}
    result = run_load_test(REST, [good, bad], concurrency=WORKERS, max_requests=REQUESTS, warmup=0)
    assert result.errors == {"ValidationError": REQUESTS // 2}
    assert result.successes == REQUESTS // 2
