"""Defences against training/serving skew: named features and training-range checks.

A model receives a bare list of numbers. If a client sends them in a different order, or in
different units or scaling than training used, the model still answers — a confident,
plausible-looking, wrong number, with no error. Two cheap checks at the boundary catch most
of it:

- :func:`rows_from_named_features`: the client sends ``{"age": 59, "bmi": 32.1, ...}`` and
  the server builds the row in the artifact's order, refusing missing or unknown names;
- :func:`check_training_ranges`: every value must lie within the range seen in training
  (from the artifact manifest's ``feature_stats``), so unscaled or rescaled inputs stand out.

Standard library only (runs in Pyodide).

    >>> rows_from_named_features(["a", "b"], [{"b": 2, "a": 1}])
    [[1.0, 2.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lesson.core.schema import ValidationError, as_number

MAX_RECORDS = 10_000
_MAX_ERRORS = 20


def rows_from_named_features(
    feature_names: Sequence[str],
    records: Sequence[Mapping[str, Any]],
    *,
    max_records: int = MAX_RECORDS,
) -> list[list[float]]:
    """Build model rows, in the artifact's feature order, from records keyed by feature name.

    Args:
        feature_names: the model's input names in the order training used
            (``model.params.feature_names``).
        records: one mapping per instance, ``{feature name: number}``.
        max_records: refuse more records than this.

    Returns:
        One list of floats per record, ordered as ``feature_names``.

    Raises:
        ValidationError: a record is not a mapping, misses a feature (``missing``), has a name
            the model does not know (``extra_forbidden``), or a value is not a finite number.
            Each error's ``loc`` is ``["body", "instances", i, name]``.
    """
    if not isinstance(records, Sequence) or isinstance(records, (str, bytes)):
        raise ValidationError(
            [
                {
                    "loc": ["body", "instances"],
                    "msg": "Input should be a list of records",
                    "type": "type_error",
                }
            ]
        )
    if len(records) > max_records:
        raise ValidationError(
            [
                {
                    "loc": ["body", "instances"],
                    "msg": f"At most {max_records} records per request, got {len(records)}",
                    "type": "too_long",
                }
            ]
        )
    known = set(feature_names)
    errors: list[dict[str, Any]] = []
    rows: list[list[float]] = []
    for i, record in enumerate(records):
        if len(errors) >= _MAX_ERRORS:
            break
        loc = ["body", "instances", i]
        if not isinstance(record, Mapping):
            errors.append(
                {
                    "loc": loc,
                    "msg": "Input should be an object keyed by feature name",
                    "type": "type_error",
                }
            )
            continue
        for name in record:
            if name not in known:
                errors.append(
                    {
                        "loc": [*loc, str(name)],
                        "msg": f"Unknown feature {name!r}; the model expects {', '.join(feature_names)}",
                        "type": "extra_forbidden",
                    }
                )
        row: list[float] = []
        for name in feature_names:
            if name not in record:
                errors.append(
                    {"loc": [*loc, name], "msg": f"Feature {name!r} is missing", "type": "missing"}
                )
                continue
            number = as_number(record[name], [*loc, name], errors)
            if number is not None:
                row.append(number)
        rows.append(row)
    if errors:
        raise ValidationError(errors[:_MAX_ERRORS])
    return rows


def training_ranges(manifest: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """``{feature: (min, max)}`` seen in training, read from a manifest's ``feature_stats``.

    Raises:
        KeyError: the manifest has no ``feature_stats``.
    """
    stats = manifest["feature_stats"]
    return {name: (float(s["min"]), float(s["max"])) for name, s in stats.items()}


def _range_errors(rows, feature_names, ranges, margin) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        for name, value in zip(feature_names, row):
            low, high = ranges[name]
            slack = margin * (high - low)
            if not (low - slack <= value <= high + slack):
                errors.append(
                    {
                        "loc": ["body", "instances", i, name],
                        "msg": f"{name}={value:g} is outside the training range {low:g}..{high:g}",
                        "type": "out_of_training_range",
                    }
                )
    return errors


def out_of_range_rows(
    rows: Sequence[Sequence[float]],
    feature_names: Sequence[str],
    ranges: Mapping[str, tuple[float, float]],
    *,
    margin: float = 0.1,
) -> list[int]:
    """Indices of the rows with at least one value outside the training range (widened by ``margin``)."""
    return sorted({e["loc"][2] for e in _range_errors(rows, feature_names, ranges, margin)})


def check_training_ranges(
    rows: Sequence[Sequence[float]],
    feature_names: Sequence[str],
    ranges: Mapping[str, tuple[float, float]],
    *,
    margin: float = 0.1,
) -> None:
    """Refuse values outside the range seen in training.

    Args:
        rows: model rows, ordered as ``feature_names``.
        feature_names: the model's input names.
        ranges: ``{name: (min, max)}``, e.g. from :func:`training_ranges`.
        margin: widen each range by this fraction of its width on both sides, so a new patient
            slightly older than any in training is still accepted.

    Raises:
        ValidationError: one ``out_of_training_range`` error per offending value (up to 20),
            located at ``["body", "instances", i, name]``.
    """
    errors = _range_errors(rows, feature_names, ranges, margin)
    if errors:
        raise ValidationError(errors[:_MAX_ERRORS])
