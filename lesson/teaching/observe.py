"""Observe it for real (CPython): one load test, its p99 three ways, and an SLO alert that fires.

:func:`compare_p99` runs the harness against a REST server that Prometheus scrapes, then sets
side by side three p99s of the SAME requests:

* the harness's (the client's clock: what a user feels, the wire and the client included);
* the server's exact one, from its own per-request timings (``GET /debug/timings``, the values
  the histogram counted);
* Prometheus's ``histogram_quantile``: an estimate from the bucket counts alone, exact only
  to within the bucket the 99th percentile falls in.

:func:`fire_alert` injects errors (``POST /debug/fault``) under steady load and records the
burn-rate alert's state from Prometheus's alerts API until it has fired and resolved.

The server must run with ``debug_routes=True``. Standard library, plus the lesson's client and
harness (imported when called).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lesson.core.stats import bucket_counts, format_ms, histogram_quantile, percentile
from lesson.servers.observe import SLO_ALERT
from lesson.servers.promql import (
    LATENCY,
    PrometheusAPI,
    PrometheusQueryError,
    bucket_of,
    latency_quantile,
)

__all__ = [
    "P99Comparison",
    "AlertRun",
    "compare_p99",
    "fire_alert",
    "debug_call",
    "window_contents",
]

MAX_WAIT_S = 30.0


def debug_call(url: str, method: str, path: str, body: dict | None = None) -> Any:
    """Call a debug route of the REST server at ``url``; a clear error if it has none."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url.rstrip("/") + path,
        data=data,
        method=method,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 405):
            raise RuntimeError(
                f"{url} has no {path}: start it with debug_routes=True (--debug-routes)"
            ) from None
        raise


