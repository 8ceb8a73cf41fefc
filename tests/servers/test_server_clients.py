"""The lesson's own clients, and one answer whichever way a request travels."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys

import pytest
from server_support import MODEL, loadtest_json

from lesson.clients import (
    AsyncGrpcClient,
    AsyncRestClient,
    BadRequestError,
    GrpcClient,
    OverloadedError,
    PayloadTooLargeError,
    RestClient,
    UnknownModelError,
    client_for,
)
from lesson.core.schema import ensure_response_schema
from lesson.core.service import PredictionService

pytestmark = pytest.mark.server


def _payloads(n: int = 25, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        width = rng.randint(1, 12)
        if i % 3 == 0:  # the original lesson's flat form: one instance
            out.append({"instances": [rng.uniform(-5, 5) for _ in range(width)]})
        else:
            out.append(
                {
                    "instances": [
                        [rng.uniform(-5, 5) for _ in range(width)] for _ in range(rng.randint(1, 6))
                    ]
                }
            )
    return out


def test_identical_predictions_in_process_rest_v1_v2_grpc_unary_and_stream(
    rest_server, grpc_server
):
    payloads = _payloads()
    expected = [PredictionService().predict(p)["predictions"] for p in payloads]
    rest = RestClient(rest_server.url)
    grpc_client = GrpcClient(grpc_server.url)
    ways = {
        "rest v1": [rest.predict(p)["predictions"] for p in payloads],
        "rest v2 binary": [rest.predict_v2(p)["predictions"] for p in payloads],
        "rest v2 json": [
            rest.infer(
                p["instances"] if isinstance(p["instances"][0], list) else [p["instances"]],
                binary=False,
            )["outputs"][0]["data"]
            for p in payloads
        ],
        "grpc unary": [grpc_client.predict(p)["predictions"] for p in payloads],
        "grpc stream": [a["predictions"] for a in grpc_client.stream(payloads)],
    }
    for way, got in ways.items():
        assert got == expected, way  # exact equality: float64 end to end
    assert any(len(e) > 1 for e in expected) and all(
        isinstance(v, float) for e in expected for v in e
    )


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_sync_client_api(kind, rest_server, grpc_server):
    url = rest_server.url if kind == "rest" else grpc_server.url
    with client_for(url) as client:
        assert isinstance(client, RestClient if kind == "rest" else GrpcClient)
        assert client.live() and client.ready() and client.model_ready()
        assert client.default_model() == MODEL
        assert client.server_metadata()["name"] == "lesson"
        assert client.model_metadata()["versions"] == ["1"]
        assert client.repository_index()[0]["state"] == "READY"
        answer = client.predict({"instances": [0.2, 0.4, 0.6]})
        ensure_response_schema(answer)
        assert answer["predictions"] == [0.42]
        assert answer["metadata"]["model"] == MODEL and answer["metadata"]["latency_ms"] >= 0
        assert client.infer([[1.0, 2.0, 3.0]], version="1")["outputs"][0]["data"] == [1.7]
        with pytest.raises(UnknownModelError, match="nope"):
            client.predict({"instances": [0.1]}, model="nope")
        with pytest.raises(BadRequestError, match="instances"):
            client.predict({"instances": [0.1, "x"]})
        with pytest.raises(PayloadTooLargeError, match="1024"):
            client.infer([[0.5]] * 1025)


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_async_client_api(kind, rest_server, grpc_server):
    url = rest_server.url if kind == "rest" else grpc_server.url

    async def main():
        async with client_for(url, asynchronous=True) as client:
            assert isinstance(client, AsyncRestClient if kind == "rest" else AsyncGrpcClient)
            assert await client.live() and await client.ready()
            answers = await asyncio.gather(
                *(client.predict({"instances": [[i, i + 1.0]]}) for i in range(32))
            )
            with pytest.raises(UnknownModelError):
                await client.predict({"instances": [0.1]}, model="nope")
            infer = await client.infer([[1.0, 2.0, 3.0]])
            return answers, infer

    answers, infer = asyncio.run(main())
    assert [a["predictions"][0] for a in answers] == [
        round((2 * i + 1) / 2 * 0.8 + 0.1, 4) for i in range(32)
    ]
    assert infer["outputs"][0]["data"] == [1.7]


def test_overload_error_type_for_load_tests(sleepy_rest, sleepy_grpc):
    for url in (sleepy_rest.url, sleepy_grpc.url):

        async def main():
            async with client_for(url, asynchronous=True, model="sleepy") as client:
                return await asyncio.gather(
                    *(client.predict({"instances": [[0.6, 1.0]]}) for _ in range(6)),
                    return_exceptions=True,
                )

        results = asyncio.run(main())
        assert any(isinstance(r, OverloadedError) for r in results), results
        assert any(isinstance(r, dict) for r in results), results
    import time

    time.sleep(0.7)


def test_client_for_rejects_unknown_schemes():
    with pytest.raises(ValueError, match="grpc://"):
        client_for("ftp://127.0.0.1:1")


def test_loadtest_cli_reports_json_and_client_cpu(rest_server, grpc_server):
    for url in (rest_server.url, grpc_server.url):
        report = loadtest_json(url, concurrency=4, requests=300)
        assert report["requests"] == 300 and report["successes"] == 300 and report["errors"] == {}
        assert report["mode"] == "closed" and report["concurrency"] == 4
        assert 0 < report["p50_ms"] <= report["p99_ms"] <= report["max_ms"]
        assert report["client_cpu_percent"] > 0 and isinstance(report["client_bound"], bool)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lesson",
            "loadtest",
            "--url",
            rest_server.url,
            "--rate",
            "200",
            "--duration",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "open loop" in out.stdout and "p99" in out.stdout and "% of one core" in out.stdout
