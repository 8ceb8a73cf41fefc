"""The selection rubric and the batching simulation behave as the lesson says."""

from __future__ import annotations

import pytest

from lesson.teaching.rubric import PATTERNS, RUBRIC, Workload, recommend_pattern
from lesson.teaching.simulation import simulate_batching_server, simulate_load_signals


@pytest.mark.parametrize(
    "workload,pattern",
    [
        (Workload(caller="browser", p99_slo_ms=300), "REST"),
        (Workload(caller="service", p99_slo_ms=50, requests_per_s=5000), "gRPC"),
        (Workload(caller="scheduler", freshness_s=86_400), "batch"),
        (Workload(caller="browser", freshness_s=7200), "batch"),
        (Workload(caller="event-stream", freshness_s=5), "streaming"),
        (Workload(caller="device"), "edge"),
        (Workload(caller="browser", must_work_offline=True), "edge"),
        (Workload(caller="browser", p99_slo_ms=500, generates_text=True), "generative"),
        (Workload(caller="service", generates_text=True), "generative"),
        (Workload(caller="scheduler", generates_text=True), "batch"),  # nobody reads it live
        (Workload(caller="device", generates_text=True), "edge"),
    ],
)
def test_rubric_picks_the_expected_pattern(workload, pattern):
    rec = recommend_pattern(workload)
    assert rec.pattern == pattern
    assert rec.reasons and all(isinstance(r, str) and r for r in rec.reasons)
    assert pattern in str(rec)


