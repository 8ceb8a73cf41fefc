"""The app factory: one `RestState`, the error handlers, the routes (added in order), the lifespan.

The lifespan warms the models up (readiness turns true when done) and, on shutdown, reports
draining, stops the model runner and closes the micro-batchers on this event loop.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from lesson.core.service import PredictionService
from lesson.servers.backend import InferenceBackend, PredictFn, ServerOptions
from lesson.servers.openapi import add_offline_docs, offline_docs_settings
from lesson.servers.rest import health, v1, v2
from lesson.servers.rest.http import install_error_handlers
from lesson.servers.rest.state import RestState

__all__ = ["create_app", "create_app_from_env"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: RestState = app.state.rest
    backend = state.backend
    backend.start_warm_up()
    yield
    backend.start_draining()
    state.runner.close()
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
        **offline_docs_settings(),
    )
    add_offline_docs(app)
    app.state.rest = state
    app.state.backend = backend
    app.state.metrics = state.metrics
    install_error_handlers(app)
    # on the app itself, in this order (the OpenAPI document's); an included APIRouter would
    # cost every request an extra routing layer
    v1.add_routes(app)
    health.add_health_routes(app)
    v2.add_routes(app)
    health.add_operations_routes(app)
    return app


def create_app_from_env() -> FastAPI:
    """App factory for `uvicorn --factory` with several workers: options from $LESSON_SERVER_OPTIONS."""
    return create_app(
        options=ServerOptions.from_dict(json.loads(os.environ.get("LESSON_SERVER_OPTIONS", "{}")))
    )
