"""The exercises of notebook 01-rest (REST): validation, status codes and a contract that evolves.

Each exercise is one :class:`Exercise` record built with keyword fields; its checker and its
reference solution sit just above it. :mod:`lesson.teaching.exercises` collects the records.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from lesson.core.schema import ValidationError, parse_v1_request
from lesson.teaching.evolution import Field, RequestContract
from lesson.teaching.exercises._record import Exercise, ExerciseFailure, expect, near

NOTEBOOK = "01-rest"


def _bad_threshold_rejected(fn: Callable[[Any], Any], value: Any) -> None:
    try:
        fn({"instances": [[0.1, 0.2]], "threshold": value})
    except ValidationError as err:
        locs = [list(e.get("loc", [])) for e in err.errors]
        expect(
            any("threshold" in loc for loc in locs),
            f"threshold={value!r} raised ValidationError but its loc {locs} does not name 'threshold'",
        )
        return
    except Exception as err:  # the learner's code may raise anything
        raise ExerciseFailure(
            f"threshold={value!r} raised {type(err).__name__}, expected ValidationError"
        ) from None
    raise ExerciseFailure(f"threshold={value!r} was accepted; it must be rejected")


def _contract_error_fields(contract: Any, body: dict[str, Any]) -> list[str] | None:
    """The fields a contract's error names for ``body`` (None: the body was accepted)."""
    try:
        contract.parse(body)
    except ValidationError as err:
        return [".".join(str(p) for p in e.get("loc", [])) for e in err.errors]
    return None


# ---- validate_threshold ------------------------------------------------------------------------


def validate_threshold(payload: Any) -> tuple[list[list[float]], float]:
    """Parse a V1 request with an optional ``threshold`` in [0, 1] (default 0.5)."""
    request = parse_v1_request(payload)
    threshold = payload.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValidationError(
            [
                {
                    "loc": ["body", "threshold"],
                    "msg": "Input should be a number",
                    "type": "type_error",
                }
            ]
        )
    if not math.isfinite(threshold) or not 0 <= threshold <= 1:
        raise ValidationError(
            [
                {
                    "loc": ["body", "threshold"],
                    "msg": "Input should be a finite number in [0, 1]",
                    "type": "value_error",
                }
            ]
        )
    return request.rows, float(threshold)


def check_validate_threshold(fn: Callable[[Any], Any]) -> str:
    rows, threshold = fn({"instances": [[0.1, 0.2]], "threshold": 0.7})
    expect(
        rows == [[0.1, 0.2]] and near(threshold, 0.7),
        f"valid request parsed as {(rows, threshold)!r}",
    )
    rows, threshold = fn({"instances": [0.3, 0.4]})
    expect(
        near(threshold, 0.5),
        f"a request without threshold should default to 0.5, got {threshold!r}",
    )
    for value in ("high", True, -0.1, 1.5, float("nan"), None):
        _bad_threshold_rejected(fn, value)
    try:
        fn({"threshold": 0.5})
    except ValidationError:
        pass
    else:
        raise ExerciseFailure(
            "a request without 'instances' was accepted: keep the original validation"
        )
    return (
        "threshold validated (type, range, NaN, bool, None) and the original instances checks kept"
    )


VALIDATE_THRESHOLD = Exercise(
    id="validate_threshold",
    notebook=NOTEBOOK,
    title="Add validation for a new field",
    task=(
        "Write parse(payload) -> (rows, threshold): instances as before, plus an "
        "optional number 'threshold' in [0, 1] (default 0.5); reject bad values with "
        "lesson.core.schema.ValidationError."
    ),
    hint="Call lesson.core.schema.parse_v1_request first; bool is a subclass of int in Python.",
    checker=check_validate_threshold,
    solution=validate_threshold,
)


# ---- status_for_error --------------------------------------------------------------------------


def status_for_error(kind: str) -> tuple[int, str]:
    """HTTP status and gRPC status code for each kind of failure."""
    return {
        "unknown_model": (404, "NOT_FOUND"),
        "invalid_body": (422, "INVALID_ARGUMENT"),
        "too_large": (413, "RESOURCE_EXHAUSTED"),
        "overloaded": (503, "RESOURCE_EXHAUSTED"),
        "timeout": (504, "DEADLINE_EXCEEDED"),
    }[kind]


