"""Artifacts: checksums verified on load; tampered, truncated or malformed ones are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lesson.core.artifacts import (
    ARTIFACTS_ROOT,
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    list_artifacts,
    load_artifact,
    sha256_bytes,
    write_artifact,
)
from lesson.models.mlp import MLPModel, load_mlp


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A private copy of the shipped artifacts (tests edit files on disk)."""
    dest = tmp_path / "artifacts"
    shutil.copytree(ARTIFACTS_ROOT, dest)
    return dest


def test_shipped_artifacts_verify_and_describe_the_model():
    assert list_artifacts() == {
        "diabetes-mlp": ["1"],
        "diabetes-mlp-int8": ["1"],
        "diabetes-mlp-onnx": ["1"],
        "diabetes-mlp-onnx-int8": ["1"],
        "diabetes-mlp-onnx-int8-static": ["1"],
        "tiny-lm": ["1"],
    }
    art = load_artifact("diabetes-mlp")
    m = art.manifest
    assert art.version == "1"
    assert [i["name"] for i in m["inputs"]] == [
        "age",
        "sex",
        "bmi",
        "bp",
        "s1",
        "s2",
        "s3",
        "s4",
        "s5",
        "s6",
    ]
    assert m["outputs"][0]["name"] == "disease_progression"
    assert len(m["training"]["data_sha256"]) == 64
    assert m["created_by"] == "training/train_model.py"
    assert {"numpy", "scikit-learn", "python"} <= set(m["library_versions"])
    # An honest model: clearly better than predicting the mean on held-out data.
    assert m["metrics"]["heldout"]["mae"] < 0.85 * m["metrics"]["heldout_mean_baseline"]["mae"]
    assert m["metrics"]["heldout"]["r2"] > 0.2
    for name, entry in m["files"].items():
        data = (art.path / name).read_bytes()
        assert sha256_bytes(data) == entry["sha256"] and len(data) == entry["bytes"]
    # safe format: every file is JSON
    for name in m["files"]:
        json.loads((art.path / name).read_text())


def test_training_data_fingerprint_matches_sklearn_dataset():
    pytest.importorskip("sklearn")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
    from sklearn.datasets import load_diabetes
    from train_model import data_fingerprint

    d = load_diabetes(scaled=False)
    fp = data_fingerprint(d.data.astype(float), d.target.astype(float), list(d.feature_names))
    assert fp == load_artifact("diabetes-mlp").manifest["training"]["data_sha256"]


def test_tampered_weights_are_refused(root: Path):
    path = root / "diabetes-mlp" / "1" / "weights.json"
    weights = json.loads(path.read_text())
    weights["layers"][0]["bias"][0] += 0.5  # a plausible, silent-looking edit
    path.write_text(json.dumps(weights, sort_keys=True, indent=1) + "\n")
    with pytest.raises(ArtifactIntegrityError, match="weights.json"):
        load_mlp(root=root)


def test_same_size_bit_flip_is_refused(root: Path):
    path = root / "diabetes-mlp" / "1" / "scaler.json"
    data = bytearray(path.read_bytes())
    i = data.index(b"1")
    data[i] = ord("2")
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="sha256"):
        load_artifact("diabetes-mlp", root=root)


def test_truncated_weights_are_refused(root: Path):
    path = root / "diabetes-mlp" / "1" / "weights.json"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactIntegrityError, match="truncated"):
        load_artifact("diabetes-mlp", root=root)


def test_truncated_manifest_is_refused(root: Path):
    path = root / "diabetes-mlp" / "1" / "manifest.json"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ArtifactIntegrityError, match="manifest.json is not valid JSON"):
        load_artifact("diabetes-mlp", root=root)


def test_missing_file_is_refused(root: Path):
    (root / "diabetes-mlp-int8" / "1" / "heldout.json").unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        load_artifact("diabetes-mlp-int8", root=root)


def test_pinned_manifest_checksum(root: Path):
    art = load_artifact("diabetes-mlp", root=root)
    load_artifact(
        "diabetes-mlp", root=root, expected_manifest_sha256=art.manifest["_manifest_sha256"]
    )
    with pytest.raises(ArtifactIntegrityError, match="pinned"):
        load_artifact("diabetes-mlp", root=root, expected_manifest_sha256="0" * 64)


def test_path_traversal_in_manifest_is_refused(root: Path):
    path = root / "diabetes-mlp" / "1" / "manifest.json"
    m = json.loads(path.read_text())
    m["files"]["../../evil.json"] = {"bytes": 1, "sha256": "0" * 64}
    path.write_text(json.dumps(m))
    with pytest.raises(ArtifactIntegrityError, match="unsafe file name"):
        load_artifact("diabetes-mlp", root=root)


def test_unknown_name_and_version(root: Path):
    with pytest.raises(ArtifactNotFoundError, match="known: diabetes-mlp"):
        load_artifact("nope", root=root)
    with pytest.raises(ArtifactNotFoundError, match="versions"):
        load_artifact("diabetes-mlp", "7", root=root)
    with pytest.raises(ValueError):
        load_artifact("../diabetes-mlp", root=root)


def test_write_then_load_round_trip_and_newest_version(tmp_path: Path):
    for v in ("1", "2", "10"):
        write_artifact(
            "toy", v, {"note": v}, {"a.json": b'{"v": %s}\n' % v.encode()}, root=tmp_path
        )
    art = load_artifact("toy", root=tmp_path)
    assert art.version == "10" and art.json("a.json") == {"v": 10}
    assert art.manifest["note"] == "10"


def test_export_is_deterministic(tmp_path: Path):
    """Re-exporting the int8 twin from the shipped float artifact gives identical bytes."""
    from lesson.models.int8 import export_int8_artifact

    export_int8_artifact(load_artifact("diabetes-mlp"), root=tmp_path)
    for name in ("weights_int8.json", "manifest.json"):
        assert (tmp_path / "diabetes-mlp-int8" / "1" / name).read_bytes() == (
            ARTIFACTS_ROOT / "diabetes-mlp-int8" / "1" / name
        ).read_bytes()


def test_model_from_artifact_is_not_pickle():
    art = load_artifact("diabetes-mlp")
    assert not any(name.endswith((".pkl", ".pickle", ".joblib")) for name in art.files)
    assert isinstance(MLPModel.from_artifact(art), MLPModel)


@pytest.mark.slow
def test_training_script_reproduces_the_shipped_artifacts():
    """Retraining (seeded) gives byte-identical manifests, so the shipped model is the script's."""
    pytest.importorskip("sklearn")
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "training" / "train_model.py"
    out = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "byte-identical" in out.stdout
    assert "mean baseline" in out.stdout and "MLP (held-out)" in out.stdout
    import importlib.util

    if importlib.util.find_spec("skl2onnx") is not None:  # the edge extra: ONNX exported too
        assert "skl2onnx's conversion of the fitted model agrees" in out.stdout
