"""The real model: pure Python and numpy paths agree, validate widths, fit the core protocol."""

from __future__ import annotations

import random

import pytest

from lesson.core.model import Model, ModelMetadata, ModelRegistry
from lesson.core.schema import ValidationError
from lesson.core.service import PredictionService
from lesson.models.mlp import load_default_mlp

np = pytest.importorskip("numpy")
from lesson.models.mlp_numpy import load_default_numpy_mlp  # noqa: E402

ROW = [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]


def random_rows(n: int, seed: int = 0) -> list[list[float]]:
    rng = random.Random(seed)
    stats = load_default_mlp().manifest["feature_stats"]
    names = [i["name"] for i in load_default_mlp().manifest["inputs"]]
    return [[rng.gauss(stats[c]["mean"], 2 * stats[c]["std"]) for c in names] for _ in range(n)]


def test_both_paths_agree_within_1e6():
    rows = random_rows(2000)
    a = load_default_mlp().predict(rows)
    b = load_default_numpy_mlp().predict(rows)
    c = load_default_numpy_mlp().predict_array(np.asarray(rows)).tolist()
    assert len(a) == len(b) == 2000
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-6
    assert max(abs(x - y) for x, y in zip(a, c)) < 1e-6
    assert len(set(round(v, 3) for v in a)) > 1000  # not a constant


def test_matches_sklearn_reference_on_heldout():
    """The shipped artifact reproduces the metrics recorded at training time."""
    from lesson.core.artifacts import load_artifact, load_heldout
    from lesson.core.stats import regression_metrics

    art = load_artifact("diabetes-mlp")
    rows, targets = load_heldout(art)
    metrics = regression_metrics(targets, load_default_mlp().predict(rows))
    assert metrics == art.manifest["metrics"]["heldout"]


def test_predictions_respond_to_inputs():
    model = load_default_mlp()
    base = model.predict([ROW])[0]
    heavier = model.predict([[*ROW[:2], 40.0, *ROW[3:]]])[0]  # higher BMI
    assert 25 < base < 346
    assert heavier != base


@pytest.mark.parametrize("width, kind", [(9, "too_short"), (11, "too_long")])
@pytest.mark.parametrize("loader", [load_default_mlp, load_default_numpy_mlp])
def test_wrong_feature_count_names_the_field(loader, width, kind):
    model = loader()
    with pytest.raises(ValidationError) as info:
        model.predict([ROW, [1.0] * width])
    err = info.value.errors[0]
    assert err["loc"] == ["body", "instances", 1] and err["type"] == kind
    assert "expects 10" in str(info.value) and info.value.field == "body.instances.1"


@pytest.mark.parametrize("loader", [load_default_mlp, load_default_numpy_mlp])
@pytest.mark.parametrize(
    "bad, kind",
    [(float("nan"), "finite_number"), (float("inf"), "finite_number"), ("x", "type_error")],
)
def test_bad_values_are_refused(loader, bad, kind):
    with pytest.raises(ValidationError) as info:
        loader().predict([ROW, [*ROW[:3], bad, *ROW[4:]]])
    assert info.value.errors[0]["loc"] == ["body", "instances", 1, 3]
    assert info.value.errors[0]["type"] == kind


@pytest.mark.parametrize("loader", [load_default_mlp, load_default_numpy_mlp])
def test_core_protocol_and_service(loader):
    model = loader()
    assert isinstance(model, Model)
    meta = model.metadata()
    assert isinstance(meta, ModelMetadata)
    assert (meta.name, meta.version, meta.n_features) == ("diabetes-mlp", "1", 10)
    assert meta.inputs[0]["shape"] == [-1, 10] and meta.outputs[0]["name"] == "disease_progression"
    service = PredictionService(ModelRegistry([model]))
    out = service.predict({"instances": ROW}, transport="test")
    assert out["metadata"]["model"] == "diabetes-mlp" and out["metadata"]["model_version"] == "1"
    assert out["predictions"] == pytest.approx(load_default_mlp().predict([ROW]), abs=1e-6)
    with pytest.raises(ValidationError, match="expects 10"):
        service.predict({"instances": [[1.0, 2.0]]})


def test_empty_batch():
    assert load_default_mlp().predict([]) == []
    assert load_default_numpy_mlp().predict([]) == []


def test_core_mlp_imports_without_numpy():
    """lesson.models.mlp, lesson.models.int8, lesson.core.artifacts, lesson.patterns.microbatching: stdlib only."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'numpy', 'sklearn', 'pyarrow', 'dask', 'grpc', 'fastapi'}:\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import lesson.models.mlp, lesson.models.int8, lesson.core.artifacts\n"
        "import lesson.patterns.microbatching, lesson.models.accelerator\n"
        "import lesson.patterns.streaming.consumer\n"
        "m = lesson.models.mlp.load_default_mlp()\n"
        "print(round(m.predict([[59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]])[0], 6))\n"
        "edge = lesson.models.int8.load_edge_model()\n"
        "print(round(edge.predict([[59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]])[0], 6))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    fp, q = (float(v) for v in out.stdout.split())
    assert fp == pytest.approx(load_default_mlp().predict([ROW])[0], abs=1e-6)
    assert abs(fp - q) < 2.0
