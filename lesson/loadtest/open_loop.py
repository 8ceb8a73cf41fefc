"""The open loop: send each request when the schedule says, whether or not earlier ones answered.

A load test asks "how long does a user wait at this load?". Sending the next request only
when the previous one has answered (a *closed loop*) cannot answer that honestly: when the
server stalls, the client stalls with it, the requests users would have sent during the stall
are never sent, and the stall shows as ONE slow request instead of every request that would
have queued behind it. The percentiles hide it: *coordinated omission*. The open loop does not
let the server set the pace:

1. **A schedule.** Request ``i`` is due at ``start + offset(i)``: ``i / rate`` for evenly
   spaced arrivals, or drawn gaps for Poisson or gamma arrivals
   (:mod:`lesson.loadtest.arrivals`) — :meth:`LoadRun.intended`.
2. **Send at the intended time,** whatever happened to earlier requests. ``concurrency``
   bounds the requests in flight; a send more than :data:`LATE_SEND_THRESHOLD` (1 ms) behind
   its schedule (the pool was full, or the client could not keep up) is counted in
   ``late_sends`` — :meth:`LoadRun.note_send`. Timers wake up to ~1 ms late, so in CPython a
   sender sleeps until just before its send is due and then yields (``sleep(0)``) until the
   exact time: sends leave on schedule at the cost of some client CPU. In the browser (one
   thread, a 100 µs clock) it only sleeps — :func:`sleep_until`, :func:`sleep_until_async`.
3. **Latency from the intended time,** not from when the request actually left: a request
   that waited for a free slot waited as a user would, so a stall shows in p99 —
   :meth:`LoadRun.record`.
4. **Bounded by requests and seconds.** At most ``max_requests`` are scheduled and none is
   sent from ``max_duration`` on (the ``deadline``; scheduled but never sent: ``unsent``).
   Requests still running get a grace period (``hard_stop``: ``max(1, d/4)`` s, at most
   10 s), then count as ``unfinished`` errors — :meth:`LoadRun.claim`, :meth:`LoadRun.stop`.

:func:`send_on_schedule` is the whole loop for one sender thread (the thread runner starts
``concurrency`` of them); :func:`send_on_schedule_async` is its asyncio form, one scheduler
task that starts a request task at each intended time, at most ``concurrency`` in flight.
The closed loop uses the same :class:`LoadRun` without a schedule: its latency counts from the
send itself and no send is late (the runners, :mod:`~lesson.loadtest.thread_runner` and
:mod:`~lesson.loadtest.async_runner`, hold its few lines).

Below the loop: the waits that end on time, and one timed, judged call — an *outcome* is
``(completion time, error kind or None, message or None)``, the kind being the exception's
class name or ``schema`` (the response failed the check).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from lesson.core.runtime import IN_BROWSER
from lesson.loadtest.arrivals import arrival_offsets
from lesson.loadtest.result import LoadTestResult, Recorder
from lesson.loadtest.settings import (
    LATE_SEND_THRESHOLD,
    Check,
    Endpoint,
    PayloadSource,
    Progress,
    Settings,
    clock,
    grace,
    payload_source,
    validate,
)

__all__ = [
    "send_on_schedule",
    "send_on_schedule_async",
    "LoadRun",
    "Tasks",
    "clock",
    "LATE_SEND_THRESHOLD",
    "SPIN_WINDOW_THREADS",
    "SPIN_WINDOW_ASYNC",
    "is_late",
    "sleep_until",
    "sleep_until_async",
    "Outcome",
    "judge",
    "call_sync",
    "call_async",
    "warm_up",
    "warm_up_async",
]

#: (completion time, error kind or None, message or None)
Outcome = tuple[float, str | None, str | None]
#: the asyncio open loop's request tasks in flight
Tasks = set[asyncio.Task[Any]]


# ----------------------------------------------------------------------------- the loop


def send_on_schedule(run: LoadRun) -> None:
    """The open loop in one sender thread: each claimed request leaves at its intended time.

    ``concurrency`` threads run this side by side, so at most that many requests are in
    flight; a request whose time came while every thread was busy leaves late, and its wait
    counts in its latency.
    """
    while (i := run.claim()) is not None:  # the next request, or the bounds say stop
        intended = run.intended(i)  # 1. the schedule
        sleep_until(intended)  # 2. send at the intended time (counted if late)...
        if run.note_send(intended) is None:
            return
        outcome = call_sync(run.endpoint, run.source(i), run.check)
        run.record(intended, outcome)  # 3. ...and measure from it


async def send_on_schedule_async(run: LoadRun, request_tasks: Tasks) -> None:
    """The open loop in asyncio: start request ``i`` at its intended time, once a slot is free.

    One scheduler task; each request runs as its own task (held in ``request_tasks`` until it
    is done), at most ``concurrency`` in flight. Stops at the deadline.
    """
    slots = asyncio.Semaphore(run.settings.concurrency)

    def idle() -> bool:  # nothing in flight: nothing for the event loop to read
        return not request_tasks

    for i in range(run.scheduled):
        intended = run.intended(i)  # 1. the schedule
        await sleep_until_async(intended, idle=idle)  # 2. send at the intended time...
        await slots.acquire()  # bounded in flight: a full pool makes this send late
        if clock() >= run.deadline:  # 4. no send from the deadline on
            slots.release()
            return
        _spawn(request_tasks, _send_at(run, i, intended, slots))


async def _send_at(run: LoadRun, i: int, intended: float, slots: asyncio.Semaphore) -> None:
    """Send request ``i`` now (its latency counts from ``intended``), then free its slot."""
    try:
        if run.note_send(intended) is None:
            return
        run.record(intended, await call_async(run.endpoint, run.source(i), run.check))  # 3.
    finally:
        slots.release()


def _spawn(tasks: Tasks, coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` as a task held in ``tasks`` until it is done."""
    task = asyncio.ensure_future(coroutine)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


