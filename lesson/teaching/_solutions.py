"""Reference solutions to the lesson's exercises (hidden by default; see :mod:`lesson.teaching.exercises`).

Each function is the answer a checker in :mod:`lesson.teaching.exercises` accepts. Tests prove it.
Read one with ``lesson.teaching.exercises.show_solution("<id>")`` once you have tried yourself.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from lesson.core.schema import ValidationError, parse_v1_request
from lesson.teaching.evolution import Field, RequestContract


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least q% of samples <= it."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def pick_patterns() -> dict[str, str]:
    """Patterns for the three scenarios in ``lesson.teaching.exercises.SCENARIOS``."""
    return {"fraud-check": "gRPC", "nightly-churn": "batch", "field-app": "edge"}


def validate_threshold(payload: Any) -> tuple[list[list[float]], float]:
    """Parse a V1 request with an optional ``threshold`` in [0, 1] (default 0.5)."""
    request = parse_v1_request(payload)
    threshold = payload.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValidationError(
            [
                {
                    "loc": ["body", "threshold"],
                    "msg": "Input should be a number",
                    "type": "type_error",
                }
            ]
        )
    if not math.isfinite(threshold) or not 0 <= threshold <= 1:
        raise ValidationError(
            [
                {
                    "loc": ["body", "threshold"],
                    "msg": "Input should be a finite number in [0, 1]",
                    "type": "value_error",
                }
            ]
        )
    return request.rows, float(threshold)


def status_for_error(kind: str) -> tuple[int, str]:
    """HTTP status and gRPC status code for each kind of failure."""
    return {
        "unknown_model": (404, "NOT_FOUND"),
        "invalid_body": (422, "INVALID_ARGUMENT"),
        "too_large": (413, "RESOURCE_EXHAUSTED"),
        "overloaded": (503, "RESOURCE_EXHAUSTED"),
        "timeout": (504, "DEADLINE_EXCEEDED"),
    }[kind]


def fp32_raw(values: Sequence[float]) -> bytes:
    """Encode numbers as little-endian float32, as V2 ``raw_input_contents`` carries them."""
    return struct.pack(f"<{len(values)}f", *values)


def fp32_decode(raw: bytes, shape: Sequence[int]) -> list[list[float]]:
    """Decode little-endian float32 bytes into rows of a 2-D ``shape``."""
    rows, cols = shape
    if len(raw) != rows * cols * 4:
        raise ValueError(
            f"expected {rows * cols * 4} bytes for shape {list(shape)}, got {len(raw)}"
        )
    flat = struct.unpack(f"<{rows * cols}f", raw)
    return [list(flat[r * cols : (r + 1) * cols]) for r in range(rows)]


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Yield lists of up to ``size`` items, reading lazily (works on endless iterators)."""
    if size < 1:
        raise ValueError("size must be >= 1")
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def atomic_write(path: str, lines: Iterable[str]) -> None:
    """Write lines to ``path`` so that a failure part-way leaves no half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".partial-")
    try:
        with os.fdopen(fd, "w") as handle:
            for line in lines:
                handle.write(line + "\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def dedupe_events(events: Iterable[dict[str, Any]], capacity: int) -> list[dict[str, Any]]:
    """Keep the first event of each ``id``, in arrival order, remembering at most ``capacity`` ids."""
    from collections import OrderedDict

    seen: OrderedDict[Any, None] = OrderedDict()
    kept = []
    for event in events:
        if event["id"] in seen:
            continue
        seen[event["id"]] = None
        if len(seen) > capacity:
            seen.popitem(last=False)  # forget the oldest: memory stays bounded
        kept.append(event)
    return kept


def idempotent_sink(store: dict[str, Any], event_id: str, prediction: float) -> bool:
    """Write an event's result once: the result itself is the "seen" mark."""
    if event_id in store["results"]:
        return False
    store["results"][event_id] = prediction
    store["out"].append(event_id)
    return True


def freshness_ms(events: Iterable[dict[str, float]]) -> list[float]:
    """Freshness of each scored event: prediction time minus event time, in ms."""
    return [(e["scored_at"] - e["event_time"]) * 1000.0 for e in events]


def quantise_int8(weights: Sequence[float]) -> tuple[float, list[int]]:
    """Symmetric per-tensor int8 quantisation: ``w ≈ scale * q`` with q in [-127, 127]."""
    largest = max((abs(w) for w in weights), default=0.0)
    scale = largest / 127 if largest else 1.0
    return scale, [max(-127, min(127, round(w / scale))) for w in weights]


def dequantise_int8(scale: float, values: Sequence[int]) -> list[float]:
    """Map int8 values back to floats."""
    return [scale * v for v in values]


def open_loop_latencies(
    intended: Sequence[float], sent: Sequence[float], done: Sequence[float]
) -> list[float]:
    """Latency from each request's intended send time (no coordinated omission)."""
    return [d - i for i, d in zip(intended, done)]


def pooled_percentile(run_a: Sequence[float], run_b: Sequence[float], q: float) -> float:
    """A percentile of two runs together: pool the samples, never average percentiles."""
    return percentile(list(run_a) + list(run_b), q)


def backoff_delay(attempt: int, *, base_s: float, cap_s: float, rng: Any) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(cap_s, base_s * 2**attempt))


def batching_knobs() -> tuple[int, float]:
    """(max_batch_size, max_delay_ms) meeting the 07 exercise's target in the simulation."""
    return 16, 2.0


def compatible_contract() -> RequestContract:
    """A contract v3 that keeps every v2 body valid and adds an optional ``client`` (<= 32 chars)."""
    return RequestContract(
        "3",
        (
            Field("request_id", "string", max_length=64, echo=True),
            Field("client", "string", max_length=32),
        ),
    )


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


def canary_arm(user: str, share: float) -> str:
    """The user's arm: a sha256 bucket per user (the same in every process) below the share's line."""
    bucket = int.from_bytes(hashlib.sha256(user.encode()).digest()[:8], "big") % 10_000
    return "candidate" if bucket < share * 10_000 else "stable"


def canary_verdict(
    stable: dict[str, float],
    candidate: dict[str, float],
    *,
    max_error_rate: float,
    max_slowdown: float,
    min_requests: int,
) -> str:
    """``"wait"`` before ``min_requests`` answers; ``"rollback"`` on errors or latency over budget; else ``"widen"``."""
    if candidate["requests"] < min_requests:
        return "wait"

    def error_rate(arm: dict[str, float]) -> float:
        return arm["errors"] / arm["requests"] if arm["requests"] else 0.0

    if (
        error_rate(candidate) - error_rate(stable) > max_error_rate
        or candidate["p99_ms"] > max_slowdown * stable["p99_ms"]
    ):
        return "rollback"
    return "widen"


def capstone_min_requests(quantile: float, tail: int) -> int:
    """The fewest requests whose nearest-rank ``quantile`` has at least ``tail`` samples above it."""
    n = 1
    while n - max(1, math.ceil(quantile / 100 * n)) < tail:
        n += 1
    return n


def capstone_config() -> Any:
    """A configuration that meets EXERCISE_SLO within one core: batch the device's calls."""
    from lesson.teaching.capstone import ServingConfig

    return ServingConfig(pattern="REST", workers=1, max_batch_size=16, max_delay_ms=1.0)
