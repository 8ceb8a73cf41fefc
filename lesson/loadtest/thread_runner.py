"""The thread runner, :func:`run_load_test`: a sync endpoint, closed or open loop (CPython).

Open loop: ``concurrency`` threads each run :func:`~lesson.loadtest.open_loop.send_on_schedule`.
Closed loop: ``concurrency`` threads each send their next request when the previous one
answers. Where threads cannot start (the browser) it runs inline, one request at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from lesson.core.runtime import threads_available
from lesson.core.schema import ensure_response_schema
from lesson.loadtest.open_loop import LoadRun, call_sync, send_on_schedule, warm_up
from lesson.loadtest.result import PROGRESS_INTERVAL, LoadTestResult
from lesson.loadtest.settings import Check, Endpoint, Progress, clock

__all__ = ["run_load_test"]

Worker = Callable[[LoadRun], None]


def run_load_test(
    endpoint: Endpoint,
    payloads: Any,
    *,
    concurrency: int = 1,
    rate: float | None = None,
    max_requests: int = 1000,
    max_duration: float = 10.0,
    warmup: int = 5,
    check: Check | None = ensure_response_schema,
    progress: Progress | None = None,
    arrivals: str = "uniform",
    burstiness: float = 1.0,
    seed: int | None = 0,
) -> LoadTestResult:
    """Load-test a sync endpoint with threads: closed loop (``rate=None``) or open loop.

    Args:
        endpoint: ``endpoint(payload) -> response`` (sync; for async use
            :func:`run_load_test_async`).
        payloads: one payload or a sequence, cycled.
        concurrency: closed loop: workers (1..256); open loop: most requests in flight.
        rate: open loop: requests per second (0 < rate <= 100,000); None: closed loop.
        max_requests: stop after this many requests (1..1,000,000).
        max_duration: stop sending after this many seconds (0 < d <= 600). Requests still
            running get a grace period (``max(1, d/4)`` s, at most 10 s), then count as
            ``unfinished`` errors and are abandoned.
        warmup: requests sent first, sequentially, and not measured (0..10,000).
        check: raises if a response is wrong (default: the V1 schema); None accepts all.
        progress: ``progress(completed, total, elapsed_s)``, from the calling thread, at
            most every 50 ms and once at the end.
        arrivals: open loop: ``uniform`` (evenly spaced), ``poisson`` (exponential gaps) or
            ``gamma`` (gaps ~ Gamma(burstiness, 1 / (rate * burstiness))); see
            :mod:`lesson.loadtest.arrivals`. A drawn schedule ends at ``max_duration``.
        burstiness: the gamma shape (0.01..100; < 1 burstier than Poisson); 1 unless gamma.
        seed: fixes the drawn schedule (None: a fresh one each run).

    Returns:
        The :class:`LoadTestResult`.

    Raises:
        ValueError: a bound is out of range (the message names it), an unknown arrival
            process, or drawn arrivals without a rate.
        TypeError: ``endpoint`` is an ``async def`` function.
        RuntimeError: ``concurrency > 1`` where threads cannot start (the browser).
    """
    run = LoadRun.prepare(
        endpoint,
        payloads,
        concurrency,
        rate,
        max_requests,
        max_duration,
        warmup,
        check,
        progress,
        sync_only=True,
        arrivals=arrivals,
        burstiness=burstiness,
        seed=seed,
    )
    inline = not threads_available()
    if inline and run.settings.concurrency > 1:
        raise RuntimeError(
            "threads cannot start here (the browser): use `await run_load_test_async(...)` "
            "for concurrency > 1"
        )
    warm_up(run.endpoint, run.source, run.settings.warmup, budget=run.settings.max_duration)
    run.begin(inline_progress=inline)
    worker = send_on_schedule if run.settings.open_loop else _closed_worker
    if inline:
        worker(run)
    else:
        _wait_for(run, _start_threads(run, worker))
    return run.result(run.stop())


def _closed_worker(run: LoadRun) -> None:
    """Send the next request as soon as the previous one answers."""
    while (i := run.claim()) is not None:
        if (origin := run.note_send()) is None:
            return
        run.record(origin, call_sync(run.endpoint, run.source(i), run.check))


def _start_threads(run: LoadRun, worker: Worker) -> list[threading.Thread]:
    """One daemon thread per unit of concurrency, all started (or none left running)."""
    concurrency = run.settings.concurrency
    threads = [
        threading.Thread(target=worker, args=(run,), name=f"lesson-load-{n}", daemon=True)
        for n in range(concurrency)
    ]
    try:
        for thread in threads:
            thread.start()
    except RuntimeError as exc:  # e.g. a process thread limit: stop the ones started
        run.recorder.close()
        raise RuntimeError(
            f"could not start {concurrency} load threads ({exc}); lower concurrency"
        ) from exc
    return threads


def _wait_for(run: LoadRun, threads: list[threading.Thread]) -> None:
    """Join the workers until they finish or the grace runs out, reporting progress meanwhile."""
    try:
        while True:
            alive = [thread for thread in threads if thread.is_alive()]
            now = clock()
            if not alive or now >= run.hard_stop:
                break
            run.recorder.maybe_progress(now)
            alive[0].join(min(PROGRESS_INTERVAL, run.hard_stop - now))
    except BaseException:  # Ctrl-C: workers see the closed recorder and stop claiming
        run.recorder.close()
        raise