class LoadRun:
    """A validated run: what to call, its bounds and schedule, and (once begun) its recorder.

    Shared by every runner, closed or open loop: the set-up (validation, the payload source,
    the schedule and its time bounds), the bookkeeping of each request (when its latency
    counts from, its outcome) and the result; the runners differ only in how they wait and call.
    """

    recorder: Recorder
    start: float
    deadline: float  # no request is sent from then on
    hard_stop: float  # requests still in flight are abandoned then

    def __init__(
        self,
        endpoint: Endpoint,
        source: PayloadSource,
        settings: Settings,
        check: Check | None,
        progress: Progress | None,
    ):
        self.endpoint = endpoint
        self.source = source
        self.settings = settings
        self.check = check
        self.progress = progress
        self._offsets: list[float] | None = None  # drawn arrivals (poisson, gamma); None: i / rate
        if settings.rate is not None and settings.arrivals.random:
            self._offsets = arrival_offsets(
                settings.arrivals,
                rate=settings.rate,
                limit=settings.max_requests,
                horizon=settings.max_duration,
            )
        self.scheduled = settings.scheduled if self._offsets is None else len(self._offsets)
        self._claim_lock = threading.Lock()
        self._indices = itertools.count()

    @classmethod
    def prepare(
        cls,
        endpoint: Any,
        payloads: Any,
        concurrency: Any,
        rate: Any,
        max_requests: Any,
        max_duration: Any,
        warmup: Any,
        check: Any,
        progress: Any,
        *,
        sync_only: bool = False,
        arrivals: Any = "uniform",
        burstiness: Any = 1.0,
        seed: Any = 0,
    ) -> LoadRun:
        """Validate the arguments (ValueError naming the bound); ``sync_only`` refuses async endpoints."""
        settings = validate(
            endpoint,
            concurrency,
            rate,
            max_requests,
            max_duration,
            warmup,
            check,
            progress,
            arrivals,
            burstiness,
            seed,
        )
        if sync_only and (
            inspect.iscoroutinefunction(endpoint)
            or (callable(endpoint) and inspect.iscoroutinefunction(endpoint.__call__))
        ):
            raise TypeError("endpoint is async: use `await run_load_test_async(...)`")
        return cls(
            endpoint, payload_source(payloads, settings.max_requests), settings, check, progress
        )

    def begin(self, *, inline_progress: bool) -> None:
        """Start the clock (after the warm-up); ``inline_progress``: report progress on each outcome."""
        self.recorder = Recorder(self.scheduled, self.progress, inline_progress=inline_progress)
        self.recorder.begin()
        self.start = self.recorder.start
        self.deadline = self.start + self.settings.max_duration
        self.hard_stop = self.deadline + grace(self.settings.max_duration)

    def claim(self) -> int | None:
        """The index of the next request to send, or None when the run is over (thread-safe)."""
        with self._claim_lock:
            if self.recorder.closed:
                return None
            i = next(self._indices)
            if i >= self.scheduled or clock() >= self.deadline:
                return None
            return i

    def intended(self, i: int) -> float:
        """Open loop: when request ``i`` is due (evenly spaced, or the drawn arrivals)."""
        assert self.settings.rate is not None
        if self._offsets is not None:
            return self.start + self._offsets[i]
        return self.start + i / self.settings.rate

    def note_send(self, intended: float | None = None) -> float | None:
        """Note a send now; return the time its latency counts from, or None if the run is closed.

        Closed loop (``intended=None``): from the send itself. Open loop: from ``intended``,
        and a send more than the threshold behind it counts as late.
        """
        if intended is None:
            return clock() if self.recorder.sending() else None
        return intended if self.recorder.sending(late=is_late(intended, clock())) else None

    def record(self, origin: float, outcome: Outcome) -> None:
        """Record a completed request whose latency counts from ``origin``."""
        done, kind, message = outcome
        self.recorder.record(done - origin, done, kind, message)

    def stop(self) -> float | None:
        """Accept no more outcomes (requests in flight count as ``unfinished``).

        Returns the end of the wall time if requests were still in flight, else None (the
        last completion ends it).
        """
        end = clock() if self.recorder.in_flight else None
        self.recorder.close()
        return end

    def result(self, end: float | None) -> LoadTestResult:
        """The run's result (after :meth:`stop`); the progress callback hears the final count."""
        settings, sent = self.settings, self.recorder.sent
        result = self.recorder.result(
            mode="open" if settings.open_loop else "closed",
            concurrency=settings.concurrency,
            rate=settings.rate,
            unsent=max(self.scheduled - sent, 0) if settings.open_loop else 0,
            stopped_by="max_requests" if sent >= settings.max_requests else "max_duration",
            end=end,
            arrivals=settings.arrivals if settings.open_loop else None,
        )
        if self.progress is not None:
            self.progress(len(result.latencies), self.scheduled, result.wall_time)
        return result


