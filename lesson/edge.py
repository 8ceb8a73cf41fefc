"""The edge variant: the reference MLP with int8 weights, measured against full precision.

Quantisation here is *weight-only, symmetric, per tensor*: each weight matrix ``W`` is stored
as int8 values ``q = round(W / s)`` in [-127, 127] with one float scale ``s = max|W| / 127``;
biases, inputs and activations stay float. Inference computes ``s * sum(q_i * x_i)`` directly
from the integers. The artifact (``lesson/artifacts/diabetes-mlp-int8/1/``) stores the int8
bytes base64-encoded in JSON and ships the held-out set, so its accuracy change can be
measured anywhere, including the browser, which is the lesson's edge device. Standard
library only.

    >>> from lesson.edge import compare_edge_models
    >>> print(compare_edge_models().to_text())   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import math
import statistics
import time
from array import array
from dataclasses import dataclass
from operator import mul
from typing import Any, Sequence

from lesson.artifacts import Artifact, ArtifactIntegrityError, canonical_json, load_artifact, write_artifact
from lesson.mlp import DEFAULT_MLP_NAME, MLPModel, MLPParams, load_default_mlp, params_from_artifact

__all__ = [
    "DEFAULT_EDGE_NAME",
    "QuantisedLayer",
    "QuantisedMLPModel",
    "quantise_tensor",
    "export_int8_artifact",
    "load_edge_model",
    "load_heldout",
    "regression_metrics",
    "EdgeComparison",
    "compare_edge_models",
]

DEFAULT_EDGE_NAME = DEFAULT_MLP_NAME + "-int8"
QMAX = 127


def quantise_tensor(rows: Sequence[Sequence[float]]) -> tuple[list[list[int]], float]:
    """Symmetric per-tensor int8 quantisation.

    Args:
        rows: a float matrix.

    Returns:
        ``(q, scale)`` with integers in [-127, 127] and ``rows[i][j] ~= q[i][j] * scale``
        (error at most ``scale / 2``).
    """
    peak = max((abs(v) for row in rows for v in row), default=0.0)
    scale = peak / QMAX if peak > 0 else 1.0
    q = [[max(-QMAX, min(QMAX, int(round(v / scale)))) for v in row] for row in rows]
    return q, scale


@dataclass(frozen=True)
class QuantisedLayer:
    """A dense layer with int8 weights (``weights[j]`` feeds unit ``j``) and one scale."""

    weights: tuple[tuple[int, ...], ...]
    scale: float
    bias: tuple[float, ...]
    activation: str


def _encode_int8(q: list[list[int]]) -> str:
    return base64.b64encode(array("b", [v for row in q for v in row]).tobytes()).decode("ascii")


def _decode_int8(text: str, n_out: int, n_in: int, what: str) -> tuple[tuple[int, ...], ...]:
    try:
        flat = array("b", base64.b64decode(text.encode("ascii"), validate=True))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ArtifactIntegrityError(f"{what}: weights are not valid base64 ({exc})") from exc
    if len(flat) != n_out * n_in:
        raise ArtifactIntegrityError(f"{what}: {len(flat)} int8 weights, shape says {n_out} x {n_in}")
    return tuple(tuple(flat[j * n_in:(j + 1) * n_in]) for j in range(n_out))


def export_int8_artifact(
    source: Artifact,
    *,
    name: str | None = None,
    version: str | None = None,
    root=None,
) -> Artifact:
    """Quantise a float MLP artifact and write its int8 twin (same version by default).

    Args:
        source: the verified float artifact (e.g. ``load_artifact("diabetes-mlp")``).
        name: artifact name (default ``<source>-int8``).
        version: version directory (default: the source's).
        root: artifacts root (default: the package's).

    Returns:
        The written int8 artifact, loaded back and verified.
    """
    params = params_from_artifact(source)
    name = name or f"{source.name}-int8"
    version = str(version or source.version)
    layers = []
    for layer in params.layers:
        q, scale = quantise_tensor(layer.weights)
        layers.append({
            "shape": [len(layer.weights), len(layer.weights[0])],
            "weights_int8_base64": _encode_int8(q),
            "scale": scale,
            "bias": list(layer.bias),
            "activation": layer.activation,
        })
    weights = {
        "architecture": "dense-mlp",
        "quantisation": "int8, symmetric, per tensor, weight-only (w ~= q * scale)",
        "layers": layers,
    }
    heldout = source.json("heldout.json")
    int8_model = QuantisedMLPModel(_quantised_params(params, weights), name=name, version=version)
    fp_model = MLPModel(params, name=source.name, version=source.version)
    metrics = {
        "heldout": regression_metrics(heldout["targets"], int8_model.predict(heldout["rows"])),
        "heldout_full_precision": regression_metrics(heldout["targets"], fp_model.predict(heldout["rows"])),
    }
    manifest = {
        "description": source.manifest.get("description", "") + " -- int8 weights",
        "created_by": "lesson.edge.export_int8_artifact (run by training/train_model.py)",
        "quantised_from": {
            "name": source.name,
            "version": source.version,
            "manifest_sha256": source.manifest["_manifest_sha256"],
        },
        "inputs": source.manifest["inputs"],
        "outputs": source.manifest["outputs"],
        "feature_stats": source.manifest.get("feature_stats", {}),
        "metrics": metrics,
        "training": source.manifest.get("training", {}),
        "library_versions": source.manifest.get("library_versions", {}),
    }
    files = {
        "weights_int8.json": canonical_json(weights),
        "scaler.json": source.files["scaler.json"],
        "heldout.json": source.files["heldout.json"],
    }
    write_artifact(name, version, manifest, files, root=root)
    return load_artifact(name, version, root=root)


def _quantised_params(params: MLPParams, weights: dict[str, Any]) -> MLPParams:
    layers = []
    width = params.n_features
    for k, raw in enumerate(weights["layers"]):
        n_out, n_in = raw["shape"]
        if n_in != width:
            raise ArtifactIntegrityError(f"layer {k}: takes {n_in} inputs, previous layer gives {width}")
        q = _decode_int8(raw["weights_int8_base64"], n_out, n_in, f"layer {k}")
        bias = tuple(float(b) for b in raw["bias"])
        scale = float(raw["scale"])
        if len(bias) != n_out or not (math.isfinite(scale) and scale > 0):
            raise ArtifactIntegrityError(f"layer {k}: bias or scale does not fit")
        layers.append(QuantisedLayer(q, scale, bias, raw["activation"]))
        width = n_out
    return MLPParams(
        feature_names=params.feature_names,
        input_mean=params.input_mean,
        input_scale=params.input_scale,
        target_mean=params.target_mean,
        target_scale=params.target_scale,
        layers=tuple(layers),  # type: ignore[arg-type]
        output_name=params.output_name,
    )


class QuantisedMLPModel(MLPModel):
    """The MLP with int8 weights, run in pure Python (implements the core ``Model`` protocol)."""

    platform = "python-stdlib-int8"

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> "QuantisedMLPModel":
        """Build from a verified int8 artifact (``weights_int8.json`` + ``scaler.json``)."""
        scaler = artifact.json("scaler.json")
        weights = artifact.json("weights_int8.json")
        base = MLPParams(
            feature_names=tuple(str(i["name"]) for i in artifact.manifest["inputs"]),
            input_mean=tuple(float(v) for v in scaler["input_mean"]),
            input_scale=tuple(float(v) for v in scaler["input_scale"]),
            target_mean=float(scaler["target_mean"]),
            target_scale=float(scaler["target_scale"]),
            layers=(),
            output_name=str(artifact.manifest["outputs"][0]["name"]),
        )
        return cls(_quantised_params(base, weights), name=artifact.name,
                   version=artifact.version, manifest=artifact.manifest)

    def _predict_row(self, row: Sequence[float]) -> float:
        p = self.params
        h = [(v - m) / s for v, m, s in zip(row, p.input_mean, p.input_scale)]
        for layer in p.layers:
            scale = layer.scale  # type: ignore[attr-defined]
            h = [b + scale * sum(map(mul, q, h)) for q, b in zip(layer.weights, layer.bias)]
            if layer.activation == "relu":
                h = [v if v > 0.0 else 0.0 for v in h]
        return h[0] * p.target_scale + p.target_mean

    @property
    def n_parameters(self) -> int:
        """Weights plus biases."""
        return sum(len(l.weights) * len(l.weights[0]) + len(l.bias) for l in self.params.layers)


def load_edge_model(name: str = DEFAULT_EDGE_NAME, version: str | int | None = None, *, root=None) -> QuantisedMLPModel:
    """Load and verify the int8 artifact and return the quantised model."""
    return QuantisedMLPModel.from_artifact(load_artifact(name, version, root=root))


def load_heldout(artifact: Artifact) -> tuple[list[list[float]], list[float]]:
    """The held-out rows and targets shipped (and checksummed) inside an artifact."""
    heldout = artifact.json("heldout.json")
    return [list(map(float, r)) for r in heldout["rows"]], [float(t) for t in heldout["targets"]]


def regression_metrics(y_true: Sequence[float], y_pred: Sequence[float]) -> dict[str, float]:
    """MAE, RMSE and R^2 in pure Python (rounded to 4 places)."""
    n = len(y_true)
    if n == 0 or n != len(y_pred):
        raise ValueError("need equally many targets and predictions, at least one")
    errors = [p - t for t, p in zip(y_true, y_pred)]
    mean = sum(y_true) / n
    ss_tot = sum((t - mean) ** 2 for t in y_true)
    ss_res = sum(e * e for e in errors)
    return {
        "n": n,
        "mae": round(sum(abs(e) for e in errors) / n, 4),
        "rmse": round(math.sqrt(ss_res / n), 4),
        "r2": round(1.0 - ss_res / ss_tot, 4) if ss_tot > 0 else float("nan"),
    }


def _tensor_bytes(model: MLPModel) -> int:
    """Bytes of the parameters in their stored precision (float64 or int8 + one scale)."""
    total = 0
    for layer in model.params.layers:
        n_w = len(layer.weights) * len(layer.weights[0])
        if isinstance(layer, QuantisedLayer):
            total += n_w * 1 + 8 + len(layer.bias) * 8
        else:
            total += (n_w + len(layer.bias)) * 8
    return total


def _latency_per_prediction(model: MLPModel, rows: list[list[float]], repeats: int) -> float:
    """Median seconds per single-row prediction, timed over groups (coarse browser clocks)."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for row in rows:
            model.predict([row])
        samples.append((time.perf_counter() - start) / len(rows))
    return statistics.median(samples)


@dataclass
class EdgeComparison:
    """Full precision vs int8, measured on the held-out set shipped in the artifacts."""

    rows: list[dict[str, Any]]
    max_abs_prediction_change: float
    heldout_n: int

    def to_text(self) -> str:
        """A plain-text table."""
        head = f"{'variant':<22}{'file B':>10}{'param B':>10}{'µs/pred':>10}{'MAE':>9}{'RMSE':>9}{'R2':>8}{'ΔMAE':>8}"
        lines = [head]
        for r in self.rows:
            lines.append(
                f"{r['variant']:<22}{r['disk_bytes']:>10,}{r['tensor_bytes']:>10,}"
                f"{r['latency_us']:>10.1f}{r['mae']:>9.2f}{r['rmse']:>9.2f}{r['r2']:>8.3f}{r['delta_mae']:>+8.2f}"
            )
        lines.append(f"file B: weights file on disk; param B: parameters in their stored precision. "
                     f"Held-out rows: {self.heldout_n}; largest prediction change: "
                     f"{self.max_abs_prediction_change:.3f}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{r['variant']}</td><td>{r['disk_bytes']:,}</td><td>{r['tensor_bytes']:,}</td>"
            f"<td>{r['latency_us']:.1f}</td><td>{r['mae']:.2f}</td><td>{r['rmse']:.2f}</td>"
            f"<td>{r['r2']:.3f}</td><td>{r['delta_mae']:+.2f}</td></tr>"
            for r in self.rows
        )
        return (
            '<table class="lesson-results"><thead><tr><th>variant</th><th>weights file (bytes)</th>'
            "<th>parameter bytes</th><th>µs / prediction</th><th>MAE</th><th>RMSE</th><th>R²</th>"
            f"<th>ΔMAE</th></tr></thead><tbody>{cells}</tbody></table>"
            f"<p>Held-out rows: {self.heldout_n}; largest change in one prediction: "
            f"{self.max_abs_prediction_change:.3f}.</p>"
        )


def compare_edge_models(
    fp_model: MLPModel | None = None,
    int8_model: QuantisedMLPModel | None = None,
    *,
    repeats: int = 5,
    root=None,
) -> EdgeComparison:
    """Measure size on disk, latency per prediction and held-out accuracy of both variants.

    Args:
        fp_model: the full-precision model (default: the shipped ``diabetes-mlp``).
        int8_model: the int8 model (default: the shipped ``diabetes-mlp-int8``).
        repeats: timing repeats; the median is reported.
        root: artifacts root for the defaults and the size on disk.

    Returns:
        An :class:`EdgeComparison` (``.to_text()``, or displays as an HTML table).
    """
    if not 1 <= repeats <= 1000:
        raise ValueError("repeats must be in 1..1000")
    fp_model = fp_model or (load_default_mlp() if root is None else MLPModel.from_artifact(load_artifact(DEFAULT_MLP_NAME, root=root)))
    int8_model = int8_model or load_edge_model(root=root)
    int8_artifact = load_artifact(int8_model.name, int8_model.version, root=root)
    fp_artifact = load_artifact(fp_model.name, fp_model.version, root=root)
    rows, targets = load_heldout(int8_artifact)
    results = []
    preds = {}
    for label, model, artifact in (("full precision (fp64)", fp_model, fp_artifact),
                                   ("int8 weights", int8_model, int8_artifact)):
        preds[label] = model.predict(rows)
        m = regression_metrics(targets, preds[label])
        weight_file = "weights_int8.json" if "weights_int8.json" in artifact.files else "weights.json"
        results.append({
            "variant": label,
            "model": f"{model.name}/{model.version}",
            "disk_bytes": len(artifact.files[weight_file]),
            "artifact_bytes": artifact.size_bytes,
            "tensor_bytes": _tensor_bytes(model),
            "latency_us": _latency_per_prediction(model, rows, repeats) * 1e6,
            **m,
        })
    for r in results:
        r["delta_mae"] = round(r["mae"] - results[0]["mae"], 4)
    change = max(abs(a - b) for a, b in zip(*preds.values()))
    return EdgeComparison(rows=results, max_abs_prediction_change=change, heldout_n=len(rows))
