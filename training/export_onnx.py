"""Export the reference MLP to ONNX, quantise it with ONNX Runtime's own tools, and check both.

The graph is built with ``onnx.helper`` from the verified ``diabetes-mlp`` artifact (its JSON
weights and scaler), so the exported file is the shipped model, not a retrained one. The
scaler and the target's un-scaling are inside the graph: the input is the ten raw
measurements, the output the disease progression::

    input  float32 [N, 10] -> Sub(mean) -> Div(scale) -> MatMul -> Add -> Relu
           -> MatMul -> Add -> Mul(target_scale) -> Add(target_mean) -> output float32 [N, 1]

Three artifacts, each a ``model.onnx`` with ``heldout.json`` and a checksummed manifest::

    lesson/artifacts/diabetes-mlp-onnx/1/              float32 weights and activations
    lesson/artifacts/diabetes-mlp-onnx-int8/1/         quantize_dynamic: int8 weights; each
                                                       call measures its activations' range
    lesson/artifacts/diabetes-mlp-onnx-int8-static/1/  quantize_static, QDQ: int8 weights and
                                                       activation scales fixed in advance from
                                                       a calibration set (the training rows)

Before anything is written, the float32 graph must match the lesson's MLP within 1e-6
relative on the held-out rows, and the same graph in float64 within 1e-12.

Run (needs the ``edge`` and ``batch`` extras)::

    .venv/bin/python training/export_onnx.py            # writes the three artifacts
    .venv/bin/python training/export_onnx.py --check    # re-export, compare with the shipped
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lesson.core.artifacts import (
    ARTIFACTS_ROOT,
    Artifact,
    load_artifact,
    load_heldout,
    write_artifact,
)
from lesson.core.stats import regression_metrics
from lesson.models.mlp import MLPModel, MLPParams, params_from_artifact

SOURCE = "diabetes-mlp"
FLOAT_NAME = "diabetes-mlp-onnx"
DYNAMIC_NAME = "diabetes-mlp-onnx-int8"
STATIC_NAME = "diabetes-mlp-onnx-int8-static"
NAMES = (FLOAT_NAME, DYNAMIC_NAME, STATIC_NAME)
#: Opset 17 and IR version 8: read by every ONNX Runtime since 1.13 (and onnxruntime-web);
#: onnx 1.23 would otherwise stamp its newest IR version, which older runtimes refuse.
OPSET = 17
IR_VERSION = 8
PRODUCER = "lesson training/export_onnx.py"
INPUT, OUTPUT = "input", "output"
FLOAT32_RTOL, FLOAT64_RTOL = 1e-6, 1e-12


def build_graph(params: MLPParams, dtype: type = np.float32) -> onnx.ModelProto:
    """The MLP as an ONNX graph in ``dtype`` (float32 or float64), scaler included."""
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    inits = [
        numpy_helper.from_array(np.asarray(params.input_mean, dtype), "input_mean"),
        numpy_helper.from_array(np.asarray(params.input_scale, dtype), "input_scale"),
        numpy_helper.from_array(np.asarray([params.target_scale], dtype), "target_scale"),
        numpy_helper.from_array(np.asarray([params.target_mean], dtype), "target_mean"),
    ]
    nodes = [
        helper.make_node("Sub", [INPUT, "input_mean"], ["centred"], name="centre"),
        helper.make_node("Div", ["centred", "input_scale"], ["h0"], name="scale"),
    ]
    h = "h0"
    for k, layer in enumerate(params.layers, start=1):
        # stored out x in; MatMul wants in x out
        inits.append(numpy_helper.from_array(np.asarray(layer.weights, dtype).T.copy(), f"W{k}"))
        inits.append(numpy_helper.from_array(np.asarray(layer.bias, dtype), f"b{k}"))
        nodes.append(helper.make_node("MatMul", [h, f"W{k}"], [f"z{k}"], name=f"dense{k}"))
        nodes.append(helper.make_node("Add", [f"z{k}", f"b{k}"], [f"a{k}"], name=f"bias{k}"))
        h = f"a{k}"
        if layer.activation == "relu":
            nodes.append(helper.make_node("Relu", [h], [f"r{k}"], name=f"relu{k}"))
            h = f"r{k}"
    nodes.append(helper.make_node("Mul", [h, "target_scale"], ["unscaled"], name="unscale"))
    nodes.append(helper.make_node("Add", ["unscaled", "target_mean"], [OUTPUT], name="recentre"))
    graph = helper.make_graph(
        nodes,
        "diabetes_mlp",
        [helper.make_tensor_value_info(INPUT, elem, ["N", params.n_features])],
        [helper.make_tensor_value_info(OUTPUT, elem, ["N", 1])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version="1",
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def run(model_bytes: bytes, X: np.ndarray) -> np.ndarray:
    """Predictions of a serialised ONNX model (one thread), as a flat float64 array."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    dtype = np.float64 if session.get_inputs()[0].type == "tensor(double)" else np.float32
    return session.run([OUTPUT], {INPUT: X.astype(dtype)})[0][:, 0].astype(np.float64)