# ----------------------------------------------------------------------------- waits that end on time

#: Open loop, CPython: a sender sleeps until this long before a request is due, then yields
#: (``sleep(0)``, which lets other threads/tasks run) until the exact intended time. OS sleeps
#: and event-loop timers wake up to ~1 ms late (asyncio and uvloop timers have 1 ms
#: granularity), which would make sends late; the yield loop costs CPU only for this window.
#: In the browser there is no spinning (one thread, a 100 µs clock): sends wake on timers.
SPIN_WINDOW_THREADS = 0.0 if IN_BROWSER else 0.0005
SPIN_WINDOW_ASYNC = 0.0 if IN_BROWSER else 0.0015
#: how early a blocking sleep of the idle asyncio scheduler ends (then it yields to the exact time)
BLOCKING_MARGIN = 0.0002


def is_late(intended: float, sent: float) -> bool:
    """Whether a send at ``sent`` missed its ``intended`` time by more than the threshold."""
    return sent - intended > LATE_SEND_THRESHOLD


def sleep_until(target: float, spin_window: float = SPIN_WINDOW_THREADS) -> None:
    """Block the calling thread until ``clock() >= target``, without waking late.

    Sleeps until ``spin_window`` before ``target``, then yields with ``time.sleep(0)`` (it
    releases the GIL, so other workers keep sending and receiving) until ``target``.
    """
    remaining = target - clock()
    if remaining > spin_window:
        time.sleep(remaining - spin_window)
    if spin_window <= 0:
        while (remaining := target - clock()) > 0:
            time.sleep(remaining)
        return
    while clock() < target:
        time.sleep(0)


