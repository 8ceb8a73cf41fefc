"""The original lesson's adapters: same names, same behaviour, one code path."""

from __future__ import annotations

import pytest

import lesson
from lesson import (
    PredictionService,
    ValidationError,
    averaged_ensembled_model,
    batch_scoring_runner,
    edge_inference_adapter,
    ensure_response_schema,
    fastapi_rest_adapter,
    grpc_streaming_adapter,
)
from lesson.core.model import AveragedEnsembleModel, FunctionModel
from lesson.original_api import IN_PROCESS_FRAMEWORK, round_rows

ORIGINAL_NAMES = [
    "fastapi_rest_adapter",
    "grpc_streaming_adapter",
    "batch_scoring_runner",
    "edge_inference_adapter",
    "ensure_response_schema",
    "PredictionResponse",
    "LoadTestResult",
    "run_synthetic_load_test",
    "averaged_ensembled_model",
    "describe_serving_landscape",
]


@pytest.mark.parametrize("name", ORIGINAL_NAMES)
def test_original_names_are_importable_from_lesson(name):
    assert name in lesson.__all__
    assert getattr(lesson, name) is not None


def test_lesson_exports_the_original_names_and_few_others():
    import inspect

    from lesson import original_api

    # the ten, and the names a learner reaches for first
    assert len(lesson.__all__) <= 21 and len(set(lesson.__all__)) == len(lesson.__all__)
    assert set(ORIGINAL_NAMES) == set(original_api.__all__) <= set(lesson.__all__)
    # nothing importable from `lesson` beyond its __all__ (submodules aside)
    public = {
        n for n, v in vars(lesson).items() if not n.startswith("_") and not inspect.ismodule(v)
    }
    assert public == set(lesson.__all__)


@pytest.mark.parametrize(
    "model", [averaged_ensembled_model, AveragedEnsembleModel()], ids=["function", "Model"]
)
def test_rest_adapter(model):
    predict = fastapi_rest_adapter(model)
    response = predict({"instances": [0.2, 0.4, 0.6]})
    ensure_response_schema(response)
    assert response["predictions"] == [0.42]
    meta = response["metadata"]
    # no FastAPI runs in-process (nor in the browser): the metadata must not say it did
    assert meta["transport"] == "REST" and meta["framework"] == IN_PROCESS_FRAMEWORK
    assert "fastapi" not in meta["framework"].lower()
    assert meta["model"] == "averaged_ensemble" and meta["model_version"] == "1"
    assert "latency_ms" in meta


def test_rest_adapter_rejects_bad_payloads_with_the_field():
    predict = fastapi_rest_adapter(averaged_ensembled_model)
    with pytest.raises(ValidationError, match=r"body\.instances\.1"):
        predict({"instances": [0.1, "x"]})


def test_grpc_streaming_adapter_one_response_per_payload():
    handler = grpc_streaming_adapter(averaged_ensembled_model)
    stream = handler(
        iter([{"instances": [0.0]}, {"instances": [1.0]}, {"instances": [[0.5], [0.25]]}])
    )
    responses = list(stream)
    assert [r["predictions"] for r in responses] == [[0.1], [0.9], [0.5, 0.3]]
    for r in responses:
        ensure_response_schema(r)
        assert r["metadata"]["transport"] == "gRPC" and r["metadata"]["streaming"] is True


def test_grpc_streaming_adapter_is_lazy_and_locates_a_bad_message():
    handler = grpc_streaming_adapter(averaged_ensembled_model)
    pulled = []

    def requests():
        for payload in ({"instances": [1.0]}, {"instances": []}, {"instances": [2.0]}):
            pulled.append(payload)
            yield payload

    stream = handler(requests())
    assert next(stream)["predictions"] == [0.9]
    assert len(pulled) == 1  # nothing read ahead
    with pytest.raises(ValidationError) as info:
        next(stream)
    assert info.value.errors[0]["loc"] == ["stream", 1, "body", "instances"]


def test_batch_scoring_runner_flat_batches():
    batches = [[0.2, 0.4, 0.6], [1.0], [0.0, 0.5]]
    responses = batch_scoring_runner(averaged_ensembled_model, batches)
    assert [r["predictions"] for r in responses] == [[0.42], [0.9], [0.3]]
    assert [r["metadata"]["batch_size"] for r in responses] == [3, 1, 2]
    assert all(r["metadata"]["transport"] == "batch" for r in responses)


def test_batch_scoring_runner_row_batches_and_generators():
    responses = batch_scoring_runner(
        AveragedEnsembleModel(), (b for b in [[[0.0], [1.0]], [[0.5]]])
    )
    assert [r["predictions"] for r in responses] == [[0.1, 0.9], [0.5]]
    assert [r["metadata"]["batch_size"] for r in responses] == [2, 1]


def test_batch_scoring_runner_names_the_bad_batch():
    with pytest.raises(ValidationError) as info:
        batch_scoring_runner(averaged_ensembled_model, [[1.0], [float("nan")]])
    assert info.value.errors[0]["loc"] == ["batches", 1, "body", "instances", 0]
    assert info.value.errors[0]["type"] == "finite_number"


def test_edge_adapter_quantises_inputs():
    seen = []

    def spy(row):
        seen.append(row)
        return averaged_ensembled_model(row)

    run = edge_inference_adapter(spy)
    response = run([0.12345, 0.6789])
    assert seen == [[0.123, 0.679]]
    assert response["predictions"] == averaged_ensembled_model([0.123, 0.679])
    assert response["metadata"]["transport"] == "edge" and response["metadata"]["quantised"] is True
    assert response["metadata"]["input_decimals"] == 3


def test_edge_adapter_without_quantisation_and_with_payloads():
    seen = []
    run = edge_inference_adapter(lambda row: seen.append(row) or [0.0], quantise=False)
    response = run({"instances": [0.12345]})
    assert seen == [[0.12345]]
    assert (
        response["metadata"]["quantised"] is False
        and response["metadata"]["input_decimals"] is None
    )
    assert run([[1.0], [2.0]])["predictions"] == [0.0, 0.0]


def test_edge_adapter_validates_before_quantising():
    run = edge_inference_adapter(averaged_ensembled_model)
    with pytest.raises(ValidationError, match="type_error"):
        run(["0.5"])


def test_round_rows():
    assert round_rows([[0.12349, 1.0005]]) == [[0.123, 1.0]]


def test_all_adapters_agree_on_every_input():
    payloads = [[0.1, 0.2, 0.3], [5.0, -5.0], [0.3333333]]
    rest = fastapi_rest_adapter(averaged_ensembled_model)
    grpc = grpc_streaming_adapter(averaged_ensembled_model)
    edge = edge_inference_adapter(averaged_ensembled_model, quantise=False)
    expected = [averaged_ensembled_model(p) for p in payloads]
    assert [rest({"instances": p})["predictions"] for p in payloads] == expected
    assert [r["predictions"] for r in grpc({"instances": p} for p in payloads)] == expected
    assert [
        r["predictions"] for r in batch_scoring_runner(averaged_ensembled_model, payloads)
    ] == expected
    assert [edge(p)["predictions"] for p in payloads] == expected


def test_adapters_share_a_service_when_given_one():
    service = PredictionService()
    service.registry.register(FunctionModel(lambda r: [42.0], name="answer"), default=True)
    assert fastapi_rest_adapter(None, service=service)({"instances": [1]})["predictions"] == [42.0]
    assert batch_scoring_runner(None, [[1]], service=service)[0]["metadata"]["model"] == "answer"
