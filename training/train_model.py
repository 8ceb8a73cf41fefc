"""Train the lesson's reference model and export it as a safe, versioned artifact.

The data is scikit-learn's bundled diabetes dataset (442 patients, 10 baseline measurements,
target: disease progression one year later), in its original units, so nothing is downloaded.
A small MLP regressor (one hidden layer) is fitted on 80% of it, its L2 penalty picked by
5-fold cross-validation on the training part only; the held-out 20% is scored once and
compared with the honest baseline of predicting the training mean.

The export is plain JSON (never pickle), checksummed by a manifest:

    lesson/artifacts/diabetes-mlp/1/        weights, scaler, held-out set, manifest
    lesson/artifacts/diabetes-mlp-int8/1/   the same network with int8 weights (lesson.models.int8)
    lesson/artifacts/diabetes-mlp-onnx*/1/  ONNX: float32, int8 dynamic, int8 static (export_onnx.py,
                                            when the ``edge`` extra is installed)

Run (needs the ``batch`` extra: numpy, scikit-learn)::

    .venv/bin/python training/train_model.py            # writes both artifacts
    .venv/bin/python training/train_model.py --check    # retrain, compare with what is shipped
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import warnings
from pathlib import Path

# Floating-point sums depend on the BLAS kernel OpenBLAS picks for this CPU: the shipped artifacts
# were trained with its Haswell kernel, so on x86-64 retraining uses that one too and stays
# byte-identical on any CPU (a kernel the machine sets for itself is left alone).
if platform.machine() in ("x86_64", "AMD64"):
    os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import numpy as np
import sklearn
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lesson.core.artifacts import (
    ARTIFACTS_ROOT,
    canonical_json,
    load_artifact,
    sha256_bytes,
    write_artifact,
)
from lesson.models.int8 import export_int8_artifact
from lesson.models.mlp import MLPModel

NAME = "diabetes-mlp"
VERSION = "1"
SEED = 0
TEST_SIZE = 0.2
HIDDEN = (16,)
ALPHAS = (0.1, 1.0, 3.0, 10.0, 30.0)

FEATURES = [
    ("age", "age in years"),
    ("sex", "sex, coded 1 or 2"),
    ("bmi", "body mass index, kg/m^2"),
    ("bp", "average blood pressure, mm Hg"),
    ("s1", "tc: total serum cholesterol, mg/dL"),
    ("s2", "ldl: low-density lipoproteins, mg/dL"),
    ("s3", "hdl: high-density lipoproteins, mg/dL"),
    ("s4", "tch: total cholesterol / HDL"),
    ("s5", "ltg: log of serum triglycerides level"),
    ("s6", "glu: blood sugar level, mg/dL"),
]


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R^2 (rounded to 4 places for a readable manifest)."""
    err = y_pred - y_true
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "n": int(len(y_true)),
        "mae": round(float(np.mean(np.abs(err))), 4),
        "rmse": round(float(np.sqrt(np.mean(err**2))), 4),
        "r2": round(1.0 - ss_res / ss_tot, 4),
    }


def data_fingerprint(X: np.ndarray, y: np.ndarray, names: list[str]) -> str:
    """sha256 of the dataset in a canonical JSON form (stable across platforms)."""
    payload = {"feature_names": names, "data": X.tolist(), "target": y.tolist()}
    return sha256_bytes(canonical_json(payload))


