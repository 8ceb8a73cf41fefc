"""The stream harness's maths on hand-made timestamps (vLLM's definitions)."""

from __future__ import annotations

import math

import pytest

from lesson.loadtest.streams import SLO, Distribution, StreamTiming, format_table, summarize


def test_one_request_ttft_itl_tpot_e2el():
    t = StreamTiming(origin=10.0, token_times=[10.5, 10.6, 10.8, 11.1], end=11.2)
    assert t.ttft == pytest.approx(0.5)
    assert t.itl == pytest.approx([0.1, 0.2, 0.3])
    assert t.e2el == pytest.approx(1.2)
    assert t.tpot == pytest.approx((1.2 - 0.5) / 3)  # (E2EL - TTFT) / (n - 1)


def test_usage_tokens_override_the_chunk_count_and_one_token_has_no_tpot():
    t = StreamTiming(origin=0.0, token_times=[0.2, 0.3], end=0.5, output_tokens=5)
    assert t.tokens == 5 and t.tpot == pytest.approx(0.3 / 4)
    single = StreamTiming(origin=0.0, token_times=[0.2], end=0.25)
    assert single.tpot is None and single.itl == []


def test_run_summary_throughputs_goodput_and_failures():
    timings = [
        StreamTiming(0.0, [0.1, 0.2, 0.3], end=0.3),  # ttft 0.1, tpot 0.1
        StreamTiming(0.5, [1.0, 1.5], end=1.5),  # ttft 0.5 (misses), tpot 0.5
        StreamTiming(1.0, [1.1, 1.12, 1.14, 1.16], end=2.0),  # ttft 0.1, tpot (1.0-0.1)/3=0.3
        StreamTiming(1.5, [], end=None, error="HTTP 429: busy"),
    ]
    s = summarize(timings, start=0.0, slo=SLO(ttft=0.2, tpot=0.2))
    assert s.completed == 3 and s.failed == 1 and s.errors == {"HTTP 429": 1}
    assert s.duration == pytest.approx(2.0)  # start to the last completion
    assert s.output_tokens == 9
    assert s.request_throughput == pytest.approx(1.5)
    assert s.output_throughput == pytest.approx(4.5)
    assert s.good == 1 and s.goodput == pytest.approx(0.5)  # only the first meets both
    assert s.ttft.count == 3 and s.ttft.median == pytest.approx(0.1)
    assert s.itl.count == 2 + 1 + 3  # every gap is a sample
    assert s.itl.max == pytest.approx(0.5)
    assert s.tpot.mean == pytest.approx((0.1 + 0.5 + 0.3) / 3)
    assert s.e2el.max == pytest.approx(1.0)
    assert "goodput" in format_table(s) and "TPOT" in format_table(s)


def test_no_slo_no_goodput_and_empty_runs_are_nan():
    s = summarize([], start=5.0)
    assert s.goodput is None and s.completed == 0 and math.isnan(s.ttft.mean)
    assert "n/a" in format_table(s)


def test_open_loop_counts_from_the_intended_time():
    # intended at 1.0, actually sent at 1.4 (the client was busy): the wait is in TTFT and E2EL
    t = StreamTiming(origin=1.0, token_times=[1.6, 1.7], end=1.7)
    assert t.ttft == pytest.approx(0.6) and t.tpot == pytest.approx(0.1)
    assert SLO(ttft=0.5).met(t) is False and SLO(e2el=0.8).met(t) is True


def test_distribution_nearest_rank():
    d = Distribution.of([0.4, 0.1, 0.3, 0.2])
    assert (d.median, d.p90, d.p99, d.max) == (0.2, 0.4, 0.4, 0.4)
    assert d.mean == pytest.approx(0.25)
