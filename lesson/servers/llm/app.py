"""The generative server's app factory: `LLMState`, the error handlers, one router per file
(``/debug/spans`` with ``debug_routes``; the tracing middleware with ``trace_ratio``).

The lifespan starts the engine's driver and warms it up (readiness turns true), and on
shutdown stops it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from lesson.servers.llm import completions, debug, health, models
from lesson.servers.llm.errors import install_error_handlers
from lesson.servers.llm.options import LLMOptions
from lesson.servers.llm.state import LLMState

__all__ = ["create_llm_app"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: LLMState = app.state.llm
    await state.start()
    yield
    await state.stop()


def create_llm_app(
    options: LLMOptions | None = None, *, model: Any | None = None, state: LLMState | None = None
) -> FastAPI:
    """Build the app (readiness turns true once its lifespan has warmed the engine up).

    Args:
        options: the server's options (default: `LLMOptions()`).
        model: a language model to serve instead of the tiny one (tests).
        state: a ready-made state (the CLI builds it first, so a bad option fails early).
    """
    state = state or LLMState(options or LLMOptions(), model)
    app = FastAPI(
        title="Serving Patterns Lab — generative server",
        version="0.1.0",
        description=(
            "A tiny byte-level language model behind an OpenAI-compatible API: completions and "
            'chat, streamed as server-sent events. Errors are `{"error": {"message", "type", '
            '"param", "code"}}`.'
        ),
        lifespan=_lifespan,
    )
    app.state.llm = state
    install_error_handlers(app)
    for router in (models.router, completions.router, health.router):
        app.include_router(router)
    if state.options.debug_routes:
        app.include_router(debug.router)
    if state.tracer is not None:  # a SERVER span per sampled POST, open until the stream ends
        from lesson.servers.tracing import TracingMiddleware

        app.add_middleware(TracingMiddleware, tracing=state.tracer.tracing)
    return app
