"""HTTP plumbing the REST routes share: bounded body reads and errors in the protocol's shape.

Every error, FastAPI's own (404, 405, 422) included, is ``{"error": "..."}``: the Open
Inference Protocol's shape, the one V2 clients read.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lesson.core.v2 import V2TooLargeError
from lesson.servers.errors import classify

__all__ = ["error", "error_for", "install_error_handlers", "read_body"]

_DRAIN_LIMIT = 16 << 20  # bytes of an over-bound body read and dropped before answering 413


def error(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """``{"error": message, **extra}`` with this status."""
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def error_for(exc: Exception) -> JSONResponse:
    """The answer for an exception a metadata or readiness route raised (e.g. an unknown model, 404)."""
    info = classify(exc)
    return error(info.http_status, info.message)


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
    """Answer validation errors (422), HTTP errors (404, 405, ...) and anything unexpected (500)
    as ``{"error": "..."}``."""
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
