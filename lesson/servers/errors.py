"""One mapping from the core's exceptions to HTTP statuses and gRPC status codes."""

from __future__ import annotations

from dataclasses import dataclass

from lesson.core.model import ModelNotFoundError
from lesson.core.schema import RequestTooLargeError, ValidationError
from lesson.core.service import ModelOutputError
from lesson.core.v2 import V2Error, V2TooLargeError


@dataclass(frozen=True)
class ErrorInfo:
    http_status: int
    grpc_code: str  # a grpc.StatusCode name
    message: str


class OverloadedError(RuntimeError):
    """Too many requests in flight: shed this one (HTTP 503 / RESOURCE_EXHAUSTED)."""


class DrainingError(RuntimeError):
    """The server is shutting down and refuses new work (HTTP 503 / UNAVAILABLE)."""


class NotReadyError(RuntimeError):
    """The server is still warming up (HTTP 503 / UNAVAILABLE)."""


class RequestTimeoutError(TimeoutError):
    """The request ran over the server's per-request timeout (HTTP 504 / DEADLINE_EXCEEDED)."""


class InternalError(RuntimeError):
    """Anything else a request raised (a bug; HTTP 500 / INTERNAL): the message names the
    original exception, chained as ``__cause__``."""


#: every exception `classify` maps to a status; the REST app registers one handler for each
MAPPED_ERRORS: tuple[type[Exception], ...] = (
    ValidationError,  # RequestTooLargeError included
    V2Error,  # V2TooLargeError included
    ModelNotFoundError,
    ModelOutputError,
    OverloadedError,
    DrainingError,
    NotReadyError,
    TimeoutError,  # RequestTimeoutError included
    InternalError,
)


def classify(exc: BaseException, *, v1: bool = False) -> ErrorInfo:
    """Status codes and a message naming the field for any exception a request can raise.

    Args:
        exc: the exception.
        v1: the V1 route answers invalid bodies with 422 (FastAPI's convention); V2 with 400.
    """
    if isinstance(exc, (V2TooLargeError, RequestTooLargeError)):
        return ErrorInfo(413, "RESOURCE_EXHAUSTED", str(exc))
    if isinstance(exc, (V2Error, ValidationError)):
        return ErrorInfo(422 if v1 else 400, "INVALID_ARGUMENT", str(exc))
    if isinstance(exc, ModelNotFoundError):
        return ErrorInfo(404, "NOT_FOUND", str(exc.args[0]) if exc.args else str(exc))
    if isinstance(exc, OverloadedError):
        return ErrorInfo(503, "RESOURCE_EXHAUSTED", str(exc))
    if isinstance(exc, (DrainingError, NotReadyError)):
        return ErrorInfo(503, "UNAVAILABLE", str(exc))
    if isinstance(exc, (RequestTimeoutError, TimeoutError)):
        return ErrorInfo(504, "DEADLINE_EXCEEDED", str(exc) or "request timed out")
    if isinstance(exc, ModelOutputError):
        return ErrorInfo(500, "INTERNAL", f"model error: {exc}")
    if isinstance(exc, InternalError):
        return ErrorInfo(500, "INTERNAL", str(exc))
    return ErrorInfo(500, "INTERNAL", f"internal error: {type(exc).__name__}: {exc}")
