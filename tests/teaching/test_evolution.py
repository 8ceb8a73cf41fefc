"""Schema evolution: contracts, versioned models, and the real REST route serving both."""

from __future__ import annotations

import json

import pytest

from lesson.core.model import ModelNotFoundError
from lesson.core.schema import Limits, RequestTooLargeError, ValidationError
from lesson.teaching.evolution import (
    CONTRACT_V1,
    CONTRACT_V2,
    CONTRACT_V3_BREAKING,
    Field,
    RequestContract,
    VersionedService,
    http_status,
    rollout_registry,
    rollout_service,
)

ROW = [59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0]
OLD_BODY = {"instances": [ROW]}
NEW_BODY = {"instances": [ROW], "request_id": "order-17"}


def _locs(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in exc.errors]


def test_registry_holds_two_real_versions_that_answer_differently():
    registry = rollout_registry()
    assert [(m.name, m.version) for m in registry.list()] == [
        ("diabetes-mlp", "1"),
        ("diabetes-mlp", "2"),
    ]
    v1, v2 = registry.get("diabetes-mlp", "1"), registry.get("diabetes-mlp", "2")
    a, b = v1.predict([ROW])[0], v2.predict([ROW])[0]
    assert a != b and abs(a - b) < 5.0  # int8 weights: close, not equal
    assert registry.get("diabetes-mlp").version == "2"  # no version: the latest


def test_old_client_works_on_both_versions_and_default_routing_goes_to_latest():
    service = rollout_service()
    default = service.predict(OLD_BODY)
    assert (
        default["metadata"]["model_version"] == "2"
        and default["metadata"]["contract_version"] == "2"
    )
    pinned = service.predict(OLD_BODY, version="1")
    assert (
        pinned["metadata"]["model_version"] == "1" and pinned["metadata"]["contract_version"] == "1"
    )
    assert pinned["predictions"] == service.registry.get("diabetes-mlp", "1").predict([ROW])
    assert "request_id" not in default["metadata"]


def test_new_field_is_echoed_by_v2_and_refused_by_strict_v1_naming_it():
    service = rollout_service()
    reply = service.predict(NEW_BODY)
    assert reply["metadata"]["request_id"] == "order-17"
    with pytest.raises(ValidationError) as info:
        service.predict(NEW_BODY, version="1")
    assert (
        _locs(info.value) == ["body.request_id"]
        and info.value.errors[0]["type"] == "extra_forbidden"
    )
    assert http_status(info.value) == 422


@pytest.mark.parametrize(
    "value,kind",
    [(17, "type_error"), (True, "type_error"), ("x" * 65, "too_long"), (None, "type_error")],
)
def test_bad_new_field_values_are_refused_naming_the_field(value, kind):
    with pytest.raises(ValidationError) as info:
        CONTRACT_V2.parse({"instances": [ROW], "request_id": value})
    assert _locs(info.value) == ["body.request_id"] and info.value.errors[0]["type"] == kind


def test_breaking_contract_refuses_old_clients_and_is_flagged_before_shipping():
    with pytest.raises(ValidationError) as info:
        CONTRACT_V3_BREAKING.parse(OLD_BODY)
    assert _locs(info.value) == ["body.request_id"] and info.value.errors[0]["type"] == "missing"
    assert CONTRACT_V2.is_backward_compatible_with(CONTRACT_V1)
    changes = CONTRACT_V3_BREAKING.changes_from(CONTRACT_V2)
    assert [str(c) for c in changes] == ["BREAKING: request_id: made required"]


def test_changes_from_flags_each_kind_of_break():
    base = RequestContract("a", (Field("x", "string", max_length=10), Field("y", "number")))
    assert (
        RequestContract("b", (Field("x", "number"), Field("y", "number")))
        .changes_from(base)[0]
        .what
        == "type string -> number"
    )
    assert (
        RequestContract("b", (Field("x", "string", max_length=5), Field("y", "number")))
        .changes_from(base)[0]
        .breaking
    )
    removed = RequestContract("b", (Field("x", "string", max_length=10),)).changes_from(base)
    assert [(c.field, c.what, c.breaking) for c in removed] == [("y", "removed", True)]
    tolerant = RequestContract("b", (Field("x", "string", max_length=10),), unknown="ignore")
    assert tolerant.is_backward_compatible_with(base)
    strict_again = RequestContract("c", (Field("x", "string", max_length=10),)).changes_from(
        tolerant
    )
    assert any(c.field == "*" and c.breaking for c in strict_again)


def test_tolerant_reader_drops_unknown_fields_silently():
    tolerant = RequestContract("1", unknown="ignore")
    parsed = tolerant.parse({"instances": [ROW], "threshold": 0.7})
    assert parsed.fields == {} and parsed.rows == [ROW]


