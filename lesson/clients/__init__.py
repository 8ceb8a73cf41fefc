"""Python clients for the lesson's servers (CPython only; never imported by `import lesson`).

    >>> from lesson.clients import client_for
    >>> client = client_for("http://127.0.0.1:8000")     # or "grpc://127.0.0.1:8001"
    >>> client.predict({"instances": [0.2, 0.4, 0.6]}, model="averaged_ensemble")  # doctest: +SKIP
    {'predictions': [0.42], 'metadata': {...}}

`RestClient` (stdlib http.client), `AsyncRestClient` (aiohttp by default; `engine="http1"`
uses the lean asyncio + httptools keep-alive client of `lesson.clients.http1`, plain http
only, which `lesson loadtest` uses for REST load) and `GrpcClient` / `AsyncGrpcClient`
(grpcio) all answer `predict(payload, model=None)` in the V1 response shape,
so the load-test harness drives any of them the same way. Failures raise subclasses of
`InferenceError` (their class names are what the harness counts as error kinds).
"""

from __future__ import annotations

from typing import Any

from lesson.clients.errors import (
    BadRequestError,
    DeadlineExceededError,
    InferenceError,
    OverloadedError,
    PayloadTooLargeError,
    ServerUnavailableError,
    UnknownModelError,
)

__all__ = [
    "client_for",
    "RestClient",
    "AsyncRestClient",
    "GrpcClient",
    "AsyncGrpcClient",
    "InferenceError",
    "BadRequestError",
    "UnknownModelError",
    "PayloadTooLargeError",
    "OverloadedError",
    "ServerUnavailableError",
    "DeadlineExceededError",
]


def __getattr__(name: str) -> Any:  # import transports lazily: REST users need no grpcio
    if name in ("RestClient", "AsyncRestClient"):
        from lesson.clients import rest

        return getattr(rest, name)
    if name in ("GrpcClient", "AsyncGrpcClient"):
        from lesson.clients import grpc as grpc_clients

        return getattr(grpc_clients, name)
    raise AttributeError(f"module 'lesson.clients' has no attribute {name!r}")


def client_for(url: str, *, asynchronous: bool = False, **kwargs: Any) -> Any:
    """The client for a URL: `http://` or `https://` -> REST, `grpc://` -> gRPC.

    Args:
        url: the server's URL.
        asynchronous: return the asyncio client (`await client.predict(...)`).
        **kwargs: passed to the client (`model=`, `timeout=`, ...).
    """
    if url.startswith(("http://", "https://")):
        from lesson.clients.rest import AsyncRestClient, RestClient

        return (AsyncRestClient if asynchronous else RestClient)(url, **kwargs)
    if url.startswith("grpc://"):
        from lesson.clients.grpc import AsyncGrpcClient, GrpcClient

        return (AsyncGrpcClient if asynchronous else GrpcClient)(url, **kwargs)
    raise ValueError(f"url must start with http://, https:// or grpc://, got {url!r}")
