"""A production client nobody here wrote, `tritonclient`, against both servers, unchanged."""

from __future__ import annotations

import numpy as np
import pytest

tritonhttp = pytest.importorskip("tritonclient.http")
tritongrpc = pytest.importorskip("tritonclient.grpc")
from server_support import MODEL  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

pytestmark = pytest.mark.server

X = np.array([[0.2, 0.4, 0.6], [1.0, 2.0, 3.0], [5.0, 0.0, 1.0]], dtype=np.float64)
EXPECTED = [0.42, 1.7, 1.7]


@pytest.fixture(scope="module")
def http_client(rest_server):
    client = tritonhttp.InferenceServerClient(f"127.0.0.1:{rest_server.port}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc_client(grpc_server):
    client = tritongrpc.InferenceServerClient(f"127.0.0.1:{grpc_server.port}")
    yield client
    client.close()


@pytest.mark.parametrize("flavour", ["http", "grpc"])
def test_health_and_metadata(flavour, http_client, grpc_client):
    client = http_client if flavour == "http" else grpc_client
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL)
    meta = (
        client.get_model_metadata(MODEL)
        if flavour == "http"
        else client.get_model_metadata(MODEL, as_json=True)
    )
    assert meta["name"] == MODEL and meta["versions"] == ["1"]
    assert meta["inputs"][0]["name"] == "input__0" and meta["outputs"][0]["datatype"] == "FP64"
    server = (
        client.get_server_metadata()
        if flavour == "http"
        else client.get_server_metadata(as_json=True)
    )
    assert server["name"] == "lesson"


def test_http_infer_binary_by_default(http_client):
    tensor = tritonhttp.InferInput("input__0", list(X.shape), "FP64")
    tensor.set_data_from_numpy(X)  # binary_data=True: the binary tensor extension
    result = http_client.infer(MODEL, [tensor])
    assert result.as_numpy("output__0").tolist() == EXPECTED
    assert result.get_response()["outputs"][0]["parameters"]["binary_data_size"] == 24


def test_http_infer_json_fp32_and_requested_output(http_client):
    tensor = tritonhttp.InferInput("input__0", list(X.shape), "FP32")
    tensor.set_data_from_numpy(X.astype(np.float32), binary_data=False)
    output = tritonhttp.InferRequestedOutput("output__0", binary_data=False)
    result = http_client.infer(MODEL, [tensor], outputs=[output], request_id="abc")
    assert result.as_numpy("output__0").tolist() == EXPECTED
    assert result.get_response()["id"] == "abc"


def test_grpc_infer(grpc_client):
    tensor = tritongrpc.InferInput("input__0", list(X.shape), "FP64")
    tensor.set_data_from_numpy(X)
    result = grpc_client.infer(MODEL, [tensor], model_version="1")
    assert result.as_numpy("output__0").tolist() == EXPECTED


def test_grpc_stream_infer(grpc_client):
    import queue

    answers: queue.Queue = queue.Queue()
    grpc_client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        for row in X:
            tensor = tritongrpc.InferInput("input__0", [1, 3], "FP64")
            tensor.set_data_from_numpy(row.reshape(1, 3))
            grpc_client.async_stream_infer(MODEL, [tensor])
        got = [answers.get(timeout=10) for _ in X]
    finally:
        grpc_client.stop_stream()
    assert all(error is None for _, error in got)
    assert [r.as_numpy("output__0").tolist()[0] for r, _ in got] == EXPECTED


@pytest.mark.parametrize("flavour", ["http", "grpc"])
def test_errors_reach_the_client_with_their_message(flavour, http_client, grpc_client):
    module = tritonhttp if flavour == "http" else tritongrpc
    client = http_client if flavour == "http" else grpc_client
    tensor = module.InferInput("input__0", list(X.shape), "FP64")
    tensor.set_data_from_numpy(X)
    with pytest.raises(InferenceServerException) as info:
        client.infer("nope", [tensor])
    assert "nope" in info.value.message() and MODEL in info.value.message()
    assert info.value.status() in ("404", "StatusCode.NOT_FOUND")
    bad = module.InferInput("input__0", [2, 2, 2], "FP64")
    bad.set_data_from_numpy(np.zeros((2, 2, 2)))
    with pytest.raises(InferenceServerException) as info:
        client.infer(MODEL, [bad])
    assert info.value.message().startswith("inputs[0].shape")
    assert info.value.status() in ("400", "StatusCode.INVALID_ARGUMENT")


def test_repository_index(http_client, grpc_client):
    assert http_client.get_model_repository_index() == [
        {"name": MODEL, "version": "1", "state": "READY", "reason": ""}
    ]
    index = grpc_client.get_model_repository_index(as_json=True)
    assert index["models"][0]["name"] == MODEL and index["models"][0]["state"] == "READY"


@pytest.mark.parametrize("flavour", ["http", "grpc"])
def test_model_config_is_what_triton_clients_read(flavour, http_client, grpc_client):
    """The model configuration extension, decoded by tritonclient (perf_analyzer reads the same)."""
    client = http_client if flavour == "http" else grpc_client
    config = (
        client.get_model_config(MODEL)
        if flavour == "http"
        else client.get_model_config(MODEL, as_json=True)["config"]
    )
    assert config["name"] == MODEL
    assert (
        int(config["max_batch_size"]) == 1024
    )  # the server's rows per request, the first dim is the batch
    (tensor,) = config["input"]
    assert tensor["name"] == "input__0" and tensor["data_type"] == "TYPE_FP64"
    assert [int(d) for d in tensor["dims"]] == [-1]  # the toy model takes any number of features
    assert config["output"][0]["data_type"] == "TYPE_FP64" and [
        int(d) for d in config["output"][0]["dims"]
    ] == [1]
    with pytest.raises(InferenceServerException) as info:
        client.get_model_config("nope")
    assert info.value.status() in ("404", "StatusCode.NOT_FOUND") and "nope" in info.value.message()
    extensions = (
        client.get_server_metadata()
        if flavour == "http"
        else client.get_server_metadata(as_json=True)
    )["extensions"]
    assert "model_configuration" in extensions
