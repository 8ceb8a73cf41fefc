"""The recorder: collects every request's outcome (thread-safe) and throttles progress reports."""

from __future__ import annotations

import math
import threading
from collections import Counter

from lesson.core.runtime import clock_resolution
from lesson.core.stats import percentile
from lesson.loadtest.arrivals import Arrivals
from lesson.loadtest.bounds import Progress
from lesson.loadtest.pacing import clock
from lesson.loadtest.result import LoadTestResult

__all__ = ["Recorder", "PROGRESS_INTERVAL"]

#: The progress callback is called at most this often (seconds between calls).
PROGRESS_INTERVAL = 0.05


class Recorder:
    """Collects outcomes from workers (thread-safe) and throttles progress reports."""

    def __init__(self, total: int, progress: Progress | None, inline_progress: bool):
        self.lock = threading.Lock()
        self.total = total
        self.progress = progress
        self.inline_progress = inline_progress
        self.latencies: list[float] = []
        self.successes = 0
        self.errors: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.late_sends = 0
        self.sent = 0
        self.in_flight = 0
        self.closed = False
        self.start = 0.0
        self.last_done = 0.0
        self._last_progress = -math.inf

    def begin(self) -> None:
        """Start the wall clock: the first measured send."""
        self.start = clock()
        self.last_done = self.start

    def sending(self, late: bool = False) -> bool:
        """Note a send; False if the run is already closed."""
        with self.lock:
            if self.closed:
                return False
            self.sent += 1
            self.in_flight += 1
            if late:
                self.late_sends += 1
            return True

    def record(self, latency: float, done: float, kind: str | None, message: str | None) -> None:
        """Record one completed request (ignored once the run is closed)."""
        with self.lock:
            if self.closed:
                return
            self.in_flight -= 1
            self.latencies.append(latency)
            self.last_done = max(self.last_done, done)
            if kind is None:
                self.successes += 1
            else:
                self.errors[kind] += 1
                self.examples.setdefault(kind, message or "")
        if self.inline_progress:
            self.maybe_progress(done)

    def maybe_progress(self, now: float, force: bool = False) -> None:
        """Call the progress callback, unless it was called less than ``PROGRESS_INTERVAL`` ago."""
        if self.progress is None:
            return
        if force or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self.progress(len(self.latencies), self.total, now - self.start)

    def close(self) -> int:
        """Stop accepting outcomes; return the number of requests still unfinished."""
        with self.lock:
            self.closed = True
            unfinished = self.in_flight
            if unfinished:
                self.errors["unfinished"] += unfinished
                self.examples.setdefault(
                    "unfinished", "still running when the run's time bound ran out"
                )
            return unfinished

    def result(
        self,
        *,
        mode: str,
        concurrency: int,
        rate: float | None,
        unsent: int,
        stopped_by: str,
        end: float | None = None,
        arrivals: Arrivals | None = None,
    ) -> LoadTestResult:
        """The result so far; the wall time ends at ``end``, or else at the last completion."""
        latencies = list(self.latencies)
        ordered = sorted(latencies)
        completed = len(latencies)
        requests = completed + self.errors.get("unfinished", 0)
        wall = max((end if end is not None else self.last_done) - self.start, 0.0)
        return LoadTestResult(
            avg_latency=(sum(latencies) / completed) if completed else math.nan,
            throughput=(completed / wall) if wall > 0 else 0.0,
            success_rate=(self.successes / requests) if requests else 0.0,
            p50=percentile(ordered, 50),
            p90=percentile(ordered, 90),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
            p999=percentile(ordered, 99.9),
            max_latency=ordered[-1] if ordered else math.nan,
            requests=requests,
            successes=self.successes,
            errors=dict(self.errors),
            wall_time=wall,
            mode=mode,
            concurrency=concurrency,
            target_rate=rate,
            late_sends=self.late_sends,
            unsent=unsent,
            clock_resolution=clock_resolution(),
            stopped_by=stopped_by,
            latencies=latencies,
            error_examples=dict(self.examples),
            arrivals=arrivals,
        )