async def sleep_until_async(
    target: float, spin_window: float = SPIN_WINDOW_ASYNC, idle: Callable[[], bool] | None = None
) -> None:
    """Await until ``clock() >= target``: a timer for most of the wait, then ``sleep(0)`` yields.

    Each ``asyncio.sleep(0)`` runs one event-loop iteration (I/O is polled, other tasks run),
    so responses keep being read while the scheduler waits for its exact send time. When
    ``idle()`` says no request is in flight there is nothing to read, so the wait is a short
    blocking ``time.sleep`` instead (precise to ~0.1 ms on Linux, and it spends no CPU).
    """
    remaining = target - clock()
    if remaining > spin_window:
        await asyncio.sleep(remaining - spin_window)
    if spin_window <= 0:
        while (remaining := target - clock()) > 0:
            await asyncio.sleep(remaining)
        return
    while (remaining := target - clock()) > 0:
        if idle is not None and remaining > BLOCKING_MARGIN and idle():
            time.sleep(remaining - BLOCKING_MARGIN)
        else:
            await asyncio.sleep(0)


# ----------------------------------------------------------------------------- one timed call


def judge(response: Any, check: Check | None) -> tuple[str | None, str | None]:
    """Classify a response: (None, None) if it passes ``check``, else ("schema", why)."""
    if inspect.isawaitable(response):
        close = getattr(response, "close", None)
        if close is not None:
            close()
        return "TypeError", "the endpoint returned an awaitable: use run_load_test_async"
    if check is not None:
        try:
            check(response)
        except Exception as exc:  # any failing check is a schema error
            return "schema", str(exc) or type(exc).__name__
    return None, None


def call_sync(endpoint: Endpoint, payload: Any, check: Check | None) -> Outcome:
    """Call once; return (completion time, error kind or None, message)."""
    try:
        response = endpoint(payload)
    except Exception as exc:
        return clock(), type(exc).__name__, str(exc) or type(exc).__name__
    done = clock()
    kind, message = judge(response, check)
    return done, kind, message


async def call_async(endpoint: Callable[[Any], Any], payload: Any, check: Check | None) -> Outcome:
    """Call once, awaiting the response if the endpoint is async; as :func:`call_sync`."""
    awaited = False
    try:
        response = endpoint(payload)
        if inspect.isawaitable(response):
            awaited = True
            response = await response
    except Exception as exc:
        done, kind, message = clock(), type(exc).__name__, str(exc) or type(exc).__name__
    else:
        done = clock()  # before yielding to other tasks, which would inflate this latency
        kind, message = judge(response, check)
    if not awaited:
        await asyncio.sleep(0)  # a sync endpoint blocks the loop: let other tasks run between calls
    return done, kind, message


def warm_up(endpoint: Endpoint, source: PayloadSource, count: int, budget: float) -> None:
    """Run ``count`` requests whose results are thrown away (bounded by ``budget`` seconds)."""
    stop = clock() + budget
    for i in range(count):
        if clock() >= stop:
            break
        try:
            response = endpoint(source(i))
            if inspect.isawaitable(response):
                getattr(response, "close", lambda: None)()
        except Exception:
            pass  # warm-up outcomes are not part of the measurement


async def warm_up_async(
    endpoint: Callable[[Any], Any], source: PayloadSource, count: int, budget: float
) -> None:
    """As :func:`warm_up`, awaiting async endpoints; a call still running at ``budget`` is cancelled."""
    stop = clock() + budget
    for i in range(count):
        remaining = stop - clock()
        if remaining <= 0:
            break
        try:
            await asyncio.wait_for(call_async(endpoint, source(i), None), timeout=remaining)
        except TimeoutError:
            break  # warm-up is bounded by max_duration too
