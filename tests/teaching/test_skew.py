"""Training/serving skew: named features and training-range checks refuse skewed requests."""

from __future__ import annotations

import pytest

from lesson.core.artifacts import load_artifact, load_heldout
from lesson.core.schema import ValidationError
from lesson.models.mlp import load_default_mlp
from lesson.teaching.skew import (
    check_training_ranges,
    out_of_range_rows,
    rows_from_named_features,
    training_ranges,
)

NAMES = ("age", "sex", "bmi")


def test_named_records_are_put_in_the_artifact_order():
    assert rows_from_named_features(NAMES, [{"bmi": 30, "age": 50, "sex": 2}]) == [
        [50.0, 2.0, 30.0]
    ]


def test_missing_and_unknown_features_are_named():
    with pytest.raises(ValidationError) as info:
        rows_from_named_features(
            NAMES, [{"age": 50, "sex": 2, "bmi": 30}, {"age": 50, "BMI": 30, "sex": 1}]
        )
    errors = info.value.errors
    assert {(tuple(e["loc"]), e["type"]) for e in errors} == {
        (("body", "instances", 1, "BMI"), "extra_forbidden"),
        (("body", "instances", 1, "bmi"), "missing"),
    }
    assert "'BMI'" in str(info.value) and "'bmi' is missing" in str(info.value)


@pytest.mark.parametrize(
    "bad, kind", [("50", "type_error"), (float("nan"), "finite_number"), (True, "type_error")]
)
def test_bad_values_are_refused(bad, kind):
    with pytest.raises(ValidationError) as info:
        rows_from_named_features(NAMES, [{"age": bad, "sex": 1, "bmi": 20}])
    assert info.value.errors[0]["loc"] == ["body", "instances", 0, "age"]
    assert info.value.errors[0]["type"] == kind


def test_non_records_and_too_many_records_are_refused():
    with pytest.raises(ValidationError, match="object keyed by feature name"):
        rows_from_named_features(NAMES, [[50, 1, 20]])
    with pytest.raises(ValidationError, match="list of records"):
        rows_from_named_features(NAMES, {"age": 1})
    with pytest.raises(ValidationError, match="At most 2"):
        rows_from_named_features(NAMES, [{}] * 3, max_records=2)


def test_heldout_rows_pass_and_standardised_rows_fail_the_range_check():
    model = load_default_mlp()
    names = model.params.feature_names
    ranges = training_ranges(model.manifest)
    assert set(ranges) == set(names)
    rows, _ = load_heldout(load_artifact(model.name, model.version))
    check_training_ranges(rows, names, ranges)  # the held-out rows come from the same population
    stats = model.manifest["feature_stats"]
    scaled = [
        [(v - stats[n]["mean"]) / stats[n]["std"] for n, v in zip(names, row)] for row in rows
    ]
    assert out_of_range_rows(scaled, names, ranges) == list(range(len(rows)))
    with pytest.raises(ValidationError) as info:
        check_training_ranges(scaled[:1], names, ranges)
    assert info.value.errors[0]["type"] == "out_of_training_range"
    assert info.value.errors[0]["loc"][:3] == ["body", "instances", 0]


def test_margin_widens_the_range():
    ranges = {"age": (20.0, 80.0)}
    assert out_of_range_rows([[85.0]], ["age"], ranges, margin=0.0) == [0]
    assert out_of_range_rows([[85.0]], ["age"], ranges, margin=0.1) == []
