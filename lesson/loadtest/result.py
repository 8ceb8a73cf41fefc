"""What a run measured: the :class:`Recorder` that collects each request's outcome, and the
:class:`LoadTestResult` it makes (as a dict, text or an HTML table).

Percentiles use the **nearest-rank** method over every completed request (successes and
errors): ``p(q) = sorted[ceil(q/100 * n) - 1]``, always a latency that was really observed.
"""

from __future__ import annotations

import html
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lesson.core.runtime import clock_resolution
from lesson.core.stats import format_ms, percentile
from lesson.loadtest.arrivals import Arrivals
from lesson.loadtest.settings import LATE_SEND_THRESHOLD, Progress, clock

__all__ = ["LoadTestResult", "Recorder", "PERCENTILE_METHOD", "PROGRESS_INTERVAL"]

#: How percentiles are computed (documented in every report).
PERCENTILE_METHOD = "nearest-rank"

#: The progress callback is called at most this often (seconds between calls).
PROGRESS_INTERVAL = 0.05


def _none_if_nan(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


@dataclass
class LoadTestResult:
    """The outcome of one load-test run.

    The first three fields are the ones the lesson began with; latencies are in seconds.

    Attributes:
        avg_latency: mean latency of the completed requests.
        throughput: completed requests per second of wall time.
        success_rate: successes / requests (0..1).
        p50, p90, p95, p99, p999, max_latency: latency percentiles (nearest rank).
        requests: requests sent (completed + unfinished).
        successes: requests that returned a response passing the check.
        errors: counts by kind: the exception's class name, ``schema`` (the check failed)
            or ``unfinished`` (still running when the run's time bound ran out).
        wall_time: seconds from the first measured send to the last completion.
        mode: ``sequential``, ``closed`` or ``open``.
        concurrency: workers (closed loop) or the bound on requests in flight (open loop).
        target_rate: requests per second asked for (open loop).
        late_sends: open-loop sends more than 1 ms after their scheduled time.
        unsent: open-loop requests scheduled but never sent before the time bound.
        clock_resolution: resolution of the clock used (seconds).
        stopped_by: ``max_requests``, ``max_duration`` or ``payloads``.
        latencies: every latency in completion order (not shown in the repr).
        error_examples: the first message seen for each error kind.
        arrivals: the open loop's arrival process (uniform, Poisson or gamma, with its seed);
            None for a closed loop or a sequential run.
    """

    avg_latency: float
    throughput: float
    success_rate: float
    p50: float = math.nan
    p90: float = math.nan
    p95: float = math.nan
    p99: float = math.nan
    p999: float = math.nan
    max_latency: float = math.nan
    requests: int = 0
    successes: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    wall_time: float = 0.0
    mode: str = "sequential"
    concurrency: int = 1
    target_rate: float | None = None
    late_sends: int = 0
    unsent: int = 0
    clock_resolution: float = 0.0
    stopped_by: str = ""
    latencies: list[float] = field(default_factory=list, repr=False)
    error_examples: dict[str, str] = field(default_factory=dict, repr=False)
    arrivals: Arrivals | None = None

    @property
    def goodput(self) -> float:
        """Successful requests per second of wall time (``throughput`` counts errors too)."""
        return self.successes / self.wall_time if self.wall_time > 0 else 0.0

    @property
    def error_count(self) -> int:
        """All errors, every kind."""
        return sum(self.errors.values())

    def summary(self) -> dict[str, Any]:
        """A flat JSON-ready dict (latencies in milliseconds, NaN as None)."""

        def ms(value: float) -> float | None:
            value = _none_if_nan(value)
            return None if value is None else round(value * 1000.0, 4)

        return {
            "mode": self.mode,
            "concurrency": self.concurrency,
            "target_rate": self.target_rate,
            "requests": self.requests,
            "successes": self.successes,
            "success_rate": round(self.success_rate, 6),
            "errors": dict(self.errors),
            "throughput_rps": round(self.throughput, 3),
            "goodput_rps": round(self.goodput, 3),
            **(self.arrivals.summary() if self.arrivals is not None else {"arrivals": None}),
            "avg_ms": ms(self.avg_latency),
            "p50_ms": ms(self.p50),
            "p90_ms": ms(self.p90),
            "p95_ms": ms(self.p95),
            "p99_ms": ms(self.p99),
            "p999_ms": ms(self.p999),
            "max_ms": ms(self.max_latency),
            "wall_time_s": round(self.wall_time, 6),
            "late_sends": self.late_sends,
            "unsent": self.unsent,
            "stopped_by": self.stopped_by,
            "clock_resolution_us": round(self.clock_resolution * 1e6, 3),
            "percentile_method": PERCENTILE_METHOD,
        }

    def _describe_mode(self) -> str:
        if self.mode == "open":
            arrivals = "" if self.arrivals is None else f", {self.arrivals.describe()} arrivals"
            return f"open loop at {self.target_rate:g} req/s{arrivals} (at most {self.concurrency} in flight)"
        if self.mode == "closed":
            return f"closed loop, {self.concurrency} worker{'s' if self.concurrency != 1 else ''}"
        return "sequential"

    def to_text(self) -> str:
        """A readable multi-line report."""
        lines = [
            f"{self._describe_mode()}: {self.requests} requests in {self.wall_time:.3f} s"
            f" (stopped by {self.stopped_by or 'n/a'})",
            f"  throughput  {self.throughput:,.1f} req/s ({self.goodput:,.1f} successful)"
            f"    success {self.success_rate * 100:.1f} %",
            "  latency     "
            + "  ".join(
                f"{name} {format_ms(value)}"
                for name, value in (
                    ("avg", self.avg_latency),
                    ("p50", self.p50),
                    ("p90", self.p90),
                    ("p99", self.p99),
                    ("p99.9", self.p999),
                    ("max", self.max_latency),
                )
            ),
        ]
        if self.errors:
            kinds = ", ".join(f"{kind}: {count}" for kind, count in sorted(self.errors.items()))
            lines.append(f"  errors      {kinds}")
            for kind, message in sorted(self.error_examples.items()):
                lines.append(f"              e.g. {kind}: {message[:120]}")
        else:
            lines.append("  errors      none")
        if self.mode == "open":
            lines.append(
                f"  late sends  {self.late_sends} (> {LATE_SEND_THRESHOLD * 1000:g} ms behind schedule)"
                + (f"; {self.unsent} scheduled but never sent" if self.unsent else "")
            )
        res = self.clock_resolution
        note = ""
        if not math.isnan(self.p50) and self.p50 < 10 * res:
            note = " - p50 is within 10x of it: time groups of calls for finer figures"
        lines.append(
            f"  clock       resolution {res * 1e6:.3g} µs; percentiles: {PERCENTILE_METHOD}{note}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        heads = [
            "mode",
            "requests",
            "req/s",
            "success",
            "p50",
            "p90",
            "p95",
            "p99",
            "max",
            "errors",
        ]
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "none"
        cells = [
            self._describe_mode(),
            str(self.requests),
            f"{self.throughput:,.1f}",
            f"{self.success_rate * 100:.1f} %",
            format_ms(self.p50),
            format_ms(self.p90),
            format_ms(self.p95),
            format_ms(self.p99),
            format_ms(self.max_latency),
            errors,
        ]
        head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
        row = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        caption = (
            f"clock resolution {self.clock_resolution * 1e6:.3g} µs; "
            f"percentiles: {PERCENTILE_METHOD}; wall time {self.wall_time:.3f} s"
        )
        return (
            f'<table class="lesson-results"><caption>{html.escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody><tr>{row}</tr></tbody></table>"
        )


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
