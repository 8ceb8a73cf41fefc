"""What every REST route runs with: the app's `RestState` and the guard around inference.

`RestState` holds the `InferenceBackend` and the Prometheus metrics; ``with
state.guard(request, route, name):`` wraps one inference request in load shedding, draining
and metrics: it times the handler (``lesson_handler_latency_seconds``) and leaves the labels
in the scope for `lesson.servers.rest.timing.RequestTimer`, which counts the request and times
it whole once the response is sent. Errors are not answered here: they propagate to the
handlers `create_app` registers once (`lesson.servers.rest.http.install_error_handlers`). A
route finds the state with ``state_of(request)`` (``app.state.rest``); not a FastAPI
dependency (``Depends``), which measured ~10 µs more per request.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Annotated, Any

from fastapi import Path, Request

from lesson.servers.backend import InferenceBackend
from lesson.servers.errors import MAPPED_ERRORS, InternalError, OverloadedError, classify
from lesson.servers.metrics import ServerMetrics
from lesson.servers.rest.timing import LABELS

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
        #: the debug route's injected fault (`lesson.servers.rest.debug`), None when off
        self.fault: Any = None

    def guard(self, request: Request, route: str, name: str | None, *, v1: bool = False) -> Guard:
        """``with state.guard(request, route, name):`` around one inference request (see `Guard`)."""
        return Guard(self, request.scope, route, name, v1)


class Guard:
    """Shed, drain and count one inference request; let its errors reach the app's handlers.

    Entering refuses the request (`DrainingError`, `NotReadyError`, `OverloadedError`: 503)
    or takes an in-flight slot; leaving frees it and counts the request with its status (200,
    or the one the handlers will answer). An exception no handler maps (a bug) leaves as an
    `InternalError` (500) naming it. A plain class, not ``@contextmanager``: cheaper per request.
    """

    __slots__ = ("state", "scope", "route", "name", "v1", "started")

    def __init__(
        self, state: RestState, scope: dict, route: str, name: str | None, v1: bool
    ) -> None:
        self.state, self.scope, self.route, self.name, self.v1 = state, scope, route, name, v1

    def observe(self, status: int) -> None:
        """Time the handler; leave the labels for the whole request's timer (`RequestTimer`)."""
        model = self.state.backend.model_label(self.name)
        self.scope[LABELS] = (self.route, model, status)
        self.state.metrics.observe_handler(self.route, model, time.perf_counter() - self.started)

    def __enter__(self) -> None:
        self.started = time.perf_counter()
        state = self.state
        backend = state.backend
        try:
            backend.check_serving()
            if state.fault is not None:
                state.fault.check()  # the debug route's injected errors (off by default)
            if not backend.try_acquire():
                raise OverloadedError(backend.overload_message())
        except Exception as exc:
            self.observe(classify(exc, v1=self.v1).http_status)
            raise
        state.metrics.in_flight_gauge.inc()

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
            self.observe(200)
            return
        if not isinstance(exc, Exception):  # cancelled (the client went away)
            self.observe(500)
            return
        info = classify(exc, v1=self.v1)
        self.observe(info.http_status)
        if not isinstance(exc, MAPPED_ERRORS):
            raise InternalError(info.message) from exc


def state_of(request: Request) -> RestState:
    """The app's `RestState` (``app.state.rest``, set by `create_app`)."""
    return request.app.state.rest
