"""Micro-batching inside the real servers (`--max-batch-size`): concurrent requests share
device calls, each gets its own answer, and a bad request fails alone.

The model is the real MLP behind a SIMULATED device that costs 100 ms per call, one call at a
time: 16 requests one call each would take at least 1.6 s; batched they take a few calls.
The REST server batches on its event loop (`BatchedModel.predict_async`), the gRPC server
across its threads (`BatchedModel.predict`).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from lesson_test_models import SLOW_DEVICE_CALL_S
from server_support import TEST_ENV

from lesson.clients import BadRequestError, GrpcClient, RestClient
from lesson.core.artifacts import load_artifact, load_heldout
from lesson.models.mlp import load_default_mlp
from lesson.servers.launch import running_server

pytestmark = pytest.mark.server

N = 16


def _client(url: str):
    return RestClient(url) if url.startswith("http") else GrpcClient(url)


def _call(url: str, rows):
    client = _client(url)
    try:
        return client.predict({"instances": rows})
    except BadRequestError as exc:
        return exc
    finally:
        client.close()


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_concurrent_requests_share_device_calls_and_errors_stay_per_request(kind):
    rows, _ = load_heldout(load_artifact("diabetes-mlp"))
    requests = [[rows[i]] for i in range(N)] + [
        [rows[0][:4]]
    ]  # the last one has 4 features, not 10
    expected = load_default_mlp().predict(rows[:N])
    options = {"workers": 2 * N} if kind == "grpc" else {}
    with running_server(
        kind,
        registry="lesson_test_models:slow_device_registry",
        env=TEST_ENV,
        max_batch_size=64,
        max_delay_ms=5,
        **options,
    ) as server:
        _call(server.url, requests[0])  # connections and imports warm
        with ThreadPoolExecutor(len(requests)) as pool:
            started = time.perf_counter()
            answers = list(pool.map(lambda r: _call(server.url, r), requests))
            elapsed = time.perf_counter() - started
    for i, answer in enumerate(answers[:N]):
        assert isinstance(answer, dict), answer
        assert answer["predictions"] == pytest.approx([expected[i]], abs=1e-6), (
            i
        )  # its own row's answer
        assert answer["metadata"]["model"] == "slow-device"
    assert isinstance(answers[-1], BadRequestError) and "features" in str(answers[-1])
    # one call per request would take N x 100 ms; shared calls take a few
    assert elapsed < 0.5 * N * SLOW_DEVICE_CALL_S, f"{elapsed:.2f} s for {N} requests: not batched?"
