"""The exercises of notebook 06-load-testing (load testing): coordinated omission and pooled percentiles.

Each exercise is one :class:`Exercise` record built with keyword fields; its checker and its
reference solution sit just above it. :mod:`lesson.teaching.exercises` collects the records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lesson.teaching.exercises._record import Exercise, expect, near
from lesson.teaching.exercises.overview import percentile

NOTEBOOK = "06-load-testing"

# ---- open_loop_latencies -----------------------------------------------------------------------


def open_loop_latencies(
    intended: Sequence[float], sent: Sequence[float], done: Sequence[float]
) -> list[float]:
    """Latency from each request's intended send time (no coordinated omission)."""
    return [d - i for i, d in zip(intended, done)]


def check_open_loop(fn: Callable[..., list[float]]) -> str:
    intended = [0.0, 0.1, 0.2, 0.3]
    sent = [0.0, 0.5, 0.5, 0.5]  # the client stalled: three sends went out late
    done = [0.01, 0.51, 0.52, 0.53]
    got = fn(intended, sent, done)
    want = [0.01, 0.41, 0.32, 0.23]
    expect(
        len(got) == 4 and all(near(a, b, 1e-9) for a, b in zip(got, want)),
        f"got {got!r}; measuring from the ACTUAL send hides the stall (that is coordinated omission)",
    )
    return "latencies measured from the intended send time show the stall"


OPEN_LOOP_LATENCIES = Exercise(
    id="open_loop_latencies",
    notebook=NOTEBOOK,
    title="Measure latency without coordinated omission",
    task="Write latencies(intended, sent, done) for an open-loop test.",
    hint="Which start time would a user who arrived on schedule experience?",
    checker=check_open_loop,
    solution=open_loop_latencies,
)


# ---- pooled_percentile -------------------------------------------------------------------------


def pooled_percentile(run_a: Sequence[float], run_b: Sequence[float], q: float) -> float:
    """A percentile of two runs together: pool the samples, never average percentiles."""
    return percentile(list(run_a) + list(run_b), q)


def check_pooled(fn: Callable[..., float]) -> str:
    fast = [0.010] * 99 + [0.020]
    slow = [0.100] * 50 + [0.500] * 50
    got = fn(fast, slow, 99)
    want = pooled_percentile(fast, slow, 99)
    expect(
        near(got, want),
        f"pooled p99 is {want}, you returned {got} (averaging percentiles gives the wrong tail)",
    )
    return "percentiles pooled from raw samples, never averaged"


POOLED_PERCENTILE = Exercise(
    id="pooled_percentile",
    notebook=NOTEBOOK,
    title="Combine two runs",
    task="Write pooled(run_a, run_b, q) -> the q-th percentile of both runs together.",
    hint="Percentiles cannot be averaged; pool the raw samples.",
    checker=check_pooled,
    solution=pooled_percentile,
)


EXERCISES: tuple[Exercise, ...] = (
    OPEN_LOOP_LATENCIES,
    POOLED_PERCENTILE,
)
