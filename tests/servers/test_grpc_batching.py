"""The gRPC server with micro-batching on (`--max-batch-size`), for real on 127.0.0.1, over
raw `ModelInfer` RPCs: requests that share device calls keep their own answers AND their own
errors (status code and a message naming the field), a client whose deadline passes or who
cancels fails alone, and the server's Prometheus counters agree with what clients saw.

The model is the real MLP behind a SIMULATED device costing 100 ms per call, one call at a
time (`lesson_test_models.slow_device_registry`), so requests in flight together must share
calls to finish in time.
"""

from __future__ import annotations

import math
import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from lesson_test_models import SLOW_DEVICE_CALL_S
from server_support import TEST_ENV

from lesson.core.artifacts import load_artifact, load_heldout
from lesson.core.v2 import decode_raw, encode_raw
from lesson.models.mlp import load_default_mlp
from lesson.proto import inference_pb2 as pb
from lesson.proto import inference_pb2_grpc as pb_grpc
from lesson.servers.launch import free_port, running_server

pytestmark = pytest.mark.server

MODEL = "slow-device"


@pytest.fixture(scope="module")
def batched():
    metrics_port = free_port()
    with (
        running_server(
            "grpc",
            registry="lesson_test_models:slow_device_registry",
            env=TEST_ENV,
            max_batch_size=64,
            max_delay_ms=5,
            workers=32,
            metrics_port=metrics_port,
        ) as server,
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        stub.ModelInfer(_request([[0.0] * 10]), timeout=10)  # connection and threads warm
        yield stub, metrics_port


@pytest.fixture(scope="module")
def rows():
    heldout, _ = load_heldout(load_artifact("diabetes-mlp"))
    return heldout


def _request(rows, *, model=MODEL, request_id=""):
    request = pb.ModelInferRequest(model_name=model, id=request_id)
    request.inputs.add(name="input__0", datatype="FP64", shape=[len(rows), len(rows[0])])
    request.raw_input_contents.append(encode_raw("FP64", [v for row in rows for v in row]))
    return request


def _outcome(stub, request, timeout=10.0):
    try:
        response = stub.ModelInfer(request, timeout=timeout)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    out = response.outputs[0]
    return response.id, decode_raw(
        out.datatype, response.raw_output_contents[0], out.shape[0], out.name
    )


def _codes(metrics_port):
    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        .read()
        .decode()
    )
    found = re.findall(
        r'lesson_requests_total\{code="([A-Z_]+)",model="([^"]+)",route="ModelInfer",transport="grpc"\} ([0-9.e+]+)',
        text,
    )
    codes: dict[str, float] = {}
    for code, _model, value in found:
        codes[code] = codes.get(code, 0.0) + float(value)
    return codes


def test_errors_stay_per_request_inside_shared_calls(batched, rows):
    stub, metrics_port = batched
    before = _codes(metrics_port)
    good = [(f"ok-{i}", _request([rows[i]], request_id=f"ok-{i}")) for i in range(12)]
    bad = [
        (
            "short",
            _request([rows[0][:4]], request_id="short"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "features",
        ),
        (
            "nan",
            _request([[math.nan] + rows[1][1:]], request_id="nan"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "inputs[0]",
        ),
        (
            "unknown",
            _request([rows[2]], model="no-such-model", request_id="unknown"),
            grpc.StatusCode.NOT_FOUND,
            "no-such-model",
        ),
    ]
    calls = [r for _, r in good] + [r for _, r, *_ in bad]
    with ThreadPoolExecutor(len(calls) + 1) as pool:
        # a first request keeps the device busy for 100 ms, so the others queue up together even
        # when this machine is slow to start their threads (they arrived spread out under load)
        blocker = pool.submit(_outcome, stub, _request([rows[20]], request_id="blocker"))
        time.sleep(0.01)
        started = time.perf_counter()
        outcomes = list(pool.map(lambda r: _outcome(stub, r), calls))
        elapsed = time.perf_counter() - started
        assert blocker.result(10)[0] == "blocker"
    expected = load_default_mlp().predict(rows[:12])
    for i, (request_id, predictions) in enumerate(outcomes[:12]):
        assert request_id == f"ok-{i}"  # its own response...
        assert predictions == pytest.approx([expected[i]], abs=1e-6)  # ...with its own row's answer
    for (name, _, code, needle), (got_code, message) in zip(bad, outcomes[12:]):
        assert got_code == code, (name, got_code, message)
        assert needle in message, (name, message)
    # one call per good request would take 12 x 100 ms; shared calls take a few
    assert elapsed < 0.6 * 12 * SLOW_DEVICE_CALL_S, f"{elapsed:.2f} s: not batched?"
    after = _codes(metrics_port)
    assert after.get("OK", 0) - before.get("OK", 0) == 13
    assert after.get("INVALID_ARGUMENT", 0) - before.get("INVALID_ARGUMENT", 0) == 2
    assert after.get("NOT_FOUND", 0) - before.get("NOT_FOUND", 0) == 1


def test_a_deadline_that_passes_while_waiting_fails_alone(batched, rows):
    stub, _ = batched
    patient = [_request([rows[i]], request_id=f"p-{i}") for i in range(6)]
    hasty = _request([rows[6]], request_id="hasty")
    with ThreadPoolExecutor(len(patient) + 1) as pool:
        futures = [pool.submit(_outcome, stub, r) for r in patient]
        time.sleep(0.02)  # the device is busy with the patient ones
        hasty_outcome = pool.submit(_outcome, stub, hasty, 0.03).result(10)
        outcomes = [f.result(10) for f in futures]
    assert hasty_outcome[0] == grpc.StatusCode.DEADLINE_EXCEEDED, hasty_outcome
    expected = load_default_mlp().predict(rows[:6])
    for i, (request_id, predictions) in enumerate(outcomes):
        assert request_id == f"p-{i}" and predictions == pytest.approx([expected[i]], abs=1e-6)
    assert _outcome(stub, _request([rows[7]]))[1] == pytest.approx(
        load_default_mlp().predict([rows[7]]), abs=1e-6
    )


def test_a_cancelled_call_does_not_disturb_the_others(batched, rows):
    stub, _ = batched
    calls = [
        stub.ModelInfer.future(_request([rows[i]], request_id=f"c-{i}"), timeout=10)
        for i in range(8)
    ]
    assert calls[3].cancel()
    expected = load_default_mlp().predict(rows[:8])
    for i, call in enumerate(calls):
        if i == 3:
            assert call.cancelled()
            continue
        response = call.result(timeout=10)
        out = response.outputs[0]
        got = decode_raw(out.datatype, response.raw_output_contents[0], out.shape[0], out.name)
        assert response.id == f"c-{i}" and got == pytest.approx([expected[i]], abs=1e-6)
    assert stub.ServerReady(pb.ServerReadyRequest(), timeout=5).ready  # still serving
