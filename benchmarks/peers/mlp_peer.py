"""The diabetes MLP for the peer servers: standard library + numpy only (no `lesson` import).

Reads the lesson's artifact JSON directly (``lesson/artifacts/diabetes-mlp/<newest>/``), checks
every file against the manifest's sha256 (never pickle), and runs the same forward pass as
``lesson/models/mlp_numpy.py``: ``h = (X - mean) / scale``; per layer ``h = h @ W.T + b`` (ReLU
where the layer says so); ``out = h[:, 0] * target_scale + target_mean``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

ARTIFACTS = Path(
    os.environ.get("PEER_ARTIFACTS", Path(__file__).resolve().parents[2] / "lesson" / "artifacts")
)
NAME = "diabetes-mlp"


class PeerMLP:
    """Weights as numpy arrays; ``predict(X)`` for an ``(n, 10)`` float array."""

    def __init__(self, name: str = NAME, root: Path = ARTIFACTS) -> None:
        versions = sorted(
            (p for p in (root / name).iterdir() if (p / "manifest.json").exists()),
            key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name),
        )
        directory = versions[-1]
        manifest = json.loads((directory / "manifest.json").read_text())
        files = {}
        for filename, entry in manifest["files"].items():
            data = (directory / filename).read_bytes()
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise ValueError(f"{directory / filename} does not match its manifest")
            files[filename] = json.loads(data)
        scaler, weights = files["scaler.json"], files["weights.json"]
        self.name, self.version = name, directory.name
        self.n_features = len(manifest["inputs"])
        self.mean = np.asarray(scaler["input_mean"], dtype=np.float64)
        self.scale = np.asarray(scaler["input_scale"], dtype=np.float64)
        self.target_mean, self.target_scale = (
            float(scaler["target_mean"]),
            float(scaler["target_scale"]),
        )
        self.layers = [
            (
                np.ascontiguousarray(np.asarray(layer["weights"], dtype=np.float64).T),
                np.asarray(layer["bias"], dtype=np.float64),
                layer["activation"] == "relu",
            )
            for layer in weights["layers"]
        ]

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected (n, {self.n_features}) inputs, got shape {X.shape}")
        h = (X - self.mean) / self.scale
        for W, b, relu in self.layers:
            h = h @ W
            h += b
            if relu:
                np.maximum(h, 0.0, out=h)
        return h[:, 0] * self.target_scale + self.target_mean
