"""The app factory: one `RestState`, the error handlers (registered once), the routers, the
lifespan.

The lifespan warms the models up (readiness turns true when done) and, on shutdown, reports
draining, stops the model threads and closes the micro-batchers on this event loop.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from lesson.core.service import PredictionService
from lesson.servers.backend import InferenceBackend, PredictFn, ServerOptions
from lesson.servers.openapi import add_offline_docs, offline_docs_settings
from lesson.servers.rest import debug, health, v1, v2
from lesson.servers.rest.http import install_error_handlers
from lesson.servers.rest.state import RestState
from lesson.servers.rest.timing import RequestTimer

__all__ = ["create_app", "create_app_from_env"]

#: FastAPI's native OpenTelemetry (0.163+) off: the server exports its own Prometheus metrics
#: (`/metrics`), and with it on, FastAPI looks up the global OpenTelemetry providers on every
#: request even when none is configured (measured ~8 µs CPU per request). Older FastAPI versions
#: keep the setting in ``app.extra``, unused.
NO_OPENTELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: RestState = app.state.rest
    backend = state.backend
    backend.start_warm_up()
    yield
    backend.start_draining()
    backend.close()
    for meta in backend.registry.list():  # micro-batchers: stop their workers on this loop
        aclose = getattr(backend.registry.get(meta.name, meta.version), "aclose", None)
        if aclose is not None:
            await aclose()


def create_app(
    backend: InferenceBackend | None = None,
    *,
    service: PredictionService | None = None,
    options: ServerOptions | None = None,
    predict_fn: PredictFn | None = None,
    **option_values: Any,
) -> FastAPI:
    """Build the FastAPI app.

    Args:
        backend: a ready-made backend (shared state); otherwise one is built from the rest.
        service: the core service to serve (default: the real model's registry, see
            `lesson.servers.backend.DEFAULT_SERVER_REGISTRY`).
        options: server options; `**option_values` are a shortcut (`create_app(max_in_flight=4)`).
        predict_fn: replaces `service.predict_rows` (micro-batching hook).

    Returns:
        The app; readiness turns true once its lifespan has warmed the models.
    """
    if backend is None:
        if options is None:
            options = ServerOptions.from_dict(option_values)
        backend = InferenceBackend(service, options, predict_fn)
    state = RestState(backend)
    app = FastAPI(
        title="Serving Patterns Lab — model server",
        version="0.1.0",
        description=(
            "The lesson's models over REST: the original V1 route and the Open Inference "
            "Protocol (V2), with the binary tensor extension. Errors on V2 routes are "
            '`{"error": "..."}`.'
        ),
        lifespan=_lifespan,
        telemetry=NO_OPENTELEMETRY,
        **offline_docs_settings(),
    )
    app.state.rest = state
    app.state.backend = backend
    app.state.metrics = state.metrics
    install_error_handlers(app)  # every error a route raises is answered there
    for router in (v1.router, health.router, v2.router):  # the OpenAPI document's order
        include_flat(app, router)
    if backend.options.debug_routes:  # fault injection and raw timings: the lesson's, never shared
        include_flat(app, debug.router)
        state.metrics.keep_recent()
    add_offline_docs(app)  # after the API routes: a request is matched against them first
    # the whole request, timed from the ASGI entry (a pure ASGI middleware, see timing.py)
    app.add_middleware(RequestTimer, metrics=state.metrics)
    if backend.tracing is not None:  # outermost: the span holds the timed request
        from lesson.servers.tracing import TracingMiddleware

        app.add_middleware(TracingMiddleware, tracing=backend.tracing)
    return app


def include_flat(app: FastAPI, router: APIRouter) -> None:
    """``app.include_router(router)``, without the nesting: the router's own route objects
    go on the app.

    FastAPI 0.163's `include_router` keeps the router as one nested route that every request
    is matched through: measured ~20 µs more CPU per request (V1 predict in-process, raw ASGI
    calls: ~150 vs ~125 µs). The routes here are the same objects, with the same OpenAPI
    document; only what `include_router` adds is left out (a prefix, tags, dependencies,
    ``app.dependency_overrides``), which these routers do not use.
    """
    app.router.routes.extend(router.routes)


def create_app_from_env() -> FastAPI:
    """App factory for `uvicorn --factory` with several workers: options from $LESSON_SERVER_OPTIONS."""
    return create_app(
        options=ServerOptions.from_dict(json.loads(os.environ.get("LESSON_SERVER_OPTIONS", "{}")))
    )
