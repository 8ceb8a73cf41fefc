"""The real model (issue 5's diabetes MLP) behind both servers: same answers, typed width errors."""

from __future__ import annotations

import json

import grpc
import pytest
from server_support import error_of, http

from lesson.clients import BadRequestError, GrpcClient, RestClient
from lesson.servers.launch import running_server

pytestmark = pytest.mark.server
mlp_numpy = pytest.importorskip("lesson.models.mlp_numpy")
REGISTRY = "lesson.models.mlp_numpy:serving_registry"


@pytest.fixture(scope="module")
def servers():
    with (
        running_server("rest", registry=REGISTRY) as rest,
        running_server("grpc", registry=REGISTRY) as grpc_,
    ):
        yield rest, grpc_


def test_mlp_answers_identically_in_process_and_over_both_servers(servers):
    from lesson.core.service import PredictionService

    registry = mlp_numpy.serving_registry()
    model = registry.default_name
    width = registry.get().metadata().n_features
    rows = [[0.01 * (i + j) for j in range(width)] for i in range(5)]
    expected = PredictionService(registry).predict({"instances": rows})["predictions"]
    rest, grpc_server = servers
    got_v1 = RestClient(rest.url).predict({"instances": rows}, model=model)
    got_v2 = RestClient(rest.url).infer(rows, model=model)["outputs"][0]["data"]
    got_grpc = GrpcClient(grpc_server.url).predict({"instances": rows}, model=model)
    assert got_v1["predictions"] == got_v2 == got_grpc["predictions"] == expected
    assert got_v1["metadata"]["model"] == model and len(set(expected)) == 5


def test_wrong_width_is_a_typed_client_error_everywhere(servers):
    rest, grpc_server = servers
    registry = mlp_numpy.serving_registry()
    model = registry.default_name
    status, _, raw = http(
        "POST", rest.url + f"/v1/models/{model}:predict", {"instances": [[0.1, 0.2]]}
    )
    assert status == 422 and "features" in error_of(raw)
    payload = {
        "inputs": [{"name": "input__0", "shape": [1, 2], "datatype": "FP64", "data": [0.1, 0.2]}]
    }
    status, _, raw = http(
        "POST", rest.url + f"/v2/models/{model}/infer", json.dumps(payload).encode()
    )
    assert status == 400 and "features" in error_of(raw)
    with pytest.raises(BadRequestError, match="features") as info:
        GrpcClient(grpc_server.url).predict({"instances": [[0.1, 0.2]]}, model=model)
    assert info.value.status == grpc.StatusCode.INVALID_ARGUMENT.name
