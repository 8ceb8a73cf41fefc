"""An honest load-test harness for any endpoint: a callable ``endpoint(payload) -> response``.

Three ways to drive it, all bounded by a request count AND a duration, warm-up excluded:

- **sequential** — :func:`run_synthetic_load_test`, the original lesson's API;
- **closed loop** — ``concurrency`` workers, each sends its next request when the previous
  answers (:func:`run_load_test` with ``rate=None``). Realistic for a fixed pool of clients,
  but a stalled server also stalls the load: the requests that would have arrived during the
  stall are never sent, so the stall hides in the percentiles (*coordinated omission*);
- **open loop** — requests are scheduled at ``rate`` per second whatever the server does, and
  each latency is measured from the request's *intended* send time, so a stall shows in p99.
  ``concurrency`` bounds the requests in flight; a send that happens more than 1 ms after its
  schedule (the pool was busy, or the client could not keep up) is counted in ``late_sends``.
  Timers wake up to ~1 ms late, so in CPython a sender sleeps until just before its send is
  due and then yields (``sleep(0)``) until the exact time (or, with nothing in flight, sleeps
  in place): sends leave on schedule at the cost of some client CPU. In the browser it only
  sleeps.

:func:`run_load_test` uses threads (CPython); :func:`run_load_test_async` uses asyncio tasks
and works where threads do not exist (Pyodide); there the endpoint may be sync or async.

Percentiles use the **nearest-rank** method over every completed request (successes and
errors): ``p(q) = sorted[ceil(q/100 * n) - 1]``, always a latency that was really observed.
Every result reports the clock's resolution (:func:`lesson.core.runtime.clock_resolution`).

Example::

    >>> from lesson import fastapi_rest_adapter, averaged_ensembled_model, run_load_test
    >>> endpoint = fastapi_rest_adapter(averaged_ensembled_model)
    >>> result = run_load_test(endpoint, [{"instances": [0.1, 0.2]}], concurrency=4, max_requests=500)
    >>> print(result.to_text())  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import html
import inspect
import itertools
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Sequence

from lesson.core.runtime import IN_BROWSER, clock_resolution, threads_available
from lesson.core.schema import ensure_response_schema
from lesson.core.stats import format_ms, percentile

__all__ = [
    "LoadTestResult",
    "run_synthetic_load_test",
    "run_load_test",
    "run_load_test_async",
    "percentile",
    "LATE_SEND_THRESHOLD",
    "PERCENTILE_METHOD",
]

Endpoint = Callable[[Any], Any]
Check = Callable[[Any], None]
Progress = Callable[[int, int, float], None]

#: A send more than this many seconds after its scheduled time is a late send.
LATE_SEND_THRESHOLD = 0.001
#: How percentiles are computed (documented in every report).
PERCENTILE_METHOD = "nearest-rank"
#: The progress callback is called at most this often (seconds between calls).
PROGRESS_INTERVAL = 0.05

MAX_CONCURRENCY = 256
MAX_REQUESTS = 1_000_000
MAX_DURATION = 600.0
MAX_RATE = 100_000.0
MAX_WARMUP = 10_000

#: Open loop, CPython: a sender sleeps until this long before a request is due, then yields
#: (``sleep(0)``, which lets other threads/tasks run) until the exact intended time. OS sleeps
#: and event-loop timers wake up to ~1 ms late (asyncio and uvloop timers have 1 ms
#: granularity), which would make sends late; the yield loop costs CPU only for this window.
#: In the browser there is no spinning (one thread, a 100 µs clock): sends wake on timers.
SPIN_WINDOW_THREADS = 0.0 if IN_BROWSER else 0.0005
SPIN_WINDOW_ASYNC = 0.0 if IN_BROWSER else 0.0015
#: how early a blocking sleep of the idle asyncio scheduler ends (then it yields to the exact time)
_BLOCKING_MARGIN = 0.0002

_clock = time.perf_counter


def _sleep_until(target: float, spin_window: float = SPIN_WINDOW_THREADS) -> None:
    """Block the calling thread until ``_clock() >= target``, without waking late.

    Sleeps until ``spin_window`` before ``target``, then yields with ``time.sleep(0)`` (it
    releases the GIL, so other workers keep sending and receiving) until ``target``.
    """
    remaining = target - _clock()
    if remaining > spin_window:
        time.sleep(remaining - spin_window)
    if spin_window <= 0:
        while (remaining := target - _clock()) > 0:
            time.sleep(remaining)
        return
    while _clock() < target:
        time.sleep(0)


async def _sleep_until_async(target: float, spin_window: float = SPIN_WINDOW_ASYNC,
                             idle: Callable[[], bool] | None = None) -> None:
    """Await until ``_clock() >= target``: a timer for most of the wait, then ``sleep(0)`` yields.

    Each ``asyncio.sleep(0)`` runs one event-loop iteration (I/O is polled, other tasks run),
    so responses keep being read while the scheduler waits for its exact send time. When
    ``idle()`` says no request is in flight there is nothing to read, so the wait is a short
    blocking ``time.sleep`` instead (precise to ~0.1 ms on Linux, and it spends no CPU).
    """
    remaining = target - _clock()
    if remaining > spin_window:
        await asyncio.sleep(remaining - spin_window)
    if spin_window <= 0:
        while (remaining := target - _clock()) > 0:
            await asyncio.sleep(remaining)
        return
    while (remaining := target - _clock()) > 0:
        if idle is not None and remaining > _BLOCKING_MARGIN and idle():
            time.sleep(remaining - _BLOCKING_MARGIN)
        else:
            await asyncio.sleep(0)


# --------------------------------------------------------------------------- results


def _none_if_nan(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


@dataclass
class LoadTestResult:
    """The outcome of one load-test run.

    The first three fields are the original lesson's; latencies are in seconds.

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
            return f"open loop at {self.target_rate:g} req/s (at most {self.concurrency} in flight)"
        if self.mode == "closed":
            return f"closed loop, {self.concurrency} worker{'s' if self.concurrency != 1 else ''}"
        return "sequential"

    def to_text(self) -> str:
        """A readable multi-line report."""
        lines = [
            f"{self._describe_mode()}: {self.requests} requests in {self.wall_time:.3f} s"
            f" (stopped by {self.stopped_by or 'n/a'})",
            f"  throughput  {self.throughput:,.1f} req/s    success {self.success_rate * 100:.1f} %",
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
            lines.append(f"  late sends  {self.late_sends} (> {LATE_SEND_THRESHOLD * 1000:g} ms behind schedule)"
                         + (f"; {self.unsent} scheduled but never sent" if self.unsent else ""))
        res = self.clock_resolution
        note = ""
        if not math.isnan(self.p50) and self.p50 < 10 * res:
            note = " - p50 is within 10x of it: time groups of calls for finer figures"
        lines.append(f"  clock       resolution {res * 1e6:.3g} µs; percentiles: {PERCENTILE_METHOD}{note}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        heads = ["mode", "requests", "req/s", "success", "p50", "p90", "p95", "p99", "max", "errors"]
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


# --------------------------------------------------------------------------- validation


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high:_}, got {value!r}")
    return value


def _check_real(name: str, value: Any, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= high:
        raise ValueError(f"{name} must be a number with 0 < {name} <= {high:g}, got {value!r}")
    return float(value)


def _payload_source(payloads: Any, limit: int) -> Callable[[int], Any]:
    if isinstance(payloads, (dict, str, bytes)):
        items: Sequence[Any] = [payloads]
    elif isinstance(payloads, Sequence):
        items = payloads
    elif isinstance(payloads, Iterable):
        items = list(itertools.islice(payloads, limit))
    else:
        raise ValueError(f"payloads must be a payload or a sequence of payloads, got {type(payloads).__name__}")
    if len(items) == 0:
        raise ValueError("payloads must not be empty")
    n = len(items)
    return lambda i: items[i % n]


def _validate(
    endpoint: Any,
    concurrency: Any,
    rate: Any,
    max_requests: Any,
    max_duration: Any,
    warmup: Any,
    check: Any,
    progress: Any,
) -> tuple[int, float | None, int, float, int]:
    if not callable(endpoint):
        raise ValueError(f"endpoint must be callable, got {type(endpoint).__name__}")
    concurrency = _check_int("concurrency", concurrency, 1, MAX_CONCURRENCY)
    max_requests = _check_int("max_requests", max_requests, 1, MAX_REQUESTS)
    max_duration = _check_real("max_duration", max_duration, MAX_DURATION)
    warmup = _check_int("warmup", warmup, 0, MAX_WARMUP)
    if rate is not None:
        rate = _check_real("rate", rate, MAX_RATE)
    if check is not None and not callable(check):
        raise ValueError(f"check must be callable or None, got {type(check).__name__}")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be callable or None, got {type(progress).__name__}")
    return concurrency, rate, max_requests, max_duration, warmup


def _grace(max_duration: float) -> float:
    """How long in-flight requests may run past ``max_duration`` before they are abandoned."""
    return min(10.0, max(1.0, 0.25 * max_duration))


# --------------------------------------------------------------------------- recording


class _Recorder:
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
        self.start = _clock()
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
                self.examples.setdefault("unfinished", "still running when the run's time bound ran out")
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
    ) -> LoadTestResult:
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
        )


