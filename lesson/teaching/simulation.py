"""A queueing simulation on a virtual clock, for what a browser cannot measure for real.

It models one server that runs one model call at a time. A call costs a fixed time plus a
per-row time (like an accelerator: ``fixed_ms + per_row_ms * rows``). Requests arrive at a
fixed average rate (Poisson arrivals, seeded, so a run is reproducible). With dynamic batching
the server waits up to ``max_delay_ms`` for up to ``max_batch_size`` requests and serves them
in one call.

Everything here is a SIMULATION: no request is sent and no model runs. It lets a learner see
queueing blow-up near saturation and tune batching knobs in any Python, the browser included.

Example:
    >>> from lesson.teaching.simulation import simulate_batching_server
    >>> r = simulate_batching_server(rate_per_s=300, max_batch_size=1, max_delay_ms=0)
    >>> r.p99_ms > r.p50_ms
    True
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from lesson.core.stats import percentile
from lesson.loadtest.arrivals import Arrivals, arrival_offsets

MAX_SIMULATED_REQUESTS = 200_000


@dataclass(frozen=True)
class SimulationResult:
    """Latency figures of a simulated run (milliseconds, requests per second)."""

    rate_per_s: float
    max_batch_size: int
    max_delay_ms: float
    requests: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_batch_size: float
    utilisation: float
    throughput_per_s: float

    @property
    def saturated(self) -> bool:
        """True when the device was busy at least 98 % of the time. Without batching (batches of
        one) that is at or past capacity: the queue grows for as long as the load lasts. With
        batching, while batches are not full (``mean_batch_size`` below ``max_batch_size``) a
        busy device takes bigger batches instead, and latency can stay low."""
        return self.utilisation >= 0.98


def simulate_batching_server(
    *,
    rate_per_s: float,
    max_batch_size: int = 1,
    max_delay_ms: float = 0.0,
    fixed_ms: float = 2.0,
    per_row_ms: float = 0.02,
    requests: int = 5000,
    seed: int = 7,
    arrivals: Arrivals | None = None,
) -> SimulationResult:
    """Simulate a single-call-at-a-time server with optional dynamic batching.

    Args:
        rate_per_s: mean arrival rate (Poisson), requests per second.
        max_batch_size: the most requests served by one model call (1 = no batching).
        max_delay_ms: how long the first request of a batch may wait for others.
        fixed_ms: the fixed cost of one model call (an accelerator's launch overhead).
        per_row_ms: the extra cost of each request in a call.
        requests: how many requests to simulate (bounded by ``MAX_SIMULATED_REQUESTS``).
        seed: random seed for the arrival times.
        arrivals: another arrival process (uniform, Poisson or gamma, with its own seed) instead
            of the default Poisson arrivals drawn from ``seed``.

    Returns:
        A :class:`SimulationResult`; latency is measured from each request's arrival.
    """
    if not 0 < rate_per_s <= 1_000_000:
        raise ValueError(f"rate_per_s must be in (0, 1e6]; got {rate_per_s!r}")
    if not 1 <= max_batch_size <= 4096:
        raise ValueError(f"max_batch_size must be in [1, 4096]; got {max_batch_size!r}")
    if not 0 <= max_delay_ms <= 10_000:
        raise ValueError(f"max_delay_ms must be in [0, 10000]; got {max_delay_ms!r}")
    if not 1 <= requests <= MAX_SIMULATED_REQUESTS:
        raise ValueError(f"requests must be in [1, {MAX_SIMULATED_REQUESTS}]; got {requests!r}")
    if fixed_ms < 0 or per_row_ms < 0:
        raise ValueError("fixed_ms and per_row_ms must be >= 0")

    if arrivals is None:
        rng = random.Random(seed)
        times: list[float] = []
        t = 0.0
        for _ in range(requests):
            t += rng.expovariate(rate_per_s) * 1000.0
            times.append(t)
    else:
        times = [
            1000.0 * (offset + 1.0 / rate_per_s)
            for offset in arrival_offsets(
                arrivals, rate=rate_per_s, limit=requests, horizon=float("inf")
            )
        ]
    arrivals_ms = times

    latencies: list[float] = []
    batch_sizes: list[int] = []
    busy_ms = 0.0
    server_free_at = 0.0
    i = 0
    while i < requests:
        # The batch opens when the server is free and the first request has arrived; it
        # launches when full, or when the first request has waited max_delay_ms.
        start = max(server_free_at, arrivals_ms[i])
        deadline = max(start, arrivals_ms[i] + max_delay_ms) if max_batch_size > 1 else start
        j = i + 1
        while j < requests and j - i < max_batch_size and arrivals_ms[j] <= deadline:
            j += 1
        launch = max(start, arrivals_ms[j - 1]) if j - i == max_batch_size else deadline
        size = j - i
        cost = fixed_ms + per_row_ms * size
        done = launch + cost
        busy_ms += cost
        latencies.extend(done - arrivals_ms[k] for k in range(i, j))
        batch_sizes.append(size)
        server_free_at = done
        i = j

    latencies.sort()
    span = max(server_free_at, arrivals_ms[-1]) - arrivals_ms[0] or 1.0
    return SimulationResult(
        rate_per_s=rate_per_s,
        max_batch_size=max_batch_size,
        max_delay_ms=max_delay_ms,
        requests=requests,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1],
        mean_batch_size=sum(batch_sizes) / len(batch_sizes),
        utilisation=min(1.0, busy_ms / span),
        throughput_per_s=requests / (span / 1000.0),
    )


@dataclass(frozen=True)
class LoadSignals:
    """What an autoscaler could watch during one simulated window (a SIMULATION)."""

    rate_per_s: float
    capacity_per_s: float
    duration_s: float
    arrived: int
    completed: int
    utilisation: float
    mean_in_flight: float
    in_flight_at_end: int
    p99_ms: float

    @property
    def offered_load(self) -> float:
        """Offered rate as a fraction of capacity (1.0 = exactly at capacity)."""
        return self.rate_per_s / self.capacity_per_s


def simulate_load_signals(
    *,
    rate_per_s: float,
    service_ms: float = 5.0,
    duration_s: float = 20.0,
    seed: int = 7,
) -> LoadSignals:
    """Simulate one server that handles one request at a time, each taking ``service_ms``.

    Requests arrive for ``duration_s`` seconds of virtual time (Poisson, seeded) and are served
    first come, first served. The figures are those an autoscaler could read:

    * ``utilisation``: the busy fraction of the window, the CPU-like signal; it cannot exceed 1.
    * ``mean_in_flight``: requests in the system (queued or in service), averaged over the window.
    * ``in_flight_at_end``: requests in the system when the window closes (queue depth).
    * ``p99_ms``: 99th-percentile latency (arrival to completion) of the requests that arrived.

    Args:
        rate_per_s: mean arrival rate, requests per second.
        service_ms: fixed time one request occupies the server; capacity is ``1000 / service_ms``.
        duration_s: the simulated window, seconds of virtual time.
        seed: random seed for the arrival times.

    Returns:
        A :class:`LoadSignals`.

    Raises:
        ValueError: an argument out of range, or more than ``MAX_SIMULATED_REQUESTS`` arrivals expected.
    """
    if not 0 < rate_per_s <= 1_000_000:
        raise ValueError(f"rate_per_s must be in (0, 1e6]; got {rate_per_s!r}")
    if not 0 < service_ms <= 10_000:
        raise ValueError(f"service_ms must be in (0, 10000]; got {service_ms!r}")
    if not 0 < duration_s <= 3600:
        raise ValueError(f"duration_s must be in (0, 3600]; got {duration_s!r}")
    if rate_per_s * duration_s > MAX_SIMULATED_REQUESTS:
        raise ValueError(
            f"rate_per_s * duration_s must be <= {MAX_SIMULATED_REQUESTS}; "
            f"got {rate_per_s * duration_s:,.0f}"
        )

    window_ms = duration_s * 1000.0
    rng = random.Random(seed)
    latencies: list[float] = []
    busy_ms = 0.0  # busy time inside the window
    in_system_ms = 0.0  # sum over requests of their time in the system inside the window
    at_end = completed = 0
    free_at = 0.0
    t = rng.expovariate(rate_per_s) * 1000.0
    while t <= window_ms:
        start = max(t, free_at)
        done = start + service_ms
        free_at = done
        latencies.append(done - t)
        busy_ms += max(0.0, min(done, window_ms) - min(start, window_ms))
        in_system_ms += min(done, window_ms) - t
        if done > window_ms:
            at_end += 1
        else:
            completed += 1
        t += rng.expovariate(rate_per_s) * 1000.0

    latencies.sort()
    return LoadSignals(
        rate_per_s=rate_per_s,
        capacity_per_s=1000.0 / service_ms,
        duration_s=duration_s,
        arrived=len(latencies),
        completed=completed,
        utilisation=busy_ms / window_ms,
        mean_in_flight=in_system_ms / window_ms,
        in_flight_at_end=at_end,
        p99_ms=percentile(latencies, 99) if latencies else 0.0,
    )
