"""REST clients: `RestClient` (stdlib `http.client`, keep-alive per thread) and `AsyncRestClient` (aiohttp).

    >>> client = RestClient("http://127.0.0.1:8000")                 # doctest: +SKIP
    >>> client.predict({"instances": [[0.2, 0.4], [1.0, 2.0]]})      # V1 route
    >>> client.infer([[0.2, 0.4]])                                   # V2 tensors (binary extension)

Why not httpx or requests? As a load generator httpx reached 1-3% of wrk's rate here; a
plain keep-alive `http.client` connection per thread, or aiohttp on uvloop, does not hide
the server behind the client's own overhead.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from lesson.clients._common import host_port, rows_of, v1_from_v2
from lesson.clients.errors import InferenceError, ServerUnavailableError, from_http
from lesson.core.v2 import HEADER_LENGTH, build_request, decode_infer_response

_JSON = {"Content-Type": "application/json"}


def _error_message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("error", body.decode(errors="replace")))
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:500]


def _check(status: int, body: bytes) -> None:
    if status >= 400:
        raise from_http(status, _error_message(body))


class _Paths:
    """URL paths and request bodies shared by the sync and async clients."""

    def __init__(self, url: str, model: str | None, protocol: str) -> None:
        if protocol not in ("v1", "v2"):
            raise ValueError(f"protocol must be 'v1' or 'v2', got {protocol!r}")
        self.url = url.rstrip("/")
        self.host, self.port = host_port(self.url, "http", 80)
        self.model = model
        self.protocol = protocol

    @staticmethod
    def v1(model: str) -> str:
        return f"/v1/models/{quote(model, safe='')}:predict"

    @staticmethod
    def v2(model: str, version: str | None) -> str:
        base = f"/v2/models/{quote(model, safe='')}"
        return f"{base}/versions/{quote(version, safe='')}/infer" if version else f"{base}/infer"

    @staticmethod
    def infer_body(rows: Sequence[Sequence[float]], binary: bool) -> tuple[bytes, dict[str, str]]:
        body, header_length = build_request(rows, binary=binary, binary_output=binary)
        headers = dict(_JSON)
        if header_length is not None:
            headers = {
                "Content-Type": "application/octet-stream",
                HEADER_LENGTH: str(header_length),
            }
        return body, headers


class RestClient:
    """A synchronous client for the lesson's REST server; safe to share between threads.

    Args:
        url: `http://host:port`.
        model: default model name (None: the server's default, asked once).
        timeout: seconds per request.
        protocol: what `predict` uses: "v1" (``{"instances"}`` in, ``{"predictions"}`` out) or "v2" (tensors).
        tracing: a `lesson.clients.tracing.Tracing`: each request in a CLIENT span, its
            ``traceparent`` sent along (None: no tracing, nothing imported).
    """

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        timeout: float = 10.0,
        protocol: str = "v1",
        tracing: Any = None,
    ) -> None:
        self.tracing = tracing
        self._paths = _Paths(url, model, protocol)
        self.url = self._paths.url
        self.timeout = timeout
        self._local = threading.local()
        self._default_model: str | None = model

    # ------------------------------------------------------------ transport
    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(
                self._paths.host, self._paths.port, timeout=self.timeout
            )
            self._local.conn = conn
        return conn

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request on this thread's keep-alive connection: (status, headers, body)."""
        if self.tracing is not None:
            with self.tracing.client_span(f"{method} {path}") as carrier:
                return self._send(method, path, body, {**(headers or {}), **carrier})
        return self._send(method, path, body, headers)

    def _send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in (0, 1):
            conn = self._connection()
            reused = conn.sock is not None
            try:
                conn.request(method, path, body=body, headers=headers or {})
                resp = conn.getresponse()
                data = resp.read()
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                conn.close()
                if attempt == 0 and reused:
                    continue  # the server closed an idle keep-alive connection: retry once
                raise ServerUnavailableError("connection", f"{type(exc).__name__}: {exc}") from None
            except (ConnectionRefusedError, OSError) as exc:
                conn.close()
                if isinstance(exc, TimeoutError):
                    raise InferenceError("timeout", f"no answer within {self.timeout} s") from None
                raise ServerUnavailableError("connection", f"{type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")

    def _get_json(self, path: str) -> Any:
        status, _, data = self.request("GET", path)
        _check(status, data)
        return json.loads(data)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ health and metadata
    def live(self) -> bool:
        status, _, _ = self.request("GET", "/v2/health/live")
        return status == 200

    def ready(self) -> bool:
        status, _, _ = self.request("GET", "/v2/health/ready")
        return status == 200

    def server_metadata(self) -> dict[str, Any]:
        return self._get_json("/v2")

    def model_metadata(
        self, model: str | None = None, version: str | None = None
    ) -> dict[str, Any]:
        name = quote(model or self.default_model(), safe="")
        return self._get_json(
            f"/v2/models/{name}" + (f"/versions/{quote(version, safe='')}" if version else "")
        )

    def model_ready(self, model: str | None = None) -> bool:
        status, _, data = self.request(
            "GET", f"/v2/models/{quote(model or self.default_model(), safe='')}/ready"
        )
        if status == 404:
            _check(status, data)
        return status == 200

    def repository_index(self, ready: bool = False) -> list[dict[str, str]]:
        status, _, data = self.request(
            "POST", "/v2/repository/index", json.dumps({"ready": ready}).encode(), _JSON
        )
        _check(status, data)
        return json.loads(data)

    def default_model(self) -> str:
        """The server's default model (the first entry of its repository index)."""
        if self._default_model is None:
            index = self.repository_index()
            if not index:
                raise InferenceError("client", "the server lists no models")
            self._default_model = index[0]["name"]
        return self._default_model

    def metrics_text(self) -> str:
        status, _, data = self.request("GET", "/metrics")
        _check(status, data)
        return data.decode()

    # ------------------------------------------------------------ inference
    def predict(self, payload: Any, model: str | None = None) -> dict[str, Any]:
        """`{"instances": [...]}` -> `{"predictions": [...], "metadata": {...}}`."""
        if self._paths.protocol == "v2":
            return self.predict_v2(payload, model)
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        body = body.encode() if isinstance(body, str) else body
        status, _, data = self.request(
            "POST", _Paths.v1(model or self.default_model()), body, _JSON
        )
        _check(status, data)
        return json.loads(data)

    def infer(
        self,
        rows: Sequence[Sequence[float]],
        model: str | None = None,
        *,
        version: str | None = None,
        binary: bool = True,
    ) -> dict[str, Any]:
        """V2 inference on rows of features; returns the response with `data` decoded."""
        body, headers = _Paths.infer_body(rows, binary)
        status, resp_headers, data = self.request(
            "POST", _Paths.v2(model or self.default_model(), version), body, headers
        )
        _check(status, data)
        return decode_infer_response(data, resp_headers.get(HEADER_LENGTH.lower()))

    def predict_v2(self, payload: Any, model: str | None = None) -> dict[str, Any]:
        """A V1 payload sent as V2 tensors, answered in the V1 shape."""
        return v1_from_v2(self.infer(rows_of(payload), model), "rest")


@dataclass(frozen=True)
class PreparedRequest:
    """A whole HTTP/1.1 request encoded once (:meth:`AsyncRestClient.prepare_v2`): what a load
    generator sends again and again without paying to encode it each time."""

    data: bytes


class AsyncRestClient:
    """The asyncio REST client (keep-alive pool; one session per event loop).

    Args: as `RestClient`, plus `limit` (connections in the pool) and `engine`: "aiohttp"
    (default; http and https) or "http1", the lean keep-alive client of
    :mod:`lesson.clients.http1` (plain http only) that `lesson loadtest` uses so the client's
    own overhead stays small next to the server's latency.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        timeout: float = 10.0,
        protocol: str = "v1",
        limit: int = 256,
        engine: str = "aiohttp",
    ) -> None:
        if engine not in ("aiohttp", "http1"):
            raise ValueError(f"engine must be 'aiohttp' or 'http1', got {engine!r}")
        self._paths = _Paths(url, model, protocol)
        self.url = self._paths.url
        if engine == "http1" and not self.url.startswith("http://"):
            raise ValueError(f"engine 'http1' speaks plain http:// only, got {url!r}")
        self.timeout = timeout
        self.limit = limit
        self.engine = engine
        self._session: Any = None
        self._pool: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._default_model: str | None = model
        self._v1_heads: dict[
            str, bytes
        ] = {}  # model -> request line and headers up to Content-Length

    def _http1_pool(self) -> Any:
        if self._pool is None:
            from lesson.clients.http1 import Http1Pool

            self._pool = Http1Pool(
                self._paths.host, self._paths.port, limit=self.limit, timeout=self.timeout
            )
        return self._pool

    async def _http1_send(
        self, request: bytes, headers: bool = True
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            return await (self._pool or self._http1_pool()).send(request, headers=headers)
        except TimeoutError:
            raise InferenceError("timeout", f"no answer within {self.timeout} s") from None
        except OSError as exc:  # Http1Error is a ConnectionError
            raise ServerUnavailableError("connection", f"{type(exc).__name__}: {exc}") from None

    async def _get_session(self) -> Any:
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            self._session = aiohttp.ClientSession(
                base_url=self.url,
                connector=aiohttp.TCPConnector(limit=self.limit),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
            self._loop = loop
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        if self.engine == "http1":
            from lesson.clients.http1 import build_request

            return await self._http1_send(
                build_request(method, path, self._http1_pool().host_header, body, headers)
            )
        import aiohttp

        session = await self._get_session()
        try:
            async with session.request(method, path, data=body, headers=headers) as resp:
                data = await resp.read()
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, data
        except TimeoutError:
            raise InferenceError("timeout", f"no answer within {self.timeout} s") from None
        except aiohttp.ClientConnectionError as exc:
            raise ServerUnavailableError("connection", f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
        if self._pool is not None:
            await self._pool.close()

    async def __aenter__(self) -> AsyncRestClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def live(self) -> bool:
        return (await self.request("GET", "/v2/health/live"))[0] == 200

    async def ready(self) -> bool:
        return (await self.request("GET", "/v2/health/ready"))[0] == 200

    async def model_metadata(self, model: str | None = None) -> dict[str, Any]:
        status, _, data = await self.request(
            "GET", f"/v2/models/{quote(model or await self.default_model(), safe='')}"
        )
        _check(status, data)
        return json.loads(data)

    async def repository_index(self, ready: bool = False) -> list[dict[str, str]]:
        status, _, data = await self.request(
            "POST", "/v2/repository/index", json.dumps({"ready": ready}).encode(), _JSON
        )
        _check(status, data)
        return json.loads(data)

    async def default_model(self) -> str:
        if self._default_model is None:
            index = await self.repository_index()
            if not index:
                raise InferenceError("client", "the server lists no models")
            self._default_model = index[0]["name"]
        return self._default_model

    async def prepare_v2(self, payload: Any, model: str | None = None) -> PreparedRequest:
        """A V2 inference (binary tensors, as `infer` sends) of ``payload``'s rows, encoded once
        as a whole request for the ``http1`` engine; `predict` sends it as it is."""
        if self.engine != "http1":
            raise ValueError("prepare_v2 needs engine='http1'")
        from lesson.clients.http1 import build_request

        body, headers = _Paths.infer_body(rows_of(payload), True)
        path = _Paths.v2(model or await self.default_model(), None)
        return PreparedRequest(
            build_request("POST", path, self._http1_pool().host_header, body, headers)
        )

    async def predict(self, payload: Any, model: str | None = None) -> dict[str, Any]:
        """`await client.predict({"instances": [...]})` -> the V1 response."""
        if isinstance(payload, PreparedRequest):
            status, resp_headers, data = await self._http1_send(payload.data)
            _check(status, data)
            return v1_from_v2(
                decode_infer_response(data, resp_headers.get(HEADER_LENGTH.lower())), "rest"
            )
        if self._paths.protocol == "v2":
            return await self.predict_v2(payload, model)
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        body = body.encode() if isinstance(body, str) else body
        name = model or self._default_model or await self.default_model()
        if self.engine == "http1":  # the load generator's hot path: a cached request head
            head = self._v1_heads.get(name)
            if head is None:
                from lesson.clients.http1 import build_request

                head = build_request(
                    "POST", _Paths.v1(name), self._http1_pool().host_header, None, _JSON
                )
                head = self._v1_heads[name] = head[: -len(b"0\r\n\r\n")]  # up to "Content-Length: "
            status, _, data = await self._http1_send(
                b"%s%d\r\n\r\n%s" % (head, len(body), body), headers=False
            )
        else:
            status, _, data = await self.request("POST", _Paths.v1(name), body, _JSON)
        _check(status, data)
        return json.loads(data)

    async def infer(
        self,
        rows: Sequence[Sequence[float]],
        model: str | None = None,
        *,
        version: str | None = None,
        binary: bool = True,
    ) -> dict[str, Any]:
        body, headers = _Paths.infer_body(rows, binary)
        path = _Paths.v2(model or await self.default_model(), version)
        status, resp_headers, data = await self.request("POST", path, body, headers)
        _check(status, data)
        return decode_infer_response(data, resp_headers.get(HEADER_LENGTH.lower()))

    async def predict_v2(self, payload: Any, model: str | None = None) -> dict[str, Any]:
        return v1_from_v2(await self.infer(rows_of(payload), model), "rest")
