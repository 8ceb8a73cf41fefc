"""Notebook 06's knee and arrivals sentences: computed from the runs, they flip with the numbers."""

from __future__ import annotations

import math

import pytest

from lesson.loadtest import LoadTestResult
from lesson.loadtest.arrivals import Arrivals
from lesson.teaching.knee import arrivals_row, arrivals_verdict, kept_up, knee_row, knee_sentence


def result(
    p99_ms: float,
    *,
    rate: float = 300.0,
    successes: int = 600,
    wall: float = 2.0,
    arrivals=None,
    late: int = 0,
) -> LoadTestResult:
    return LoadTestResult(
        avg_latency=p99_ms / 2000,
        throughput=successes / wall,
        success_rate=1.0,
        p50=p99_ms / 3000,
        p99=p99_ms / 1000,
        max_latency=p99_ms / 500,
        requests=successes,
        successes=successes,
        wall_time=wall,
        mode="open",
        target_rate=rate,
        late_sends=late,
        arrivals=arrivals or Arrivals("poisson", seed=6),
    )


def test_a_row_reports_offered_and_successful_rates_and_whether_it_kept_up():
    row = knee_row(result(5.0, rate=300, successes=600, wall=2.0), 0.5, 600.0)
    assert (
        row["offered req/s"] == 300 and row["successful req/s"] == 300 and row["kept up"] == "yes"
    )
    behind = knee_row(result(90.0, rate=780, successes=1200, wall=2.0), 1.3, 600.0)
    assert behind["successful req/s"] == 600 and behind["kept up"] == "NO"
    assert kept_up(100, 90) and not kept_up(100, 89.9)


def test_the_knee_sentence_says_how_p99_grew_and_whether_the_top_was_past_capacity():
    rows = [
        knee_row(result(4.0, rate=150, successes=300), 0.25, 600.0),
        knee_row(result(9.0, rate=540, successes=1080), 0.9, 600.0),
        knee_row(result(200.0, rate=780, successes=1200, late=300), 1.3, 600.0),
    ]
    text = knee_sentence(rows, 600.0)
    assert (
        "from 4.0 ms at 25% of the measured capacity" in text
        and "to 200.0 ms at 130% (50.0x)" in text
    )
    assert "first more than doubled at 90%" in text
    assert (
        "was past capacity" in text
        and "only 600 were answered successfully" in text
        and "300 late" in text
    )
    # the same top point keeping up: the sentence says it was NOT past capacity
    rows[-1] = knee_row(result(6.0, rate=780, successes=1560), 1.3, 600.0)
    text = knee_sentence(list(reversed(rows)), 600.0)
    assert "was NOT past capacity" in text and "never doubled" not in text
    flat = [
        knee_row(result(4.0, rate=150, successes=300), 0.25, 600.0),
        knee_row(result(5.0, rate=780, successes=1560), 1.3, 600.0),
    ]
    assert "never doubled" in knee_sentence(flat, 600.0) and "(1.2x)" in knee_sentence(flat, 600.0)
    with pytest.raises(ValueError):
        knee_sentence(flat[:1], 600.0)


def runs(u: float, p: float, g: float) -> dict[str, LoadTestResult]:
    return {
        "uniform": result(u, arrivals=Arrivals()),
        "Poisson": result(p, arrivals=Arrivals("poisson", seed=6)),
        "bursty": result(g, arrivals=Arrivals("gamma", 0.25, 6)),
    }


@pytest.mark.parametrize(
    "u, p, g, says",
    [
        (4.0, 8.0, 20.0, "The burstier the arrivals, the longer"),
        (4.0, 8.0, 8.5, "Poisson and bursty arrivals raised p99 above the evenly spaced run's:"),
        (
            4.0,
            8.0,
            4.2,
            "Poisson arrivals raised p99 above the evenly spaced run's (bursty ones did not on this run: 1.1x)",
        ),
        (
            4.0,
            4.2,
            9.0,
            "Bursty arrivals raised p99 above the evenly spaced run's (Poisson ones did not on this run: 1.1x)",
        ),
        (4.0, 4.2, 4.5, "the queues stayed short whatever the arrivals"),
        (8.0, 4.0, 2.0, "evenly spaced arrivals had a higher p99 than Poisson and bursty ones"),
    ],
)
def test_the_arrivals_verdict_follows_the_numbers(u, p, g, says):
    text = arrivals_verdict(runs(u, p, g), 420.0, 600.0)
    assert says in text
    assert (
        f"{u:.2f} ms with evenly spaced arrivals, {p:.2f} ms with Poisson arrivals ({p / u:.1f}x)"
        in text
    )
    assert "420 req/s, 70% of the measured capacity" in text


