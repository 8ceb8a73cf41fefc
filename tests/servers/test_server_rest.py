"""The REST server, for real, on 127.0.0.1: every route and every error case."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from server_support import MODEL, error_of, http

from lesson.core import v2

pytestmark = pytest.mark.server


# ---------------------------------------------------------------- health and metadata
def test_live_ready_and_server_metadata(rest_server):
    assert http("GET", rest_server.url + "/v2/health/live")[:1] == (200,)
    status, _, body = http("GET", rest_server.url + "/v2/health/ready")
    assert status == 200 and json.loads(body) == {"ready": True}
    status, _, body = http("GET", rest_server.url + "/v2")
    meta = json.loads(body)
    assert status == 200 and meta["name"] == "lesson" and "binary_tensor_data" in meta["extensions"]


@pytest.mark.parametrize("path", [f"/v2/models/{MODEL}", f"/v2/models/{MODEL}/versions/1"])
def test_model_metadata(rest_server, path):
    status, _, body = http("GET", rest_server.url + path)
    meta = json.loads(body)
    assert status == 200
    assert meta["name"] == MODEL and meta["versions"] == ["1"]
    assert meta["inputs"][0]["datatype"] == "FP64" and meta["outputs"][0]["name"] == "output__0"


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/nope",
        "/v2/models/nope/ready",
        f"/v2/models/{MODEL}/versions/9",
        f"/v2/models/{MODEL}/versions/9/ready",
        "/v1/models/nope",
    ],
)
def test_unknown_model_or_version_is_404_with_error(rest_server, path):
    status, _, body = http("GET", rest_server.url + path)
    assert status == 404
    message = error_of(body)
    assert MODEL in message  # names the known models


def test_model_ready_and_repository_index(rest_server):
    status, _, body = http("GET", rest_server.url + f"/v2/models/{MODEL}/ready")
    assert status == 200 and json.loads(body)["ready"] is True
    status, _, body = http("POST", rest_server.url + "/v2/repository/index", b"")
    assert status == 200 and json.loads(body) == [
        {"name": MODEL, "version": "1", "state": "READY", "reason": ""}
    ]
    status, _, body = http("POST", rest_server.url + "/v2/repository/index", {"ready": "yes"})
    assert status == 400 and "ready" in error_of(body)


def test_unknown_route_and_method_answer_in_protocol_shape(rest_server):
    status, _, body = http("GET", rest_server.url + "/v2/nothing/here")
    assert status == 404 and "Not Found" in error_of(body)
    status, _, body = http("GET", rest_server.url + f"/v2/models/{MODEL}/infer")
    assert status == 405 and error_of(body)


# ---------------------------------------------------------------- V1
def test_v1_flat_instance_and_batch(rest_server):
    url = rest_server.url + f"/v1/models/{MODEL}:predict"
    status, _, body = http("POST", url, {"instances": [0.2, 0.4, 0.6]})
    answer = json.loads(body)
    assert status == 200 and answer["predictions"] == [0.42]
    assert answer["metadata"]["transport"] == "rest" and answer["metadata"]["model"] == MODEL
    assert answer["metadata"]["latency_ms"] >= 0
    status, _, body = http("POST", url, {"instances": [[0.2, 0.4, 0.6], [1, 2, 3]]})
    assert status == 200 and json.loads(body)["predictions"] == [0.42, 1.7]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"instances": [0.2, "x"]}, "body.instances.1"),
        ({"instance": [0.2]}, "body.instances"),
        ({"instances": []}, "body.instances"),
        ({"instances": [[1, 2], [1]]}, "body.instances.1"),
        ({"instances": [True, 1.0]}, "body.instances.0"),
        (b"{not json", "body"),
        (b"NaN", "body"),
    ],
)
def test_v1_invalid_body_is_422_naming_the_field(rest_server, body, field):
    status, _, raw = http("POST", rest_server.url + f"/v1/models/{MODEL}:predict", body)
    assert status == 422
    message = error_of(raw)
    assert message.startswith(field), message
    assert json.loads(raw)["detail"][0]["loc"]  # FastAPI-like detail kept for V1


def test_v1_non_finite_number_is_rejected(rest_server):
    status, _, raw = http(
        "POST", rest_server.url + f"/v1/models/{MODEL}:predict", b'{"instances": [1.0, Infinity]}'
    )
    assert status == 422 and "finite" in error_of(raw)


def test_v1_unknown_model_is_404(rest_server):
    status, _, raw = http("POST", rest_server.url + "/v1/models/nope:predict", {"instances": [0.1]})
    assert status == 404 and "nope" in error_of(raw)


def test_over_the_size_bounds_is_413(rest_server):
    url = rest_server.url + f"/v1/models/{MODEL}:predict"
    big = b'{"instances": [' + b",".join([b"0.123456789"] * 120_000) + b"]}"  # > 1 MiB
    status, _, raw = http("POST", url, big)
    assert status == 413 and "bound" in error_of(raw)
    status, _, raw = http("POST", url, {"instances": [[0.5]] * 1025})
    assert status == 413 and "1024" in error_of(raw)
    status, _, raw = http("POST", rest_server.url + f"/v2/models/{MODEL}/infer", big)
    assert status == 413 and "bound" in error_of(raw)


# ---------------------------------------------------------------- V2 inference
def _infer(server, payload, headers=None, path=None):
    return http("POST", server.url + (path or f"/v2/models/{MODEL}/infer"), payload, headers)


def test_v2_json_tensors(rest_server):
    payload = {
        "id": "r1",
        "inputs": [
            {
                "name": "input__0",
                "shape": [2, 3],
                "datatype": "FP64",
                "data": [[0.2, 0.4, 0.6], [1, 2, 3]],
            }
        ],
    }
    status, headers, raw = _infer(rest_server, payload)
    answer = json.loads(raw)
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert answer["id"] == "r1" and answer["model_name"] == MODEL and answer["model_version"] == "1"
    assert answer["outputs"] == [
        {"name": "output__0", "datatype": "FP64", "shape": [2], "data": [0.42, 1.7]}
    ]


def test_v2_version_route_and_single_row_shape(rest_server):
    payload = {"inputs": [{"name": "x", "shape": [3], "datatype": "INT32", "data": [1, 2, 3]}]}
    status, _, raw = _infer(rest_server, payload, path=f"/v2/models/{MODEL}/versions/1/infer")
    assert status == 200 and json.loads(raw)["outputs"][0]["data"] == [1.7]


@pytest.mark.parametrize("datatype", ["FP32", "FP64", "INT64", "UINT8", "FP16"])
def test_v2_binary_tensor_extension_both_ways(rest_server, datatype):
    values = [1.0, 2.0, 3.0, 4.0, 0.0, 8.0]
    body, header_length = v2.build_request(
        [values[:3], values[3:]], datatype=datatype, binary=True, binary_output=True
    )
    status, headers, raw = _infer(rest_server, body, {v2.HEADER_LENGTH: str(header_length)})
    assert status == 200
    assert headers["content-type"] == "application/octet-stream"
    answer = v2.decode_infer_response(raw, headers[v2.HEADER_LENGTH.lower()])
    assert answer["outputs"][0]["parameters"] == {"binary_data_size": 16}
    assert answer["outputs"][0]["data"] == [round(2.0 * 0.8 + 0.1, 4), round(4.0 * 0.8 + 0.1, 4)]


def test_v2_requested_output_as_json_and_unknown_output(rest_server):
    base = {
        "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 3]}],
        "parameters": {"binary_data_output": True},
    }
    status, headers, raw = _infer(
        rest_server,
        dict(base, outputs=[{"name": "output__0", "parameters": {"binary_data": False}}]),
    )
    assert status == 200 and v2.HEADER_LENGTH.lower() not in headers
    assert json.loads(raw)["outputs"][0]["data"] == [1.7]
    status, _, raw = _infer(rest_server, dict(base, outputs=[{"name": "nope"}]))
    assert status == 400 and error_of(raw).startswith("outputs[0].name")


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "inputs"),
        ({"inputs": []}, "inputs"),
        ({"inputs": [{"name": "x", "datatype": "FP64", "data": [1]}]}, "inputs[0].shape"),
        ({"inputs": [{"name": "x", "shape": [1, 2], "data": [1, 2]}]}, "inputs[0].datatype"),
        ({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64"}]}, "inputs[0].data"),
        (
            {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "BYTES", "data": ["a", "b"]}]},
            "inputs[0].datatype",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2]}]},
            "inputs[0].data",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, -2], "datatype": "FP64", "data": [1, 2]}]},
            "inputs[0].shape[1]",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 1, 2], "datatype": "FP64", "data": [1, 2]}]},
            "inputs[0].shape",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, "a"]}]},
            "inputs[0].data[1]",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "INT32", "data": [1, 2.5]}]},
            "inputs[0].data[1]",
        ),
        (
            {"inputs": [{"name": "x", "shape": [0, 2], "datatype": "FP64", "data": []}]},
            "inputs[0].shape",
        ),
        (
            {"inputs": [{"name": "", "shape": [1], "datatype": "FP64", "data": [1]}]},
            "inputs[0].name",
        ),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}], "id": 5}, "id"),
        ([1, 2], "body"),
    ],
)
def test_v2_invalid_request_is_400_naming_the_field(rest_server, payload, field):
    status, _, raw = _infer(rest_server, json.dumps(payload).encode())
    assert status == 400
    message = error_of(raw)
    assert message.startswith(field + ":"), message
    assert set(json.loads(raw)) == {"error"}


def test_v2_non_finite_and_bad_json(rest_server):
    status, _, raw = _infer(
        rest_server, b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [NaN]}]}'
    )
    assert status == 400 and "finite" in error_of(raw)
    status, _, raw = _infer(rest_server, b'{"inputs": [')
    assert status == 400 and error_of(raw).startswith("body: invalid JSON")


def test_v2_binary_extension_errors(rest_server):
    body, header_length = v2.build_request([[1.0, 2.0]], binary=True)
    for bad_header, field in (("abc", v2.HEADER_LENGTH), (str(len(body) + 5), v2.HEADER_LENGTH)):
        status, _, raw = _infer(rest_server, body, {v2.HEADER_LENGTH: bad_header})
        assert status == 400 and error_of(raw).startswith(field)
    status, _, raw = _infer(rest_server, body[:-3], {v2.HEADER_LENGTH: str(header_length)})
    assert status == 400 and "binary_data_size" in error_of(raw)
    status, _, raw = _infer(rest_server, body + b"xx", {v2.HEADER_LENGTH: str(header_length)})
    assert status == 400 and "unaccounted" in error_of(raw)


def test_v2_unknown_model_and_version_are_404(rest_server):
    payload = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]}
    status, _, raw = _infer(rest_server, payload, path="/v2/models/nope/infer")
    assert status == 404 and "nope" in error_of(raw)
    status, _, raw = _infer(rest_server, payload, path=f"/v2/models/{MODEL}/versions/7/infer")
    assert status == 404 and "7" in error_of(raw)


def test_v2_over_row_bound_is_413(rest_server):
    payload = {
        "inputs": [{"name": "x", "shape": [1025, 1], "datatype": "FP64", "data": [0.5] * 1025}]
    }
    status, _, raw = _infer(rest_server, payload)
    assert status == 413 and "1024" in error_of(raw)


# ---------------------------------------------------------------- operations
def test_metrics_count_requests_per_route_and_model(rest_server):
    for _ in range(3):
        http("POST", rest_server.url + f"/v1/models/{MODEL}:predict", {"instances": [0.5]})
    http("POST", rest_server.url + "/v1/models/nope:predict", {"instances": [0.5]})
    status, headers, raw = http("GET", rest_server.url + "/metrics")
    text = raw.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")

    def value(pattern: str) -> float:
        match = re.search(pattern + r" ([0-9.e+]+)$", text, re.M)
        assert match, pattern
        return float(match.group(1))

    route = re.escape('route="/v1/models/{name}:predict"')
    assert (
        value(
            r'lesson_requests_total\{code="200",model="averaged_ensemble",'
            + route
            + r',transport="rest"\}'
        )
        >= 3
    )
    assert (
        value(r'lesson_requests_total\{code="404",model="-",' + route + r',transport="rest"\}') >= 1
    )
    assert (
        value(
            r'lesson_request_latency_seconds_count\{model="averaged_ensemble",'
            + route
            + r',transport="rest"\}'
        )
        >= 3
    )
    assert value(r'lesson_requests_in_flight\{transport="rest"\}') == 0


def test_openapi_documents_every_route_with_examples(rest_server):
    status, _, raw = http("GET", rest_server.url + "/openapi.json")
    spec = json.loads(raw)
    assert status == 200
    expected = {
        "/v1/models/{name}:predict",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2",
        "/v2/models/{name}",
        "/v2/models/{name}/versions/{version}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
        "/v2/repository/index",
        "/metrics",
    }
    assert expected <= set(spec["paths"])
    for path in expected:
        for method, op in spec["paths"][path].items():
            examples = [
                c.get("example")
                for r in op["responses"].values()
                for c in r.get("content", {}).values()
            ]
            assert any(e is not None for e in examples), (method, path)
            if method == "post" and "repository" not in path:
                assert op["requestBody"]["content"]["application/json"]["example"], path
    status, _, raw = http("GET", rest_server.url + "/docs")
    assert status == 200 and b"swagger" in raw.lower()
    # the docs work offline: Swagger UI comes from this server, not from a CDN
    assets = re.findall(rb'(?:src|href)="([^"]+\.(?:js|css))"', raw)
    assert assets and all(a.startswith(b"/docs-assets/") for a in assets), assets
    for asset in assets:
        assert http("GET", rest_server.url + asset.decode())[0] == 200
    params = spec["paths"]["/v2/models/{name}/infer"]["post"]["parameters"]
    assert params[0]["name"] == "name" and params[0]["schema"]["examples"] == ["averaged_ensemble"]


# ---------------------------------------------------------------- load shedding and timeouts
def test_overload_is_shed_with_503_not_queued(sleepy_rest):
    url = sleepy_rest.url + "/v1/models/sleepy:predict"
    results: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def call() -> None:
        status, headers, raw = http("POST", url, {"instances": [[0.8, 1.0]]})
        with lock:
            results.append((status, raw, headers.get("retry-after")))

    threads = [threading.Thread(target=call) for _ in range(6)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    elapsed = time.perf_counter() - started
    codes = sorted(s for s, _, _ in results)
    assert codes.count(200) >= 1 and codes.count(503) >= 3, codes  # bound is 2 in flight
    assert set(codes) <= {200, 503}
    for status, raw, retry in results:
        if status == 503:
            assert "overloaded" in error_of(raw) and retry == "1"
    assert elapsed < 4.0  # shed requests did not wait in a queue behind the sleepers


def test_request_timeout_is_504(sleepy_rest):
    started = time.perf_counter()
    status, _, raw = http(
        "POST", sleepy_rest.url + "/v1/models/sleepy:predict", {"instances": [[3.0, 1.0]]}
    )
    elapsed = time.perf_counter() - started
    assert status == 504 and "timeout" in error_of(raw)
    assert elapsed < 2.5  # the 1 s timeout answered, not the 3 s model
    time.sleep(2.5)  # let the abandoned model call finish before other tests use the server