def test_all_problems_are_reported_together_and_json_text_is_accepted():
    with pytest.raises(ValidationError) as info:
        CONTRACT_V2.parse({"instances": [[1.0, "x"]], "request_id": 3, "extra": 1})
    assert set(_locs(info.value)) == {"body.instances.0.1", "body.request_id", "body.extra"}
    assert CONTRACT_V2.parse(json.dumps(NEW_BODY).encode()).fields == {"request_id": "order-17"}
    with pytest.raises(ValidationError, match="json_invalid"):
        CONTRACT_V2.parse(b"{not json")
    with pytest.raises(RequestTooLargeError):
        CONTRACT_V2.parse(b"x" * 200, Limits(max_body_bytes=100))


def test_unknown_version_is_a_404_naming_the_known_versions():
    with pytest.raises(ModelNotFoundError, match=r"versions 1, 2") as info:
        rollout_service().predict(OLD_BODY, version="3")
    assert http_status(info.value) == 404


def test_field_declarations_are_checked():
    with pytest.raises(ValueError, match="kind"):
        Field("x", "integer")
    with pytest.raises(ValueError, match="instances"):
        Field("instances")
    with pytest.raises(ValueError, match="unknown"):
        RequestContract("1", unknown="maybe")


def test_versioned_service_uses_default_contract_for_unlisted_versions():
    service = VersionedService(rollout_registry(), {"2": CONTRACT_V2})
    assert service.predict(OLD_BODY, version="1")["metadata"]["contract_version"] == "1"


def test_real_rest_server_serves_versions_and_contracts_over_loopback():
    pytest.importorskip("uvicorn")
    from lesson.servers.threaded import ThreadedRestServer
    from lesson.teaching.rollout import RolloutClient

    with ThreadedRestServer(rollout_service()) as server:
        assert server.url.startswith("http://127.0.0.1:")
        client = RolloutClient(server.url)
        default = client.predict(OLD_BODY)
        assert default.ok and default.body["metadata"]["model_version"] == "2"
        assert default.body["metadata"]["transport"] == "rest"
        pinned = client.predict(OLD_BODY, version="1")
        assert pinned.status == 200 and pinned.body["metadata"]["model_version"] == "1"
        echoed = client.predict(NEW_BODY, version="2")
        assert echoed.body["metadata"]["request_id"] == "order-17"
        refused = client.predict(NEW_BODY, version="1")
        assert refused.status == 422 and "body.request_id" in refused.body["error"]
        assert refused.body["detail"][0]["type"] == "extra_forbidden"
        missing = client.predict(OLD_BODY, version="9")
        assert missing.status == 404 and "versions 1, 2" in missing.body["error"]
        in_process = RolloutClient(service=rollout_service())
        for body, version in ((OLD_BODY, None), (OLD_BODY, "1"), (NEW_BODY, "1"), (OLD_BODY, "9")):
            over_http, local = (
                client.predict(body, version=version),
                in_process.predict(body, version=version),
            )
            assert over_http.status == local.status
            if over_http.ok:
                assert over_http.body["predictions"] == pytest.approx(local.body["predictions"])
    assert not server._thread.is_alive()


def test_rollout_client_needs_a_target():
    from lesson.teaching.rollout import RolloutClient

    with pytest.raises(ValueError, match="url"):
        RolloutClient()
    assert (
        RolloutClient(service=rollout_service()).route("2")
        == "/v1/models/diabetes-mlp/versions/2:predict"
    )


def test_connect_over_http_and_in_process_explain_the_same_outcomes():
    pytest.importorskip("uvicorn")
    from lesson.teaching.rollout import RolloutClient

    with RolloutClient.connect(rollout_service(), over_http=True) as remote:
        assert "real REST server" in remote.where and remote.server is not None
        remote_lines = [remote.explain("x", NEW_BODY, version=v) for v in (None, "1", "7")]
    assert not remote.server._thread.is_alive()
    local = RolloutClient.connect(rollout_service(), over_http=False)
    assert "in-process" in local.where and local.server is None
    local_lines = [local.explain("x", NEW_BODY, version=v) for v in (None, "1", "7")]
    for remote_line, local_line in zip(remote_lines, local_lines):
        assert (
            remote_line.split("->")[1].split()[0] == local_line.split("->")[1].split()[0]
        )  # same status
    assert "200 prediction" in local_lines[0] and "request_id echoed: 'order-17'" in local_lines[0]
    assert "422 body.request_id" in local_lines[1] and "404" in local_lines[2]
    local.close()  # nothing to stop: no error


def test_number_fields_refuse_bools_and_non_finite_values():
    contract = RequestContract("9", (Field("threshold", "number"),))
    assert contract.parse({"instances": [ROW], "threshold": 0.5}).fields == {"threshold": 0.5}
    for value, kind in (
        (True, "type_error"),
        (float("nan"), "finite_number"),
        (float("inf"), "finite_number"),
    ):
        with pytest.raises(ValidationError) as info:
            contract.parse({"instances": [ROW], "threshold": value})
        assert _locs(info.value) == ["body.threshold"] and info.value.errors[0]["type"] == kind
    flag = RequestContract("9", (Field("explain", "boolean"),))
    assert flag.parse({"instances": [ROW], "explain": True}).fields == {"explain": True}
    with pytest.raises(ValidationError, match="body.explain"):
        flag.parse({"instances": [ROW], "explain": 1})
