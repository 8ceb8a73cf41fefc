"""Summary statistics shared by the load tester, the streaming consumer and the simulations.

Standard library only: nearest-rank percentiles, millisecond formatting, and a latency
histogram's buckets with Prometheus's ``histogram_quantile`` estimate over them::

    >>> percentile([0.001, 0.002, 0.003, 0.004], 50)
    0.002
    >>> format_ms(0.00234)
    '2.34 ms'
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence


def percentile(sorted_samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0..100) of already sorted samples; NaN if there are none."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in 0..100, got {q!r}")
    n = len(sorted_samples)
    if n == 0:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * n))
    return sorted_samples[min(rank, n) - 1]


def format_ms(seconds: float | None, *, unit: bool = True, resolution: float | None = None) -> str:
    """A latency in milliseconds to three significant figures (``n/a`` for None or NaN).

    Args:
        seconds: the latency in seconds.
        unit: append `` ms``.
        resolution: the clock's resolution in seconds; a value under it prints as ``< r``
            (HTML-escaped, for tables), since the clock cannot tell it apart from zero.
    """
    if seconds is None or math.isnan(seconds):
        return "n/a"
    suffix = " ms" if unit else ""
    if resolution and 0 <= seconds < resolution:
        return f"&lt; {resolution * 1000:.2g}{suffix}"
    ms = seconds * 1000.0
    if ms >= 100:
        text = f"{ms:.0f}"
    elif ms >= 10:
        text = f"{ms:.1f}"
    elif ms >= 1:
        text = f"{ms:.2f}"
    else:
        text = f"{ms:.3f}"
    return text + suffix


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


#: the servers' latency histogram buckets in seconds (``lesson_request_latency_seconds``), 100 µs
#: .. 10 s: fine from 0.5 to 10 ms (where the lesson's servers answer on loopback, so a p99
#: estimate is close there) and a bound at each of the lesson's SLOs (30, 50, 100 and 500 ms:
#: the share of requests within one is exact, not interpolated)
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.004,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


def bucket_counts(samples: Sequence[float], bounds: Sequence[float] = LATENCY_BUCKETS) -> list[int]:
    """Cumulative counts per bucket, as a Prometheus histogram keeps them (``le`` inclusive;
    the last entry is ``+Inf``, every sample)."""
    counts = [0] * (len(bounds) + 1)
    for value in samples:
        counts[bisect_left(bounds, value)] += 1
    total, cumulative = 0, []
    for count in counts:
        total += count
        cumulative.append(total)
    return cumulative


def histogram_quantile(
    q: float, cumulative: Sequence[float], bounds: Sequence[float] = LATENCY_BUCKETS
) -> float:
    """Prometheus's ``histogram_quantile`` over cumulative bucket counts: find the bucket the
    ``q`` rank falls in and interpolate linearly inside it (the first bucket starts at 0; a
    rank in ``+Inf`` gives the highest finite bound). An estimate: only the counts are known."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must be in 0..1, got {q!r}")
    if len(cumulative) != len(bounds) + 1:
        raise ValueError(f"expected {len(bounds) + 1} cumulative counts, got {len(cumulative)}")
    total = cumulative[-1]
    if total <= 0:
        return math.nan
    rank = q * total
    i = bisect_left(cumulative, rank)
    if i == len(bounds):
        return bounds[-1]
    start, below = (0.0, 0.0) if i == 0 else (bounds[i - 1], cumulative[i - 1])
    inside = cumulative[i] - below
    return start + (bounds[i] - start) * ((rank - below) / inside if inside else 0.0)
