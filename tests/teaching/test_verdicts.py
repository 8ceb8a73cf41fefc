"""Verdict sentences are computed from their numbers: swap the numbers and the sentence flips.

Each property test feeds both orderings of random figures and checks the words follow them;
the clock tests feed figures at, near and far above a 100 µs tick.
"""

from __future__ import annotations

import random

import pytest

from lesson.teaching.verdicts import (
    RATIO_MIN_TICKS,
    claims_against_measured,
    compare_text,
    digits_for,
    latency_range_text,
    latency_text,
    ratio,
    ratio_text,
    spread_text,
    tool_agreement_text,
)

BROWSER_TICK = 1e-4
CPYTHON_TICK = 1e-7
RNG = random.Random(21)
PAIRS = [(RNG.uniform(0.001, 0.5), RNG.uniform(0.001, 0.5)) for _ in range(50)]


@pytest.mark.parametrize("a,b", PAIRS)
def test_compare_flips_with_the_order_of_the_numbers(a, b):
    forward = compare_text("A", a, "B", b, tick_s=CPYTHON_TICK)
    backward = compare_text("A", b, "B", a, tick_s=CPYTHON_TICK)
    above, below = ("above", "below") if a > b else ("below", "above")
    assert f"was {above} B's" in forward and f"was {below} B's" in backward
    assert f"{a * 1000:.3f} ms" in forward and f"{b * 1000:.3f} ms" in forward
    assert f"{max(a, b) / min(a, b):.1f}x" in (forward if a > b else backward)


@pytest.mark.parametrize("a,b", PAIRS)
def test_the_spread_names_the_slowest_and_the_fastest(a, b):
    text = spread_text({"A": a, "B": b}, tick_s=CPYTHON_TICK)
    swapped = spread_text({"A": b, "B": a}, tick_s=CPYTHON_TICK)
    slow, fast = ("A", "B") if a > b else ("B", "A")
    assert text.startswith(f"the slowest p50 ({slow},") and f"the fastest ({fast}," in text
    assert swapped.startswith(f"the slowest p50 ({fast},")
    assert f"{max(a, b) / min(a, b):.0f}x" in text


def test_figures_at_the_browser_clock_say_so_and_form_no_ratio():
    tick = BROWSER_TICK
    assert latency_text(0.0, tick_s=tick) == "below the clock's 0.1 ms resolution"
    assert latency_text(tick, tick_s=tick) == "below the clock's 0.1 ms resolution"
    assert latency_text(3 * tick, tick_s=tick) == "0.3 ms"  # digits to the clock: not "0.300 ms"
    assert (
        latency_text(0.0036, tick_s=tick) == "3.6 ms"
        and latency_text(0.0036, tick_s=tick, digits=3) == "3.600 ms"
    )
    assert latency_text(0.0036, tick_s=CPYTHON_TICK) == "3.600 ms"
    assert (
        digits_for(1e-4),
        digits_for(1e-3),
        digits_for(1e-5),
        digits_for(1e-7),
        digits_for(0.0),
    ) == (1, 0, 2, 3, 3)
    # the learner once read "p50 was 0.100–0.100 ms"
    assert (
        latency_range_text([tick, tick], tick_s=tick)
        == "below the clock's 0.1 ms resolution (all of them)"
    )
    assert (
        latency_range_text([tick, 0.0004], tick_s=tick)
        == "from below the clock's 0.1 ms resolution to 0.4 ms"
    )
    assert latency_range_text([0.0004, 0.0004], tick_s=tick) == "0.4 ms"
    assert latency_range_text([0.000016, 0.000037], tick_s=CPYTHON_TICK) == "0.016–0.037 ms"
    # ... and "spread 1x"
    assert spread_text({"a": tick, "b": tick, "c": 0.0}, tick_s=tick).startswith(
        "every p50 was below the clock's"
    )
    assert "too close to the clock's resolution for a ratio" in spread_text(
        {"a": tick, "b": 0.0005}, tick_s=tick
    )
    assert (
        ratio(tick, tick, tick_s=tick) is None
        and ratio(RATIO_MIN_TICKS * tick, 0.01, tick_s=tick) is None
    )
    assert ratio(0.0006, 0.0003, tick_s=tick) == pytest.approx(2.0)
    assert ratio_text(tick, 0.01, tick_s=tick).startswith("no ratio")
    both = compare_text("A", tick, "B", 0.0, tick_s=tick)
    assert "cannot rank them" in both and "x" not in both.split(":")[-1]
    one = compare_text("A", 0.0005, "B", tick, tick_s=tick)
    assert "was above B's (below the clock's 0.1 ms resolution)" in one and not one.endswith("x")


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "0.1", True])
def test_bad_figures_are_refused(bad):
    with pytest.raises(ValueError, match="non-negative number of seconds"):
        latency_text(bad, tick_s=BROWSER_TICK)
    with pytest.raises(ValueError, match="positive number"):
        tool_agreement_text("x", "y", rps=bad, reference_rps=1.0, p50_ms=1.0, reference_p50_ms=1.0)


def test_claims_are_contradicted_only_by_the_measured_order():
    claims = {"REST": "medium", "gRPC": "low"}
    grpc_slower = claims_against_measured(
        claims, {"REST": 0.000825, "gRPC": 0.00165}, tick_s=CPYTHON_TICK
    )
    assert len(grpc_slower) == 1 and grpc_slower[0].startswith(
        "gRPC (claimed low) measured 1.650 ms at p50, above REST"
    )
    assert (
        claims_against_measured(claims, {"REST": 0.00165, "gRPC": 0.000825}, tick_s=CPYTHON_TICK)
        == []
    )
    # within the margin (run-to-run noise), or below the clock's resolution, is not a contradiction
    assert (
        claims_against_measured(claims, {"REST": 0.0010, "gRPC": 0.0012}, tick_s=CPYTHON_TICK) == []
    )
    assert (
        len(claims_against_measured(claims, {"REST": 0.0010, "gRPC": 0.0013}, tick_s=CPYTHON_TICK))
        == 1
    )
    assert (
        claims_against_measured(claims, {"REST": 0.0, "gRPC": BROWSER_TICK}, tick_s=BROWSER_TICK)
        == []
    )
    with pytest.raises(ValueError, match="unknown latency words"):
        claims_against_measured({"REST": "fast"}, {"REST": 1.0}, tick_s=CPYTHON_TICK)


@pytest.mark.parametrize("faster", [True, False])
def test_the_tool_verdict_follows_the_figures(faster):
    # the learner's run: locust 1.18x wrk's throughput and 0.78x its p50, under a sentence that said the opposite
    rps, p50 = (4525.0, 1.46) if faster else (3262.0, 2.38)
    text = tool_agreement_text(
        "locust", "wrk", rps=rps, reference_rps=3840.0, p50_ms=p50, reference_p50_ms=1.86
    )
    assert (
        f"locust measured {rps / 3840:.2f}x wrk's throughput and {p50 / 1.86:.2f}x its p50" in text
    )
    if faster:
        assert (
            "more requests per second and a lower latency" in text
            and "not the client's cost" in text
        )
    else:
        assert (
            "fewer requests per second and a higher latency" in text and "costlier client" in text
        )
    near = tool_agreement_text(
        "a", "b", rps=1000.0, reference_rps=1040.0, p50_ms=2.0, reference_p50_ms=1.95
    )
    assert "within 10% on both" in near
    odd = tool_agreement_text(
        "a", "b", rps=1300.0, reference_rps=1000.0, p50_ms=2.6, reference_p50_ms=2.0
    )
    assert "did not move in opposite directions" in odd
