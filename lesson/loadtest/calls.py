"""One call to the endpoint, timed and judged (sync and async), and the unmeasured warm-up.

A call returns ``(completion time, error kind or None, message or None)``; the error kind is
the exception's class name or ``schema`` (the response failed the check).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from lesson.loadtest.bounds import Check, Endpoint, PayloadSource
from lesson.loadtest.pacing import clock

__all__ = ["Outcome", "judge", "call_sync", "call_async", "warm_up", "warm_up_async"]

#: (completion time, error kind or None, message or None)
Outcome = tuple[float, str | None, str | None]


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
