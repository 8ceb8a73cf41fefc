"""What every REST route runs with: the app's `RestState` and the guard around inference.

`RestState` holds the `InferenceBackend` and the Prometheus metrics; ``with
state.guard(route, name):`` wraps one inference request in load shedding, draining and
metrics. Errors are not answered here: they propagate to the handlers `create_app` registers
once (`lesson.servers.rest.http.install_error_handlers`). A route finds the state with
``state_of(request)`` (``app.state.rest``); not a FastAPI dependency (``Depends``), which
measured ~10 µs more per request.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Annotated

from fastapi import Path, Request

from lesson.servers.backend import InferenceBackend
from lesson.servers.errors import MAPPED_ERRORS, InternalError, OverloadedError, classify
from lesson.servers.metrics import ServerMetrics

__all__ = ["Guard", "ModelName", "ModelVersion", "RestState", "state_of"]

ModelName = Annotated[
    str, Path(description="A registered model's name.", examples=["averaged_ensemble"])
]
ModelVersion = Annotated[str, Path(description="A version of that model.", examples=["1"])]


class RestState:
    """One app's server state: backend, metrics and body bound (``app.state.rest``)."""

    def __init__(self, backend: InferenceBackend) -> None:
        self.backend = backend
        self.metrics = ServerMetrics("rest")
        self.limit = backend.limits.max_body_bytes  # bytes a request body may have

    def observe(self, route: str, name: str | None, status: int, started: float) -> None:
        """Count one request in the metrics (`name` becomes a bounded model label)."""
        self.metrics.observe(
            route, self.backend.model_label(name), status, time.perf_counter() - started
        )

    def guard(self, route: str, name: str | None, *, v1: bool = False) -> Guard:
        """``with state.guard(route, name):`` around one inference request (see `Guard`)."""
        return Guard(self, route, name, v1)


class Guard:
    """Shed, drain and count one inference request; let its errors reach the app's handlers.

    Entering refuses the request (`DrainingError`, `NotReadyError`, `OverloadedError`: 503)
    or takes an in-flight slot; leaving frees it and counts the request with its status (200,
    or the one the handlers will answer). An exception no handler maps (a bug) leaves as an
    `InternalError` (500) naming it. A plain class, not ``@contextmanager``: cheaper per request.
    """

    __slots__ = ("state", "route", "name", "v1", "started")

    def __init__(self, state: RestState, route: str, name: str | None, v1: bool) -> None:
        self.state, self.route, self.name, self.v1 = state, route, name, v1

    def __enter__(self) -> None:
        self.started = time.perf_counter()
        backend = self.state.backend
        try:
            backend.check_serving()
            if not backend.try_acquire():
                raise OverloadedError(backend.overload_message())
        except Exception:
            self.state.observe(self.route, self.name, 503, self.started)
            raise
        self.state.metrics.in_flight_gauge.inc()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        state = self.state
        state.metrics.in_flight_gauge.dec()
        state.backend.release()
        if exc is None:
            state.observe(self.route, self.name, 200, self.started)
            return
        if not isinstance(exc, Exception):  # cancelled (the client went away)
            state.observe(self.route, self.name, 500, self.started)
            return
        info = classify(exc, v1=self.v1)
        state.observe(self.route, self.name, info.http_status, self.started)
        if not isinstance(exc, MAPPED_ERRORS):
            raise InternalError(info.message) from exc


def state_of(request: Request) -> RestState:
    """The app's `RestState` (``app.state.rest``, set by `create_app`)."""
    return request.app.state.rest
