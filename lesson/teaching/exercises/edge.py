"""The exercises of notebook 05-edge (edge): int8 quantisation, a tampered artifact, and choosing
a variant from the measured table within an accuracy budget and a download budget.

Each exercise is one :class:`Exercise` record built with keyword fields; its checker and its
reference solution sit just above it. :mod:`lesson.teaching.exercises` collects the records.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from typing import Any

from lesson.teaching.exercises._record import Exercise, expect, near

NOTEBOOK = "05-edge"


def _artifact_cases() -> tuple[dict[str, Any], dict[str, bytes]]:
    from lesson.core.artifacts import load_artifact

    artifact = load_artifact("diabetes-mlp")
    manifest = {"files": {k: dict(v) for k, v in artifact.manifest["files"].items()}}
    return manifest, dict(artifact.files)


# ---- quantise_int8 -----------------------------------------------------------------------------


def quantise_int8(weights: Sequence[float]) -> tuple[float, list[int]]:
    """Symmetric per-tensor int8 quantisation: ``w ≈ scale * q`` with q in [-127, 127]."""
    largest = max((abs(w) for w in weights), default=0.0)
    scale = largest / 127 if largest else 1.0
    return scale, [max(-127, min(127, round(w / scale))) for w in weights]


def check_quantise(fn: Callable[[list[float]], tuple[float, list[int]]]) -> str:
    rng = random.Random(3)
    weights = [rng.uniform(-2, 2) for _ in range(200)] + [2.5, -2.5]
    scale, values = fn(list(weights))
    expect(len(values) == len(weights), "one int8 value per weight")
    expect(
        all(isinstance(v, int) and -127 <= v <= 127 for v in values),
        "values must be ints in [-127, 127]",
    )
    expect(near(scale, 2.5 / 127, 1e-9), f"scale {scale!r}: symmetric int8 uses max(|w|) / 127")
    worst = max(abs(w - scale * v) for w, v in zip(weights, values))
    expect(
        worst <= scale / 2 + 1e-12,
        f"worst error {worst:.4g} exceeds half a step ({scale / 2:.4g}): round, don't truncate",
    )
    return f"int8 weights within half a step (worst error {worst:.3g})"


QUANTISE_INT8 = Exercise(
    id="quantise_int8",
    notebook=NOTEBOOK,
    title="Quantise weights to int8",
    task="Write quantise(weights) -> (scale, ints) with symmetric per-tensor int8.",
    hint="scale = max(|w|)/127; q = round(w/scale), clipped to [-127, 127].",
    checker=check_quantise,
    solution=quantise_int8,
)


# ---- dequantise_int8 ---------------------------------------------------------------------------


def dequantise_int8(scale: float, values: Sequence[int]) -> list[float]:
    """Map int8 values back to floats."""
    return [scale * v for v in values]


def check_dequantise(fn: Callable[[float, list[int]], list[float]]) -> str:
    got = fn(0.5, [-127, 0, 3])
    expect(
        len(got) == 3 and all(near(a, b) for a, b in zip(got, [-63.5, 0.0, 1.5])), f"got {got!r}"
    )
    return "int8 values map back to floats"


DEQUANTISE_INT8 = Exercise(
    id="dequantise_int8",
    notebook=NOTEBOOK,
    title="Dequantise",
    task="Write dequantise(scale, ints) -> floats.",
    hint="Multiply.",
    checker=check_dequantise,
    solution=dequantise_int8,
)


# ---- tampered_files ----------------------------------------------------------------------------


def tampered_files(manifest: dict[str, Any], files: dict[str, bytes]) -> list[str]:
    """Names of manifest files that are missing, of the wrong size or with the wrong sha256."""
    bad = []
    for name, entry in manifest["files"].items():
        data = files.get(name)
        if (
            data is None
            or len(data) != entry["bytes"]
            or hashlib.sha256(data).hexdigest() != entry["sha256"]
        ):
            bad.append(name)
    return sorted(bad)


def check_tampered_files(fn: Callable[[dict[str, Any], dict[str, bytes]], list[str]]) -> str:
    manifest, files = _artifact_cases()
    names = sorted(manifest["files"])
    got = fn(manifest, dict(files))
    expect(list(got) == [], f"the untouched artifact was flagged: {got!r}")
    victim = "weights.json" if "weights.json" in files else names[0]
    data = bytearray(files[victim])
    middle = len(data) // 2
    data[middle] = ord("7") if data[middle] != ord("7") else ord("8")  # same size, one byte changed
    got = sorted(fn(manifest, {**files, victim: bytes(data)}))
    expect(
        got == [victim],
        f"one changed byte in {victim} (same size) gave {got!r}: compare sha256, not just sizes",
    )
    got = sorted(fn(manifest, {**files, victim: files[victim][:-10]}))
    expect(got == [victim], f"a truncated {victim} gave {got!r}, expected [{victim!r}]")
    missing = {k: v for k, v in files.items() if k != names[-1]}
    got = sorted(fn(manifest, missing))
    expect(
        got == [names[-1]],
        f"with {names[-1]} missing you returned {got!r}: a missing file is not intact",
    )
    got = sorted(fn(manifest, {**files, "notes.txt": b"extra"}))
    expect(got == [], f"a file the manifest does not list should be ignored, you returned {got!r}")
    return f"altered, truncated and missing files all caught across the {len(names)} files of diabetes-mlp"


TAMPERED_FILES = Exercise(
    id="tampered_files",
    notebook=NOTEBOOK,
    title="Detect a tampered artifact",
    task=(
        "Write tampered_files(manifest, files) -> sorted names of the files the manifest "
        "lists that are missing, of the wrong size or whose sha256 differs (files: name "
        "-> bytes)."
    ),
    hint=(
        "hashlib.sha256(data).hexdigest(); a changed byte keeps the size, so sizes alone "
        "are not enough."
    ),
    checker=check_tampered_files,
    solution=tampered_files,
)


# ---- choose_edge_variant -----------------------------------------------------------------------


def choose_edge_variant(
    rows: Sequence[dict[str, Any]], max_mae_increase: float, max_download_bytes: int
) -> str | None:
    """The fastest variant at batch 1 (ties: the smaller download) whose held-out MAE grew by at
    most ``max_mae_increase`` and whose runtime + model bytes fit ``max_download_bytes``."""
    fits = [
        r
        for r in rows
        if r["delta_mae"] <= max_mae_increase
        and r["runtime_bytes"] + r["model_bytes"] <= max_download_bytes
    ]
    if not fits:
        return None
    best = min(fits, key=lambda r: (r["b1_p50_us"], r["runtime_bytes"] + r["model_bytes"]))
    return best["variant"]


def _variant(name: str, delta: float, runtime: int, model: int, b1: float) -> dict[str, Any]:
    return {
        "variant": name,
        "runtime": name.split()[0],
        "model_bytes": model,
        "runtime_bytes": runtime,
        "mae": 44.0 + delta,
        "delta_mae": delta,
        "max_change": abs(delta) * 10,
        "b1_p50_us": b1,
        "b1_p99_us": 2 * b1,
        "b64_p50_us": 30 * b1,
        "b64_p99_us": 60 * b1,
    }


def check_choose_edge_variant(
    fn: Callable[[list[dict[str, Any]], float, int], str | None],
) -> str:
    rows = [
        _variant("py float", 0.0, 40_000, 6_000, 12.0),
        _variant("py int8", 0.3, 45_000, 1_600, 11.0),
        _variant("ort float32", 0.0, 60_000_000, 1_400, 9.0),
        _variant("ort int8", -0.1, 60_000_000, 2_100, 8.0),
        _variant("web int8", 1.5, 9_000_000, 2_100, 5.0),
    ]
    cases = [
        ((0.5, 10**9), "ort int8", "with room for everything, the fastest within the MAE budget"),
        ((0.5, 100_000), "py int8", "ONNX Runtime does not fit 100 kB: the fastest that fits"),
        ((2.0, 10**8), "web int8", "a looser accuracy budget admits the fastest variant"),
        ((0.3, 46_600), "py int8", "both budgets are inclusive: py int8 meets them exactly"),
        ((0.3, 46_599), "py float", "py int8 needs 46,600 bytes: over the budget"),
        ((0.29, 100_000), "py float", "py int8's MAE grew by 0.3: over the accuracy budget"),
        ((-0.5, 10**9), None, "nothing improves the MAE by 0.5: answer None"),
        ((0.5, 1_000), None, "nothing fits 1,000 bytes: answer None"),
    ]
    for (mae, size), want, why in cases:
        got = fn([dict(r) for r in rows], mae, size)
        expect(
            got == want,
            f"budgets MAE +{mae}, {size:,} bytes: you chose {got!r}, expected {want!r} ({why})",
        )
    tie = [_variant("a", 0.0, 50_000, 3_000, 10.0), _variant("b", 0.0, 40_000, 3_000, 10.0)]
    got = fn(tie, 0.1, 10**6)
    expect(got == "b", f"two variants equally fast: the smaller download wins, you chose {got!r}")
    return f"the right variant in all {len(cases) + 1} budget cases"


CHOOSE_EDGE_VARIANT = Exercise(
    id="choose_edge_variant",
    notebook=NOTEBOOK,
    title="Choose a variant within an accuracy and a download budget",
    task=(
        "Write choose_variant(rows, max_mae_increase, max_download_bytes) -> the variant name "
        "(or None): among the table's rows whose delta_mae is at most max_mae_increase and whose "
        "runtime_bytes + model_bytes fit max_download_bytes, the fastest at batch 1 "
        "(b1_p50_us); on a tie, the smaller download."
    ),
    hint=(
        "Filter on both budgets (inclusive), then min(..., key=lambda r: (r['b1_p50_us'], "
        "r['runtime_bytes'] + r['model_bytes'])); None when nothing fits."
    ),
    checker=check_choose_edge_variant,
    solution=choose_edge_variant,
)


EXERCISES: tuple[Exercise, ...] = (
    QUANTISE_INT8,
    DEQUANTISE_INT8,
    TAMPERED_FILES,
    CHOOSE_EDGE_VARIANT,
)
