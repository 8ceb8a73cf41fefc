"""`lesson.core.stats.histogram_quantile`: Prometheus's estimate from bucket counts, in the
standard library (the browser's in-process histogram); checked against the real Prometheus in
tests/servers/test_observe.py."""

from __future__ import annotations

import math

import pytest

from lesson.core.stats import LATENCY_BUCKETS, bucket_counts, histogram_quantile, percentile


def test_counts_are_cumulative_and_le_inclusive():
    bounds = (0.001, 0.01)
    assert bucket_counts([0.0005, 0.001, 0.002, 5.0], bounds) == [2, 3, 4]


def test_the_estimate_interpolates_inside_the_bucket_the_rank_falls_in():
    bounds = (0.001, 0.002, 0.004)
    cumulative = [50, 90, 100, 100]  # 50 under 1 ms, 40 in 1-2 ms, 10 in 2-4 ms
    assert histogram_quantile(0.5, cumulative, bounds) == pytest.approx(0.001)
    assert histogram_quantile(0.7, cumulative, bounds) == pytest.approx(0.0015)  # halfway in
    assert histogram_quantile(0.99, cumulative, bounds) == pytest.approx(0.0038)
    assert histogram_quantile(0.99, [0, 0, 90, 100], bounds) == 0.004  # rank in +Inf: top bound
    assert math.isnan(histogram_quantile(0.99, [0, 0, 0, 0], bounds))


def test_the_estimate_stays_in_the_exact_percentiles_bucket():
    samples = sorted(0.0002 * 1.01**i for i in range(400))
    estimate = histogram_quantile(0.99, bucket_counts(samples))
    exact = percentile(samples, 99)
    below = [b for b in LATENCY_BUCKETS if b < exact]
    assert (
        (below[-1] if below else 0.0) <= estimate <= min(b for b in LATENCY_BUCKETS if b >= exact)
    )


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="q must be"):
        histogram_quantile(99, [1, 1], (0.1,))
    with pytest.raises(ValueError, match="cumulative counts"):
        histogram_quantile(0.5, [1], (0.1,))
