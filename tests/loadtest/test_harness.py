"""The load-test harness. These tests can fail: they time real sleeps and real stalls.

Timing bounds are generous (the machine has 2 noisy cores shared with other jobs):
they check ratios and orders of magnitude, not exact figures.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest

from lesson import LoadTestResult, averaged_ensembled_model, fastapi_rest_adapter
from lesson.core.stats import percentile
from lesson.loadtest import run_load_test, run_load_test_async, run_sequential_load_test
from lesson.loadtest import (
    thread_runner as harness,
)  # PROGRESS_INTERVAL; threads_available is patched there

OK = {"predictions": [0.5], "metadata": {}}
PAYLOAD = {"instances": [0.1, 0.2]}


def sleeper(seconds):
    def endpoint(payload):
        time.sleep(seconds)
        return OK

    return endpoint


def async_sleeper(seconds):
    async def endpoint(payload):
        await asyncio.sleep(seconds)
        return OK

    return endpoint


class StallingServer:
    """One request at a time (a lock), ``service`` s each; call ``stall_at`` takes ``stall`` s."""

    def __init__(self, service=0.002, stall_at=60, stall=0.5):
        self.lock = threading.Lock()
        self.calls = 0
        self.service, self.stall_at, self.stall = service, stall_at, stall

    def __call__(self, payload):
        with self.lock:
            self.calls += 1
            time.sleep(self.stall if self.calls == self.stall_at else self.service)
            return OK


# ----------------------------------------------------------------------------- percentiles


def test_percentile_nearest_rank():
    data = [float(i) for i in range(1, 101)]
    assert percentile(data, 50) == 50.0
    assert percentile(data, 90) == 90.0
    assert percentile(data, 99) == 99.0
    assert percentile(data, 99.9) == 100.0
    assert percentile(data, 100) == 100.0
    assert percentile(data, 0) == 1.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0  # nearest rank, not interpolated 2.5
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(data, 101)


# ----------------------------------------------------------------------------- the original API


def test_original_result_constructor_and_fields():
    result = LoadTestResult(0.01, 100.0, 1.0)
    assert (result.avg_latency, result.throughput, result.success_rate) == (0.01, 100.0, 1.0)
    assert "latencies" not in repr(result)


def test_synthetic_load_test_on_the_rest_adapter():
    endpoint = fastapi_rest_adapter(averaged_ensembled_model)
    result = run_sequential_load_test(
        endpoint, [{"instances": [i / 100, 0.5]} for i in range(50)], warmups=2
    )
    assert result.requests == 50 and result.successes == 50 and result.success_rate == 1.0
    assert result.mode == "sequential" and result.errors == {}
    assert len(result.latencies) == 50
    assert 0 < result.p50 <= result.p90 <= result.p99 <= result.max_latency
    assert result.avg_latency > 0 and result.throughput > 0
    assert result.clock_resolution > 0


def test_synthetic_load_test_warmups_are_excluded():
    calls = []

    def endpoint(payload):
        calls.append(payload)
        return OK

    result = run_sequential_load_test(endpoint, [{"n": 1}, {"n": 2}], warmups=3)
    assert len(calls) == 5 and result.requests == 2


def test_synthetic_load_test_counts_schema_failures_and_exceptions():
    def endpoint(payload):
        if payload["n"] == 0:
            raise ConnectionError("refused")
        if payload["n"] == 1:
            return {"predictions": "nope", "metadata": {}}
        return OK

    result = run_sequential_load_test(endpoint, [{"n": n % 4} for n in range(40)], warmups=0)
    assert result.errors == {"ConnectionError": 10, "schema": 10}
    assert result.successes == 20 and result.success_rate == 0.5
    assert "refused" in result.error_examples["ConnectionError"]


def test_synthetic_load_test_known_sleep():
    result = run_sequential_load_test(sleeper(0.02), [PAYLOAD] * 15, warmups=1)
    assert 0.018 <= result.p50 <= 0.07
    assert 10 <= result.throughput <= 55


@pytest.mark.parametrize(
    "kwargs, match", [({"warmups": -1}, "warmups"), ({"warmups": 1.5}, "warmups")]
)
def test_synthetic_load_test_bounds(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_sequential_load_test(lambda p: OK, [PAYLOAD], **kwargs)


def test_synthetic_load_test_rejects_empty_and_uncallable():
    with pytest.raises(ValueError, match="empty"):
        run_sequential_load_test(lambda p: OK, [])
    with pytest.raises(ValueError, match="callable"):
        run_sequential_load_test("http://x", [PAYLOAD])


# ----------------------------------------------------------------------------- closed loop


def test_closed_loop_known_sleep_percentiles():
    result = run_load_test(sleeper(0.02), PAYLOAD, concurrency=2, max_requests=40, warmup=2)
    assert result.mode == "closed" and result.requests == 40 and result.successes == 40
    assert 0.018 <= result.p50 <= 0.07, result.to_text()
    assert result.p50 <= result.p90 <= result.p95 <= result.p99 <= result.p999 <= result.max_latency
    assert result.stopped_by == "max_requests"


def test_concurrency_multiplies_throughput_of_a_sleeping_endpoint():
    one = run_load_test(
        sleeper(0.02), PAYLOAD, concurrency=1, max_requests=10_000, max_duration=0.8, warmup=0
    )
    eight = run_load_test(
        sleeper(0.02), PAYLOAD, concurrency=8, max_requests=10_000, max_duration=0.8, warmup=0
    )
    assert one.stopped_by == eight.stopped_by == "max_duration"
    ratio = eight.throughput / one.throughput
    assert 3.5 <= ratio <= 9.0, (one.to_text(), eight.to_text())
    # latency per request stays ~20 ms: the endpoint is not saturated
    assert eight.p50 < 0.07


def test_errors_are_counted_by_kind_not_fatal():
    def endpoint(payload):
        n = payload["n"]
        if n % 3 == 0:
            raise ValueError("bad value")
        if n % 5 == 0:
            raise KeyError("k")
        if n % 7 == 0:
            return {"predictions": [None], "metadata": {}}
        return OK

    payloads = [{"n": n} for n in range(1, 106)]
    result = run_load_test(endpoint, payloads, concurrency=4, max_requests=105, warmup=0)
    # 1..105: multiples of 3 -> 35; of 5 not 3 -> 14; of 7 not 3/5 -> 8 (7,14,28,49,56,77,91,98)
    assert result.errors == {"ValueError": 35, "KeyError": 14, "schema": 8}
    assert result.successes == 105 - 57
    assert result.requests == 105
    assert math.isclose(result.success_rate, 48 / 105)
    assert "bad value" in result.error_examples["ValueError"]


def test_check_none_accepts_anything_and_custom_checks_count_as_schema():
    assert run_load_test(lambda p: 42, PAYLOAD, max_requests=5, check=None, warmup=0).successes == 5

    def check(response):
        if response != 42:
            raise ValueError("not 42")

    result = run_load_test(
        lambda p: p["v"], [{"v": 42}, {"v": 1}], max_requests=10, check=check, warmup=0
    )
    assert result.errors == {"schema": 5}


def test_warmup_is_excluded():
    calls = []
    lock = threading.Lock()

    def endpoint(payload):
        with lock:
            calls.append(1)
        return OK

    result = run_load_test(endpoint, PAYLOAD, concurrency=3, max_requests=20, warmup=7)
    assert len(calls) == 27 and result.requests == 20 and len(result.latencies) == 20


def test_max_duration_bounds_a_run():
    started = time.perf_counter()
    result = run_load_test(
        sleeper(0.01), PAYLOAD, concurrency=2, max_requests=1_000_000, max_duration=0.3, warmup=0
    )
    elapsed = time.perf_counter() - started
    assert result.stopped_by == "max_duration"
    assert elapsed < 1.5
    assert 5 <= result.requests <= 70


def test_a_hung_request_is_abandoned_and_counted():
    hang = threading.Event()

    def endpoint(payload):
        if payload["n"] == 1:
            hang.wait(5.0)  # far longer than the run's bound
        return OK

    started = time.perf_counter()
    result = run_load_test(
        endpoint, [{"n": 0}, {"n": 1}], concurrency=1, max_requests=10, max_duration=0.2, warmup=0
    )
    elapsed = time.perf_counter() - started
    hang.set()
    assert elapsed < 2.5  # 0.2 s + the 1 s grace, not 5 s
    assert result.errors.get("unfinished") == 1
    assert result.requests == result.successes + 1


def test_async_endpoint_is_refused_by_the_thread_harness():
    with pytest.raises(TypeError, match="run_load_test_async"):
        run_load_test(async_sleeper(0.0), PAYLOAD, max_requests=1)

    def sneaky(payload):
        return async_sleeper(0.0)(payload)  # returns a coroutine

    result = run_load_test(sneaky, PAYLOAD, max_requests=3, warmup=1)
    assert result.errors == {"TypeError": 3}


def test_progress_is_throttled_and_ends_complete():
    calls = []
    result = run_load_test(
        sleeper(0.002),
        PAYLOAD,
        concurrency=2,
        max_requests=200,
        warmup=0,
        progress=lambda done, total, elapsed: calls.append((done, total, elapsed)),
    )
    assert calls, "progress was never called"
    assert calls[-1][0] == 200 and calls[-1][1] == 200
    assert len(calls) <= result.wall_time / harness.PROGRESS_INTERVAL + 3
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 257}, "concurrency"),
        ({"concurrency": 2.0}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"max_requests": 0}, "max_requests"),
        ({"max_requests": 1_000_001}, "max_requests"),
        ({"max_duration": 0}, "max_duration"),
        ({"max_duration": -1}, "max_duration"),
        ({"max_duration": 601}, "max_duration"),
        ({"max_duration": math.inf}, "max_duration"),
        ({"rate": 0}, "rate"),
        ({"rate": -5}, "rate"),
        ({"rate": 100_001}, "rate"),
        ({"rate": math.nan}, "rate"),
        ({"warmup": -1}, "warmup"),
        ({"warmup": 10_001}, "warmup"),
        ({"check": "yes"}, "check"),
        ({"progress": 3}, "progress"),
    ],
)
def test_bounds_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_load_test(lambda p: OK, PAYLOAD, **kwargs)
    with pytest.raises(ValueError, match=match):
        asyncio.run(run_load_test_async(lambda p: OK, PAYLOAD, **kwargs))


def test_payloads_must_be_given():
    with pytest.raises(ValueError, match="empty"):
        run_load_test(lambda p: OK, [])
    with pytest.raises(ValueError, match="callable"):
        run_load_test(None, PAYLOAD)


def test_payloads_are_cycled_in_order():
    seen = []
    lock = threading.Lock()

    def endpoint(payload):
        with lock:
            seen.append(payload["n"])
        return OK

    run_load_test(endpoint, iter([{"n": 0}, {"n": 1}, {"n": 2}]), max_requests=7, warmup=0)
    assert seen == [0, 1, 2, 0, 1, 2, 0]


def test_browser_fallback_without_threads(monkeypatch):
    monkeypatch.setattr(harness, "threads_available", lambda: False)
    result = run_load_test(lambda p: OK, PAYLOAD, max_requests=20, progress=lambda *a: None)
    assert result.successes == 20
    open_result = run_load_test(lambda p: OK, PAYLOAD, rate=500, max_requests=20)
    assert open_result.successes == 20
    with pytest.raises(RuntimeError, match="run_load_test_async"):
        run_load_test(lambda p: OK, PAYLOAD, concurrency=2)


# ----------------------------------------------------------------------------- open loop


def test_open_loop_paces_at_the_target_rate():
    result = run_load_test(
        lambda p: OK, PAYLOAD, rate=100, concurrency=4, max_requests=50, warmup=0
    )
    assert result.mode == "open" and result.target_rate == 100
    assert result.requests == 50
    assert 0.44 <= result.wall_time <= 1.5, result.to_text()
    assert 33 <= result.throughput <= 115, result.to_text()
    # a fast endpoint mostly keeps up with its schedule (sleep wake-ups on a loaded box are late)
    assert result.late_sends < 25, result.to_text()


def test_open_loop_stops_at_max_duration():
    result = run_load_test(
        lambda p: OK,
        PAYLOAD,
        rate=100,
        concurrency=2,
        max_requests=1000,
        max_duration=0.3,
        warmup=0,
    )
    assert result.requests == 30 and result.stopped_by == "max_duration"


def test_open_loop_measures_from_the_intended_send_time():
    # one worker, 10 ms per request, 200 scheduled per second: the schedule runs away
    result = run_load_test(
        sleeper(0.01), PAYLOAD, rate=200, concurrency=1, max_requests=40, warmup=0
    )
    assert result.late_sends >= 20
    # the last request was intended at 195 ms but answered after ~400 ms
    assert result.max_latency >= 0.15, result.to_text()
    assert result.p50 > 0.05


def test_coordinated_omission_open_loop_shows_the_stall_closed_loop_hides_it():
    closed = run_load_test(StallingServer(), PAYLOAD, concurrency=1, max_requests=400, warmup=0)
    opened = run_load_test(
        StallingServer(), PAYLOAD, rate=200, concurrency=16, max_requests=400, warmup=0
    )
    # both saw the one stalled request ...
    assert closed.max_latency >= 0.45 and opened.max_latency >= 0.45
    # ... but only the open loop counts the requests that should have been sent during it
    assert closed.p99 < 0.1, closed.to_text()
    assert opened.p99 >= 0.3, opened.to_text()
    assert opened.p90 > 3 * closed.p90
    assert opened.late_sends > 0


# ----------------------------------------------------------------------------- asyncio


def test_async_harness_known_sleep_and_concurrency():
    one = asyncio.run(
        run_load_test_async(
            async_sleeper(0.02),
            PAYLOAD,
            concurrency=1,
            max_requests=10_000,
            max_duration=0.6,
            warmup=1,
        )
    )
    eight = asyncio.run(
        run_load_test_async(
            async_sleeper(0.02),
            PAYLOAD,
            concurrency=8,
            max_requests=10_000,
            max_duration=0.6,
            warmup=1,
        )
    )
    assert 0.018 <= one.p50 <= 0.07, one.to_text()
    assert 3.5 <= eight.throughput / one.throughput <= 9.0, (one.to_text(), eight.to_text())
    assert eight.errors == {}


def test_async_harness_with_a_sync_endpoint():
    endpoint = fastapi_rest_adapter(averaged_ensembled_model)
    result = asyncio.run(run_load_test_async(endpoint, PAYLOAD, concurrency=4, max_requests=300))
    assert result.successes == 300 and result.errors == {}
    sleepy = asyncio.run(
        run_load_test_async(sleeper(0.01), PAYLOAD, concurrency=4, max_requests=20, warmup=0)
    )
    assert 0.009 <= sleepy.p50 <= 0.06  # a sync endpoint blocks the loop: calls do not overlap
    assert sleepy.throughput <= 110


def test_async_errors_by_kind_and_progress():
    async def endpoint(payload):
        await asyncio.sleep(0)
        if payload["n"] == 0:
            raise TimeoutError("slow")
        return OK if payload["n"] == 1 else {"predictions": [1], "metadata": None}

    calls = []
    result = asyncio.run(
        run_load_test_async(
            endpoint,
            [{"n": 0}, {"n": 1}, {"n": 2}],
            concurrency=3,
            max_requests=30,
            warmup=0,
            progress=lambda *a: calls.append(a),
        )
    )
    assert result.errors == {"TimeoutError": 10, "schema": 10} and result.successes == 10
    assert calls[-1][:2] == (30, 30)


def test_async_open_loop_shows_the_stall():
    lock = asyncio.Lock

    class AsyncStallingServer:
        def __init__(self):
            self.lock = None
            self.calls = 0

        async def __call__(self, payload):
            if self.lock is None:
                self.lock = lock()
            async with self.lock:
                self.calls += 1
                await asyncio.sleep(0.5 if self.calls == 40 else 0.002)
                return OK

    closed = asyncio.run(
        run_load_test_async(
            AsyncStallingServer(), PAYLOAD, concurrency=1, max_requests=300, warmup=0
        )
    )
    opened = asyncio.run(
        run_load_test_async(
            AsyncStallingServer(), PAYLOAD, rate=150, concurrency=32, max_requests=300, warmup=0
        )
    )
    assert closed.max_latency >= 0.45 and opened.max_latency >= 0.45
    assert closed.p99 < 0.1, closed.to_text()
    assert opened.p99 >= 0.3, opened.to_text()


def test_async_hung_request_is_cancelled_and_counted():
    async def endpoint(payload):
        if payload["n"] == 1:
            await asyncio.sleep(30)
        return OK

    started = time.perf_counter()
    result = asyncio.run(
        run_load_test_async(
            endpoint, [{"n": 0}, {"n": 1}], max_requests=5, max_duration=0.2, warmup=0
        )
    )
    assert time.perf_counter() - started < 2.5
    assert result.errors == {"unfinished": 1} and result.successes == 1


def test_async_open_loop_paces():
    result = asyncio.run(
        run_load_test_async(
            async_sleeper(0.001), PAYLOAD, rate=100, concurrency=4, max_requests=40, warmup=0
        )
    )
    assert result.requests == 40
    assert 0.35 <= result.wall_time <= 1.5


# ----------------------------------------------------------------------------- reporting


def test_reports_summary_text_and_html():
    result = run_load_test(
        sleeper(0.001), PAYLOAD, rate=200, concurrency=2, max_requests=20, warmup=0
    )
    summary = result.summary()
    assert summary["mode"] == "open" and summary["requests"] == 20
    assert summary["percentile_method"] == "nearest-rank"
    assert summary["p50_ms"] == round(result.p50 * 1000, 4)
    for key in (
        "p90_ms",
        "p95_ms",
        "p99_ms",
        "p999_ms",
        "max_ms",
        "late_sends",
        "clock_resolution_us",
        "wall_time_s",
    ):
        assert key in summary
    text = result.to_text()
    assert (
        "open loop at 200 req/s" in text
        and "p99" in text
        and "late sends" in text
        and "resolution" in text
    )
    page = result._repr_html_()
    assert page.startswith('<table class="lesson-results">')
    for column in ("p50", "p90", "p95", "p99", "max"):
        assert f"<th>{column}</th>" in page


def test_an_empty_result_reports_nan_as_none():
    result = LoadTestResult(math.nan, 0.0, 0.0)
    assert result.summary()["p50_ms"] is None
    assert "n/a" in result.to_text()


def test_cancelling_the_async_run_stops_its_requests():
    calls = []

    async def endpoint(payload):
        calls.append(1)
        await asyncio.sleep(0.01)
        return OK

    async def main():
        task = asyncio.ensure_future(
            run_load_test_async(
                endpoint, PAYLOAD, concurrency=4, max_requests=100_000, max_duration=30, warmup=0
            )
        )
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        seen = len(calls)
        await asyncio.sleep(0.2)
        return seen, len(calls)

    seen, later = asyncio.run(main())
    assert seen > 0 and later == seen  # nothing keeps running after the cancel


def test_async_warmup_is_bounded_by_max_duration():
    async def endpoint(payload):
        await asyncio.sleep(10)

    started = time.perf_counter()
    result = asyncio.run(
        run_load_test_async(endpoint, PAYLOAD, max_requests=1, max_duration=0.2, warmup=3)
    )
    assert time.perf_counter() - started < 3.0
    assert result.errors == {"unfinished": 1}
