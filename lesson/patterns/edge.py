"""The edge runtime measured: the int8 model against full precision, on the device it runs on.

The browser is the lesson's edge device: this module runs there (standard library only) and
reports size on disk, latency per prediction and held-out accuracy of both variants::

    >>> from lesson.patterns.edge import compare_edge_models
    >>> print(compare_edge_models().to_text())   # doctest: +SKIP
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from lesson.core.artifacts import load_artifact, load_heldout
from lesson.core.stats import regression_metrics
from lesson.models.int8 import QuantisedLayer, QuantisedMLPModel, load_edge_model
from lesson.models.mlp import DEFAULT_MLP_NAME, MLPModel, load_default_mlp


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
        lines.append(
            f"file B: weights file on disk; param B: parameters in their stored precision. "
            f"Held-out rows: {self.heldout_n}; largest prediction change: "
            f"{self.max_abs_prediction_change:.3f}"
        )
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
    fp_model = fp_model or (
        load_default_mlp()
        if root is None
        else MLPModel.from_artifact(load_artifact(DEFAULT_MLP_NAME, root=root))
    )
    int8_model = int8_model or load_edge_model(root=root)
    int8_artifact = load_artifact(int8_model.name, int8_model.version, root=root)
    fp_artifact = load_artifact(fp_model.name, fp_model.version, root=root)
    rows, targets = load_heldout(int8_artifact)
    results = []
    preds = {}
    for label, model, artifact in (
        ("full precision (fp64)", fp_model, fp_artifact),
        ("int8 weights", int8_model, int8_artifact),
    ):
        preds[label] = model.predict(rows)
        m = regression_metrics(targets, preds[label])
        weight_file = (
            "weights_int8.json" if "weights_int8.json" in artifact.files else "weights.json"
        )
        results.append(
            {
                "variant": label,
                "model": f"{model.name}/{model.version}",
                "disk_bytes": len(artifact.files[weight_file]),
                "artifact_bytes": artifact.size_bytes,
                "tensor_bytes": _tensor_bytes(model),
                "latency_us": _latency_per_prediction(model, rows, repeats) * 1e6,
                **m,
            }
        )
    for r in results:
        r["delta_mae"] = round(r["mae"] - results[0]["mae"], 4)
    change = max(abs(a - b) for a, b in zip(*preds.values()))
    return EdgeComparison(rows=results, max_abs_prediction_change=change, heldout_n=len(rows))
