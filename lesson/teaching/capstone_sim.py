"""The capstone where no server can run: a SIMULATED run on a virtual clock, and the exercises.

JupyterLite has no sockets, so no server can start there. This module plays the capstone's
server instead: ``workers`` processes, each with its own simulated accelerator (a call costs
``fixed_ms + per_row_ms * rows``, one call at a time, as
:class:`lesson.models.accelerator.SimulatedAcceleratorModel` sleeps), optional dynamic
batching (``max_batch_size``, ``max_delay_ms``) and load shedding (a worker refuses a request
when ``max_in_flight`` are already inside it). Requests arrive OPEN loop, on a schedule drawn
as the harness draws it (:mod:`lesson.loadtest.arrivals`: uniform, Poisson or gamma; the
capstone's runs are Poisson), and are dealt to the workers in turn.

The outcome is a :class:`lesson.loadtest.LoadTestResult` (``mode="open"``), so the capstone's
checker judges it by the same rules as a measured run; the checker labels its verdict
SIMULATED. Nothing is sent and no model runs: it is a model of a server, not a measurement.
Each answer also pays a seeded random overhead (the framework and the loopback hop, about
:data:`OVERHEAD_MS` plus an exponential tail), so percentiles differ as they do in a real run.

The capstone's second exercise is judged on this simulation, at :data:`EXERCISE_SLO`, so it can
be checked in the browser as well (its record and checker: :mod:`lesson.teaching.exercises.capstone`).

Example:
    >>> r = simulate_open_loop(rate_per_s=600, requests=1800, workers=1, max_batch_size=16, max_delay_ms=2.0,
    ...                        arrivals="poisson")
    >>> r.mode, r.requests, r.error_count, r.arrivals.process
    ('open', 1800, 0, 'poisson')
"""

from __future__ import annotations

import math
import random
from collections import deque

from lesson.core.stats import percentile
from lesson.loadtest import LoadTestResult
from lesson.loadtest.arrivals import Arrivals, arrival_offsets
from lesson.teaching.capstone import (
    GATE_ARRIVALS,
    SIMULATED_TARGET,
    MeasuredRun,
    ServingConfig,
    Slo,
)

#: Most requests one simulated run may hold.
MAX_SIMULATED_REQUESTS = 200_000
#: The simulated accelerator's cost, as `SimulatedAcceleratorModel`'s defaults (2 ms + 20 µs a row).
DEVICE_FIXED_MS = 2.0
DEVICE_PER_ROW_MS = 0.02
#: What a refusal (HTTP 503) costs the caller in the simulation.
REFUSAL_MS = 0.2
#: Each answer's overhead outside the device (framework, loopback): this, plus an exponential
#: tail of mean OVERHEAD_MS / 2, seeded.
OVERHEAD_MS = 1.0


class _Worker:
    """One server process: a queue of accepted requests and a device that serves batches."""

    def __init__(self, max_batch: int, delay_ms: float, fixed_ms: float, per_row_ms: float) -> None:
        self.max_batch, self.delay_ms = max_batch, delay_ms
        self.fixed_ms, self.per_row_ms = fixed_ms, per_row_ms
        self.waiting: deque[tuple[int, float]] = (
            deque()
        )  # (request index, arrival ms), not yet batched
        self.running: deque[float] = deque()  # completion times of batched requests, ascending
        self.free_at = 0.0

    def advance(self, now: float, done: dict[int, float]) -> None:
        """Launch every batch whose launch time is settled before ``now`` (no later arrival can join)."""
        while self.waiting:
            first = self.waiting[0][1]
            start = max(self.free_at, first)
            deadline = max(start, first + self.delay_ms) if self.max_batch > 1 else start
            joined = [item for item in list(self.waiting)[: self.max_batch] if item[1] <= deadline]
            full = len(joined) == self.max_batch
            launch = max(start, joined[-1][1]) if full else deadline
            if launch >= now and not full:
                return  # a request arriving at `now` may still join this batch
            finish = launch + self.fixed_ms + self.per_row_ms * len(joined)
            for index, _ in joined:
                self.waiting.popleft()
                done[index] = finish
                self.running.append(finish)
            self.free_at = finish

    def in_flight(self, now: float) -> int:
        """Requests inside this worker at ``now``: waiting for a batch or in one not finished."""
        while self.running and self.running[0] <= now:
            self.running.popleft()
        return len(self.waiting) + len(self.running)