def _instance(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


def _scraped_after(api: PrometheusAPI, instance: str, moment: float) -> float:
    """Wait for a scrape of ``instance`` that started after ``moment`` (unix time); its time."""
    deadline = time.monotonic() + MAX_WAIT_S
    while time.monotonic() < deadline:
        last = api.value(f'timestamp(up{{instance="{instance}"}})')
        if last is not None and last > moment:
            return last
        time.sleep(0.1)
    raise RuntimeError(f"Prometheus did not scrape {instance} within {MAX_WAIT_S} s")


@dataclass
class P99Comparison:
    """One run's p99, seen by the client, by the server exactly, and estimated by Prometheus."""

    requests: int
    harness_p99: float
    server_p99: float
    promql_p99: float
    promql_rate_p99: float | None
    window: str
    #: the same estimate computed here from the exact timings' bucket counts
    #: (`lesson.core.stats.histogram_quantile`): equal to ``promql_p99`` when Prometheus saw
    #: exactly these requests
    estimate_from_timings: float
    bounds: tuple[float, ...] = field(repr=False)
    query: str = field(repr=False, default="")
    #: what the dashboard's window held (`window_contents`): its requests, how many were not
    #: this run's, and their own p99 estimate; None where Prometheus could not say
    window_requests: int | None = None
    window_others: int | None = None
    others_p99: float | None = None

    @property
    def bucket_gap(self) -> int:
        """How many buckets apart the estimate and the exact value are (0: the same one)."""
        return abs(
            bucket_of(self.promql_p99, self.bounds) - bucket_of(self.server_p99, self.bounds)
        )

    def bucket(self) -> tuple[float, float]:
        """The bucket (lower, upper bound in seconds) the server's exact p99 falls in."""
        i = bucket_of(self.server_p99, self.bounds)
        return (
            self.bounds[i - 1] if i else 0.0,
            self.bounds[i] if i < len(self.bounds) else float("inf"),
        )

    def rows(self) -> list[dict[str, str]]:
        """A table: where each p99 is measured, and its value."""
        figures = [
            ("the harness (client)", "client clock, wire included", self.harness_p99),
            ("the server, exact", "ASGI entry to response sent", self.server_p99),
            ("PromQL, these requests", "bucket counts, interpolated", self.promql_p99),
            (
                f"PromQL, rate[{self.window}]",
                "a dashboard's window, not the run",
                self.promql_rate_p99,
            ),
        ]
        return [{"p99": name, "where": where, "value": format_ms(v)} for name, where, v in figures]

    def sentence(self) -> str:
        """What the figures say, computed from them."""
        low, high = self.bucket()
        gap = self.harness_p99 - self.server_p99
        return (
            f"Over {self.requests} requests the client saw a p99 of {format_ms(self.harness_p99)}, "
            f"the server {format_ms(self.server_p99)} ({format_ms(gap)} less: the socket, the "
            f"event loop's queue before the app runs and the client itself lie outside the "
            f"server's clock). Prometheus estimated {format_ms(self.promql_p99)} from bucket "
            f"counts alone: the exact value lies in the bucket {format_ms(low)}-{format_ms(high)}, "
            f"and the estimate fell {self.gap_text()}. " + self.window_text()
        )

    def window_text(self) -> str:
        """What the dashboard's ``rate[window]`` estimate held besides this run, computed."""
        query = f"The dashboard's query, rate[{self.window}] ending at the run's last scrape,"
        rate = self.promql_rate_p99
        if rate is None or rate != rate:
            return f"{query} had no answer: a rate needs two samples of a series inside its window."
        head = f"{query} gave {format_ms(rate)}"
        held, others = self.window_requests, self.window_others
        if held is None or others is None:
            return (
                head
                + ": its window is not the run, so its estimate mixes other requests with these."
            )
        if others > 0:
            theirs = (
                f", whose own p99 estimate is {format_ms(self.others_p99)}"
                if self.others_p99 is not None and self.others_p99 == self.others_p99
                else ""
            )
            return (
                f"{head}: its window held {held} requests, {others} of them answered in the "
                f"seconds before this run began{theirs}: a window is not a run, and its estimate "
                "mixes whatever the server answered in it."
            )
        if held < self.requests:
            return (
                f"{head}: its window held {held} of the run's {self.requests} requests (a rate "
                "counts from the first sample inside its window), so it is not this run's p99 either."
            )
        return head + f": its window held {held} requests, this run's only."

    def gap_text(self) -> str:
        """Where the estimate fell, in buckets from the exact value's."""
        if self.bucket_gap == 0:
            return "in the same bucket as the exact value"
        plural = "s" if self.bucket_gap != 1 else ""
        return f"{self.bucket_gap} bucket{plural} away from the exact value"


def compare_p99(
    rest_url: str,
    prometheus_url: str,
    *,
    concurrency: int = 8,
    requests: int = 2000,
    features: int = 10,
    max_duration: float = 30.0,
) -> P99Comparison:
    """Run the harness against ``rest_url`` (closed loop, no warm-up) and compare the p99s.

    The server's histogram is read at the scrapes just before and just after the run (the
    ``@`` modifier), so Prometheus's estimate covers exactly the requests the server timed.
    """
    from lesson.loadtest.wire import make_payloads, run_over_wire

    api = PrometheusAPI(prometheus_url)
    instance = _instance(rest_url)
    debug_call(rest_url, "GET", "/debug/timings")  # forget what came before
    t0 = _scraped_after(api, instance, time.time())
    payloads = make_payloads(features, 1)
    box: dict[str, Any] = {}
    worker = threading.Thread(  # its own event loop, even under a notebook's running one
        target=lambda: box.update(
            result=run_over_wire(
                rest_url,
                payloads,
                concurrency=concurrency,
                rate=None,
                max_requests=requests,
                max_duration=max_duration,
                warmup=0,
            )[0]
        )
    )
    worker.start()
    worker.join(max_duration + 30)
    if "result" not in box:
        raise RuntimeError("the load test did not finish")
    result = box["result"]
    t1 = _scraped_after(api, instance, time.time())
    timings = debug_call(rest_url, "GET", "/debug/timings")
    exact = sorted(timings["seconds"])
    bounds = tuple(timings["bounds"])
    bucket = f'{LATENCY}_bucket{{instance="{instance}"}}'
    after = f"{bucket} @ {t1:.3f}"
    # a series the run created did not exist at t0: count it from 0 (`or ... * 0`)
    delta = f"{after} - ({bucket} @ {t0:.3f} or {after} * 0)"
    query = f"histogram_quantile(0.99, sum by (le) ({delta}))"
    window = f"{max(5, round(t1 - t0) + 2)}s"
    held, others, others_p99 = window_contents(api, window, t0, t1)
    return P99Comparison(
        requests=len(exact),
        harness_p99=result.p99,
        server_p99=percentile(exact, 99),
        promql_p99=api.value(query, at=t1),
        promql_rate_p99=api.value(latency_quantile(0.99, "rest", window), at=t1),
        window=window,
        estimate_from_timings=histogram_quantile(0.99, bucket_counts(exact, bounds), bounds),
        bounds=bounds,
        query=query,
        window_requests=held,
        window_others=others,
        others_p99=others_p99,
    )


def window_contents(
    api: PrometheusAPI, window: str, t0: float, t1: float, transport: str = "rest"
) -> tuple[int | None, int | None, float | None]:
    """What ``rate(...[window])`` at ``t1`` counted: its requests (last minus first sample of
    each series inside the window), how many of them came before ``t0`` (the run's start), and
    those earlier requests' own p99 estimate. ``(None, None, None)`` if Prometheus cannot say."""
    selector = f'{{transport="{transport}"}}'
    try:
        series = api.query(f"{LATENCY}_count{selector}[{window}]", at=t1)
        samples = [[(float(t), float(v)) for t, v in s["values"]] for s in series]
        if not samples or not all(samples):
            return None, None, None
        held = round(sum(v[-1][1] - v[0][1] for v in samples))
        first = min(v[0][0] for v in samples)
        count = f"{LATENCY}_count{selector}"  # a series the run created counts from 0 at t0
        run = api.value(f"sum({count} @ {t1:.3f}) - (sum({count} @ {t0:.3f}) or vector(0))")
        if run is None:
            return held, None, None
        others = max(0, held - round(run))
        if not others or first >= t0:
            return held, others, None
        bucket = f"{LATENCY}_bucket{selector}"
        earlier = f"{bucket} @ {t0:.3f} - {bucket} @ {first:.3f}"
        p99 = api.value(f"histogram_quantile(0.99, sum by (le) ({earlier}))", at=t1)
        return held, others, p99
    except (PrometheusQueryError, KeyError, ValueError, TypeError):
        return None, None, None


@dataclass
class AlertRun:
    """The burn-rate alert's states over time, as Prometheus's alerts API reported them."""

    states: list[tuple[float, str]]  # (seconds since the fault began, state)
    fault_seconds: float
    error_ratio: float

    def first(self, state: str) -> float | None:
        """Seconds after the fault began when the alert was first seen in ``state``."""
        return next((t for t, s in self.states if s == state), None)

    def resolved_after(self) -> float | None:
        """Seconds after the fault began when it was inactive again, after firing."""
        fired = self.first("firing")
        return next(
            (t for t, s in self.states if fired is not None and t > fired and s == "inactive"), None
        )


def fire_alert(
    rest_url: str,
    prometheus_url: str,
    *,
    error_ratio: float = 0.5,
    fault_seconds: float = 8.0,
    rate_per_s: float = 100.0,
    timeout_s: float = 40.0,
    on_state: Callable[[float, str], None] | None = None,
) -> AlertRun:
    """Steady load (one thread, ``rate_per_s``), a fault of ``error_ratio`` for ``fault_seconds``,
    and the alert's state polled every 0.25 s until it fired and resolved (or ``timeout_s``)."""
    from lesson.clients import client_for

    api = PrometheusAPI(prometheus_url)
    stop = threading.Event()

    def load() -> None:
        client = client_for(rest_url)
        try:
            for _ in range(int(rate_per_s * (timeout_s + 15))):  # bounded in requests and time
                if stop.wait(1.0 / rate_per_s):
                    return
                try:
                    client.predict({"instances": [[0.5] * 10]})
                except Exception:
                    pass
        finally:
            client.close()

    sender = threading.Thread(target=load, daemon=True)
    sender.start()
    try:
        _scraped_after(api, _instance(rest_url), time.time() + 2)  # a baseline of good requests
        debug_call(
            rest_url, "POST", "/debug/fault", {"error_ratio": error_ratio, "seconds": fault_seconds}
        )
        began = time.monotonic()
        states: list[tuple[float, str]] = []
        while time.monotonic() - began < timeout_s:
            now = round(time.monotonic() - began, 2)
            state = api.alert_state(SLO_ALERT)
            if not states or states[-1][1] != state:
                states.append((now, state))
                if on_state is not None:
                    on_state(now, state)
            if state == "inactive" and any(s == "firing" for _, s in states):
                break
            time.sleep(0.25)
    finally:
        stop.set()
        sender.join(5)
        debug_call(rest_url, "DELETE", "/debug/fault")
    return AlertRun(states, fault_seconds, error_ratio)
