"""The REST app's structure (issue 23): routes on APIRouters, errors mapped by handlers
registered once on the app, and request-body schemas in the OpenAPI document.

In-process (FastAPI's TestClient over the real app, lifespan included): no server subprocess.
"""

from __future__ import annotations

import time

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from lesson.core.model import ModelRegistry, as_model
from lesson.core.schema import ValidationError
from lesson.core.service import ModelOutputError, PredictionService
from lesson.servers.errors import MAPPED_ERRORS
from lesson.servers.rest import create_app, health, v1, v2


def _boom(row: list[float]) -> list[float]:
    if row and row[0] < 0:
        raise ZeroDivisionError("a bug in the model")
    return [sum(row)]


def _nan(row: list[float]) -> list[float]:
    return [float("nan")] if row and row[0] < 0 else [sum(row)]


@pytest.fixture(scope="module")
def client():
    registry = ModelRegistry([as_model(_boom, name="boom"), as_model(_nan, name="nan")])
    app = create_app(service=PredictionService(registry))
    with TestClient(app, raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 10
        while client.get("/v2/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "the app never turned ready"
            time.sleep(0.02)
        yield client


def test_routes_come_from_the_routers_and_the_handlers_are_registered_once():
    app = create_app(service=PredictionService(ModelRegistry([as_model(_boom, name="boom")])))
    routers = (v1.router, health.router, v2.router)
    from_routers = [route for router in routers for route in router.routes]
    on_app = [route for route in app.routes if isinstance(route, APIRoute)]
    # every API route is one of the routers' own route objects, except the offline /docs pages
    assert [r for r in on_app if r.include_in_schema or r.path == "/"] == from_routers
    assert {r.path for r in on_app if r not in from_routers} <= {"/docs", "/redoc"}
    paths = {(r.path, tuple(r.methods)) for r in from_routers}
    assert ("/v1/models/{name}:predict", ("POST",)) in paths
    assert ("/v2/models/{name}/infer", ("POST",)) in paths
    assert ("/v2/health/ready", ("GET",)) in paths
    for exc_class in MAPPED_ERRORS:  # the core's and the server's errors: one handler each
        assert exc_class in app.exception_handlers
    assert {ValidationError, ModelOutputError} <= set(app.exception_handlers)


def test_a_model_error_is_answered_by_the_registered_handler(client):
    ok = client.post("/v1/models/nan:predict", json={"instances": [1.0, 2.0]})
    assert ok.status_code == 200 and ok.json()["predictions"] == [3.0]

    # ModelOutputError raised by the service's output check: 500, V1 and V2 alike
    bad = client.post("/v1/models/nan:predict", json={"instances": [-1.0, 2.0]})
    assert bad.status_code == 500
    assert bad.json() == {
        "error": "model error: model 'nan' output 0 is nan, expected a finite number"
    }
    tensor = {"name": "input__0", "shape": [1, 2], "datatype": "FP64", "data": [-1.0, 2.0]}
    bad_v2 = client.post("/v2/models/nan/infer", json={"inputs": [tensor]})
    assert bad_v2.status_code == 500 and bad_v2.json() == bad.json()

    # an exception no handler knows (a bug in the model): 500 naming it, still the JSON shape
    boom = client.post("/v1/models/boom:predict", json={"instances": [-1.0, 2.0]})
    assert boom.status_code == 500
    assert boom.json() == {"error": "internal error: ZeroDivisionError: a bug in the model"}

    # the service's ValidationError: V1 422 with the located errors, V2 400
    invalid = client.post("/v1/models/boom:predict", json={"instances": [1.0, "x"]})
    assert invalid.status_code == 422
    body = invalid.json()
    assert body["error"].startswith("body.instances.1: Input should be a number")
    assert body["detail"][0]["loc"] == ["body", "instances", 1]
    invalid_v2 = client.post("/v2/models/boom/infer", json={"inputs": []})
    assert invalid_v2.status_code == 400 and set(invalid_v2.json()) == {"error"}

    # ModelNotFoundError from the backend: 404 on inference and metadata routes
    for response in (
        client.post("/v1/models/nope:predict", json={"instances": [1.0]}),
        client.get("/v2/models/nope"),
        client.get("/v2/models/nope/config"),
        client.get("/v1/models/nope"),
    ):
        assert response.status_code == 404 and "boom" in response.json()["error"]

    # the metrics count the mapped statuses
    metrics = client.get("/metrics").text
    assert 'code="500"' in metrics and 'code="422"' in metrics and 'code="404"' in metrics


def test_openapi_has_request_body_schemas_for_the_infer_routes(client):
    paths = client.get("/openapi.json").json()["paths"]

    def schema(path: str) -> dict:
        return paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]

    for path in ("/v1/models/{name}:predict", "/v1/models/{name}/versions/{version}:predict"):
        v1_schema = schema(path)
        assert v1_schema["required"] == ["instances"]
        assert "anyOf" in v1_schema["properties"]["instances"]
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        v2_schema = schema(path)
        assert v2_schema["required"] == ["inputs"]
        tensor = v2_schema["properties"]["inputs"]["items"]
        assert set(tensor["required"]) == {"name", "shape", "datatype"}
        assert "FP64" in tensor["properties"]["datatype"]["enum"]