def train() -> dict:
    """Fit the model; return everything the export needs."""
    data = load_diabetes(scaled=False)
    X, y = data.data.astype(float), data.target.astype(float)
    names = list(data.feature_names)
    assert names == [f for f, _ in FEATURES], names
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=TEST_SIZE, random_state=SEED)

    scaler = StandardScaler().fit(X_tr)
    t_mean, t_scale = float(y_tr.mean()), float(y_tr.std())
    A_tr, A_te = scaler.transform(X_tr), scaler.transform(X_te)
    z_tr = (y_tr - t_mean) / t_scale

    search = GridSearchCV(
        MLPRegressor(
            hidden_layer_sizes=HIDDEN, activation="relu", max_iter=3000, random_state=SEED
        ),
        {"alpha": list(ALPHAS)},
        cv=KFold(5, shuffle=True, random_state=SEED),
        scoring="neg_mean_absolute_error",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(A_tr, z_tr)
    mlp: MLPRegressor = search.best_estimator_

    pred_te = mlp.predict(A_te) * t_scale + t_mean
    pred_tr = mlp.predict(A_tr) * t_scale + t_mean
    metrics = {
        "heldout": regression_metrics(y_te, pred_te),
        "heldout_mean_baseline": regression_metrics(y_te, np.full_like(y_te, t_mean)),
        "train": regression_metrics(y_tr, pred_tr),
        "cv_mae_by_alpha": {
            str(a): round(-float(s) * t_scale, 4)
            for a, s in zip(
                search.cv_results_["param_alpha"], search.cv_results_["mean_test_score"]
            )
        },
    }
    return {
        "X": X,
        "y": y,
        "names": names,
        "X_tr": X_tr,
        "X_te": X_te,
        "y_te": y_te,
        "pred_te": pred_te,
        "scaler": scaler,
        "t_mean": t_mean,
        "t_scale": t_scale,
        "mlp": mlp,
        "alpha": float(search.best_params_["alpha"]),
        "metrics": metrics,
    }


def export(result: dict, root: Path = ARTIFACTS_ROOT) -> Path:
    """Write ``diabetes-mlp/1`` (JSON only) and its int8 twin; return the float artifact dir."""
    mlp: MLPRegressor = result["mlp"]
    scaler: StandardScaler = result["scaler"]
    n_layers = len(mlp.coefs_)
    layers = [
        {
            "weights": W.T.tolist(),  # out x in: row j holds the weights into unit j
            "bias": b.tolist(),
            "activation": "relu" if k < n_layers - 1 else "identity",
        }
        for k, (W, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_))
    ]
    weights = {"architecture": "dense-mlp", "layers": layers}
    scaler_json = {
        "input_mean": scaler.mean_.tolist(),
        "input_scale": scaler.scale_.tolist(),
        "target_mean": result["t_mean"],
        "target_scale": result["t_scale"],
    }
    X = result["X"]
    heldout = {
        "feature_names": result["names"],
        "rows": result["X_te"].tolist(),
        "targets": result["y_te"].tolist(),
        "note": f"the held-out {int(TEST_SIZE * 100)}% (train_test_split random_state={SEED})",
    }
    feature_stats = {
        n: {
            "mean": round(float(X[:, i].mean()), 4),
            "std": round(float(X[:, i].std()), 4),
            "min": float(X[:, i].min()),
            "max": float(X[:, i].max()),
        }
        for i, n in enumerate(result["names"])
    }
    manifest = {
        "description": (
            f"MLP regressor (10 -> {HIDDEN[0]} ReLU -> 1) predicting diabetes disease "
            "progression one year after baseline"
        ),
        "created_by": "training/train_model.py",
        "inputs": [
            {"name": n, "index": i, "datatype": "FP64", "description": d}
            for i, (n, d) in enumerate(FEATURES)
        ],
        "outputs": [
            {
                "name": "disease_progression",
                "datatype": "FP64",
                "description": "quantitative measure of disease progression (about 25-346)",
            }
        ],
        "feature_stats": feature_stats,
        "metrics": result["metrics"],
        "training": {
            "dataset": "sklearn.datasets.load_diabetes(scaled=False)",
            "n_rows": int(len(result["y"])),
            "data_sha256": data_fingerprint(result["X"], result["y"], result["names"]),
            "split": {"test_size": TEST_SIZE, "random_state": SEED},
            "estimator": "sklearn.neural_network.MLPRegressor",
            "params": {
                "hidden_layer_sizes": list(HIDDEN),
                "activation": "relu",
                "alpha": result["alpha"],
                "max_iter": 3000,
                "random_state": SEED,
            },
            "alpha_chosen_by": "5-fold CV on the training part (mean absolute error)",
            "n_iter": int(mlp.n_iter_),
        },
        "library_versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        },
    }
    files = {
        "weights.json": canonical_json(weights),
        "scaler.json": canonical_json(scaler_json),
        "heldout.json": canonical_json(heldout),
    }
    directory = write_artifact(NAME, VERSION, manifest, files, root=root)

    # The exported JSON must reproduce scikit-learn's predictions.
    model = MLPModel.from_artifact(load_artifact(NAME, VERSION, root=root))
    ours = np.array(model.predict(result["X_te"].tolist()))
    worst = float(np.max(np.abs(ours - result["pred_te"])))
    if worst > 1e-6:
        raise SystemExit(f"export check failed: pure-Python predictions differ by {worst}")
    export_int8_artifact(load_artifact(NAME, VERSION, root=root), root=root)
    if importlib.util.find_spec("onnxruntime") is not None:  # the edge extra
        from export_onnx import export_onnx_artifacts

        models = export_onnx_artifacts(
            load_artifact(NAME, VERSION, root=root), result["X_tr"], root
        )
        if importlib.util.find_spec("skl2onnx") is not None:
            from export_onnx import FLOAT32_RTOL, FLOAT_NAME, skl2onnx_agreement

            gap = skl2onnx_agreement(result, models[FLOAT_NAME])
            if gap > FLOAT32_RTOL:
                raise SystemExit(f"skl2onnx's conversion differs from the export by {gap:.2e}")
            print(f"skl2onnx's conversion of the fitted model agrees within {gap:.1e} relative")
    else:
        print("onnxruntime is not installed (the edge extra): ONNX artifacts not exported")
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, default=ARTIFACTS_ROOT, help="where to write artifacts"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="retrain into a temp dir and compare manifests with the shipped ones",
    )
    args = parser.parse_args(argv)
    result = train()
    m = result["metrics"]
    print(f"alpha={result['alpha']}  CV MAE by alpha: {m['cv_mae_by_alpha']}")
    print(f"{'':22}{'MAE':>8}{'RMSE':>8}{'R2':>8}")
    for label, key in (
        ("MLP (held-out)", "heldout"),
        ("mean baseline", "heldout_mean_baseline"),
        ("MLP (train)", "train"),
    ):
        print(f"{label:22}{m[key]['mae']:8.2f}{m[key]['rmse']:8.2f}{m[key]['r2']:8.3f}")
    if args.check:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            export(result, Path(tmp))
            names = [NAME, NAME + "-int8"]
            if importlib.util.find_spec("onnxruntime") is not None:
                from export_onnx import NAMES as ONNX_NAMES

                names += ONNX_NAMES
            same = all(
                (Path(tmp) / n / VERSION / "manifest.json").read_bytes()
                == (ARTIFACTS_ROOT / n / VERSION / "manifest.json").read_bytes()
                for n in names
            )
        print(
            "retrained artifacts are byte-identical to the shipped ones"
            if same
            else "retrained artifacts DIFFER from the shipped ones"
        )
        return 0 if same else 1
    directory = export(result, args.root)
    manifest = json.loads((directory / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        print(
            f"  {directory.relative_to(args.root.parent) if args.root == ARTIFACTS_ROOT else directory}/{name}"
            f"  {entry['bytes']:>7} B  sha256 {entry['sha256'][:16]}..."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
