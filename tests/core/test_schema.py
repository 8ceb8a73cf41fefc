"""Schema: the V1 request parser, its typed errors, and the response check."""

from __future__ import annotations

import json
import math

import pytest

from lesson.core.schema import (
    DEFAULT_LIMITS,
    Limits,
    PredictionResponse,
    RequestTooLargeError,
    V1Request,
    ValidationError,
    check_body_size,
    ensure_response_schema,
    parse_v1_request,
)


def error_of(payload, limits=DEFAULT_LIMITS, cls=ValidationError):
    with pytest.raises(cls) as info:
        parse_v1_request(payload, limits)
    return info.value


def test_flat_instances_are_one_row():
    request = parse_v1_request({"instances": [0.2, 0.4, 0.6]})
    assert request == V1Request(rows=[[0.2, 0.4, 0.6]], flat=True)


def test_rows_are_a_batch_and_ints_become_floats():
    request = parse_v1_request({"instances": [[1, 2], [3.5, -4]]})
    assert request.rows == [[1.0, 2.0], [3.5, -4.0]]
    assert request.flat is False
    assert all(isinstance(v, float) for row in request.rows for v in row)


def test_extra_fields_are_ignored_like_fastapi():
    assert parse_v1_request({"instances": [1], "parameters": {"x": 1}}).rows == [[1.0]]


def test_json_text_and_bytes_are_parsed():
    assert parse_v1_request(json.dumps({"instances": [1, 2]})).rows == [[1.0, 2.0]]
    assert parse_v1_request(b'{"instances": [[3]]}').rows == [[3.0]]


def test_invalid_json():
    err = error_of(b"{not json")
    assert err.errors[0]["type"] == "json_invalid"
    assert err.errors[0]["loc"] == ["body"]


@pytest.mark.parametrize("payload", [[1, 2], "[1]", 3, None])
def test_payload_must_be_an_object(payload):
    err = error_of(payload)
    assert err.errors[0]["type"] == "type_error"
    assert err.errors[0]["loc"] == ["body"]


def test_missing_instances():
    err = error_of({"inputs": [1]})
    assert err.errors == [
        {"loc": ["body", "instances"], "msg": "Field required", "type": "missing"}
    ]
    assert "body.instances" in str(err) and "missing" in str(err)
    assert err.field == "body.instances"


@pytest.mark.parametrize("value", [3, "0.1,0.2", {"a": 1}, None])
def test_instances_wrong_type(value):
    err = error_of({"instances": value})
    assert err.errors[0]["loc"] == ["body", "instances"]
    assert err.errors[0]["type"] == "type_error"


def test_empty_instances():
    err = error_of({"instances": []})
    assert err.errors[0]["type"] == "too_short"


def test_empty_row():
    err = error_of({"instances": [[1.0], []]})
    assert err.errors[0] == {
        "loc": ["body", "instances", 1],
        "msg": "List should have at least 1 item",
        "type": "too_short",
    }


@pytest.mark.parametrize("bad", [True, False])
def test_bools_are_not_numbers(bad):
    err = error_of({"instances": [0.1, bad]})
    assert err.errors[0]["loc"] == ["body", "instances", 1]
    assert err.errors[0]["type"] == "type_error"
    assert "bool" in err.errors[0]["msg"]


@pytest.mark.parametrize("bad", ["0.1", None, [1], {"x": 1}])
def test_non_numbers_in_a_row(bad):
    err = error_of({"instances": [[0.1, 0.2], [0.3, bad]]})
    assert err.errors[0]["loc"] == ["body", "instances", 1, 1]
    assert err.errors[0]["type"] == "type_error"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 10**400])
def test_non_finite_numbers(bad):
    err = error_of({"instances": [[bad]]})
    assert err.errors[0] == {
        "loc": ["body", "instances", 0, 0],
        "msg": err.errors[0]["msg"],
        "type": "finite_number",
    }


def test_ragged_rows():
    err = error_of({"instances": [[1, 2, 3], [1, 2]]})
    assert err.errors[0]["type"] == "ragged"
    assert err.errors[0]["loc"] == ["body", "instances", 1]
    assert "3" in err.errors[0]["msg"] and "2" in err.errors[0]["msg"]


def test_mixed_rows_and_numbers():
    err = error_of({"instances": [[1, 2], 3]})
    assert err.errors[0]["loc"] == ["body", "instances", 1]
    assert err.errors[0]["type"] == "type_error"


