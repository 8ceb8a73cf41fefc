"""Typed client-side errors: one class per kind of failure, for tests and the harness."""

from __future__ import annotations


class InferenceError(RuntimeError):
    """A request the server refused or failed. `status` is the HTTP code or gRPC code name."""

    def __init__(self, status: int | str, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class BadRequestError(InferenceError):
    """HTTP 400/422, gRPC INVALID_ARGUMENT: the message names the field."""


class UnknownModelError(InferenceError):
    """HTTP 404, gRPC NOT_FOUND."""


class PayloadTooLargeError(InferenceError):
    """HTTP 413, gRPC RESOURCE_EXHAUSTED for a size bound."""


class OverloadedError(InferenceError):
    """HTTP 503 (shed), gRPC RESOURCE_EXHAUSTED for too many requests in flight."""


class ServerUnavailableError(InferenceError):
    """gRPC UNAVAILABLE / HTTP 503 while draining, or the server cannot be reached."""


class DeadlineExceededError(InferenceError):
    """HTTP 504, gRPC DEADLINE_EXCEEDED."""


_HTTP = {
    400: BadRequestError,
    422: BadRequestError,
    404: UnknownModelError,
    413: PayloadTooLargeError,
    503: OverloadedError,
    504: DeadlineExceededError,
}
_GRPC = {
    "INVALID_ARGUMENT": BadRequestError,
    "NOT_FOUND": UnknownModelError,
    "UNAVAILABLE": ServerUnavailableError,
    "DEADLINE_EXCEEDED": DeadlineExceededError,
}


def from_http(status: int, message: str) -> InferenceError:
    if status == 503 and ("draining" in message or "not ready" in message):
        return ServerUnavailableError(status, message)
    return _HTTP.get(status, InferenceError)(status, message)


def from_grpc(code_name: str, message: str) -> InferenceError:
    if code_name == "RESOURCE_EXHAUSTED":
        sized = "bound of" in message or "larger than max" in message.lower()
        return (PayloadTooLargeError if sized else OverloadedError)(code_name, message)
    return _GRPC.get(code_name, InferenceError)(code_name, message)
