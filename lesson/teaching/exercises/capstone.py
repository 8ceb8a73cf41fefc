"""The exercises of notebook 09-capstone (capstone): how long a p99 run must be, and a config for a tighter SLO.

Each exercise is one :class:`Exercise` record built with keyword fields; its checker and its
reference solution sit just above it. :mod:`lesson.teaching.exercises` collects the records.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from lesson.teaching.capstone import ServingConfig, check_slo, min_requests
from lesson.teaching.capstone_sim import EXERCISE_SLO, simulated_run
from lesson.teaching.exercises._record import Exercise, ExerciseFailure

NOTEBOOK = "09-capstone"

_MIN_REQUEST_CASES = ((99.0, 10), (99.0, 1), (95.0, 5), (90.0, 3), (50.0, 1), (99.9, 10))


# ---- capstone_min_requests ---------------------------------------------------------------------


def capstone_min_requests(quantile: float, tail: int) -> int:
    """The fewest requests whose nearest-rank ``quantile`` has at least ``tail`` samples above it."""
    n = 1
    while n - max(1, math.ceil(quantile / 100 * n)) < tail:
        n += 1
    return n


def check_min_requests(fn: Callable[[float, int], int]) -> str:
    """Exercise ``capstone_min_requests``: ``fn(quantile, tail)`` against the checker's own rule."""
    for quantile, tail in _MIN_REQUEST_CASES:
        got, want = fn(quantile, tail), min_requests(quantile, tail)
        if got != want:
            n = got if isinstance(got, int) and got > 0 else want
            above = n - max(1, math.ceil(quantile / 100 * n))
            raise ExerciseFailure(
                f"min_requests({quantile:g}, {tail}) returned {got!r}, expected {want}: with "
                f"{n} requests the nearest-rank p{quantile:g} has {above} samples above it"
            )
    return (
        f"right on {len(_MIN_REQUEST_CASES)} cases: a p99 needs {min_requests(99.0, 10)} requests for 10 samples "
        "above it"
    )


CAPSTONE_MIN_REQUESTS = Exercise(
    id="capstone_min_requests",
    notebook=NOTEBOOK,
    title="How long must a p99 run be?",
    task=(
        "Write min_requests(quantile, tail) -> the fewest requests whose nearest-rank "
        "percentile has at least tail measured samples above it."
    ),
    hint=(
        "Nearest rank: the percentile is sample number ceil(q/100 * n); count what lies "
        "above it, and grow n until it is enough."
    ),
    checker=check_min_requests,
    solution=capstone_min_requests,
)


# ---- capstone_config ---------------------------------------------------------------------------


def capstone_config() -> Any:
    """A configuration that meets EXERCISE_SLO within one core: batch the device's calls."""
    from lesson.teaching.capstone import ServingConfig

    return ServingConfig(pattern="REST", workers=1, max_batch_size=16, max_delay_ms=1.0)


def check_config_answer(config: ServingConfig) -> str:
    """Exercise ``capstone_config``: a configuration that meets :data:`EXERCISE_SLO` on the simulation."""
    if not isinstance(config, ServingConfig):
        raise ExerciseFailure(f"give a ServingConfig(...), got {type(config).__name__}")
    verdict = check_slo(EXERCISE_SLO, simulated_run(EXERCISE_SLO, config))
    if not verdict.passed:
        raise ExerciseFailure("; ".join(f"{c.name}: {c.message}" for c in verdict.failures))
    p99 = next(c.measured for c in verdict.checks if c.name == "p99")
    return f"meets {EXERCISE_SLO} on the simulation (p99 {p99})"


CAPSTONE_CONFIG = Exercise(
    id="capstone_config",
    notebook=NOTEBOOK,
    title="Meet a tighter SLO within one core",
    task=(
        "Give a lesson.teaching.capstone.ServingConfig that meets EXERCISE_SLO (p99 <= "
        "10 ms at 1,500 req/s, within 1 core), checked on the simulated run."
    ),
    hint="One worker is one device: 2 ms a call cannot serve 1,500 calls a second one at a time.",
    checker=check_config_answer,
    solution=capstone_config,
)


EXERCISES: tuple[Exercise, ...] = (
    CAPSTONE_MIN_REQUESTS,
    CAPSTONE_CONFIG,
)
