"""Server options and error mapping, without starting a server."""

from __future__ import annotations

import pytest

from lesson.core.model import ModelNotFoundError
from lesson.core.schema import RequestTooLargeError, ValidationError
from lesson.core.v2 import V2Error, V2TooLargeError
from lesson.servers.backend import InferenceBackend, ServerOptions, load_registry
from lesson.servers.errors import DrainingError, NotReadyError, OverloadedError, classify


@pytest.mark.parametrize(
    "bad", [{"max_in_flight": 0}, {"timeout_s": 0}, {"drain_grace_s": -1}, {"workers": 0}]
)
def test_options_are_bounded(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        ServerOptions(**bad)


def test_unknown_option_names_the_known_ones():
    with pytest.raises(TypeError, match="max_in_flight"):
        ServerOptions.from_dict({"max_inflight": 3})


def test_registry_spec_and_default_model():
    with pytest.raises(ValueError, match="module:attribute"):
        load_registry("no-colon")
    with pytest.raises(ModelNotFoundError, match="averaged_ensemble"):
        InferenceBackend(options=ServerOptions(model="nope"))


def test_load_shedding_counter():
    backend = InferenceBackend(options=ServerOptions(max_in_flight=2))
    assert backend.try_acquire() and backend.try_acquire()
    assert not backend.try_acquire()
    backend.release()
    assert backend.try_acquire()


def test_ready_needs_warm_up_and_turns_off_when_draining():
    backend = InferenceBackend()
    assert backend.live and not backend.ready
    with pytest.raises(NotReadyError):
        backend.check_serving()
    backend.warm_up()
    assert backend.ready
    backend.check_serving()
    backend.start_draining()
    assert not backend.ready
    with pytest.raises(DrainingError):
        backend.check_serving()


@pytest.mark.parametrize(
    "exc, http, code",
    [
        (V2Error("inputs", "x"), 400, "INVALID_ARGUMENT"),
        (V2TooLargeError("body", "x"), 413, "RESOURCE_EXHAUSTED"),
        (
            ValidationError([{"loc": ["body"], "msg": "m", "type": "missing"}]),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            RequestTooLargeError([{"loc": ["body"], "msg": "m", "type": "too_long"}]),
            413,
            "RESOURCE_EXHAUSTED",
        ),
        (ModelNotFoundError("model 'x' not found"), 404, "NOT_FOUND"),
        (OverloadedError("busy"), 503, "RESOURCE_EXHAUSTED"),
        (DrainingError("bye"), 503, "UNAVAILABLE"),
        (TimeoutError(), 504, "DEADLINE_EXCEEDED"),
        (RuntimeError("bug"), 500, "INTERNAL"),
    ],
)
def test_one_error_mapping_for_both_transports(exc, http, code):
    info = classify(exc)
    assert (info.http_status, info.grpc_code) == (http, code)
    assert info.message
    if http == 400:
        assert classify(exc, v1=True).http_status == 422


def test_batching_refuses_a_custom_service_instead_of_dropping_its_contract():
    """A VersionedService's per-version contracts would be skipped by a rebuilt batched service."""
    from lesson.servers.backend import batched_service
    from lesson.teaching.evolution import rollout_service

    service = rollout_service()
    assert batched_service(service, ServerOptions()) is service  # no batching: served as it is
    with pytest.raises(ValueError, match="VersionedService cannot be batched"):
        batched_service(service, ServerOptions(max_batch_size=8))


def test_a_predict_fn_hook_scores_through_the_services_own_request_contract():
    """`predict_fn` replaces only the scoring step: a VersionedService still reads its contract."""
    from lesson.core.model import AveragedEnsembleModel, ModelRegistry
    from lesson.teaching.evolution import CONTRACT_V2, VersionedService

    calls = []
    service = VersionedService(ModelRegistry([AveragedEnsembleModel()]), {"1": CONTRACT_V2})

    def predict_fn(rows, *, model=None, version=None):
        calls.append((rows, model, version))
        return [7.0] * len(rows), service.registry.get(model, version)

    backend = InferenceBackend(service, predict_fn=predict_fn)
    out = backend.predict_v1({"instances": [[1.0, 2.0]], "request_id": "r-1"}, None, None, "rest")
    assert out["predictions"] == [7.0] and calls == [([[1.0, 2.0]], "averaged_ensemble", "1")]
    assert out["metadata"]["contract_version"] == "2" and out["metadata"]["request_id"] == "r-1"
    with pytest.raises(ValidationError, match="extra"):
        backend.predict_v1({"instances": [[1.0]], "extra": 1}, None, None, "rest")


def test_the_event_loop_path_answers_like_the_service():
    """`predict_v1_async` (micro-batching on the REST loop) uses the service's read and respond steps."""
    import asyncio

    from lesson.core.model import AveragedEnsembleModel, ModelRegistry
    from lesson.core.service import PredictionService

    service = PredictionService(ModelRegistry([AveragedEnsembleModel()]))
    backend = InferenceBackend(service)
    payload = {"instances": [[0.2, 0.4, 0.6], [1.0, 2.0, 3.0]]}
    answers = [
        asyncio.run(backend.predict_v1_async(payload, None, None, "rest")),
        backend.predict_v1(payload, None, None, "rest"),
        service.predict(payload, transport="rest"),
    ]
    for answer in answers:
        assert answer["metadata"].pop("latency_ms") >= 0
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["metadata"] == {
        "transport": "rest",
        "model": "averaged_ensemble",
        "model_version": "1",
    }


def test_server_target_defaults_to_the_default_models_width():
    from types import SimpleNamespace

    from lesson.lab import default_model, server_target

    handle = SimpleNamespace(kind="rest", url="http://127.0.0.1:9")
    assert server_target("x", handle).n_features == default_model().n_features == 10
    assert server_target("x", handle, n_features=4).n_features == 4
