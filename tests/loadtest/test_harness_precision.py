"""Open-loop send precision: sends leave on schedule, never early, in both harnesses.

Timer wake-ups are coarse (asyncio and uvloop timers have 1 ms granularity; OS sleeps wake late
on a busy machine), so a harness that only sleeps sends many requests > 1 ms late. The bounds
here are generous for a shared 2-core machine, yet a harness that sleeps without the final
yield loop (or in 1 ms steps) fails them: it is late on a large share of sends.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from lesson.loadtest import LATE_SEND_THRESHOLD, open_loop, run_load_test, run_load_test_async

OK = {"predictions": [0.5], "metadata": {}}
PAYLOAD = {"instances": [0.1, 0.2]}
#: modest rate, enough sends for a share to mean something
RATE, SENDS = 400.0, 400
#: generous: an idle machine gives ~0 %; sleeping without the yield loop gave 20-90 % here
MAX_LATE_SHARE = 0.10


class Recorder:
    """An endpoint that records when it was called (sync and async flavours)."""

    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, payload):
        self.calls.append(time.perf_counter())
        return OK

    async def acall(self, payload):
        self.calls.append(time.perf_counter())
        return OK


def _best_of(run, attempts=3):
    """The run with the fewest late sends among a few (a shared machine has bad moments)."""
    best = None
    for _ in range(attempts):
        result = run()
        if best is None or result.late_sends < best.late_sends:
            best = result
        if best.late_sends <= MAX_LATE_SHARE * SENDS / 4:
            break
    return best


def test_sleep_until_never_returns_early_and_is_close():
    overshoots = []
    for delay in (0.0003, 0.001, 0.002, 0.004) * 10:
        target = time.perf_counter() + delay
        open_loop.sleep_until(target)
        now = time.perf_counter()
        assert now >= target
        overshoots.append(now - target)
    assert statistics.median(overshoots) < 0.0005, overshoots


def test_async_sleep_until_never_returns_early_and_is_close():
    async def main():
        overshoots = []
        for delay in (0.0003, 0.001, 0.002, 0.004) * 10:
            target = time.perf_counter() + delay
            await open_loop.sleep_until_async(target)
            now = time.perf_counter()
            assert now >= target
            overshoots.append(now - target)
        return overshoots

    overshoots = asyncio.run(main())
    assert statistics.median(overshoots) < 0.0005, overshoots


def test_idle_async_scheduler_waits_precisely_without_burning_cpu():
    """With nothing in flight the last stretch is a blocking sleep: on time, and little CPU."""

    async def main(idle):
        overshoots = []
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(100):  # sends due every 1 ms: always inside the spin window
            target = time.perf_counter() + 0.001
            await open_loop.sleep_until_async(target, idle=idle)
            now = time.perf_counter()
            assert now >= target
            overshoots.append(now - target)
        return overshoots, (time.process_time() - cpu0) / (time.perf_counter() - wall0)

    overshoots, cpu_share = asyncio.run(main(lambda: True))
    assert statistics.median(overshoots) < 0.0005, overshoots
    assert cpu_share < 0.6, cpu_share  # a yield loop would use ~100 % of a core here


def test_sleep_until_without_spinning_still_never_returns_early():
    # the browser path (no spin window): timers only, still never early
    target = time.perf_counter() + 0.002
    open_loop.sleep_until(target, spin_window=0.0)
    assert time.perf_counter() >= target

    async def main():
        target = time.perf_counter() + 0.002
        await open_loop.sleep_until_async(target, spin_window=0.0)
        return time.perf_counter() - target

    assert asyncio.run(main()) >= 0


def test_thread_open_loop_sends_on_schedule():
    result = _best_of(
        lambda: run_load_test(
            Recorder(), PAYLOAD, rate=RATE, concurrency=4, max_requests=SENDS, warmup=0
        )
    )
    assert result.requests == SENDS and result.successes == SENDS
    assert result.late_sends <= MAX_LATE_SHARE * SENDS, result.to_text()
    # latency is measured from the intended time: a fast endpoint answered on time is fast
    assert result.p50 < 0.001, result.to_text()


def test_async_open_loop_sends_on_schedule():
    def run():
        endpoint = Recorder()
        return asyncio.run(
            run_load_test_async(
                endpoint.acall, PAYLOAD, rate=RATE, concurrency=8, max_requests=SENDS, warmup=0
            )
        )

    result = _best_of(run)
    assert result.requests == SENDS and result.successes == SENDS
    assert result.late_sends <= MAX_LATE_SHARE * SENDS, result.to_text()
    assert result.p50 < 0.001, result.to_text()


def test_async_open_loop_sends_are_not_early_and_keep_the_rate():
    endpoint = Recorder()
    result = asyncio.run(
        run_load_test_async(
            endpoint.acall, PAYLOAD, rate=RATE, concurrency=8, max_requests=200, warmup=0
        )
    )
    calls = endpoint.calls
    assert len(calls) == 200
    # send i is due at start + i/rate: never before it (calls[0] is at or after start)
    early = [i for i, t in enumerate(calls) if t - calls[0] < i / RATE - LATE_SEND_THRESHOLD]
    assert not early, early[:5]
    assert 0.45 <= result.wall_time <= 1.5, result.to_text()


@pytest.mark.parametrize("asynchronous", [False, True])
def test_late_sends_count_a_schedule_that_runs_away(asynchronous):
    """``late_sends`` still means something: a pool too small for the rate makes sends late."""

    def slow(payload):
        time.sleep(0.003)
        return OK

    if asynchronous:
        result = asyncio.run(
            run_load_test_async(slow, PAYLOAD, rate=RATE, concurrency=1, max_requests=100, warmup=0)
        )
    else:
        result = run_load_test(slow, PAYLOAD, rate=RATE, concurrency=1, max_requests=100, warmup=0)
    # one at a time, 3 ms each, due every 2.5 ms: the schedule runs away
    assert result.late_sends >= 50, result.to_text()