def _judge(response: Any, check: Check | None) -> tuple[str | None, str | None]:
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


def _call_sync(endpoint: Endpoint, payload: Any, check: Check | None) -> tuple[float, str | None, str | None]:
    """Call once; return (completion time, error kind or None, message)."""
    try:
        response = endpoint(payload)
    except Exception as exc:
        return _clock(), type(exc).__name__, str(exc) or type(exc).__name__
    done = _clock()
    kind, message = _judge(response, check)
    return done, kind, message


def _warm_up(endpoint: Endpoint, source: Callable[[int], Any], count: int, budget: float) -> None:
    """Run ``count`` requests whose results are thrown away (bounded by ``budget`` seconds)."""
    stop = _clock() + budget
    for i in range(count):
        if _clock() >= stop:
            break
        try:
            response = endpoint(source(i))
            if inspect.isawaitable(response):
                getattr(response, "close", lambda: None)()
        except Exception:
            pass  # warm-up outcomes are not part of the measurement


# --------------------------------------------------------------------------- sequential


def run_synthetic_load_test(endpoint: Endpoint, payloads: Iterable[Any], *, warmups: int = 1) -> LoadTestResult:
    """The original lesson's load test: each payload once, one after the other.

    Args:
        endpoint: ``endpoint(payload) -> response``.
        payloads: the requests to send (at most 1,000,000).
        warmups: requests sent first and not measured.

    Returns:
        A :class:`LoadTestResult` (``mode="sequential"``); a response counts as a success if
        it passes :func:`~lesson.core.schema.ensure_response_schema`. An endpoint that raises is
        counted in ``errors`` under the exception's class name.
    """
    if not callable(endpoint):
        raise ValueError(f"endpoint must be callable, got {type(endpoint).__name__}")
    warmups = _check_int("warmups", warmups, 0, MAX_WARMUP)
    items = list(itertools.islice(iter([payloads] if isinstance(payloads, dict) else payloads), MAX_REQUESTS + 1))
    if not items:
        raise ValueError("payloads must not be empty")
    if len(items) > MAX_REQUESTS:
        raise ValueError(f"payloads must hold at most {MAX_REQUESTS:_} requests")
    source = lambda i: items[i % len(items)]  # noqa: E731
    _warm_up(endpoint, source, warmups, budget=MAX_DURATION)
    recorder = _Recorder(len(items), None, inline_progress=False)
    recorder.begin()
    for payload in items:
        recorder.sending()
        sent = _clock()
        done, kind, message = _call_sync(endpoint, payload, ensure_response_schema)
        recorder.record(done - sent, done, kind, message)
    return recorder.result(mode="sequential", concurrency=1, rate=None, unsent=0, stopped_by="payloads")


