"""The edge variants side by side in one measured table: the lesson's own runtimes and ONNX Runtime.

One row per variant, all with the same keys (:data:`ROW_KEYS`), so a runtime measured elsewhere
(ONNX Runtime Web in the browser) appends its rows to the same table:

- ``pure-Python float`` and ``lesson int8``: the lesson's MLP in the standard library (here and
  in the browser);
- ``ORT float32``, ``ORT int8 dynamic``, ``ORT int8 static``: the ONNX files run by ONNX Runtime
  in CPython (only where ``onnxruntime`` imports: never in Pyodide).

Each row holds the model's bytes, the runtime's bytes a device must download, held-out MAE and
its change from float, the largest change in one prediction, and latency per call p50/p99 at
batch 1 and batch 64, timed over groups of calls (a browser's clock ticks in 100 µs steps).
:func:`runtime_verdicts` turns the table into sentences::

    >>> from lesson.patterns.edge_runtimes import compare_edge_runtimes, runtime_verdicts
    >>> table = compare_edge_runtimes()          # doctest: +SKIP
    >>> print(table.to_text()); print(*runtime_verdicts(table), sep="\\n")  # doctest: +SKIP

Standard library only at import time.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lesson.core.artifacts import Artifact, load_artifact, load_heldout
from lesson.core.runtime import IN_BROWSER, clock_resolution
from lesson.core.stats import percentile, regression_metrics

#: The keys of every row (a row measured elsewhere must carry the same ones).
ROW_KEYS = (
    "variant",
    "runtime",
    "model_bytes",
    "runtime_bytes",
    "mae",
    "delta_mae",
    "max_change",
    "b1_p50_us",
    "b1_p99_us",
    "b64_p50_us",
    "b64_p99_us",
)
BATCHES = (1, 64)
#: Each timed group lasts about this long, so a coarse clock's tick is a small part of it.
GROUP_S = 0.004


def _group_size(predict: Callable[[list[list[float]]], Any], batch: list[list[float]]) -> int:
    """Calls that fill about :data:`GROUP_S`, estimated from a warm-up."""
    predict(batch)  # first-call allocations, caches
    start, calls = time.perf_counter(), 0
    while calls < 1000 and (calls < 2 or time.perf_counter() - start < GROUP_S):
        predict(batch)
        calls += 1
    per_call = max((time.perf_counter() - start) / calls, 1e-9)
    return max(1, min(10_000, math.ceil(GROUP_S / per_call)))


def time_calls(
    predicts: Sequence[Callable[[list[list[float]]], Any]],
    batch: list[list[float]],
    *,
    groups: int = 25,
) -> list[tuple[float, float]]:
    """p50 and p99 seconds per call of each ``predict(batch)``; each sample is one group's mean.

    A group holds as many calls as fill :data:`GROUP_S`, so a coarse clock's tick is a small
    part of every sample; the variants' groups take turns, so a busy moment on a shared
    machine lands on all of them alike rather than on whichever ran then.
    """
    if not 3 <= groups <= 1000:
        raise ValueError("groups must be in 3..1000")
    sizes = [_group_size(p, batch) for p in predicts]
    samples: list[list[float]] = [[] for _ in predicts]
    for _ in range(groups):
        for predict, size, out in zip(predicts, sizes, samples):
            t0 = time.perf_counter()
            for _ in range(size):
                predict(batch)
            out.append((time.perf_counter() - t0) / size)
    return [(percentile(sorted(s), 50), percentile(sorted(s), 99)) for s in samples]


def _source_bytes(*modules: Any) -> int:
    """Bytes of the ``.py`` files of ``modules`` (what the pure-Python runtime adds)."""
    paths = [inspect.getsourcefile(m) or getattr(m, "__file__", None) for m in modules]
    return sum(os.path.getsize(p) for p in paths if p and os.path.exists(p))


def onnxruntime_installed_bytes() -> int:
    """The onnxruntime wheel's installed size: the sizes its RECORD lists, summed (numpy, which
    it also needs, is not counted)."""
    files = importlib.metadata.distribution("onnxruntime").files or []
    return sum(f.size or 0 for f in files)


@dataclass(repr=False)
class RuntimeTable:
    """The measured rows (dicts with :data:`ROW_KEYS`), the held-out size and the clock."""

    rows: list[dict[str, Any]]
    heldout_n: int
    tick_s: float
    n_parameters: int = 0
    notes: dict[str, str] = field(default_factory=dict)

    def add_row(self, row: dict[str, Any]) -> None:
        """Append a row measured elsewhere (same keys; e.g. ONNX Runtime Web in the browser)."""
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise ValueError(f"a row needs the keys {list(ROW_KEYS)}; missing {missing}")
        self.rows.append(dict(row))

    def row(self, variant: str) -> dict[str, Any] | None:
        """The row of ``variant``, or None."""
        return next((r for r in self.rows if r["variant"] == variant), None)

    def __repr__(self) -> str:
        return self.to_text()

    def to_text(self) -> str:
        """A plain-text table (latency in µs per call)."""
        head = (
            f"{'variant':<19}{'model B':>9}{'runtime B':>12}{'MAE':>8}{'ΔMAE':>8}{'max Δ':>7}"
            f"{'b1 p50':>9}{'b1 p99':>9}{'b64 p50':>9}{'b64 p99':>9}"
        )
        lines = [head]
        for r in self.rows:
            lines.append(
                f"{r['variant']:<19}{r['model_bytes']:>9,}{r['runtime_bytes']:>12,}{r['mae']:>8.2f}"
                f"{r['delta_mae']:>+8.3f}{r['max_change']:>7.2f}{r['b1_p50_us']:>9.1f}"
                f"{r['b1_p99_us']:>9.1f}{r['b64_p50_us']:>9.1f}{r['b64_p99_us']:>9.1f}"
            )
        lines.append(
            f"latency: µs per call; {self.heldout_n} held-out rows; "
            + "; ".join(f"{k}: {v}" for k, v in self.notes.items())
        )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{r['variant']}</td><td>{r['model_bytes']:,}</td><td>{r['runtime_bytes']:,}</td>"
            f"<td>{r['mae']:.2f}</td><td>{r['delta_mae']:+.3f}</td><td>{r['max_change']:.2f}</td>"
            f"<td>{r['b1_p50_us']:.1f}</td><td>{r['b1_p99_us']:.1f}</td>"
            f"<td>{r['b64_p50_us']:.1f}</td><td>{r['b64_p99_us']:.1f}</td></tr>"
            for r in self.rows
        )
        notes = "".join(f"<li>{k}: {v}</li>" for k, v in self.notes.items())
        return (
            '<table class="lesson-results"><thead><tr><th>variant</th><th>model bytes</th>'
            "<th>runtime bytes</th><th>MAE</th><th>ΔMAE</th><th>largest change</th>"
            "<th>batch 1 p50 µs</th><th>batch 1 p99 µs</th><th>batch 64 p50 µs</th>"
            f"<th>batch 64 p99 µs</th></tr></thead><tbody>{cells}</tbody></table>"
            f"<p>Latency per call; {self.heldout_n} held-out rows.</p><ul>{notes}</ul>"
        )


def measure_rows(
    variants: Sequence[tuple[str, str, Callable[[list[list[float]]], Any], int, int]],
    *,
    rows: list[list[float]],
    targets: list[float],
    reference: Sequence[float] | None = None,
    groups: int = 25,
) -> tuple[list[dict[str, Any]], list[float]]:
    """Measure ``(variant, runtime, predict, model_bytes, runtime_bytes)`` each, timed in turns.

    Returns the rows (``delta_mae`` and ``max_change`` against the first variant, or against
    ``reference`` predictions when given) and the reference predictions.
    """
    preds = [[float(p) for p in v[2](rows)] for v in variants]
    ref = list(reference) if reference is not None else preds[0]
    ref_mae = regression_metrics(targets, ref)["mae"]
    out = []
    for (variant, runtime, _, model_bytes, runtime_bytes), p in zip(variants, preds):
        mae = regression_metrics(targets, p)["mae"]
        out.append(
            {
                "variant": variant,
                "runtime": runtime,
                "model_bytes": int(model_bytes),
                "runtime_bytes": int(runtime_bytes),
                "mae": mae,
                "delta_mae": round(mae - ref_mae, 4),
                "max_change": max(abs(a - b) for a, b in zip(p, ref)),
            }
        )
    for n in BATCHES:
        batch = [rows[i % len(rows)] for i in range(n)]
        for row, (p50, p99) in zip(out, time_calls([v[2] for v in variants], batch, groups=groups)):
            row[f"b{n}_p50_us"], row[f"b{n}_p99_us"] = p50 * 1e6, p99 * 1e6
    return out, ref


def _file_bytes(artifact: Artifact, *names: str) -> int:
    return sum(len(artifact.files[n]) for n in names)


def compare_edge_runtimes(
    *, include_onnxruntime: bool | None = None, groups: int = 25, root=None
) -> RuntimeTable:
    """Measure every variant this Python can run, on the held-out rows shipped with the model.

    Args:
        include_onnxruntime: add the ONNX Runtime rows (default: when onnxruntime imports,
            which it never does in the browser).
        groups: timed groups per batch size (p50 and p99 over them).
        root: artifacts root (default: the shipped artifacts).
    """
    from lesson.core import artifacts, schema
    from lesson.models import int8, mlp, onnx_runtime

    fp_art = load_artifact(mlp.DEFAULT_MLP_NAME, root=root)
    q_art = load_artifact(int8.DEFAULT_EDGE_NAME, root=root)
    rows, targets = load_heldout(fp_art)
    py_bytes = _source_bytes(mlp, artifacts, schema)
    lesson_runtime = "lesson .py files on the device's Python"
    variants = [
        (
            "pure-Python float",
            lesson_runtime,
            mlp.MLPModel.from_artifact(fp_art).predict,
            _file_bytes(fp_art, "weights.json", "scaler.json"),
            py_bytes,
        ),
        (
            "lesson int8",
            lesson_runtime,
            int8.QuantisedMLPModel.from_artifact(q_art).predict,
            _file_bytes(q_art, "weights_int8.json", "scaler.json"),
            py_bytes + _source_bytes(int8),
        ),
    ]
    notes = {
        "model bytes": "the files the runtime loads (JSON weights + scaler, or model.onnx)",
        "runtime bytes (lesson)": "the .py files that run it, on a Python the device already has",
    }
    if include_onnxruntime is None:
        include_onnxruntime = not IN_BROWSER and onnx_runtime.onnxruntime_available()
    if include_onnxruntime:
        import onnxruntime

        ort_bytes = onnxruntime_installed_bytes()
        notes["runtime bytes (ORT)"] = (
            f"onnxruntime {onnxruntime.__version__}'s installed files, summed from its wheel's "
            "RECORD (numpy, which it needs, not counted)"
        )
        for variant, name in zip(
            ("ORT float32", "ORT int8 dynamic", "ORT int8 static"), onnx_runtime.ONNX_NAMES
        ):
            model = onnx_runtime.OnnxModel(load_artifact(name, root=root))
            runtime = f"onnxruntime {onnxruntime.__version__} (CPython)"
            variants.append((variant, runtime, model.predict, model.model_bytes, ort_bytes))
    measured, _ = measure_rows(variants, rows=rows, targets=targets, groups=groups)
    params = mlp.params_from_artifact(fp_art)
    table = RuntimeTable(
        [],
        heldout_n=len(rows),
        tick_s=clock_resolution(),
        n_parameters=sum(len(ly.bias) * (1 + len(ly.weights[0])) for ly in params.layers),
        notes=notes,
    )
    for row in measured:
        table.add_row(row)
    return table
