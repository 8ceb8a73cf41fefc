"""The exercises of notebook 00-overview (overview): choosing a pattern with the rubric, and percentiles.

Each exercise is one :class:`Exercise` record built with keyword fields; its checker and its
reference solution sit just above it. :mod:`lesson.teaching.exercises` collects the records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from lesson.teaching.exercises._record import Exercise, expect, near
from lesson.teaching.rubric import Workload, recommend_pattern

NOTEBOOK = "00-overview"

SCENARIOS: dict[str, Workload] = {
    "fraud-check": Workload(caller="service", p99_slo_ms=50, requests_per_s=3000),
    "nightly-churn": Workload(caller="scheduler", freshness_s=86_400, cost_ceiling_per_million=5),
    "field-app": Workload(caller="device", p99_slo_ms=30, must_work_offline=True),
    "help-chat": Workload(caller="browser", p99_slo_ms=500, generates_text=True),
}


# ---- pick_patterns -----------------------------------------------------------------------------


def pick_patterns() -> dict[str, str]:
    """Patterns for the scenarios in ``lesson.teaching.exercises.SCENARIOS``."""
    return {
        "fraud-check": "gRPC",
        "nightly-churn": "batch",
        "field-app": "edge",
        "help-chat": "generative",
    }


def check_pick_patterns(answer: dict[str, str]) -> str:
    expect(
        isinstance(answer, dict),
        f"answer with a dict scenario -> pattern, got {type(answer).__name__}",
    )
    missing = sorted(set(SCENARIOS) - set(answer))
    expect(not missing, f"no pattern given for: {', '.join(missing)}")
    for name, workload in SCENARIOS.items():
        want = recommend_pattern(workload)
        got = str(answer[name]).strip()
        expect(
            got.lower() == want.pattern.lower(),
            f"{name}: you chose {got!r}; the rubric says {want.pattern} because {want.reasons[0]}",
        )
    return f"all {len(SCENARIOS)} scenarios match the rubric"


PICK_PATTERNS = Exercise(
    id="pick_patterns",
    notebook=NOTEBOOK,
    title="Choose a pattern for four scenarios",
    task="Return a dict mapping each name in lesson.teaching.exercises.SCENARIOS to a pattern.",
    hint="Read each Workload's caller and freshness first; the rubric's rules are ordered.",
    checker=check_pick_patterns,
    solution=pick_patterns,
)


# ---- percentile --------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least q% of samples <= it."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def check_percentile(fn: Callable[[list[float], float], float]) -> str:
    cases = [
        ([5.0], 50),
        ([3.0, 1.0, 2.0], 50),
        ([float(i) for i in range(1, 101)], 99),
        ([float(i) for i in range(1, 101)], 100),
        ([10.0, 20.0, 30.0, 40.0], 25),
        ([1.0] * 99 + [1000.0], 99),
        ([1.0] * 98 + [1000.0] * 2, 99),
        ([float(i) for i in range(1, 11)], 95),
    ]
    for samples, q in cases:
        given = list(samples)
        got = fn(given, q)
        want = percentile(samples, q)
        expect(given == samples, "your function changed the list it was given; sort a copy")
        expect(
            near(float(got), want),
            f"percentile({samples[:6]}{'...' if len(samples) > 6 else ''}, {q}) returned {got!r}, expected {want!r}",
        )
    return "nearest-rank percentiles match on all 8 cases, including unsorted input and the tail"


PERCENTILE = Exercise(
    id="percentile",
    notebook=NOTEBOOK,
    title="Compute a nearest-rank percentile",
    task=(
        "Write percentile(samples, q) returning the smallest sample with at least q% of "
        "samples <= it."
    ),
    hint="Sort a copy; the rank is ceil(q/100 * n), counted from 1.",
    checker=check_percentile,
    solution=percentile,
)


EXERCISES: tuple[Exercise, ...] = (
    PICK_PATTERNS,
    PERCENTILE,
)
