"""Every error the generative server answers, in OpenAI's shape, from handlers registered once.

``{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}``:

| raised | status | type | code |
|---|---|---|---|
| malformed JSON, a bad field, ``n > 1``, a negative temperature | 400 | invalid_request_error | (below) |
| a prompt (or prompt + max_tokens) over a bound or the context | 400 | invalid_request_error | (below) |
| the engine's `GenerationError` (its subclasses) | 400 | invalid_request_error | the subclass's name in snake case |
| an unknown model | 404 | invalid_request_error | model_not_found |
| an unknown route / wrong method | 404 / 405 | invalid_request_error | not_found / method_not_allowed |
| a body over the bound | 413 | invalid_request_error | body_too_large |
| more sequences in flight than running + waiting | 429 | rate_limit_error | rate_limit_exceeded |
| draining or warming up | 503 | service_unavailable | service_unavailable |
| anything else | 500 | server_error | internal_error |

The 400s' codes: ``invalid_json``, ``invalid_value``, ``invalid_type``, ``unsupported_value``
(``n > 1``), ``context_length_exceeded``.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lesson.servers.llm.protocol import APIError, error_body

__all__ = ["install_error_handlers", "api_error_response"]


def api_error_response(exc: APIError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _api_error(request: Request, exc: APIError) -> JSONResponse:
    metrics = getattr(getattr(request.app.state, "llm", None), "metrics", None)
    if metrics is not None and exc.status != 429:  # 429s are counted where they are raised
        metrics.errors.labels(exc.code or str(exc.status)).inc()
    return api_error_response(exc)


async def _generation_error(request: Request, exc: Exception) -> JSONResponse:
    code = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower().removesuffix("_error")
    return await _api_error(request, APIError(400, str(exc), code=code or "invalid_value"))


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", []))
    return await _api_error(
        request,
        APIError(400, f"{where}: {first.get('msg')}", param=where or None, code="invalid_value"),
    )


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, str(exc.status_code))
    return await _api_error(
        request,
        APIError(
            exc.status_code,
            f"{exc.detail}: {request.method} {request.url.path}",
            code=code,
            headers=getattr(exc, "headers", None),
        ),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        error_body(
            f"internal error: {type(exc).__name__}: {exc}", "server_error", None, "internal_error"
        ),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    """One handler per error class (the table in this module's docstring)."""
    from lesson.patterns.generative import GenerationError

    app.add_exception_handler(APIError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(GenerationError, _generation_error)
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
