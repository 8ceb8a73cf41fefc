"""ONNX Runtime Web measured in the browser: rows for the edge table, from the run itself.

For each ONNX variant (float32, int8 dynamic, int8 static): the model's bytes, the runtime's
bytes a device downloads (the ``.mjs`` and ``.wasm`` files served), held-out MAE and its change
from the pure-Python float model, the largest relative difference of its predictions from that
model's, and latency p50/p99 at batch 1 and batch 64. The browser's clock ticks in 100 µs, so
each latency sample is the mean of a group of calls long enough to span 100 ticks; p50 and p99
are over those groups. ORT-web's groups run in a JavaScript loop (what a page's own script
pays per call); ``b1_p50_us_from_python`` and ``b64_p50_us_from_python`` time the same
calls awaited one by one from Python, which adds the cost of crossing into JavaScript.
The rows carry the keys of :data:`lesson.patterns.edge_runtimes.ROW_KEYS` (plus a few), so
they append to the table of the lesson's own runtimes measured in the same kernel.

Runs in the browser only (:mod:`lesson.patterns.edge_web`); standard library at import.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from lesson.core.artifacts import load_artifact, load_heldout
from lesson.core.runtime import clock_resolution
from lesson.core.stats import percentile, regression_metrics
from lesson.models.mlp import DEFAULT_MLP_NAME, MLPModel
from lesson.patterns.edge_web import float32_rows, ort_web_session, runtime_bytes

#: (variant label, artifact name) of the ONNX files the browser runs.
ORT_WEB_VARIANTS = (
    ("ORT-web float32", "diabetes-mlp-onnx"),
    ("ORT-web int8 dynamic", "diabetes-mlp-onnx-int8"),
    ("ORT-web int8 static", "diabetes-mlp-onnx-int8-static"),
)
BATCHES = (1, 64)
#: A group of calls lasts at least this many clock ticks (100 ticks: 10 ms in the browser).
TICKS_PER_GROUP = 100


async def time_groups(
    group: Callable[[int], Awaitable[float]], *, groups: int = 21, min_group_s: float | None = None
) -> tuple[list[float], int]:
    """Seconds per call, one sample per group: ``await group(n)`` returns what n calls took.

    The group size doubles until a group lasts ``min_group_s`` (default: 100 ticks of this
    interpreter's clock), so the clock's step is at most 1 % of each sample.

    Returns:
        (one per-call mean per group, calls per group).
    """
    if groups < 1:
        raise ValueError("groups must be >= 1")
    floor = min_group_s if min_group_s is not None else TICKS_PER_GROUP * clock_resolution()
    n = 1
    while (elapsed := await group(n)) < floor and n < 1 << 16:
        n *= 2
    samples = [elapsed / n]
    for _ in range(groups - 1):
        samples.append(await group(n) / n)
    return samples, n


async def time_per_call(
    call: Callable[[], Any], *, groups: int = 21, min_group_s: float | None = None
) -> tuple[list[float], int]:
    """:func:`time_groups` of ``call`` (sync, or returning an awaitable) timed by Python."""

    async def group(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            result = call()
            if inspect.isawaitable(result):
                await result
        return time.perf_counter() - start

    return await time_groups(group, groups=groups, min_group_s=min_group_s)


def _latency_fields(samples_by_batch: dict[int, list[float]]) -> dict[str, float]:
    out = {}
    for batch, samples in samples_by_batch.items():
        ordered = sorted(samples)
        out[f"b{batch}_p50_us"] = percentile(ordered, 50) * 1e6
        out[f"b{batch}_p99_us"] = percentile(ordered, 99) * 1e6
    return out


def _chunk(rows: list[list[float]], batch: int) -> list[list[float]]:
    return [rows[i % len(rows)] for i in range(batch)]


async def _session_latencies(session: Any, rows: list[list[float]], groups: int) -> dict:
    """p50/p99 per batch size of ``session.run`` called in a JavaScript loop, timed there."""
    samples = {}
    for batch in BATCHES:
        chunk = _chunk(rows, batch)
        samples[batch], _ = await time_groups(
            lambda n, c=chunk: session.time_runs(c, n), groups=groups
        )
    return _latency_fields(samples)


def _max_relative(a: Sequence[float], b: Sequence[float]) -> float:
    return max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b, strict=True))


async def measure_ort_web(
    rows: list[list[float]] | None = None,
    targets: list[float] | None = None,
    *,
    variants: Sequence[tuple[str, str]] = ORT_WEB_VARIANTS,
    groups: int = 21,
    root: Any = None,
) -> list[dict[str, Any]]:
    """Run each ONNX variant in ONNX Runtime Web; one measured row per variant.

    Args:
        rows, targets: held-out rows and outcomes (default: those shipped with the float
            model's artifact).
        variants: (label, artifact name) pairs.
        groups: latency samples per batch size (each the mean of a group of calls).
        root: artifacts root for the ONNX variants (default: the package's).

    Raises:
        BrowserOnlyError: in CPython (use onnxruntime there).
    """
    reference = MLPModel.from_artifact(load_artifact(DEFAULT_MLP_NAME))
    if rows is None or targets is None:
        rows, targets = load_heldout(load_artifact(DEFAULT_MLP_NAME))
    float32_rows(rows)  # refuse bad rows before any download
    python_preds = reference.predict(rows)
    base_mae = regression_metrics(targets, python_preds)["mae"]
    sessions = [(label, await ort_web_session(name, root=root)) for label, name in variants]
    for _, session in sessions:  # let the wasm compiler's optimising tier settle first
        await time_groups(
            lambda n, s=session: s.time_runs(_chunk(rows, 64), n), groups=3, min_group_s=0.1
        )
    out = []
    for label, session in sessions:
        preds = await session.predict(rows)
        metrics = regression_metrics(targets, preds)
        served = await runtime_bytes(session.ort)
        from_python = {}  # the same calls awaited one by one from Python
        for batch in BATCHES:
            chunk = _chunk(rows, batch)
            from_python[batch], _ = await time_per_call(
                lambda s=session, c=chunk: s.predict(c), groups=groups
            )
        out.append(
            {
                "variant": label,
                "runtime": f"onnxruntime-web {session.ort.version} ({session.provider}, "
                f"{session.ort.threads} thread)",
                "model": f"{session.name}/{session.version}",
                "model_bytes": session.model_bytes,
                "runtime_bytes": sum(served.values()),
                "mae": metrics["mae"],
                "delta_mae": round(metrics["mae"] - base_mae, 4),
                "max_change": max(abs(a - b) for a, b in zip(preds, python_preds, strict=True)),
                "max_rel_diff_vs_python": _max_relative(preds, python_preds),
                "provider": session.provider,
                **await _session_latencies(session, rows, groups),
                **{
                    f"b{batch}_p50_us_from_python": percentile(sorted(samples), 50) * 1e6
                    for batch, samples in from_python.items()
                },
            }
        )
    return out


def speed_ratio(baseline: dict[str, Any], row: dict[str, Any], batch: int = 64) -> float:
    """How many times faster ``row`` is than ``baseline`` at ``batch`` (ratio of p50s)."""
    key = f"b{batch}_p50_us"
    return baseline[key] / row[key] if row[key] > 0 else float("inf")
