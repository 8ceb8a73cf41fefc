"""PredictionService: validate -> predict -> metadata, one code path."""

from __future__ import annotations

import math

import pytest

from lesson.core.model import (
    AveragedEnsembleModel,
    FunctionModel,
    ModelNotFoundError,
    ModelRegistry,
)
from lesson.core.schema import Limits, RequestTooLargeError, ValidationError
from lesson.core.service import ModelOutputError, PredictionService


def test_predict_builds_the_v1_response():
    out = PredictionService().predict(
        {"instances": [0.2, 0.4, 0.6]}, transport="REST", extra_metadata={"framework": "FastAPI"}
    )
    assert out["predictions"] == [0.42]
    meta = out["metadata"]
    assert list(meta)[:4] == ["transport", "model", "model_version", "latency_ms"]
    assert meta["transport"] == "REST" and meta["framework"] == "FastAPI"
    assert meta["model"] == "averaged_ensemble" and meta["model_version"] == "1"
    assert isinstance(meta["latency_ms"], float) and 0 <= meta["latency_ms"] < 1000


def test_extra_metadata_cannot_override_the_core_keys():
    out = PredictionService().predict(
        {"instances": [1.0]}, extra_metadata={"transport": "fake", "model": "x", "k": 1}
    )
    assert out["metadata"]["transport"] == "in-process"
    assert out["metadata"]["model"] == "averaged_ensemble"
    assert out["metadata"]["k"] == 1


def test_batch_rows_give_one_prediction_each():
    out = PredictionService().predict({"instances": [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]})
    assert out["predictions"] == [0.1, 0.9, 0.5]


def test_model_and_version_selection():
    registry = ModelRegistry(
        [AveragedEnsembleModel(), FunctionModel(lambda r: [sum(r)], name="sum", version="2")]
    )
    service = PredictionService(registry)
    out = service.predict({"instances": [1, 2]}, model="sum")
    assert out["predictions"] == [3.0]
    assert out["metadata"]["model"] == "sum" and out["metadata"]["model_version"] == "2"
    with pytest.raises(ModelNotFoundError, match="known models"):
        service.predict({"instances": [1]}, model="nope")
    with pytest.raises(ModelNotFoundError):
        service.predict({"instances": [1]}, model="sum", version="1")


def test_validation_errors_propagate_typed():
    service = PredictionService(limits=Limits(max_instances=2))
    with pytest.raises(ValidationError, match="body.instances"):
        service.predict({})
    with pytest.raises(RequestTooLargeError):
        service.predict({"instances": [[1], [2], [3]]})


def test_transform_rows_runs_after_validation():
    seen = []

    def transform(rows):
        seen.append(rows)
        return [[v * 10 for v in row] for row in rows]

    out = PredictionService().predict({"instances": [1, 2]}, transform_rows=transform)
    assert seen == [[[1.0, 2.0]]]
    assert out["predictions"] == [round(15 * 0.8 + 0.1, 4)]


def test_predict_rows_returns_floats_and_the_model():
    predictions, model = PredictionService().predict_rows([[0.2, 0.4, 0.6]])
    assert predictions == [0.42] and model.name == "averaged_ensemble"


def test_for_model_accepts_a_plain_function():
    service = PredictionService.for_model(lambda row: [row[0] * 2])
    assert service.predict({"instances": [[1], [2]]})["predictions"] == [2.0, 4.0]


class _Broken:
    name, version = "broken", "1"
    one_output_per_row = True

    def __init__(self, output):
        self.output = output

    def predict(self, rows):
        return self.output

    def metadata(self):  # pragma: no cover - not used
        raise NotImplementedError


@pytest.mark.parametrize(
    "output, why",
    [
        (None, "expected a list"),
        (["x"], "output 0 is str"),
        ([True], "output 0 is bool"),
        ([math.nan], "finite"),
        ([1.0, 2.0], "returned 2 outputs for 1 rows"),
    ],
)
def test_model_output_is_checked(output, why):
    service = PredictionService(ModelRegistry([_Broken(output)]))
    with pytest.raises(ModelOutputError, match=why):
        service.predict({"instances": [1.0]})


def test_model_exceptions_propagate():
    def boom(row):
        raise ZeroDivisionError("bad model")

    with pytest.raises(ZeroDivisionError):
        PredictionService.for_model(boom).predict({"instances": [1]})
