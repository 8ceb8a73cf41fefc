"""Helpers shared by the REST and gRPC clients."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from lesson.clients.errors import BadRequestError
from lesson.core.schema import Limits, ValidationError, parse_v1_request

#: generous client-side bounds: the server enforces the real ones
_CLIENT_LIMITS = Limits(max_instances=1_000_000, max_features=1_000_000, max_body_bytes=1 << 30)


def rows_of(payload: Any) -> list[list[float]]:
    """The rows of a V1 payload (`{"instances": [...]}`), checked with the core's validator."""
    try:
        return parse_v1_request(payload, _CLIENT_LIMITS).rows
    except ValidationError as exc:
        raise BadRequestError("client", str(exc)) from None


def host_port(url: str, scheme: str, default_port: int) -> tuple[str, int]:
    """(host, port) of `scheme://host:port` or a bare `host:port`."""
    if "://" not in url:
        url = f"{scheme}://{url}"
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    return parts.hostname, parts.port or default_port


def v1_from_v2(response: dict[str, Any], transport: str) -> dict[str, Any]:
    """A V2 inference response in the V1 shape."""
    params = response.get("parameters") or {}
    outputs = response.get("outputs") or [{}]
    metadata = {
        "transport": transport,
        "model": response.get("model_name", ""),
        "model_version": response.get("model_version", ""),
    }
    if "latency_ms" in params:
        metadata["latency_ms"] = params["latency_ms"]
    return {"predictions": [float(v) for v in outputs[0].get("data", [])], "metadata": metadata}
