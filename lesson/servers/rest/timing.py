"""Time the whole request as the server sees it: a pure ASGI middleware (no Starlette classes).

`RequestTimer` notes the time when the app is called (the ASGI entry: headers parsed, the body
not read yet) and, once the app has returned (the last body chunk handed to the server), counts
the request in ``lesson_request_latency_seconds`` with the labels the route's guard left in the
scope (``scope[LABELS]``: route, model, status). Requests no guard saw (health, ``/metrics``,
docs) are not counted. Not Starlette's ``BaseHTTPMiddleware``, which runs the app in a task
and streams the response through a queue: a pure ASGI wrapper costs one closure call.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from lesson.servers.metrics import ServerMetrics

__all__ = ["LABELS", "RequestTimer"]

#: the scope key the guard sets: ``(route, model label, status code)``
LABELS = "lesson.metric_labels"


class RequestTimer:
    """ASGI middleware: ``app.add_middleware(RequestTimer, metrics=server_metrics)``."""

    def __init__(self, app: Any, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            labels = scope.get(LABELS)
            if labels is not None:
                self.metrics.observe(*labels, perf_counter() - started)
