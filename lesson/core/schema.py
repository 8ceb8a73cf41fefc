"""The canonical V1 request and response, and their validation.

The V1 schema (kept exactly as the lesson began with it): a request is ``{"instances": [...]}`` and a
response is ``{"predictions": [float, ...], "metadata": {...}}``. ``{"instances": [0.1, 0.2]}``
(a flat feature vector) is ONE instance; ``{"instances": [[...], [...]]}`` is a batch of rows.

Validation follows FastAPI's conventions: every problem is a dict
``{"loc": ["body", "instances", 0, 2], "msg": "...", "type": "..."}`` collected in
:attr:`ValidationError.errors`, and ``str(error)`` names the field and the problem::

    >>> parse_v1_request({"instances": [0.1, "x"]})
    Traceback (most recent call last):
    lesson.core.schema.ValidationError: body.instances.1: Input should be a number, got str (type_error)

Size bounds (:class:`Limits`) are checked before any value is read, so an oversized request
costs nothing to reject.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: At most this many value errors are collected before validation stops.
MAX_REPORTED_ERRORS = 20

Loc = list[str | int]


@dataclass(frozen=True)
class Limits:
    """Explicit bounds on what a request may contain.

    Attributes:
        max_instances: rows per request.
        max_features: numbers per row.
        max_body_bytes: size of an encoded (JSON) request body.
        max_inputs: input tensors per V2 request (:mod:`lesson.core.v2`).
    """

    max_instances: int = 1024
    max_features: int = 256
    max_body_bytes: int = 1_048_576
    max_inputs: int = 8

    def __post_init__(self) -> None:
        for name in ("max_instances", "max_features", "max_body_bytes", "max_inputs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")

    @property
    def max_elements(self) -> int:
        """Numbers in one tensor: ``max_instances * max_features``."""
        return self.max_instances * self.max_features


DEFAULT_LIMITS = Limits()


def _loc_text(loc: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


class ValidationError(ValueError):
    """A request that does not match the schema.

    Attributes:
        errors: FastAPI-like dicts ``{"loc": [...], "msg": str, "type": str}``. Types:
            ``missing``, ``type_error``, ``finite_number``, ``too_short`` (empty),
            ``too_long`` (over a bound), ``ragged`` (rows of different lengths),
            ``json_invalid``.
    """

    def __init__(self, errors: list[dict[str, Any]]):
        if not errors:
            raise ValueError("ValidationError needs at least one error")
        self.errors: list[dict[str, Any]] = [dict(e, loc=list(e["loc"])) for e in errors]
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [f"{_loc_text(e['loc'])}: {e['msg']} ({e['type']})" for e in self.errors[:3]]
        more = len(self.errors) - 3
        if more > 0:
            parts.append(f"... and {more} more")
        return "; ".join(parts)

    @property
    def field(self) -> str:
        """Dotted location of the first problem, e.g. ``body.instances.0.2``."""
        return _loc_text(self.errors[0]["loc"])

    def with_loc_prefix(self, *prefix: str | int) -> ValidationError:
        """A copy of this error (same class) with ``prefix`` put before every ``loc``."""
        errors = [dict(e, loc=[*prefix, *e["loc"]]) for e in self.errors]
        return type(self)(errors)

    def to_dict(self) -> dict[str, Any]:
        """The body FastAPI would send with HTTP 422: ``{"detail": [...]}``."""
        return {"detail": [dict(e) for e in self.errors]}


class RequestTooLargeError(ValidationError):
    """A request over a size bound (maps to HTTP 413 / gRPC RESOURCE_EXHAUSTED)."""


def _error(loc: Loc, msg: str, type_: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": type_}


@dataclass(frozen=True)
class V1Request:
    """A validated V1 request.

    Attributes:
        rows: the instances as rows of floats (a flat request becomes one row).
        flat: True if the request was a flat feature vector (one instance).
    """

    rows: list[list[float]]
    flat: bool


def check_body_size(n_bytes: int, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise :class:`RequestTooLargeError` if an encoded body is over ``limits.max_body_bytes``."""
    if n_bytes > limits.max_body_bytes:
        raise RequestTooLargeError(
            [
                _error(
                    ["body"],
                    f"Body has {n_bytes} bytes, the limit is {limits.max_body_bytes}",
                    "too_long",
                )
            ]
        )


