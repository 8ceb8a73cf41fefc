"""The exercises of notebook 07-resilience (resilience): backoff with jitter and batching knobs.

Each exercise is one :class:`Exercise` record built with keyword fields; its checker and its
reference solution sit just above it. :mod:`lesson.teaching.exercises` collects the records.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from lesson.teaching.exercises._record import Exercise, expect
from lesson.teaching.simulation import simulate_batching_server

NOTEBOOK = "07-resilience"

BATCHING_TARGET = {"rate_per_s": 1500.0, "p99_ms": 15.0}


# ---- backoff -----------------------------------------------------------------------------------


def backoff_delay(attempt: int, *, base_s: float, cap_s: float, rng: Any) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(cap_s, base_s * 2**attempt))


def check_backoff(fn: Callable[..., float]) -> str:
    rng = random.Random(11)
    for attempt in range(8):
        ceiling = min(5.0, 0.1 * 2**attempt)
        draws = [fn(attempt, base_s=0.1, cap_s=5.0, rng=rng) for _ in range(300)]
        expect(
            all(0 <= d <= ceiling + 1e-12 for d in draws),
            f"attempt {attempt}: delays must stay in [0, min(cap, base*2**attempt)] = [0, {ceiling:g}]",
        )
        expect(
            len({round(d, 9) for d in draws}) > 50,
            f"attempt {attempt}: no jitter, so clients retry in lockstep",
        )
        expect(
            sum(draws) / len(draws) > 0.3 * ceiling,
            f"attempt {attempt}: delays are too short on average",
        )
    return "exponential growth, capped, with full jitter"


BACKOFF = Exercise(
    id="backoff",
    notebook=NOTEBOOK,
    title="Retry with backoff and jitter",
    task=(
        "Write delay(attempt, *, base_s, cap_s, rng) -> seconds to wait before retry "
        "number attempt."
    ),
    hint="Full jitter: rng.uniform(0, min(cap_s, base_s * 2**attempt)).",
    checker=check_backoff,
    solution=backoff_delay,
)


# ---- batching_knobs ----------------------------------------------------------------------------


def batching_knobs() -> tuple[int, float]:
    """(max_batch_size, max_delay_ms) meeting the 07 exercise's target in the simulation."""
    return 16, 2.0


def check_batching(answer: tuple[int, float]) -> str:
    size, delay = answer
    result = simulate_batching_server(
        rate_per_s=BATCHING_TARGET["rate_per_s"],
        max_batch_size=int(size),
        max_delay_ms=float(delay),
        requests=6000,
    )
    expect(
        not result.saturated,
        f"with max_batch_size={size} the server saturates (utilisation "
        f"{result.utilisation:.0%}): the queue grows without bound",
    )
    expect(
        result.p99_ms <= BATCHING_TARGET["p99_ms"],
        f"simulated p99 {result.p99_ms:.1f} ms misses the {BATCHING_TARGET['p99_ms']:g} ms target",
    )
    return (
        f"simulated p99 {result.p99_ms:.1f} ms at {BATCHING_TARGET['rate_per_s']:g} req/s, "
        f"mean batch {result.mean_batch_size:.1f} (a simulation, not a measurement)"
    )


BATCHING_KNOBS = Exercise(
    id="batching_knobs",
    notebook=NOTEBOOK,
    title="Pick batching knobs for a p99 target",
    task=(
        "Give (max_batch_size, max_delay_ms) so the simulated accelerator serves 1500 "
        "req/s with p99 <= 15 ms."
    ),
    hint="One call costs 2 ms + 0.02 ms per row: without batching it serves under 500 req/s.",
    checker=check_batching,
    solution=batching_knobs,
)


EXERCISES: tuple[Exercise, ...] = (
    BACKOFF,
    BATCHING_KNOBS,
)