def simulate_open_loop(
    *,
    rate_per_s: float,
    requests: int,
    workers: int = 1,
    max_batch_size: int | None = None,
    max_delay_ms: float | None = None,
    max_in_flight: int = 64,
    fixed_ms: float = DEVICE_FIXED_MS,
    per_row_ms: float = DEVICE_PER_ROW_MS,
    overhead_ms: float = OVERHEAD_MS,
    seed: int = 7,
    arrivals: str = "uniform",
    burstiness: float = 1.0,
    arrival_seed: int | None = 0,
) -> LoadTestResult:
    """Simulate an open-loop run against ``workers`` simulated devices (a SIMULATION).

    Args:
        rate_per_s: requests per second on average (0 < rate <= 100,000).
        requests: how many are sent (1..MAX_SIMULATED_REQUESTS); the run lasts about ``requests / rate``.
        workers: server processes, one device each (1..256).
        max_batch_size, max_delay_ms: dynamic batching per worker (None: one request a call).
        max_in_flight: a worker refuses a request when this many are inside it (1..100,000).
        fixed_ms, per_row_ms: one device call's cost.
        overhead_ms: each answer's cost outside the device (plus a seeded exponential tail).
        seed: the random seed of the overheads.
        arrivals, burstiness, arrival_seed: the arrival process, as the harness's
            (``uniform``: evenly spaced; ``poisson``; ``gamma`` with its burstiness).

    Returns:
        A :class:`LoadTestResult`; refusals count as ``OverloadedError`` errors.

    Raises:
        ValueError: an argument out of range (the message names it).
    """
    if isinstance(rate_per_s, bool) or not 0 < rate_per_s <= 100_000:
        raise ValueError(f"rate_per_s must be in (0, 100000]; got {rate_per_s!r}")
    for name, value, high in (
        ("requests", requests, MAX_SIMULATED_REQUESTS),
        ("workers", workers, 256),
        ("max_in_flight", max_in_flight, 100_000),
        ("max_batch_size", 1 if max_batch_size is None else max_batch_size, 4096),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise ValueError(f"{name} must be an integer in 1..{high}; got {value!r}")
    delay = 0.0 if max_delay_ms is None else float(max_delay_ms)
    if not 0 <= delay <= 10_000 or min(fixed_ms, per_row_ms, overhead_ms) < 0:
        raise ValueError("max_delay_ms must be in [0, 10000] and the costs >= 0")

    process = Arrivals(arrivals, burstiness, arrival_seed)  # ValueError naming the bound
    due = [
        t * 1000.0
        for t in arrival_offsets(process, rate=float(rate_per_s), limit=requests, horizon=math.inf)
    ]
    pool = [_Worker(max_batch_size or 1, delay, fixed_ms, per_row_ms) for _ in range(workers)]
    done: dict[int, float] = {}
    refused: list[int] = []
    for i in range(requests):
        now = due[i]
        worker = pool[i % workers]
        worker.advance(now, done)
        if worker.in_flight(now) >= max_in_flight:
            refused.append(i)
            done[i] = now + REFUSAL_MS
        else:
            worker.waiting.append((i, now))
    for worker in pool:
        worker.advance(math.inf, done)

    rng = random.Random(seed)
    shed = set(refused)
    for i in range(requests):
        if i not in shed:
            done[i] += overhead_ms + (
                rng.expovariate(2.0 / overhead_ms) if overhead_ms > 0 else 0.0
            )
    latencies = [(done[i] - due[i]) / 1000.0 for i in range(requests)]
    ordered = sorted(latencies)
    wall = max(done.values()) / 1000.0
    errors = {"OverloadedError": len(refused)} if refused else {}
    successes = requests - len(refused)
    return LoadTestResult(
        avg_latency=sum(latencies) / requests,
        throughput=requests / wall if wall > 0 else 0.0,
        success_rate=successes / requests,
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p95=percentile(ordered, 95),
        p99=percentile(ordered, 99),
        p999=percentile(ordered, 99.9),
        max_latency=ordered[-1],
        requests=requests,
        successes=successes,
        errors=errors,
        wall_time=wall,
        mode="open",
        concurrency=workers * max_in_flight,
        target_rate=float(rate_per_s),
        clock_resolution=0.0,
        stopped_by="max_requests",
        latencies=latencies,
        error_examples={"OverloadedError": "simulated 503: too many requests in flight"}
        if refused
        else {},
        arrivals=process,
    )


def simulated_run(slo: Slo, config: ServingConfig, *, seconds: float | None = None) -> MeasuredRun:
    """The browser's stand-in for a measured run: ``config`` on the virtual clock at the SLO's rate
    for ``seconds`` (default: :attr:`Slo.min_seconds`), Poisson arrivals, labelled simulated."""
    duration = slo.min_seconds if seconds is None else seconds
    if (
        isinstance(duration, bool)
        or not isinstance(duration, (int, float))
        or not 0 < duration <= 600
    ):
        raise ValueError(f"seconds must be in (0, 600]; got {seconds!r}")
    requests = max(1, min(MAX_SIMULATED_REQUESTS, math.ceil(slo.rate_per_s * duration - 1e-9)))
    result = simulate_open_loop(
        rate_per_s=slo.rate_per_s,
        requests=requests,
        workers=config.cores,
        max_batch_size=config.max_batch_size,
        max_delay_ms=config.max_delay_ms,
        max_in_flight=config.max_in_flight,
        arrivals=GATE_ARRIVALS.process,
        arrival_seed=GATE_ARRIVALS.seed,
    )
    return MeasuredRun(result, SIMULATED_TARGET, config, simulated=True)


# ---- the capstone's second exercise is judged on this simulation ------------------------------

#: Exercise 2's tighter SLO: judged on the simulation, so it can be checked anywhere.
EXERCISE_SLO = Slo(p99_ms=10.0, rate_per_s=1500.0, freshness_s=1.0, max_cores=1)
