"""With no --registry, both servers serve the real model (diabetes MLP) by default.

The int8 edge model, the simulated accelerator and the original toy stay reachable by name;
the core's own `lesson.core.model.default_registry()` is unchanged (the toy alone).
"""

from __future__ import annotations

import pytest
from server_support import loadtest_json

from lesson.clients import GrpcClient, RestClient
from lesson.core.artifacts import load_artifact, load_heldout
from lesson.models.mlp import load_default_mlp
from lesson.models.onnx_runtime import ONNX_NAMES, onnxruntime_available

pytestmark = pytest.mark.server

SERVED = {
    "diabetes-mlp",
    "diabetes-mlp-int8",
    "diabetes-mlp-simulated-accelerator",
    "averaged_ensemble",
}
if onnxruntime_available():  # the edge extra: the ONNX variants are served too
    SERVED |= set(ONNX_NAMES)


def heldout_rows(n: int = 8) -> list[list[float]]:
    rows, _ = load_heldout(load_artifact("diabetes-mlp"))
    return rows[:n]


def test_load_registry_none_is_the_real_models_registry_and_the_core_default_is_unchanged():
    from lesson.core.model import default_registry
    from lesson.servers.backend import DEFAULT_SERVER_REGISTRY, load_registry

    registry = load_registry(None)
    assert registry.default_name == "diabetes-mlp"
    assert {m.name for m in registry.list()} == SERVED
    assert registry.get().metadata().platform == "python-numpy"
    assert load_registry("").default_name == "diabetes-mlp"
    assert DEFAULT_SERVER_REGISTRY == "lesson.models.mlp_numpy:serving_registry"
    core = default_registry()
    assert core.default_name == "averaged_ensemble" and [m.name for m in core.list()] == [
        "averaged_ensemble"
    ]


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_default_server_answers_with_the_mlps_predictions(kind, default_rest, default_grpc):
    server = default_rest if kind == "rest" else default_grpc
    client = RestClient(server.url) if kind == "rest" else GrpcClient(server.url)
    try:
        rows = heldout_rows()
        expected = load_default_mlp().predict(rows)  # pure Python, the browser's path
        assert client.default_model() == "diabetes-mlp"
        response = client.predict({"instances": rows})  # no model named: the server's default
        assert response["metadata"]["model"] == "diabetes-mlp"
        assert response["predictions"] == pytest.approx(expected, abs=1e-6)
        assert len(set(round(p, 3) for p in expected)) == len(rows)  # real, distinct predictions
        v2 = client.infer(rows)["outputs"][0]["data"]
        assert v2 == pytest.approx(expected, abs=1e-6)
        assert {m["name"] for m in client.repository_index()} == SERVED
        assert client.repository_index()[0]["name"] == "diabetes-mlp"  # the default first
    finally:
        client.close()


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_the_toy_and_the_other_models_are_reachable_by_name(kind, default_rest, default_grpc):
    import lesson

    server = default_rest if kind == "rest" else default_grpc
    client = RestClient(server.url) if kind == "rest" else GrpcClient(server.url)
    try:
        toy = client.predict({"instances": [0.2, 0.4, 0.6]}, model="averaged_ensemble")
        assert toy["predictions"] == lesson.averaged_ensembled_model([0.2, 0.4, 0.6]) == [0.42]
        rows = heldout_rows(4)
        expected = load_default_mlp().predict(rows)
        accel = client.predict({"instances": rows}, model="diabetes-mlp-simulated-accelerator")
        assert accel["predictions"] == pytest.approx(expected, abs=1e-6)
        int8 = client.predict({"instances": rows}, model="diabetes-mlp-int8")["predictions"]
        assert int8 == pytest.approx(expected, rel=0.05) and int8 != pytest.approx(
            expected, abs=1e-9
        )
    finally:
        client.close()


def test_loadtest_sends_as_many_features_as_the_default_model_expects(default_rest, default_grpc):
    from lesson.loadtest.wire import model_width

    assert model_width(default_rest.url) == model_width(default_grpc.url) == 10
    assert model_width(default_rest.url, "averaged_ensemble") is None  # any width
    for url in (default_rest.url, default_grpc.url):
        report = loadtest_json(url, concurrency=2, requests=100)
        assert report["features"] == 10 and report["successes"] == 100 and report["errors"] == {}, (
            report
        )


def test_grpc_model_metadata_of_the_mlp(default_grpc):
    client = GrpcClient(default_grpc.url)
    try:
        meta = client.model_metadata()
    finally:
        client.close()
    assert meta["name"] == "diabetes-mlp" and meta["platform"] == "python-numpy"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 10]}]
    assert meta["outputs"][0]["name"] == "disease_progression"
