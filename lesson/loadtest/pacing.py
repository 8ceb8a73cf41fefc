"""Pacing: the clock, and waits that end on time (open-loop sends leave when they are due).

Timers wake up to ~1 ms late, so in CPython a sender sleeps until just before its send is due
and then yields (``sleep(0)``) until the exact time: sends leave on schedule at the cost of
some client CPU. In the browser (one thread, a 100 µs clock) it only sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from lesson.core.runtime import IN_BROWSER

__all__ = [
    "clock",
    "LATE_SEND_THRESHOLD",
    "SPIN_WINDOW_THREADS",
    "SPIN_WINDOW_ASYNC",
    "is_late",
    "sleep_until",
    "sleep_until_async",
]

#: The clock every measurement uses (bound at import, so a patched ``perf_counter`` applies).
clock = time.perf_counter

#: A send more than this many seconds after its scheduled time is a late send.
LATE_SEND_THRESHOLD = 0.001

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
