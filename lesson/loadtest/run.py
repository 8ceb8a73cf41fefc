"""One closed- or open-loop run, shared by the thread and asyncio runners.

:class:`LoadRun` is the set-up both runners share (validation, the payload source, the
schedule and its time bounds), the bookkeeping of each request (when its latency counts
from, its outcome) and the result; the runners differ only in how they wait and call.
"""

from __future__ import annotations

import inspect
import itertools
import threading
from typing import Any

from lesson.loadtest.arrivals import arrival_offsets
from lesson.loadtest.bounds import (
    Check,
    Endpoint,
    PayloadSource,
    Progress,
    Settings,
    grace,
    payload_source,
    validate,
)
from lesson.loadtest.calls import Outcome
from lesson.loadtest.pacing import clock, is_late
from lesson.loadtest.recorder import Recorder
from lesson.loadtest.result import LoadTestResult

__all__ = ["LoadRun"]


class LoadRun:
    """A validated run: what to call, its bounds and schedule, and (once begun) its recorder."""

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
