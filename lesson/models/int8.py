"""The edge variant of the reference MLP: int8 weights, float activations.

Quantisation here is *weight-only, symmetric, per tensor*: each weight matrix ``W`` is stored
as int8 values ``q = round(W / s)`` in [-127, 127] with one float scale ``s = max|W| / 127``;
biases, inputs and activations stay float. Inference computes ``s * sum(q_i * x_i)`` directly
from the integers. The artifact (``lesson/artifacts/diabetes-mlp-int8/1/``) stores the int8
bytes base64-encoded in JSON and ships the held-out set, so its accuracy change can be
measured anywhere, including the browser, which is the lesson's edge device. Standard
library only. :mod:`lesson.patterns.edge` measures it against the full-precision model.
"""

from __future__ import annotations

import base64
import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from operator import mul
from typing import Any

from lesson.core.artifacts import (
    Artifact,
    ArtifactIntegrityError,
    canonical_json,
    load_artifact,
    write_artifact,
)
from lesson.core.stats import regression_metrics
from lesson.models.mlp import DEFAULT_MLP_NAME, MLPModel, MLPParams, params_from_artifact

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
        raise ArtifactIntegrityError(
            f"{what}: {len(flat)} int8 weights, shape says {n_out} x {n_in}"
        )
    return tuple(tuple(flat[j * n_in : (j + 1) * n_in]) for j in range(n_out))


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
        layers.append(
            {
                "shape": [len(layer.weights), len(layer.weights[0])],
                "weights_int8_base64": _encode_int8(q),
                "scale": scale,
                "bias": list(layer.bias),
                "activation": layer.activation,
            }
        )
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
        "heldout_full_precision": regression_metrics(
            heldout["targets"], fp_model.predict(heldout["rows"])
        ),
    }
    manifest = {
        "description": source.manifest.get("description", "") + " -- int8 weights",
        "created_by": "lesson.models.int8.export_int8_artifact (run by training/train_model.py)",
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
            raise ArtifactIntegrityError(
                f"layer {k}: takes {n_in} inputs, previous layer gives {width}"
            )
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
    def from_artifact(cls, artifact: Artifact) -> QuantisedMLPModel:
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
        return cls(
            _quantised_params(base, weights),
            name=artifact.name,
            version=artifact.version,
            manifest=artifact.manifest,
        )

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
        return sum(
            len(layer.weights) * len(layer.weights[0]) + len(layer.bias)
            for layer in self.params.layers
        )


def load_edge_model(
    name: str = DEFAULT_EDGE_NAME, version: str | int | None = None, *, root=None
) -> QuantisedMLPModel:
    """Load and verify the int8 artifact and return the quantised model."""
    return QuantisedMLPModel.load(name, version, root=root)
