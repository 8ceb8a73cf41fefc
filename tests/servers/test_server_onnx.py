"""The ONNX variants behind the real servers on loopback: served by name, and tritonclient works
against them unchanged (platform ``onnxruntime_onnx``, as Triton names it)."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("onnxruntime")
tritonhttp = pytest.importorskip("tritonclient.http")
tritongrpc = pytest.importorskip("tritonclient.grpc")

from lesson.clients import GrpcClient, RestClient  # noqa: E402
from lesson.core.artifacts import load_artifact, load_heldout  # noqa: E402
from lesson.models.onnx_runtime import ONNX_NAME, ONNX_NAMES, load_onnx_model  # noqa: E402

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def rows():
    return load_heldout(load_artifact(ONNX_NAME))[0][:16]


@pytest.mark.parametrize("name", ONNX_NAMES)
def test_rest_v1_v2_and_grpc_serve_each_variant_by_name(name, rows, default_rest, default_grpc):
    expected = load_onnx_model(name).predict(rows)  # the same runtime, in this process
    rest, grpc_ = RestClient(default_rest.url), GrpcClient(default_grpc.url)
    v1 = rest.predict({"instances": rows}, model=name)
    assert v1["metadata"]["model"] == name
    assert v1["predictions"] == pytest.approx(expected, rel=1e-9)
    assert rest.infer(rows, model=name)["outputs"][0]["data"] == pytest.approx(expected, rel=1e-9)
    got = grpc_.predict({"instances": rows}, model=name)["predictions"]
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("flavour", ["http", "grpc"])
def test_tritonclient_infers_against_the_onnx_model_unchanged(
    flavour, rows, default_rest, default_grpc
):
    module = tritonhttp if flavour == "http" else tritongrpc
    server = default_rest if flavour == "http" else default_grpc
    client = module.InferenceServerClient(f"127.0.0.1:{server.port}")
    try:
        meta = (
            client.get_model_metadata(ONNX_NAME)
            if flavour == "http"
            else client.get_model_metadata(ONNX_NAME, as_json=True)
        )
        assert meta["platform"] == "onnxruntime_onnx"
        (tin,), (tout,) = meta["inputs"], meta["outputs"]
        assert tin["name"] == "input" and tin["datatype"] == "FP32"
        assert [int(d) for d in tin["shape"]] == [-1, 10]
        config = (
            client.get_model_config(ONNX_NAME)
            if flavour == "http"
            else client.get_model_config(ONNX_NAME, as_json=True)["config"]
        )
        assert config["platform"] == "onnxruntime_onnx"
        assert config["input"][0]["data_type"] == "TYPE_FP32"
        X = np.asarray(rows, dtype=np.float32)
        tensor = module.InferInput(tin["name"], list(X.shape), tin["datatype"])
        tensor.set_data_from_numpy(X)
        result = client.infer(ONNX_NAME, [tensor])
        got = result.as_numpy(tout["name"])
        expected = load_onnx_model().predict(X.astype(np.float64).tolist())
        assert got.shape == (len(rows),)
        assert got.tolist() == pytest.approx(expected, rel=1e-9)
    finally:
        client.close()
