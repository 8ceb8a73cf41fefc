"""Open-loop arrival processes (lesson.loadtest.arrivals) and the runners that use them.

The schedule tests are statistics over many drawn gaps with fixed seeds (reproducible); the
runner tests send real (in-process) requests and read their latencies back.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest

from lesson.loadtest import run_load_test, run_load_test_async
from lesson.loadtest.arrivals import Arrivals, arrival_offsets, gap_cv

OK = {"predictions": [0.5], "metadata": {}}
PAYLOAD = {"instances": [0.1, 0.2]}
N = 20_000


def schedule(process, burstiness=1.0, seed=0, rate=500.0, n=N):
    return arrival_offsets(
        Arrivals(process, burstiness, seed), rate=rate, limit=n, horizon=math.inf
    )


@pytest.mark.parametrize(
    "process, burstiness", [("uniform", 1.0), ("poisson", 1.0), ("gamma", 0.25), ("gamma", 4.0)]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_schedule_keeps_the_mean_rate(process, burstiness, seed):
    offsets = schedule(process, burstiness, seed)
    assert len(offsets) == N and offsets[0] == 0.0
    assert all(b >= a for a, b in zip(offsets, offsets[1:]))
    rate = (N - 1) / offsets[-1]
    # the mean gap of N draws has a relative standard error CV/sqrt(N): 2/141 at most here
    assert rate == pytest.approx(500.0, rel=0.05), rate


@pytest.mark.parametrize(
    "process, burstiness, want",
    [
        ("uniform", 1.0, 0.0),
        ("poisson", 1.0, 1.0),
        ("gamma", 0.25, 2.0),
        ("gamma", 0.5, math.sqrt(2)),
        ("gamma", 4.0, 0.5),
        ("gamma", 1.0, 1.0),
    ],
)
def test_the_gaps_vary_as_the_process_says(process, burstiness, want):
    cv = gap_cv(schedule(process, burstiness, seed=3))
    assert Arrivals(process, burstiness).gap_cv == pytest.approx(want)
    if want == 0:
        assert cv < 1e-6
    else:
        assert cv == pytest.approx(want, rel=0.1), cv


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    assert schedule("poisson", seed=5, n=500) == schedule("poisson", seed=5, n=500)
    assert schedule("gamma", 0.5, seed=5, n=500) == schedule("gamma", 0.5, seed=5, n=500)
    assert schedule("poisson", seed=5, n=500) != schedule("poisson", seed=6, n=500)
    assert schedule("poisson", seed=None, n=500) != schedule("poisson", seed=None, n=500)


def test_a_drawn_schedule_ends_at_the_horizon_and_the_limit():
    offsets = arrival_offsets(Arrivals("poisson", seed=0), rate=1000.0, limit=10**6, horizon=2.0)
    assert offsets[-1] < 2.0 and 1800 < len(offsets) < 2200
    assert len(arrival_offsets(Arrivals("poisson"), rate=1000.0, limit=50, horizon=2.0)) == 50
    assert arrival_offsets(Arrivals(), rate=4.0, limit=100, horizon=1.0) == [0.0, 0.25, 0.5, 0.75]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(arrivals="zipf"), "arrivals must be one of uniform, poisson, gamma"),
        (dict(arrivals="gamma", burstiness=0), "burstiness must be a number > 0"),
        (dict(arrivals="gamma", burstiness=-1.0), "burstiness must be a number > 0"),
        (dict(arrivals="gamma", burstiness=math.nan), "burstiness must be a number > 0"),
        (dict(arrivals="gamma", burstiness=0.001), r"burstiness must be in 0.01..100"),
        (dict(arrivals="gamma", burstiness=1e6), r"burstiness must be in 0.01..100"),
        (dict(arrivals="poisson", burstiness=0.5), "burstiness applies to arrivals='gamma' only"),
        (dict(arrivals="poisson", seed="x"), "seed must be an integer or None"),
        (dict(arrivals="poisson", rate=None), "needs a rate"),
    ],
)
def test_bad_arrivals_are_a_value_error_naming_the_bound(kwargs, message):
    args = dict(rate=100.0, max_requests=10, warmup=0, check=None) | kwargs
    with pytest.raises(ValueError, match=message):
        run_load_test(lambda p: OK, PAYLOAD, **args)
    with pytest.raises(ValueError, match=message):
        asyncio.run(run_load_test_async(lambda p: OK, PAYLOAD, **args))


def test_a_poisson_run_records_its_process_and_sends_on_the_drawn_schedule():
    sent: list[float] = []
    lock = threading.Lock()

    def endpoint(payload):
        with lock:
            sent.append(time.perf_counter())
        return OK

    result = run_load_test(
        endpoint,
        PAYLOAD,
        rate=400.0,
        concurrency=4,
        max_requests=400,
        max_duration=5.0,
        warmup=0,
        arrivals="poisson",
        seed=11,
    )
    assert result.mode == "open" and result.arrivals == Arrivals("poisson", 1.0, 11)
    summary = result.summary()
    assert (
        summary["arrivals"] == "poisson"
        and summary["arrival_seed"] == 11
        and summary["burstiness"] == 1.0
    )
    assert "Poisson (seed 11) arrivals" in result.to_text()
    assert result.requests == result.successes == 400
    # the sends follow the drawn schedule, not an even one (a busy machine makes some late)
    sent.sort()
    want = arrival_offsets(Arrivals("poisson", seed=11), rate=400.0, limit=400, horizon=5.0)
    even = [i / 400.0 for i in range(400)]
    assert (
        max(abs(a - b) for a, b in zip(want, even)) > 0.02
    )  # the two schedules differ by far more than 5 ms

    def typical_miss(
        times,
    ):  # the median distance of a send from its slot, aligned on the median difference
        diffs = sorted((s - sent[0]) - t for s, t in zip(sent, times))
        mid = diffs[len(diffs) // 2]
        return sorted(abs(d - mid) for d in diffs)[len(diffs) // 2]

    assert typical_miss(want) < 0.005 and typical_miss(even) > 2 * typical_miss(want), (
        typical_miss(want),
        typical_miss(even),
    )


def test_latency_counts_from_the_intended_send_under_bursts():
    """A server that takes 5 ms, one at a time, and a bursty schedule: queued requests count their wait."""
    service = 0.005
    lock = threading.Lock()
    spans: list[tuple[float, float]] = []

    def endpoint(payload):
        with lock:
            begin = time.perf_counter()
            time.sleep(service)
            spans.append((begin, time.perf_counter()))
        return OK

    result = run_load_test(
        endpoint,
        PAYLOAD,
        rate=120.0,
        concurrency=8,
        max_requests=240,
        max_duration=5.0,
        warmup=0,
        arrivals="gamma",
        burstiness=0.2,
        seed=2,
    )
    served = sorted(end - begin for begin, end in spans)
    assert result.successes == 240 and result.arrivals.process == "gamma"
    # each latency includes the service; bursts made some wait behind others: p99 far above one service
    assert min(result.latencies) >= service * 0.9
    assert result.p99 > 3 * served[len(served) // 2]
    uniform = run_load_test(
        endpoint, PAYLOAD, rate=120.0, concurrency=8, max_requests=240, max_duration=5.0, warmup=0
    )
    assert uniform.arrivals == Arrivals() and uniform.p99 < result.p99


def test_the_async_runner_draws_the_same_schedule():
    async def endpoint(payload):
        await asyncio.sleep(0)
        return OK

    result = asyncio.run(
        run_load_test_async(
            endpoint,
            PAYLOAD,
            rate=1000.0,
            concurrency=8,
            max_requests=10**6,
            max_duration=1.0,
            warmup=0,
            arrivals="gamma",
            burstiness=0.5,
            seed=4,
        )
    )
    want = arrival_offsets(Arrivals("gamma", 0.5, 4), rate=1000.0, limit=10**6, horizon=1.0)
    assert (
        result.requests == len(want) and result.unsent == 0 and result.stopped_by == "max_duration"
    )
    assert result.arrivals.describe() == "gamma, burstiness 0.5 (seed 4)"


def test_a_closed_loop_has_no_arrival_process():
    result = run_load_test(lambda p: OK, PAYLOAD, concurrency=2, max_requests=20, warmup=0)
    assert result.arrivals is None and result.summary()["arrivals"] is None