def test_a_run_that_could_not_keep_its_schedule_is_named_as_such():
    busy = runs(200.0, 170.0, 60.0)
    busy["uniform"].late_sends = 275  # of 600
    text = arrivals_verdict(busy, 185.0, 265.0)
    assert (
        "evenly spaced arrivals had a higher p99 than bursty ones" in text and "disturbed" in text
    )
    assert "sent 275 of its 600 requests late" in text and "stayed short" not in text
    busy = runs(36.0, 79.0, 36.5)  # the caveat holds whatever the verdict
    busy["uniform"].late_sends = 132
    text = arrivals_verdict(busy, 217.0, 310.0)
    assert "Poisson arrivals raised p99" in text and "bursty ones did not on this run: 1.0x" in text
    assert "sent 132 of its 600 requests late" in text
    rows = [
        knee_row(result(37.0, rate=66, successes=130, late=30), 0.25, 265.0),
        knee_row(result(583.0, rate=344, successes=530, late=332), 1.3, 265.0),
    ]
    assert "Even the lowest point sent 30 of its 130 requests late" in knee_sentence(rows, 265.0)
    rows[0] = knee_row(result(4.0, rate=66, successes=130, late=2), 0.25, 265.0)
    assert "Even the lowest point" not in knee_sentence(rows, 265.0)


def test_the_arrivals_verdict_needs_all_three_processes():
    partial = runs(4.0, 8.0, 20.0)
    del partial["bursty"]
    with pytest.raises(ValueError, match="missing gamma"):
        arrivals_verdict(partial, 420.0, 600.0)


def test_an_arrivals_row_reports_the_schedules_gap_cv():
    poisson = arrivals_row(
        "Poisson", result(8.0, rate=300, successes=3000, arrivals=Arrivals("poisson", seed=6))
    )
    bursty = arrivals_row(
        "bursty", result(8.0, rate=300, successes=3000, arrivals=Arrivals("gamma", 0.25, 6))
    )
    uniform = arrivals_row("uniform", result(8.0, rate=300, successes=3000, arrivals=Arrivals()))
    assert uniform["gap CV (schedule)"] == 0.0
    assert math.isclose(poisson["gap CV (schedule)"], 1.0, abs_tol=0.1)
    assert math.isclose(bursty["gap CV (schedule)"], 2.0, abs_tol=0.25)


def test_a_disturbed_knee_run_is_named_not_read_as_a_knee():
    """p99 falling as load rises, or a low rate not kept up while a higher one is, is a disturbed run
    (the browser's coarse timers, a busy machine): the heading says so instead of 'Queues grow'."""
    clean = [
        knee_row(result(4.0, rate=150, successes=300), 0.25, 600.0),
        knee_row(result(9.0, rate=540, successes=1080), 0.9, 600.0),
    ]
    assert knee_sentence(clean, 600.0).startswith("**Queues grow near capacity.**")
    falling = [
        knee_row(result(94.0, rate=150, successes=300), 0.25, 600.0),
        knee_row(result(49.0, rate=480, successes=960), 0.8, 600.0),
        knee_row(result(635.0, rate=780, successes=1200), 1.3, 600.0),
    ]
    text = knee_sentence(falling, 600.0)
    assert (
        text.startswith("**This run is not a clean curve.**")
        and "p99 fell from 94.0 ms at 25% to 49.0 ms at 80%" in text
    )
    stuck = [
        knee_row(result(1411.0, rate=300, successes=400), 0.5, 600.0),
        knee_row(result(9.0, rate=540, successes=1080), 0.9, 600.0),
    ]
    assert "50% did not keep up while a higher rate did" in knee_sentence(stuck, 600.0)
    flat = [
        knee_row(result(4.0, rate=150, successes=300), 0.25, 600.0),
        knee_row(result(5.0, rate=540, successes=1080), 0.9, 600.0),
    ]
    assert knee_sentence(flat, 600.0).startswith("**The knee did not show on this run.**")


def test_late_sends_past_capacity_are_not_a_disturbance():
    """A point that could not keep up sends late by design (its in-flight cap is reached); a point
    that kept up and still sent many requests late says the machine or the generator fell behind."""
    past = [
        knee_row(result(4.0, rate=150, successes=300), 0.25, 600.0),
        knee_row(result(600.0, rate=780, successes=1200, late=800), 1.3, 600.0),
    ]
    assert knee_sentence(past, 600.0).startswith("**Queues grow near capacity.**")
    busy = [
        knee_row(result(4.0, rate=150, successes=300), 0.25, 600.0),
        knee_row(result(40.0, rate=540, successes=1080, late=500), 0.9, 600.0),
    ]
    assert "requests were sent late at 90%" in knee_sentence(busy, 600.0)
