"""The asyncio runner, :func:`run_load_test_async`: no threads, so it runs in the browser too.

Open loop: one scheduler task, :func:`~lesson.loadtest.open_loop.send_on_schedule_async`,
starts a request task at each intended send time, with at most ``concurrency`` in flight.
Closed loop: ``concurrency`` worker tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from lesson.core.schema import ensure_response_schema
from lesson.loadtest.open_loop import (
    LoadRun,
    Tasks,
    call_async,
    send_on_schedule_async,
    warm_up_async,
)
from lesson.loadtest.result import LoadTestResult
from lesson.loadtest.settings import Check, Progress, clock

__all__ = ["run_load_test_async"]


async def run_load_test_async(
    endpoint: Callable[[Any], Any | Awaitable[Any]],
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
    """Load-test with asyncio tasks (no threads: works in the browser).

    Same arguments (``arrivals``, ``burstiness``, ``seed`` included) and result as
    :func:`run_load_test`. ``endpoint`` may be ``async def`` or sync; a sync endpoint blocks
    the event loop while it runs, so its calls do not overlap (concurrency then only matters
    for async endpoints). The open loop spawns one
    task per request at its scheduled time, with at most ``concurrency`` in flight.
    Requests still running after the grace period are cancelled and count as ``unfinished``.
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
        arrivals=arrivals,
        burstiness=burstiness,
        seed=seed,
    )
    await warm_up_async(
        run.endpoint, run.source, run.settings.warmup, budget=run.settings.max_duration
    )
    run.begin(inline_progress=True)
    request_tasks: Tasks = set()  # the open loop's request tasks in flight
    if run.settings.open_loop:
        senders = [asyncio.ensure_future(send_on_schedule_async(run, request_tasks))]
    else:
        senders = [
            asyncio.ensure_future(_closed_worker(run)) for _ in range(run.settings.concurrency)
        ]
    leftovers = await _wait_until_done(run, senders, request_tasks)
    end = run.stop()
    await _cancel(leftovers)
    return run.result(end)


async def _closed_worker(run: LoadRun) -> None:
    """Send the next request as soon as the previous one answers."""
    while (i := run.claim()) is not None:
        if (origin := run.note_send()) is None:
            return
        run.record(origin, await call_async(run.endpoint, run.source(i), run.check))


async def _wait_until_done(
    run: LoadRun, senders: list[asyncio.Task[Any]], request_tasks: Tasks
) -> list[asyncio.Task[Any]]:
    """Wait for the senders, then their requests, until the hard stop; return the tasks left running.

    If the wait itself is cancelled (a Stop button) or interrupted, every task is cancelled.
    """
    try:
        _, pending = await asyncio.wait(senders, timeout=max(run.hard_stop - clock(), 0.0))
        while request_tasks and clock() < run.hard_stop:
            await asyncio.wait(set(request_tasks), timeout=max(run.hard_stop - clock(), 0.0))
    except BaseException:
        run.recorder.close()
        for task in [*senders, *request_tasks]:
            task.cancel()
        raise
    return [task for task in [*pending, *request_tasks] if not task.done()]


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until they have ended."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