# --------------------------------------------------------------------------- threads


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

    Returns:
        The :class:`LoadTestResult`.

    Raises:
        ValueError: a bound is out of range (the message names it).
        TypeError: ``endpoint`` is an ``async def`` function.
        RuntimeError: ``concurrency > 1`` where threads cannot start (the browser).
    """
    concurrency, rate, max_requests, max_duration, warmup = _validate(
        endpoint, concurrency, rate, max_requests, max_duration, warmup, check, progress
    )
    if inspect.iscoroutinefunction(endpoint) or inspect.iscoroutinefunction(getattr(endpoint, "__call__", None)):
        raise TypeError("endpoint is async: use `await run_load_test_async(...)`")
    source = _payload_source(payloads, max_requests)
    inline = not threads_available()
    if inline and concurrency > 1:
        raise RuntimeError(
            "threads cannot start here (the browser): use `await run_load_test_async(...)` "
            "for concurrency > 1"
        )
    _warm_up(endpoint, source, warmup, budget=max_duration)

    open_loop = rate is not None
    scheduled = min(max_requests, math.ceil(rate * max_duration - 1e-9)) if open_loop else max_requests
    recorder = _Recorder(scheduled, progress, inline_progress=inline)
    claim_lock = threading.Lock()
    counter = itertools.count()
    recorder.begin()
    start = recorder.start
    deadline = start + max_duration

    def claim() -> int | None:
        with claim_lock:
            if recorder.closed:
                return None
            i = next(counter)
            if i >= scheduled or _clock() >= deadline:
                return None
            return i

    def closed_worker() -> None:
        while (i := claim()) is not None:
            if not recorder.sending():
                return
            sent = _clock()
            done, kind, message = _call_sync(endpoint, source(i), check)
            recorder.record(done - sent, done, kind, message)

    def open_worker() -> None:
        assert rate is not None
        while (i := claim()) is not None:
            intended = start + i / rate
            _sleep_until(intended)
            sent = _clock()
            if not recorder.sending(late=sent - intended > LATE_SEND_THRESHOLD):
                return
            done, kind, message = _call_sync(endpoint, source(i), check)
            recorder.record(done - intended, done, kind, message)

    worker = open_worker if open_loop else closed_worker
    if inline:
        worker()
    else:
        threads = [
            threading.Thread(target=worker, name=f"lesson-load-{n}", daemon=True) for n in range(concurrency)
        ]
        try:
            for thread in threads:
                thread.start()
        except RuntimeError as exc:  # e.g. a process thread limit: stop the ones started
            recorder.close()
            raise RuntimeError(f"could not start {concurrency} load threads ({exc}); lower concurrency") from exc
        hard_stop = deadline + _grace(max_duration)
        try:
            while True:
                alive = [thread for thread in threads if thread.is_alive()]
                now = _clock()
                if not alive or now >= hard_stop:
                    break
                recorder.maybe_progress(now)
                alive[0].join(min(PROGRESS_INTERVAL, hard_stop - now))
        except BaseException:  # Ctrl-C: workers see the closed recorder and stop claiming
            recorder.close()
            raise
    end = _clock() if recorder.in_flight else None
    recorder.close()
    sent = recorder.sent
    unsent = max(scheduled - sent, 0) if open_loop else 0
    stopped_by = "max_requests" if sent >= max_requests else "max_duration"
    result = recorder.result(
        mode="open" if open_loop else "closed",
        concurrency=concurrency,
        rate=rate,
        unsent=unsent,
        stopped_by=stopped_by,
        end=end,
    )
    if progress is not None:
        progress(len(result.latencies), scheduled, result.wall_time)
    return result


# --------------------------------------------------------------------------- asyncio


async def _call_async(endpoint: Callable[[Any], Any], payload: Any, check: Check | None) -> tuple[float, str | None, str | None]:
    awaited = False
    try:
        response = endpoint(payload)
        if inspect.isawaitable(response):
            awaited = True
            response = await response
    except Exception as exc:
        done, kind, message = _clock(), type(exc).__name__, str(exc) or type(exc).__name__
    else:
        done = _clock()  # before yielding to other tasks, which would inflate this latency
        kind, message = _judge(response, check)
    if not awaited:
        await asyncio.sleep(0)  # a sync endpoint blocks the loop: let other tasks run between calls
    return done, kind, message


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
) -> LoadTestResult:
    """Load-test with asyncio tasks (no threads: works in the browser).

    Same arguments and result as :func:`run_load_test`. ``endpoint`` may be ``async def``
    or sync; a sync endpoint blocks the event loop while it runs, so its calls do not
    overlap (concurrency then only matters for async endpoints). The open loop spawns one
    task per request at its scheduled time, with at most ``concurrency`` in flight.
    Requests still running after the grace period are cancelled and count as ``unfinished``.
    """
    concurrency, rate, max_requests, max_duration, warmup = _validate(
        endpoint, concurrency, rate, max_requests, max_duration, warmup, check, progress
    )
    source = _payload_source(payloads, max_requests)
    warm_stop = _clock() + max_duration
    for i in range(warmup):
        remaining = warm_stop - _clock()
        if remaining <= 0:
            break
        try:
            await asyncio.wait_for(_call_async(endpoint, source(i), None), timeout=remaining)
        except asyncio.TimeoutError:
            break  # warm-up is bounded by max_duration too

    open_loop = rate is not None
    scheduled = min(max_requests, math.ceil(rate * max_duration - 1e-9)) if open_loop else max_requests
    recorder = _Recorder(scheduled, progress, inline_progress=True)
    counter = itertools.count()
    recorder.begin()
    start = recorder.start
    deadline = start + max_duration
    hard_stop = deadline + _grace(max_duration)

    async def closed_worker() -> None:
        while True:
            i = next(counter)
            if i >= scheduled or _clock() >= deadline or not recorder.sending():
                return
            sent = _clock()
            done, kind, message = await _call_async(endpoint, source(i), check)
            recorder.record(done - sent, done, kind, message)

    tasks: set[asyncio.Task[Any]] = set()

    async def one(i: int, intended: float, slots: asyncio.Semaphore) -> None:
        try:
            sent = _clock()
            if not recorder.sending(late=sent - intended > LATE_SEND_THRESHOLD):
                return
            done, kind, message = await _call_async(endpoint, source(i), check)
            recorder.record(done - intended, done, kind, message)
        finally:
            slots.release()

    def idle() -> bool:  # no request task in flight: nothing for the event loop to read
        return not tasks

    async def scheduler() -> None:
        assert rate is not None
        slots = asyncio.Semaphore(concurrency)
        for i in range(scheduled):
            intended = start + i / rate
            await _sleep_until_async(intended, idle=idle)
            await slots.acquire()  # bounded in flight: a full pool makes this send late
            if _clock() >= deadline:
                slots.release()
                return
            task = asyncio.ensure_future(one(i, intended, slots))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    if open_loop:
        main = [asyncio.ensure_future(scheduler())]
    else:
        main = [asyncio.ensure_future(closed_worker()) for _ in range(concurrency)]
    try:
        _, pending = await asyncio.wait(main, timeout=max(hard_stop - _clock(), 0.0))
        while tasks and _clock() < hard_stop:
            await asyncio.wait(set(tasks), timeout=max(hard_stop - _clock(), 0.0))
    except BaseException:  # cancelled (a Stop button) or interrupted: stop every request task
        recorder.close()
        for task in [*main, *tasks]:
            task.cancel()
        raise
    leftovers = [task for task in [*pending, *tasks] if not task.done()]
    end = _clock() if recorder.in_flight else None
    recorder.close()
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.gather(*leftovers, return_exceptions=True)
    sent = recorder.sent
    result = recorder.result(
        mode="open" if open_loop else "closed",
        concurrency=concurrency,
        rate=rate,
        unsent=max(scheduled - sent, 0) if open_loop else 0,
        stopped_by="max_requests" if sent >= max_requests else "max_duration",
        end=end,
    )
    if progress is not None:
        progress(len(result.latencies), scheduled, result.wall_time)
    return result
