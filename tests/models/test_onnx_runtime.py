"""The MLP exported to ONNX and run by ONNX Runtime: exact in float32, bounded in int8, verified."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from lesson.core.artifacts import (  # noqa: E402
    ARTIFACTS_ROOT,
    ArtifactIntegrityError,
    load_artifact,
    load_heldout,
    sha256_bytes,
)
from lesson.core.schema import ValidationError  # noqa: E402
from lesson.models.mlp import load_default_mlp, params_from_artifact  # noqa: E402
from lesson.models.onnx_runtime import (  # noqa: E402
    ONNX_NAME,
    ONNX_NAMES,
    PLATFORM,
    OnnxModel,
    load_onnx_model,
)

TRAINING = Path(__file__).resolve().parents[2] / "training"


@pytest.fixture(scope="module")
def heldout():
    rows, targets = load_heldout(load_artifact("diabetes-mlp"))
    return rows, targets, np.asarray(load_default_mlp().predict(rows))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    dest = tmp_path / "artifacts"
    shutil.copytree(ARTIFACTS_ROOT, dest)
    return dest


def test_float32_graph_matches_the_lessons_mlp_within_1e6_relative(heldout):
    rows, _, expected = heldout
    got = np.asarray(load_onnx_model().predict(rows))
    rel = np.abs(got - expected) / np.abs(expected)
    assert rel.max() <= 1e-6
    assert rel.max() > 0  # really float32, not the float64 numbers passed through


def test_float64_graph_matches_within_1e12_relative(heldout):
    sys.path.insert(0, str(TRAINING))
    from export_onnx import build_graph, run

    rows, _, expected = heldout
    params = params_from_artifact(load_artifact("diabetes-mlp"))
    got = run(build_graph(params, np.float64).SerializeToString(), np.asarray(rows))
    assert np.max(np.abs(got - expected) / np.abs(expected)) <= 1e-12


def test_manifest_names_opset_producer_and_tensors():
    for name in ONNX_NAMES:
        art = load_artifact(name)
        meta = art.manifest["onnx"]
        model = onnx.load_from_string(art.files["model.onnx"])
        assert meta["opsets"] == {"ai.onnx": 17} and model.opset_import[0].version == 17
        assert meta["ir_version"] == model.ir_version == 8
        assert meta["producer_name"] == model.producer_name
        assert meta["inputs"] == [{"name": "input", "datatype": "FLOAT", "shape": ["N", 10]}]
        assert meta["outputs"] == [{"name": "output", "datatype": "FLOAT", "shape": ["N", 1]}]
        assert art.json("heldout.json")["rows"]  # the accuracy can be measured wherever it runs
    ops = {n: set(load_artifact(n).manifest["onnx"]["operators"]) for n in ONNX_NAMES}
    assert "MatMulInteger" in ops[ONNX_NAME + "-int8"]
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops[ONNX_NAME + "-int8-static"]
    assert not ops[ONNX_NAME] & {"MatMulInteger", "QuantizeLinear"}
    calib = load_artifact(ONNX_NAME + "-int8-static").manifest["calibration"]
    assert calib["rows"] == 353  # the training rows, never the held-out ones


@pytest.mark.parametrize("name", ONNX_NAMES[1:])
def test_int8_variants_accuracy_is_measured_and_bounded(name, heldout):
    from lesson.core.stats import regression_metrics

    rows, targets, expected = heldout
    model = load_onnx_model(name)
    got = np.asarray(model.predict(rows))
    change = float(np.max(np.abs(got - expected)))
    assert 0 < change < 5.0  # really quantised; small on a target of 25..346
    mae = regression_metrics(targets, got.tolist())["mae"]
    float_mae = regression_metrics(targets, expected.tolist())["mae"]
    assert abs(mae - float_mae) < 0.02 * float_mae
    reported = load_artifact(name).manifest["metrics"]
    assert reported["heldout"]["mae"] == pytest.approx(mae, abs=1e-3)
    assert reported["max_abs_prediction_change"] == pytest.approx(change, abs=1e-3)
    int8 = [
        i
        for i in onnx.load_from_string(load_artifact(name).files["model.onnx"]).graph.initializer
        if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 2
    ]
    assert len(int8) == 2  # both weight matrices are stored as int8


def test_model_protocol_metadata_and_row_checks(heldout):
    rows, _, _ = heldout
    model = load_onnx_model()
    meta = model.metadata()
    assert meta.platform == PLATFORM == "onnxruntime_onnx"
    assert meta.inputs[0]["name"] == "input" and meta.inputs[0]["datatype"] == "FP32"
    assert meta.inputs[0]["shape"] == [-1, 10] and meta.outputs[0]["name"] == "output"
    assert model.predict([]) == []
    assert len(model.predict(rows[:64])) == 64
    assert model.predict(rows[:1]) == model.predict(rows[:3])[:1]
    with pytest.raises(ValidationError, match="expects 10"):
        model.predict([[1.0, 2.0]])
    with pytest.raises(ValidationError, match="finite"):
        model.predict([[float("nan")] * 10])
    assert model._session.get_session_options().intra_op_num_threads == 1


def test_tampered_or_truncated_onnx_is_refused(root):
    path = root / ONNX_NAME / "1" / "model.onnx"
    original = path.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0x01  # one bit, same size
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="sha256 .* does not match"):
        load_onnx_model(root=root)
    path.write_bytes(original[:-100])
    with pytest.raises(ArtifactIntegrityError, match="truncated"):
        load_onnx_model(root=root)
    # A manifest rewritten to match a broken file: ONNX Runtime's own parser refuses it.
    manifest_path = root / ONNX_NAME / "1" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    broken = original[: len(original) // 2]
    path.write_bytes(broken)
    manifest["files"]["model.onnx"] = {"bytes": len(broken), "sha256": sha256_bytes(broken)}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactIntegrityError, match="ONNX Runtime cannot load it"):
        load_onnx_model(root=root)
    manifest["onnx"]["outputs"] = []  # a manifest that does not describe the file's tensors
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactIntegrityError, match="malformed"):
        load_onnx_model(root=root)


def test_registry_has_the_onnx_models_only_when_onnxruntime_imports(monkeypatch):
    from lesson.models import mlp_numpy, onnx_runtime

    names = {m.name for m in mlp_numpy.serving_registry().list()}
    assert set(ONNX_NAMES) <= names
    assert all(isinstance(mlp_numpy.serving_registry().get(n), OnnxModel) for n in ONNX_NAMES)
    monkeypatch.setattr(onnx_runtime, "onnxruntime_available", lambda: False)
    assert not set(ONNX_NAMES) & {m.name for m in mlp_numpy.serving_registry().list()}


def test_importing_the_module_does_not_import_onnxruntime():
    code = (
        "import sys, lesson.models.onnx_runtime as m; "
        "assert 'onnxruntime' not in sys.modules and 'onnx' not in sys.modules; print(m.PLATFORM)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == PLATFORM, out.stderr


def test_export_is_deterministic_and_check_passes():
    """``--check`` re-exports from the shipped float artifact and compares with what ships."""
    pytest.importorskip("sklearn")
    out = subprocess.run(
        [sys.executable, str(TRAINING / "export_onnx.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("model.onnx byte-identical; manifest identical") == 3