def max_relative(a: np.ndarray, b: np.ndarray) -> float:
    """Largest ``|a - b| / |b|`` over the rows."""
    return float(np.max(np.abs(a - b) / np.abs(b)))


def training_rows(heldout: dict) -> np.ndarray:
    """The training part of the split (the calibration set), checked against the held-out rows."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split
    from train_model import SEED, TEST_SIZE

    X = load_diabetes(scaled=False).data.astype(float)
    X_tr, X_te = train_test_split(X, test_size=TEST_SIZE, random_state=SEED)
    if X_te.tolist() != heldout["rows"]:
        raise SystemExit("the split does not reproduce the artifact's held-out rows")
    return X_tr


class _Rows(CalibrationDataReader):
    """Feeds the calibration rows to ``quantize_static`` in batches of 32."""

    def __init__(self, X: np.ndarray):
        self._batches = iter(
            [{INPUT: X[i : i + 32].astype(np.float32)} for i in range(0, len(X), 32)]
        )

    def get_next(self) -> dict | None:
        return next(self._batches, None)


def quantise(model_bytes: bytes, calibration: np.ndarray | None) -> bytes:
    """Dynamic int8 (``calibration`` None) or static QDQ int8 calibrated on ``calibration``."""
    # The quantiser logs a hint to run its shape-inference pre-processing first: that step
    # helps large graphs with unknown shapes; this one has every shape declared.
    logging.getLogger().setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(model_bytes)
        if calibration is None:
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        else:
            quantize_static(
                src,
                dst,
                _Rows(calibration),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
        return dst.read_bytes()


def describe(model_bytes: bytes) -> dict:
    """What a runtime needs to know before it loads the file: opset, producer, tensors."""
    model = onnx.load_from_string(model_bytes)

    def tensor(v) -> dict:
        t = v.type.tensor_type
        return {
            "name": v.name,
            "datatype": onnx.helper.tensor_dtype_to_string(t.elem_type).removeprefix(
                "TensorProto."
            ),
            "shape": [d.dim_param or d.dim_value for d in t.shape.dim],
        }

    return {
        "file": "model.onnx",
        "ir_version": model.ir_version,
        "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "producer_name": model.producer_name,
        "producer_version": model.producer_version,
        "operators": sorted({n.op_type for n in model.graph.node}),
        "inputs": [tensor(v) for v in model.graph.input],
        "outputs": [tensor(v) for v in model.graph.output],
    }


HOW = {
    FLOAT_NAME: "none: float32 weights and activations",
    DYNAMIC_NAME: (
        "onnxruntime.quantization.quantize_dynamic: int8 weights (per tensor); each call "
        "measures its activations' range and quantises them on the fly"
    ),
    STATIC_NAME: (
        "onnxruntime.quantization.quantize_static, QDQ format, MinMax calibration on the "
        "training rows: int8 weights and activations, every scale fixed in the file"
    ),
}


def export_onnx_artifacts(
    source: Artifact, calibration: np.ndarray, root: Path = ARTIFACTS_ROOT
) -> dict[str, bytes]:
    """Build, check and write the three ONNX artifacts; return name -> model bytes."""
    params = params_from_artifact(source)
    rows, targets = load_heldout(source)
    X = np.asarray(rows)
    lesson = np.asarray(MLPModel(params, name=SOURCE, version=source.version).predict(rows))
    fp32 = build_graph(params, np.float32).SerializeToString()
    fp64 = build_graph(params, np.float64).SerializeToString()
    rel32, rel64 = max_relative(run(fp32, X), lesson), max_relative(run(fp64, X), lesson)
    if rel32 > FLOAT32_RTOL or rel64 > FLOAT64_RTOL:
        raise SystemExit(f"export check failed: float32 {rel32:.2e}, float64 {rel64:.2e} relative")
    models = {
        FLOAT_NAME: fp32,
        DYNAMIC_NAME: quantise(fp32, None),
        STATIC_NAME: quantise(fp32, calibration),
    }
    base = regression_metrics(targets, lesson.tolist())
    for name, data in models.items():
        preds = run(data, X)
        metrics = {
            "heldout": regression_metrics(targets, preds.tolist()),
            "heldout_full_precision": base,
            "max_abs_prediction_change": round(float(np.max(np.abs(preds - lesson))), 4),
        }
        manifest = {
            "description": source.manifest["description"] + " -- ONNX, " + HOW[name].split(":")[0],
            "created_by": "training/export_onnx.py",
            "exported_from": {
                "name": source.name,
                "version": source.version,
                "manifest_sha256": source.manifest["_manifest_sha256"],
            },
            "onnx": describe(data),
            "quantisation": HOW[name],
            "calibration": (
                {"rows": int(len(calibration)), "set": "the training rows (not the held-out ones)"}
                if name == STATIC_NAME
                else None
            ),
            "inputs": source.manifest["inputs"],
            "outputs": source.manifest["outputs"],
            "feature_stats": source.manifest.get("feature_stats", {}),
            "metrics": metrics,
            "library_versions": {"onnx": onnx.__version__, "onnxruntime": ort.__version__},
        }
        files = {"model.onnx": data, "heldout.json": source.files["heldout.json"]}
        write_artifact(name, source.version, manifest, files, root=root)
        load_artifact(name, source.version, root=root)  # read back and verify
    print(f"float32 graph: {rel32:.1e} relative to the lesson's MLP; float64: {rel64:.1e}")
    return models


def skl2onnx_agreement(result: dict, graph: bytes) -> float:
    """The field's converter as a second opinion: ``skl2onnx`` converts the trained scikit-learn
    scaler + MLPRegressor; return the largest relative gap between its predictions (un-scaled
    as training does) and this module's graph on the held-out rows.

    ``result`` is what ``train_model.train()`` returns (the fitted estimators are in it).
    """
    from skl2onnx import to_onnx
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(result["scaler"], result["mlp"])
    converted = to_onnx(pipeline, result["X_tr"][:1].astype(np.float32), target_opset=OPSET)
    session = ort.InferenceSession(
        converted.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    X = result["X_te"].astype(np.float32)
    z = session.run(None, {session.get_inputs()[0].name: X})[0].ravel().astype(np.float64)
    return max_relative(z * result["t_scale"] + result["t_mean"], run(graph, result["X_te"]))


def check(root: Path = ARTIFACTS_ROOT) -> bool:
    """Re-export into a temporary directory and compare with the artifacts under ``root``.

    Files are compared byte for byte; if the bytes differ (another onnxruntime rounding a
    calibration range differently), the predictions are compared instead.
    """
    source = load_artifact(SOURCE, root=root)
    X = np.asarray(load_heldout(source)[0])
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        fresh = export_onnx_artifacts(source, training_rows(source.json("heldout.json")), Path(tmp))
        for name, data in fresh.items():
            shipped = load_artifact(name, root=root)
            old = shipped.files["model.onnx"]
            if old == data:
                same = (Path(tmp) / name / "1" / "manifest.json").read_bytes() == (
                    shipped.path / "manifest.json"
                ).read_bytes()
                print(
                    f"{name}: model.onnx byte-identical; manifest {'identical' if same else 'DIFFERS'}"
                )
                ok &= same
            else:
                gap = float(np.max(np.abs(run(old, X) - run(data, X))))
                print(f"{name}: bytes differ; predictions differ by at most {gap:.3g}")
                ok &= gap <= 1e-3
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ARTIFACTS_ROOT, help="artifacts root")
    parser.add_argument("--check", action="store_true", help="re-export and compare")
    args = parser.parse_args(argv)
    if args.check:
        ok = check(args.root)
        print(
            "re-exported ONNX artifacts match the shipped ones" if ok else "ONNX artifacts DIFFER"
        )
        return 0 if ok else 1
    source = load_artifact(SOURCE, root=args.root)
    models = export_onnx_artifacts(source, training_rows(source.json("heldout.json")), args.root)
    for name, data in models.items():
        print(f"  {name}/1/model.onnx  {len(data):>6} B")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