def test_rubric_table_covers_every_pattern_once():
    assert sorted(row["pattern"] for row in RUBRIC) == sorted(PATTERNS)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"caller": "fax"}, "caller must be one of"),
        ({"caller": "service", "p99_slo_ms": -1}, "p99_slo_ms"),
        ({"caller": "service", "freshness_s": float("nan")}, "freshness_s"),
        ({"caller": "service", "requests_per_s": 0}, "requests_per_s"),
    ],
)
def test_workload_rejects_bad_numbers(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        Workload(**kwargs)


def test_unbatched_server_saturates_past_its_capacity():
    # 2 ms + 0.02 ms per call: capacity is about 495 calls/s.
    below = simulate_batching_server(rate_per_s=300, max_batch_size=1)
    above = simulate_batching_server(rate_per_s=700, max_batch_size=1)
    assert not below.saturated and above.saturated
    assert above.p99_ms > 20 * below.p99_ms  # queueing blow-up near saturation


def test_batching_raises_capacity_and_groups_requests():
    unbatched = simulate_batching_server(rate_per_s=1500, max_batch_size=1)
    batched = simulate_batching_server(rate_per_s=1500, max_batch_size=16, max_delay_ms=2)
    assert unbatched.saturated and not batched.saturated
    assert batched.mean_batch_size > 2
    assert batched.p99_ms < unbatched.p99_ms / 10


def test_delay_costs_latency_at_low_load():
    no_wait = simulate_batching_server(rate_per_s=50, max_batch_size=8, max_delay_ms=0)
    waits = simulate_batching_server(rate_per_s=50, max_batch_size=8, max_delay_ms=5)
    assert waits.p50_ms > no_wait.p50_ms + 3  # at low load the delay is paid, not amortised


def test_simulation_is_reproducible_and_bounded():
    a = simulate_batching_server(rate_per_s=800, max_batch_size=4, max_delay_ms=1, seed=3)
    b = simulate_batching_server(rate_per_s=800, max_batch_size=4, max_delay_ms=1, seed=3)
    assert a == b
    with pytest.raises(ValueError, match="requests"):
        simulate_batching_server(rate_per_s=10, requests=10**9)
    with pytest.raises(ValueError, match="max_batch_size"):
        simulate_batching_server(rate_per_s=10, max_batch_size=0)


def test_utilisation_saturates_while_queue_depth_keeps_growing():
    under = simulate_load_signals(rate_per_s=100, service_ms=5)  # capacity 200/s
    over = simulate_load_signals(rate_per_s=240, service_ms=5)
    far_over = simulate_load_signals(rate_per_s=300, service_ms=5)
    assert 0.4 < under.utilisation < 0.6
    assert under.in_flight_at_end < 10 and under.p99_ms < 100
    assert over.utilisation > 0.99 and far_over.utilisation > 0.99
    assert abs(far_over.utilisation - over.utilisation) < 0.01  # the CPU-like signal is flat...
    # ...while the backlog grows with the excess (about (rate - capacity) * duration requests).
    assert far_over.in_flight_at_end > 1.5 * over.in_flight_at_end
    assert 0.7 < over.in_flight_at_end / ((240 - 200) * 20) < 1.3
    assert far_over.mean_in_flight > over.mean_in_flight > 10 * under.mean_in_flight
    assert far_over.p99_ms > over.p99_ms > 10 * under.p99_ms
    assert over.completed <= 200 * 20 + 1  # throughput is capped at capacity
    assert over.offered_load == pytest.approx(1.2)


def test_load_signals_are_reproducible_and_bounded():
    assert simulate_load_signals(rate_per_s=150) == simulate_load_signals(rate_per_s=150)
    with pytest.raises(ValueError, match="rate_per_s"):
        simulate_load_signals(rate_per_s=0)
    with pytest.raises(ValueError, match="service_ms"):
        simulate_load_signals(rate_per_s=10, service_ms=-1)
    with pytest.raises(ValueError, match="rate_per_s \\* duration_s"):
        simulate_load_signals(rate_per_s=100_000, duration_s=100)


def test_near_capacity_latency_is_high_but_the_queue_stays_stable():
    # The quiz `knee`: from 50 % to 95 % of capacity latency grows several-fold, but below
    # capacity the queue does not grow without bound; past capacity it does.
    half = simulate_load_signals(rate_per_s=100, service_ms=5)  # 50 % of 200/s
    near = simulate_load_signals(rate_per_s=190, service_ms=5, duration_s=60)  # 95 %
    over = simulate_load_signals(rate_per_s=220, service_ms=5, duration_s=60)  # 110 %
    assert near.p99_ms > 5 * half.p99_ms
    assert near.in_flight_at_end < 0.01 * near.completed  # stable: nothing piles up over 60 s
    assert over.in_flight_at_end > 30 * max(
        near.in_flight_at_end, 1
    )  # unstable: the excess piles up


@pytest.mark.parametrize("rate", [300, 400])
def test_batching_helps_a_fixed_cost_per_call_and_hurts_a_cost_per_row(rate):
    # Notebook 03 and operations.md: the same 2.02 ms one-row call, shaped two ways.
    def p99(size, fixed_ms, per_row_ms):
        return simulate_batching_server(
            rate_per_s=rate,
            max_batch_size=size,
            max_delay_ms=0,
            requests=4000,
            fixed_ms=fixed_ms,
            per_row_ms=per_row_ms,
        ).p99_ms

    assert p99(32, 2.0, 0.02) < p99(1, 2.0, 0.02) / 2  # a fixed cost: batches drain the queue
    assert p99(32, 0.02, 2.0) > p99(1, 0.02, 2.0)  # a cost per row: each waits for its batch
    assert p99(1, 2.0, 0.02) == p99(1, 0.02, 2.0)  # unbatched, the two models are the same


def test_the_simulation_takes_an_arrival_process():
    """Evenly spaced arrivals below capacity never queue (every latency is the service time);
    Poisson arrivals queue, and bursty (gamma, burstiness 0.25) ones queue more, at the same rate."""
    from lesson.loadtest.arrivals import Arrivals

    rate = 0.9 * 1000 / 2.02
    even = simulate_batching_server(rate_per_s=rate, requests=4000, arrivals=Arrivals("uniform"))
    poisson = simulate_batching_server(
        rate_per_s=rate, requests=4000, arrivals=Arrivals("poisson", seed=6)
    )
    bursty = simulate_batching_server(
        rate_per_s=rate, requests=4000, arrivals=Arrivals("gamma", burstiness=0.25, seed=6)
    )
    assert even.p99_ms == pytest.approx(2.02) and even.p50_ms == pytest.approx(2.02)
    assert 5 * even.p99_ms < poisson.p99_ms < bursty.p99_ms
    assert simulate_batching_server(rate_per_s=rate, requests=400) == simulate_batching_server(
        rate_per_s=rate, requests=400
    )
