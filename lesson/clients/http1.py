"""A lean HTTP/1.1 keep-alive client on asyncio, for load generation against `http://` servers.

aiohttp is a full-featured client, and its per-request work (request/response objects,
header multidicts, timers, the connector) costs a few hundred µs on this machine's kind: at one
connection that was most of the gap between the harness and `wrk`. A load generator needs
much less: write a request, parse a response, keep the connection. This module does only that:

- an :class:`asyncio.Protocol` per connection; responses are parsed by ``httptools`` (the
  llhttp parser uvicorn uses), so ``Content-Length``, chunked bodies and ``Connection: close``
  are handled by a well-kept parser, not by hand;
- one request at a time per connection (no pipelining), a pool of at most ``limit``
  connections, reused LIFO; a connection the server closed while idle is retried once;
- a per-request timeout; plain ``http://`` only (no TLS, no redirects, no cookies, no
  compression: it sends no ``Accept-Encoding``), no ``HEAD``, and no bodies delimited only by
  the connection closing (uvicorn always sends ``Content-Length`` or chunked; a test checks
  the lesson's server never answers chunked on the routes the load generator uses).

Why not aiohttp (already a dependency)? Measured 2026-12-07, 17:39-17:52 UTC, on this 2-core
machine shared with other jobs (others used 1.1-1.6 cores in every run), five runs of
``benchmarks/bench_servers.py --only clients --runs 5 --duration 5`` (the first with 3 rounds):
the lesson's REST server pinned to one core, the load generator to the other, 8 connections;
each round runs wrk, then the harness on this client, then on aiohttp. Throughput as a ratio to
the wrk run of the same round, median over the rounds of each run:

    run     rounds   http1 / wrk   aiohttp / wrk   aiohttp / http1
    17:39   3        0.88x         0.94x           1.07x
    17:41   5        0.80x         0.82x           0.87x
    17:43   5        0.86x         0.70x           0.81x
    17:48   5        0.98x         0.69x           0.71x
    17:50   5        1.11x         0.93x           0.86x
    all     23       0.94x         0.82x           0.84x

The harness-vs-wrk target (throughput within 15 % of wrk's at 8 connections) was met by this
client in four runs of five and by aiohttp in two, and over all 23 rounds aiohttp sits at 0.82x
(outside), this client at 0.94x. aiohttp also used about twice the client CPU (27-43 % of a
core against 15-23 %). On a quiet machine neither client should limit 8 connections (the
server's core does), but the lesson runs on shared laptops and CI runners, where the load
generator's CPU is what the noise takes away; and at one connection aiohttp's per-request work
(a few hundred µs, measured when this client was written) was most of the harness's p50 gap to
wrk. So the load generator keeps this client.

    >>> pool = Http1Pool("127.0.0.1", 8000)                                   # doctest: +SKIP
    >>> status, headers, body = await pool.request("GET", "/v2/health/ready")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio

import httptools

__all__ = ["Http1Pool", "Http1Error", "build_request"]


class Http1Error(ConnectionError):
    """The connection failed or the server's answer was not valid HTTP/1.1."""


def build_request(
    method: str,
    path: str,
    host: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """The bytes of one HTTP/1.1 request with ``Content-Length`` (the body is sent whole)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for name, value in (headers or {}).items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} contains a line break")
        lines.append(f"{name}: {value}")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``exchange`` sends a request and awaits its response."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, dict[str, str], bytes]] | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.received = False  # any byte of the current response arrived
        self.keep_alive = True
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Http1Error(f"invalid HTTP response: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost fails a pending request

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(Http1Error(f"connection closed by the server{': ' + str(exc) if exc else ''}"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))  # decoded only if the caller wants them

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), self.headers, b"".join(self.body)))

    # client side
    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _expire(self, timeout: float) -> None:
        self._fail(TimeoutError(f"no answer within {timeout} s"))
        self.close()

    async def exchange(
        self, request: bytes, timeout: float
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        if self.closed or self.transport is None:
            raise Http1Error("connection closed")
        self.headers, self.body, self.received = [], [], False
        self.waiter = waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, self._expire, timeout)
        try:
            self.transport.write(request)
            return await waiter
        finally:
            timer.cancel()


class Http1Pool:
    """At most ``limit`` keep-alive connections to ``host:port``; one request per connection at a time.

    Args:
        host: the server's host (the load generator only ever targets loopback).
        port: its port.
        limit: most connections open at once (1..1024); more concurrent requests wait.
        timeout: seconds to connect, and seconds per request; then :class:`TimeoutError`.
    """

    def __init__(self, host: str, port: int, *, limit: int = 256, timeout: float = 10.0) -> None:
        if not 1 <= limit <= 1024:
            raise ValueError(f"limit must be in 1..1024, got {limit!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0, got {timeout!r}")
        self.host, self.port, self.limit, self.timeout = host, port, limit, timeout
        self.host_header = host if port == 80 else f"{host}:{port}"
        self._idle: list[_Connection] = []
        self._slots: asyncio.Semaphore | None = None
        self._open: set[_Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: _Connection(loop), self.host, self.port)
        self._open.add(conn)
        return conn

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop: connections of the old one are unusable
            for conn in self._open:
                conn.close()
            self._idle, self._open, self._loop = [], set(), loop
            self._slots = asyncio.Semaphore(self.limit)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request: (status, headers with lower-case names, body)."""
        return await self.send(build_request(method, path, self.host_header, body, headers))

    async def send(
        self, request: bytes, *, headers: bool = True
    ) -> tuple[int, dict[str, str], bytes]:
        """Send the bytes of one complete request (see :func:`build_request`, reusable).

        ``headers=False`` skips decoding the response headers (returns an empty dict).
        """
        self._bind()
        assert self._slots is not None
        async with self._slots:
            status, raw, body = await self._send(request)
        if not headers:
            return status, {}, body
        return (
            status,
            {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw},
            body,
        )

    async def _send(self, request: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        for attempt in (0, 1):
            conn = None
            while self._idle and conn is None:  # skip connections the server closed while idle
                conn = self._idle.pop()
                if conn.closed:
                    self._open.discard(conn)
                    conn = None
            reused = conn is not None
            if conn is None:
                conn = await asyncio.wait_for(self._connect(), self.timeout)
            try:
                response = await conn.exchange(request, self.timeout)
            except Http1Error:
                conn.close()
                self._open.discard(conn)
                # a reused connection that the server closed while it was idle: retry once
                if attempt == 0 and reused and not conn.received:
                    continue
                raise
            except (
                BaseException
            ):  # cancelled or timed out mid-request: the connection's state is unknown
                conn.close()
                self._open.discard(conn)
                raise
            if conn.keep_alive and not conn.closed:
                self._idle.append(conn)
            else:
                conn.close()
                self._open.discard(conn)
            return response
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Close every connection."""
        for conn in self._open:
            conn.close()
        self._idle, self._open = [], set()
        await asyncio.sleep(0)  # let the transports finish closing
