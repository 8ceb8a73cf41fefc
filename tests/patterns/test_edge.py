"""The int8 edge variant: smaller, close in accuracy, measured for real."""

from __future__ import annotations

import pytest

from lesson.core.artifacts import load_artifact, load_heldout
from lesson.core.stats import regression_metrics
from lesson.models.int8 import QuantisedMLPModel, load_edge_model, quantise_tensor
from lesson.models.mlp import load_default_mlp
from lesson.patterns.edge import compare_edge_models


def test_quantise_tensor_bounds_error():
    w = [[0.5, -1.27, 0.003], [1.0, 0.0, -0.25]]
    q, scale = quantise_tensor(w)
    assert scale == pytest.approx(1.27 / 127)
    assert all(-127 <= v <= 127 and isinstance(v, int) for row in q for v in row)
    assert q[0][1] == -127
    for row_w, row_q in zip(w, q):
        for a, b in zip(row_w, row_q):
            assert abs(a - b * scale) <= scale / 2 + 1e-12
    assert quantise_tensor([[0.0, 0.0]]) == ([[0, 0]], 1.0)


def test_int8_weights_really_are_int8():
    model = load_edge_model()
    assert isinstance(model, QuantisedMLPModel)
    for layer in model.params.layers:
        assert all(isinstance(v, int) and -127 <= v <= 127 for row in layer.weights for v in row)
    assert model.metadata().platform == "python-stdlib-int8"


def test_accuracy_change_is_bounded_and_predictions_differ():
    fp, q = load_default_mlp(), load_edge_model()
    rows, targets = load_heldout(load_artifact("diabetes-mlp-int8"))
    a, b = fp.predict(rows), q.predict(rows)
    assert a != b  # really quantised
    assert max(abs(x - y) for x, y in zip(a, b)) < 2.0  # on a target of 25..346
    mae_fp = regression_metrics(targets, a)["mae"]
    mae_q = regression_metrics(targets, b)["mae"]
    assert abs(mae_q - mae_fp) < 0.02 * mae_fp


def test_comparison_table():
    cmp = compare_edge_models(repeats=2)
    fp, q = cmp.rows
    assert q["disk_bytes"] < fp["disk_bytes"] / 3
    assert q["tensor_bytes"] < fp["tensor_bytes"] / 3
    assert fp["latency_us"] > 0 and q["latency_us"] > 0
    assert fp["delta_mae"] == 0 and abs(q["delta_mae"]) < 1.0
    assert cmp.heldout_n == 89 and 0 < cmp.max_abs_prediction_change < 2.0
    text = cmp.to_text()
    assert "int8" in text and "full precision" in text
    assert '<table class="lesson-results">' in cmp._repr_html_()


def test_tampered_int8_artifact_is_refused(tmp_path):
    import shutil

    from lesson.core.artifacts import ARTIFACTS_ROOT, ArtifactIntegrityError

    shutil.copytree(ARTIFACTS_ROOT, tmp_path / "a")
    p = tmp_path / "a" / "diabetes-mlp-int8" / "1" / "weights_int8.json"
    p.write_text(p.read_text().replace('"scale": 0.', '"scale": 1.', 1))
    with pytest.raises(ArtifactIntegrityError):
        load_edge_model(root=tmp_path / "a")
