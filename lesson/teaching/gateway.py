"""A minimal API-key gateway in front of a model service (authentication at the boundary).

The model server stays free of authentication on purpose: the gateway checks the caller's key,
answers 401 (no key) or 403 (wrong key) itself, and passes an accepted request on **without**
the credential, adding only the verified caller's name in ``x-client-id``. Keys are compared
with :func:`hmac.compare_digest` (time does not depend on how many characters match) and come
from the environment, never from code or notebooks.

Standard library only (runs in Pyodide).

    >>> gate = api_key_gateway(lambda req: GatewayResponse(200, {"seen": dict(req.headers)}),
    ...                        {"demo-client": "s3cret-key-000000"})
    >>> gate(GatewayRequest(headers={"X-API-Key": "s3cret-key-000000"})).body
    {'seen': {'x-client-id': 'demo-client'}}
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

API_KEY_HEADER = "x-api-key"
CLIENT_ID_HEADER = "x-client-id"
MIN_KEY_LENGTH = 16
_CREDENTIAL_HEADERS = (API_KEY_HEADER, "authorization")


@dataclass(frozen=True)
class GatewayRequest:
    """An HTTP-like request: method, path, headers (any case) and a JSON body."""

    method: str = "POST"
    path: str = "/v1/models/diabetes-mlp:predict"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class GatewayResponse:
    """An HTTP-like response: status code and JSON body."""

    status: int
    body: Any


Handler = Callable[[GatewayRequest], GatewayResponse]


def redact(secret: str, shown: int = 4) -> str:
    """The first ``shown`` characters and a count, safe to print or log: ``'AbCd… (43 chars)'``."""
    return f"{secret[:shown]}… ({len(secret)} chars)"


def key_from_env(variable: str, environ: Mapping[str, str] | None = None) -> str:
    """Read an API key from an environment variable.

    Raises:
        KeyError: the variable is not set (the message names it).
        ValueError: the key is shorter than :data:`MIN_KEY_LENGTH` characters.
    """
    env = os.environ if environ is None else environ
    if variable not in env:
        raise KeyError(f"environment variable {variable} is not set; the gateway needs an API key")
    key = env[variable]
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(
            f"the key in {variable} has {len(key)} characters; use at least {MIN_KEY_LENGTH}"
        )
    return key


def _check_keys(keys: Mapping[str, str]) -> dict[str, bytes]:
    if not keys:
        raise ValueError("api_key_gateway needs at least one client key")
    checked = {}
    for client, key in keys.items():
        if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
            raise ValueError(
                f"the key for client {client!r} must be a string of at least {MIN_KEY_LENGTH} characters"
            )
        checked[client] = key.encode()
    return checked


def api_key_gateway(
    upstream: Handler, keys: Mapping[str, str], *, header: str = API_KEY_HEADER
) -> Handler:
    """Wrap ``upstream`` so only callers with a known API key reach it.

    Args:
        upstream: the model service, called with the request minus its credentials.
        keys: ``{client name: API key}``; each key at least :data:`MIN_KEY_LENGTH` characters.
        header: the request header that carries the key (case-insensitive).

    Returns:
        A handler answering 401 ``{"detail": ...}`` without a key, 403 with an unknown key,
        and otherwise ``upstream``'s response to the request with ``x-api-key`` and
        ``authorization`` removed and ``x-client-id: <client name>`` added.
    """
    expected = _check_keys(keys)
    header = header.lower()

    def gateway(request: GatewayRequest) -> GatewayResponse:
        headers = {str(k).lower(): v for k, v in request.headers.items()}
        presented = headers.get(header, "")
        if not presented:
            return GatewayResponse(
                401, {"detail": f"Missing API key: send it in the {header} header"}
            )
        given = presented.encode() if isinstance(presented, str) else b""
        client = None
        for (
            name,
            key,
        ) in expected.items():  # compare with every key, so timing does not say which matched
            if hmac.compare_digest(given, key):
                client = name
        if client is None:
            return GatewayResponse(403, {"detail": "API key not accepted"})
        forwarded = {
            k: v
            for k, v in headers.items()
            if k not in (*_CREDENTIAL_HEADERS, header, CLIENT_ID_HEADER)
        }
        forwarded[CLIENT_ID_HEADER] = client
        return upstream(GatewayRequest(request.method, request.path, forwarded, request.body))

    return gateway