def as_number(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> float | None:
    """Convert one JSON value to a finite float, or record why not and return None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        errors.append(
            _error(loc, f"Input should be a number, got {type(value).__name__}", "type_error")
        )
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        number = math.inf
    if not math.isfinite(number):
        errors.append(
            _error(loc, f"Input should be a finite number, got {value!r}", "finite_number")
        )
        return None
    return number


def _parse_row(row: Sequence[Any], loc: Loc, errors: list[dict[str, Any]]) -> list[float]:
    if all(type(value) is float and math.isfinite(value) for value in row):
        return list(row)  # the common case (JSON floats), about 3x faster than per-value checks
    out: list[float] = []
    for j, value in enumerate(row):
        number = as_number(value, [*loc, j], errors)
        if number is not None:
            out.append(number)
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    return out


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def parse_v1_request(
    payload: Any,
    limits: Limits = DEFAULT_LIMITS,
    *,
    loc_prefix: Sequence[str | int] = ("body",),
) -> V1Request:
    """Validate a V1 request and return its rows.

    Args:
        payload: a dict ``{"instances": [...]}``, or its JSON text (str or bytes).
        limits: the size bounds to enforce.
        loc_prefix: where the payload sits, for error locations (``("body",)`` like FastAPI).

    Returns:
        The validated :class:`V1Request`.

    Raises:
        RequestTooLargeError: over ``limits`` (body bytes, instances or features).
        ValidationError: anything else wrong, every problem listed in ``.errors``.
    """
    base: Loc = list(loc_prefix)
    if isinstance(payload, (bytes, bytearray, str)):
        check_body_size(len(payload), limits)
        try:
            payload = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationError(
                [_error(base, f"JSON decode error: {exc}", "json_invalid")]
            ) from None
    if not isinstance(payload, dict):
        raise ValidationError(
            [
                _error(
                    base,
                    f"Input should be an object with 'instances', got {type(payload).__name__}",
                    "type_error",
                )
            ]
        )
    loc: Loc = [*base, "instances"]
    if "instances" not in payload:
        raise ValidationError([_error(loc, "Field required", "missing")])
    instances = payload["instances"]
    if not _is_list(instances):
        raise ValidationError(
            [_error(loc, f"Input should be a list, got {type(instances).__name__}", "type_error")]
        )
    if len(instances) == 0:
        raise ValidationError([_error(loc, "List should have at least 1 item", "too_short")])

    errors: list[dict[str, Any]] = []
    if not _is_list(instances[0]):
        # A flat feature vector is one instance.
        if len(instances) > limits.max_features:
            raise RequestTooLargeError(
                [
                    _error(
                        loc,
                        f"Instance has {len(instances)} features, the limit is {limits.max_features}",
                        "too_long",
                    )
                ]
            )
        row = _parse_row(instances, loc, errors)
        if errors:
            raise ValidationError(errors)
        return V1Request(rows=[row], flat=True)

    if len(instances) > limits.max_instances:
        raise RequestTooLargeError(
            [
                _error(
                    loc,
                    f"Request has {len(instances)} instances, the limit is {limits.max_instances}",
                    "too_long",
                )
            ]
        )
    width = len(instances[0])
    for i, row in enumerate(instances):
        if _is_list(row) and len(row) > limits.max_features:
            raise RequestTooLargeError(
                [
                    _error(
                        [*loc, i],
                        f"Instance has {len(row)} features, the limit is {limits.max_features}",
                        "too_long",
                    )
                ]
            )
    rows: list[list[float]] = []
    for i, row in enumerate(instances):
        row_loc = [*loc, i]
        if not _is_list(row):
            errors.append(
                _error(
                    row_loc,
                    f"Input should be a list of numbers, got {type(row).__name__}",
                    "type_error",
                )
            )
        elif len(row) == 0:
            errors.append(_error(row_loc, "List should have at least 1 item", "too_short"))
        elif len(row) != width:
            errors.append(
                _error(
                    row_loc,
                    f"Row has {len(row)} features but row 0 has {width}; rows must be the same length",
                    "ragged",
                )
            )
        else:
            rows.append(_parse_row(row, row_loc, errors))
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if errors:
        raise ValidationError(errors)
    return V1Request(rows=rows, flat=False)


@dataclass
class PredictionResponse:
    """A V1 response: ``{"predictions": [...], "metadata": {...}}``."""

    predictions: list[float]
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict (fresh copies of both fields)."""
        return {"predictions": list(self.predictions), "metadata": dict(self.metadata)}


def ensure_response_schema(payload: Any) -> None:
    """Check a V1 response; raise ``AssertionError`` saying what is wrong.

    Predictions must be a list of finite numbers (bools are not numbers) and ``metadata`` a
    dict. Works under ``python -O`` too (no ``assert`` statements).
    """
    if not isinstance(payload, dict):
        raise AssertionError(f"response should be a dict, got {type(payload).__name__}")
    if "predictions" not in payload:
        raise AssertionError("response is missing 'predictions'")
    predictions = payload["predictions"]
    if not isinstance(predictions, list):
        raise AssertionError(f"'predictions' should be a list, got {type(predictions).__name__}")
    for i, value in enumerate(predictions):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AssertionError(f"predictions[{i}] should be a number, got {type(value).__name__}")
        try:
            finite = math.isfinite(value)
        except OverflowError:
            finite = False
        if not finite:
            raise AssertionError(f"predictions[{i}] should be finite, got {value!r}")
    if not isinstance(payload.get("metadata"), dict):
        raise AssertionError(
            f"'metadata' should be a dict, got {type(payload.get('metadata')).__name__}"
        )
