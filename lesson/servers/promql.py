"""Ask a running Prometheus: its HTTP API (``/api/v1/query``, ``/alerts``, ``/targets``) and the
queries a learner runs against the lesson's servers (RED: rate, errors, duration).

Standard library only (``urllib``)::

    api = PrometheusAPI("http://127.0.0.1:PORT")
    api.value(request_rate("rest"))            # requests per second over the last 30 s
    api.value(latency_quantile(0.99, "rest"))  # the p99 estimated from the histogram's buckets
    [a["state"] for a in api.alerts()]         # "pending", then "firing"

The p99 from ``histogram_quantile`` is an ESTIMATE: Prometheus knows only how many requests
fell into each bucket, and assumes they are spread evenly inside it (linear interpolation),
so the answer can be anywhere in the bucket the 99th percentile falls in.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

__all__ = [
    "PrometheusAPI",
    "PrometheusQueryError",
    "request_rate",
    "error_ratio",
    "latency_quantile",
    "bucket_of",
    "TTFT",
]

REQUESTS = "lesson_requests_total"
LATENCY = "lesson_request_latency_seconds"
#: the generative server's time to first token (``latency_quantile(0.99, None, metric=TTFT)``)
TTFT = "lesson_llm_time_to_first_token_seconds"


class PrometheusQueryError(RuntimeError):
    """Prometheus refused a query (bad PromQL) or could not be reached; the message says which."""


def _selector(transport: str | None, extra: str = "") -> str:
    parts = [f'transport="{transport}"'] if transport else []
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}"


def request_rate(transport: str | None = "rest", window: str = "30s") -> str:
    """PromQL: requests per second over ``window`` (every route, model and code)."""
    return f"sum(rate({REQUESTS}{_selector(transport)}[{window}]))"


def error_ratio(transport: str | None = "rest", window: str = "30s") -> str:
    """PromQL: the share of requests answered with a server error (HTTP 5xx; gRPC: not OK and
    not a client's mistake) over ``window``. 4xx are the client's errors, not the server's."""
    bad = 'code=~"5..|INTERNAL|UNAVAILABLE|RESOURCE_EXHAUSTED|DEADLINE_EXCEEDED"'
    return (
        f"(sum(rate({REQUESTS}{_selector(transport, bad)}[{window}])) or vector(0))"
        f" / sum(rate({REQUESTS}{_selector(transport)}[{window}]))"
    )


def latency_quantile(
    q: float = 0.99,
    transport: str | None = "rest",
    window: str = "30s",
    metric: str = LATENCY,
    job: str | None = None,
) -> str:
    """PromQL: the ``q`` quantile of ``metric`` (a histogram) over ``window``, every replica's
    buckets summed first (``sum by (le)``): quantiles themselves cannot be averaged. ``job``:
    only that scrape job's series (e.g. ``"llm"`` with ``metric=TTFT``)."""
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    extra = f'job="{job}"' if job else ""
    inner = f"rate({metric}_bucket{_selector(transport, extra)}[{window}])"
    return f"histogram_quantile({q}, sum by (le) ({inner}))"


def bucket_of(seconds: float, bounds: tuple[float, ...]) -> int:
    """Index of the histogram bucket ``seconds`` falls in (``le`` inclusive; len(bounds): +Inf)."""
    for i, upper in enumerate(bounds):
        if seconds <= upper:
            return i
    return len(bounds)


class PrometheusAPI:
    """A thin client of Prometheus's HTTP API at ``url`` (``http://127.0.0.1:PORT``)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        query = "?" + urllib.parse.urlencode(params) if params else ""
        try:
            with urllib.request.urlopen(self.url + path + query, timeout=self.timeout) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 400/422: bad PromQL, with Prometheus's reason
            try:
                body = json.loads(exc.read())
            except ValueError:
                raise PrometheusQueryError(f"{path}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise PrometheusQueryError(f"cannot reach Prometheus at {self.url}: {exc}") from None
        if body.get("status") != "success":
            raise PrometheusQueryError(
                f"{params.get('query', path) if params else path}: "
                f"{body.get('errorType', 'error')}: {body.get('error', body)}"
            )
        return body["data"]

    def ready(self) -> bool:
        """True once Prometheus answers ``/-/ready``."""
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1.0) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query: the result vector (``[{"metric": {...}, "value": [t, "v"]}]``)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The single number ``expr`` evaluates to (None if empty, NaN stays NaN)."""
        result = self.query(expr, at)
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusQueryError(f"{expr}: {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts pending or firing now (``/api/v1/alerts``)."""
        return self._get("/api/v1/alerts")["alerts"]

    def alert_state(self, name: str) -> str:
        """``"inactive"``, ``"pending"`` or ``"firing"`` for the alert called ``name``."""
        states = [a["state"] for a in self.alerts() if a["labels"].get("alertname") == name]
        return "firing" if "firing" in states else ("pending" if states else "inactive")

    def targets(self) -> list[dict[str, Any]]:
        """The scrape targets and their health (``/api/v1/targets``, active ones)."""
        return self._get("/api/v1/targets")["activeTargets"]

    def wait_until_up(self, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait until every target has been scraped successfully; returns them.

        Raises:
            PrometheusQueryError: some target is still not up after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            targets = self.targets()
            if targets and all(t["health"] == "up" for t in targets):
                return targets
            if time.monotonic() > deadline:
                down = [(t["scrapeUrl"], t["health"], t.get("lastError")) for t in targets]
                raise PrometheusQueryError(f"targets not up within {timeout} s: {down}")
            time.sleep(0.2)

    def wait_for(self, expr: str, predicate: Any, timeout: float = 20.0) -> float | None:
        """Poll ``value(expr)`` every 0.2 s until ``predicate(value)`` is true; returns it.

        Raises:
            PrometheusQueryError: it did not happen within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = self.value(expr)
            if value is not None and not math.isnan(value) and predicate(value):
                return value
            if time.monotonic() > deadline:
                raise PrometheusQueryError(f"{expr} was {value} after {timeout} s")
            time.sleep(0.2)