def check_status_for_error(fn: Callable[[str], tuple[int, str]]) -> str:
    allowed = {
        "unknown_model": ({404}, {"NOT_FOUND"}),
        "invalid_body": ({400, 422}, {"INVALID_ARGUMENT"}),
        "too_large": ({413}, {"RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"}),
        "overloaded": ({503, 429}, {"RESOURCE_EXHAUSTED", "UNAVAILABLE"}),
        "timeout": ({504, 408}, {"DEADLINE_EXCEEDED"}),
    }
    for kind, (http_ok, grpc_ok) in allowed.items():
        status, code = fn(kind)
        expect(
            status in http_ok, f"{kind}: HTTP {status} is not right; think about who is at fault"
        )
        expect(str(code).upper() in grpc_ok, f"{kind}: gRPC {code} is not right for this failure")
    return "every failure maps to a status a client can act on"


STATUS_FOR_ERROR = Exercise(
    id="status_for_error",
    notebook=NOTEBOOK,
    title="Map failures to status codes",
    task=(
        "Write status_for(kind) -> (http_status, grpc_code) for unknown_model, "
        "invalid_body, too_large, overloaded, timeout."
    ),
    hint="4xx means the client must change the request; 5xx means retry later (maybe elsewhere).",
    checker=check_status_for_error,
    solution=status_for_error,
)


# ---- compatible_contract -----------------------------------------------------------------------


def compatible_contract() -> RequestContract:
    """A contract v3 that keeps every v2 body valid and adds an optional ``client`` (<= 32 chars)."""
    return RequestContract(
        "3",
        (
            Field("request_id", "string", max_length=64, echo=True),
            Field("client", "string", max_length=32),
        ),
    )


def check_compatible_contract(contract: Any) -> str:
    from lesson.teaching.evolution import CONTRACT_V2, RequestContract

    expect(
        isinstance(contract, RequestContract),
        f"return a lesson.teaching.evolution.RequestContract, got {type(contract).__name__}",
    )
    breaking = [str(c) for c in contract.changes_from(CONTRACT_V2) if c.breaking]
    expect(not breaking, f"old (v2) clients would break: {'; '.join(breaking)}")
    row = [59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0]
    for label, body in (
        ("a v1 body (instances only)", {"instances": [row]}),
        ("a v2 body with request_id", {"instances": [row], "request_id": "r-1"}),
    ):
        errors = _contract_error_fields(contract, body)
        expect(errors is None, f"{label} was refused ({errors}): old clients must keep working")
    new_body = {"instances": [row], "request_id": "r-1", "client": "mobile-app"}
    errors = _contract_error_fields(contract, new_body)
    expect(
        errors is None,
        f"a new client's body with client='mobile-app' was refused ({errors}): "
        "'client' must be an optional string",
    )
    parsed = contract.parse(new_body)
    expect(
        parsed.fields.get("client") == "mobile-app",
        f"a new client's 'client' field was not kept: fields {parsed.fields!r}",
    )
    for value, why in ((5, "a number"), ("x" * 33, "33 characters"), (None, "null")):
        errors = _contract_error_fields(contract, {"instances": [row], "client": value})
        expect(errors is not None, f"client={value!r} ({why}) was accepted; it must be refused")
        expect(
            "body.client" in errors,
            f"client={value!r} was refused but the error names {errors}, not body.client",
        )
    errors = _contract_error_fields(contract, {"instances": [row], "clinet": "typo"})
    expect(
        errors is not None and "body.clinet" in errors,
        "a misspelt field ('clinet') was accepted silently: keep rejecting unknown fields",
    )
    return "v1 and v2 bodies still pass, 'client' is optional and bounded, typos are still refused"


COMPATIBLE_CONTRACT = Exercise(
    id="compatible_contract",
    notebook=NOTEBOOK,
    title="Evolve a contract without breaking old clients",
    task=(
        "Return a lesson.teaching.evolution.RequestContract version '3' that keeps every "
        "v2 body valid and adds an optional string field 'client' of at most 32 "
        "characters."
    ),
    hint=(
        "Start from CONTRACT_V2's fields; a new field must not be required; check "
        "yourself with contract.changes_from(CONTRACT_V2)."
    ),
    checker=check_compatible_contract,
    solution=compatible_contract,
)


EXERCISES: tuple[Exercise, ...] = (
    VALIDATE_THRESHOLD,
    STATUS_FOR_ERROR,
    COMPATIBLE_CONTRACT,
)
