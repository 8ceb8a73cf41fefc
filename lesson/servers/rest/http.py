"""HTTP plumbing the REST routes share: bounded body reads and the error handlers.

Routes do not catch errors: `install_error_handlers` registers, once, a handler for every
exception the core and the server raise (`lesson.servers.errors.MAPPED_ERRORS`), which answers
with the status `classify` gives. Every error, FastAPI's own (404, 405, 422) included, is
``{"error": "..."}``: the Open Inference Protocol's shape, the one V2 clients read; V1 routes
add the located validation errors as ``detail`` (FastAPI's convention) and answer 422.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lesson.core.v2 import V2TooLargeError
from lesson.servers.errors import MAPPED_ERRORS, classify

__all__ = ["error", "install_error_handlers", "read_body"]

_DRAIN_LIMIT = 16 << 20  # bytes of an over-bound body read and dropped before answering 413


def error(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """``{"error": message, **extra}`` with this status."""
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) anything over `limit` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise V2TooLargeError("content-length", f"expected a byte count, got {declared!r}")
        if int(declared) > limit:
            if int(declared) <= _DRAIN_LIMIT:
                # Read and drop the body (bounded) so the client, still sending, gets the 413
                # instead of a broken pipe; larger bodies are cut off at once.
                async for _ in request.stream():
                    pass
            raise V2TooLargeError("body", f"{declared} bytes is over the bound of {limit}")
        return await request.body()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise V2TooLargeError("body", f"over the bound of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _mapped(request: Request, exc: Exception) -> JSONResponse:
    """The answer to an exception a route raised: `classify`'s status, ``{"error": ...}``."""
    v1 = request.scope["path"].startswith("/v1/")
    info = classify(exc, v1=v1)
    headers = {"Retry-After": "1"} if info.http_status == 503 else None
    errors = getattr(exc, "errors", None) if v1 else None  # a V1 ValidationError's located list
    extra = {"detail": errors} if isinstance(errors, list) else {}
    return error(info.http_status, info.message, headers, **extra)


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", []))
    return error(
        422,
        f"{where}: {first.get('msg')}",
        detail=json.loads(json.dumps(exc.errors(), default=str)),
    )


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error(
        exc.status_code,
        f"{exc.detail}: {request.method} {request.url.path}",
        headers=getattr(exc, "headers", None),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return error(500, classify(exc).message)


def install_error_handlers(app: FastAPI) -> None:
    """Answer the core's and the server's errors with their status (`classify`), FastAPI's
    validation errors (422), HTTP errors (404, 405, ...) and anything unexpected (500), all
    as ``{"error": "..."}``."""
    for exc_class in MAPPED_ERRORS:
        app.add_exception_handler(exc_class, _mapped)
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