def test_all_errors_are_listed_and_message_is_capped():
    err = error_of({"instances": [[1, "a"], [None, 2], [True, math.nan]]})
    assert [e["loc"] for e in err.errors] == [
        ["body", "instances", 0, 1],
        ["body", "instances", 1, 0],
        ["body", "instances", 2, 0],
        ["body", "instances", 2, 1],
    ]
    assert "and 1 more" in str(err)


def test_error_count_is_bounded():
    err = error_of({"instances": [["x"] * 200] * 100}, Limits(max_instances=1000, max_features=500))
    assert len(err.errors) <= 20


def test_too_many_features_flat():
    err = error_of({"instances": [0.0] * 257}, cls=RequestTooLargeError)
    assert err.errors[0]["type"] == "too_long"
    assert "256" in str(err)


def test_too_many_features_in_a_row():
    err = error_of(
        {"instances": [[0.0], [0.0] * 300]}, Limits(max_features=10), cls=RequestTooLargeError
    )
    assert err.errors[0]["loc"] == ["body", "instances", 1]


def test_too_many_instances():
    err = error_of({"instances": [[0.0]] * 11}, Limits(max_instances=10), cls=RequestTooLargeError)
    assert err.errors[0]["loc"] == ["body", "instances"]
    assert isinstance(err, ValidationError) and isinstance(err, ValueError)


def test_size_checks_happen_before_values_are_read():
    # an oversized request full of junk is rejected for its size, not its content
    err = error_of({"instances": [["junk"]] * 2000}, cls=RequestTooLargeError)
    assert err.errors[0]["type"] == "too_long"


def test_limits_are_configurable_and_exact():
    limits = Limits(max_instances=2, max_features=3)
    assert parse_v1_request({"instances": [[1, 2, 3], [4, 5, 6]]}, limits).rows[1] == [
        4.0,
        5.0,
        6.0,
    ]
    error_of({"instances": [1, 2, 3, 4]}, limits, cls=RequestTooLargeError)


def test_body_size_bound():
    with pytest.raises(RequestTooLargeError):
        check_body_size(2_000_000)
    check_body_size(DEFAULT_LIMITS.max_body_bytes)
    body = json.dumps({"instances": [1.0] * 10}).encode()
    with pytest.raises(RequestTooLargeError):
        parse_v1_request(body, Limits(max_body_bytes=10))


@pytest.mark.parametrize(
    "kwargs",
    [{"max_instances": 0}, {"max_features": -1}, {"max_body_bytes": True}, {"max_instances": 1.5}],
)
def test_bad_limits(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Limits(**kwargs)


def test_validation_error_helpers():
    err = error_of({"instances": [[1, "a"]]})
    moved = err.with_loc_prefix("batches", 3)
    assert type(moved) is ValidationError
    assert moved.errors[0]["loc"] == ["batches", 3, "body", "instances", 0, 1]
    assert err.to_dict() == {"detail": err.errors}
    with pytest.raises(ValueError):
        ValidationError([])


def test_prediction_response_to_dict_copies():
    response = PredictionResponse([0.5], {"transport": "REST"})
    out = response.to_dict()
    assert out == {"predictions": [0.5], "metadata": {"transport": "REST"}}
    out["predictions"].append(1.0)
    assert response.predictions == [0.5]
    assert PredictionResponse([1.0]).metadata == {}


def test_ensure_response_schema_accepts_a_valid_response():
    ensure_response_schema({"predictions": [0.1, 2], "metadata": {}})
    ensure_response_schema(PredictionResponse([0.1], {"a": 1}).to_dict())


@pytest.mark.parametrize(
    "payload, why",
    [
        ({"metadata": {}}, "missing 'predictions'"),
        ({"predictions": 0.4, "metadata": {}}, "should be a list"),
        ({"predictions": (0.4,), "metadata": {}}, "should be a list"),
        ({"predictions": ["0.4"], "metadata": {}}, r"predictions\[0\] should be a number"),
        ({"predictions": [0.1, None], "metadata": {}}, r"predictions\[1\]"),
        ({"predictions": [True], "metadata": {}}, "bool"),
        ({"predictions": [math.nan], "metadata": {}}, "finite"),
        ({"predictions": [10**400], "metadata": {}}, "finite"),
        ({"predictions": [0.4], "metadata": "REST"}, "'metadata' should be a dict"),
        ({"predictions": [0.4]}, "'metadata' should be a dict"),
        ([0.4], "should be a dict"),
    ],
)
def test_ensure_response_schema_rejects(payload, why):
    with pytest.raises(AssertionError, match=why):
        ensure_response_schema(payload)
