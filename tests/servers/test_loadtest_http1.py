"""The load generator's lean HTTP/1.1 client (`lesson.clients.http1`) and `lesson loadtest` on it.

Against the real REST server: same answers and typed errors as the aiohttp client, and the
server never answers chunked on the routes used. Against tiny raw asyncio servers on 127.0.0.1:
chunked bodies, `Connection: close`, an idle connection closed by the server (retried once),
a server that never answers (timeout) and garbage (a clear error).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from lesson.clients import AsyncRestClient
from lesson.clients.errors import (
    BadRequestError,
    InferenceError,
    ServerUnavailableError,
    UnknownModelError,
)
from lesson.clients.http1 import Http1Error, Http1Pool, build_request
from lesson.loadtest.wire import make_payloads, run_over_wire

PAYLOAD = {"instances": [[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0]]}


def run(coro):
    return asyncio.run(coro)


# ----------------------------------------------------------------------------- request bytes


def test_build_request_has_host_and_exact_content_length():
    body = json.dumps(PAYLOAD).encode()
    raw = build_request(
        "POST", "/v1/models/m:predict", "127.0.0.1:8000", body, {"Content-Type": "application/json"}
    )
    head, _, sent_body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/models/m:predict HTTP/1.1"
    assert "Host: 127.0.0.1:8000" in lines and f"Content-Length: {len(body)}" in lines
    assert sent_body == body
    assert b"Content-Length" not in build_request("GET", "/v2/health/ready", "h")


def test_build_request_refuses_header_injection():
    with pytest.raises(ValueError, match="line break"):
        build_request("GET", "/", "h", headers={"X-Evil": "a\r\nX-Injected: 1"})


# ----------------------------------------------------------------------------- the real server


def test_http1_engine_matches_aiohttp_on_the_real_server(rest_server):
    async def main():
        async with (
            AsyncRestClient(rest_server.url, engine="http1") as lean,
            AsyncRestClient(rest_server.url) as full,
        ):
            assert await lean.live() and await lean.ready()
            a, b = await lean.predict(PAYLOAD), await full.predict(PAYLOAD)
            assert a["predictions"] == b["predictions"] and len(a["predictions"]) == 2
            assert a["metadata"]["model"] == b["metadata"]["model"]
            # pre-encoded bodies (what `lesson loadtest` sends) give the same answer
            assert (await lean.predict(json.dumps(PAYLOAD).encode()))["predictions"] == a[
                "predictions"
            ]
            assert await lean.repository_index() == await full.repository_index()
            with pytest.raises(UnknownModelError):
                await lean.predict(PAYLOAD, model="no-such-model")
            with pytest.raises(BadRequestError, match="instances"):
                await lean.predict({"instances": [["x"]]})
            # many sequential requests on one keep-alive connection
            for _ in range(50):
                assert len((await lean.predict(PAYLOAD))["predictions"]) == 2
            assert len(lean._pool._open) == 1

    run(main())


def test_a_v2_request_encoded_once_answers_as_the_v2_client_does(rest_server):
    """`lesson loadtest --protocol v2` sends PreparedRequests: same answer as encoding each time."""

    async def main():
        async with AsyncRestClient(rest_server.url, engine="http1", protocol="v2") as lean:
            prepared = await lean.prepare_v2(PAYLOAD)
            once, each_time = await lean.predict(prepared), await lean.predict(PAYLOAD)
            assert once["predictions"] == each_time["predictions"] and len(once["predictions"]) == 2
            assert (await lean.predict(prepared))["predictions"] == once["predictions"]  # reusable
            with pytest.raises(UnknownModelError):
                await lean.predict(await lean.prepare_v2(PAYLOAD, model="no-such-model"))
        async with AsyncRestClient(rest_server.url, protocol="v2") as full:
            with pytest.raises(ValueError, match="http1"):
                await full.prepare_v2(PAYLOAD)

    run(main())
    result, _ = run_over_wire(
        rest_server.url,
        make_payloads(4, 2, count=8),
        concurrency=4,
        rate=None,
        max_requests=100,
        max_duration=10.0,
        warmup=5,
        protocol="v2",
    )
    assert result.successes == 100 and not result.errors, result.to_text()


def test_the_server_answers_with_content_length_never_chunked(rest_server):
    """The lean client relies on a well-kept parser anyway; this documents what the server sends."""

    async def main():
        pool = Http1Pool("127.0.0.1", rest_server.port, limit=2)
        body = json.dumps(PAYLOAD).encode()
        answers = [
            await pool.request(
                "POST",
                "/v1/models/averaged_ensemble:predict",
                body,
                {"Content-Type": "application/json"},
            ),
            await pool.request(
                "POST",
                "/v1/models/averaged_ensemble:predict",
                b"{",
                {"Content-Type": "application/json"},
            ),
            await pool.request("GET", "/v2/health/ready"),
            await pool.request("GET", "/v2/models/nope"),
        ]
        await pool.close()
        return answers

    answers = run(main())
    for status, headers, body in answers:
        assert "transfer-encoding" not in headers, headers
        assert int(headers["content-length"]) == len(body), (status, headers)
    statuses = [status for status, _, _ in answers]
    assert statuses[0] == 200 and statuses[1] in (400, 422) and statuses[2:] == [200, 404], statuses


def test_http1_engine_refuses_https_and_unknown_engines():
    with pytest.raises(ValueError, match="http://"):
        AsyncRestClient("https://127.0.0.1:1", engine="http1")
    with pytest.raises(ValueError, match="engine"):
        AsyncRestClient("http://127.0.0.1:1", engine="curl")


def test_http1_engine_connection_refused_is_a_typed_error():
    from lesson.servers.launch import free_port

    async def main():
        async with AsyncRestClient(
            f"http://127.0.0.1:{free_port()}", engine="http1", model="m"
        ) as client:
            await client.predict(PAYLOAD)

    with pytest.raises(ServerUnavailableError):
        run(main())


def test_run_over_wire_uses_the_lean_client(rest_server):
    result, client = run_over_wire(
        rest_server.url,
        make_payloads(4, 2, count=8),
        concurrency=4,
        rate=None,
        max_requests=200,
        max_duration=10.0,
        warmup=5,
    )
    assert result.successes == 200 and not result.errors, result.to_text()
    assert client["generator"].startswith("lean HTTP/1.1 client")
    opened, _ = run_over_wire(
        rest_server.url,
        make_payloads(4, 1, count=8),
        concurrency=16,
        rate=200.0,
        max_requests=100,
        max_duration=2.0,
        warmup=5,
    )
    assert opened.successes == 100 and opened.mode == "open", opened.to_text()


# ----------------------------------------------------------------------------- raw test servers


class RawServer:
    """A tiny HTTP server on 127.0.0.1 whose answers the test scripts: ``answer(n)`` for the n-th
    request gives bytes to send, ``b""`` to hang up without answering, None to stay silent."""

    def __init__(self, answer):
        self.answer = answer
        self.connections = 0
        self.requests = 0

    async def handle(self, reader, writer):
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode().split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                await reader.readexactly(length)
                self.requests += 1
                answer = self.answer(self.requests)
                if answer is None:
                    await asyncio.sleep(30)
                    return
                if answer == b"":  # hang up without answering
                    break
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer or answer.startswith(b"GARBAGE"):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.server.close()


def ok(body=b'{"ok": true}', extra=b""):
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def test_chunked_response_is_decoded():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"

    async def main():
        async with RawServer(lambda n: chunked) as server:
            pool = Http1Pool("127.0.0.1", server.port)
            first = await pool.request("GET", "/")
            second = await pool.request("GET", "/")
            await pool.close()
            return first, second, server.connections

    first, second, connections = run(main())
    assert first[0] == 200 and first[2] == b"hello world" and second[2] == b"hello world"
    assert connections == 1  # kept alive across chunked responses


def test_connection_close_is_honoured_and_not_reused():
    async def main():
        async with RawServer(lambda n: ok(extra=b"Connection: close\r\n")) as server:
            pool = Http1Pool("127.0.0.1", server.port)
            for _ in range(3):
                status, headers, body = await pool.request("GET", "/")
                assert (status, body) == (200, b'{"ok": true}')
            await pool.close()
            return server.connections

    assert run(main()) == 3


def test_a_connection_the_server_closes_after_answering_is_replaced():
    """Like an idle keep-alive timeout: the server closes without saying so; the next request
    either sees the close first (skips the connection) or fails before any answer and is retried."""

    class Closing(RawServer):
        async def handle(self, reader, writer):
            self.connections += 1
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            writer.write(ok())
            await writer.drain()
            writer.close()

    async def main():
        async with Closing(None) as server:
            pool = Http1Pool("127.0.0.1", server.port)
            statuses = []
            for i in range(6):
                statuses.append((await pool.request("GET", "/"))[0])
                if i % 2:
                    await asyncio.sleep(0.02)  # sometimes the close is seen before the next request
            await pool.close()
            return statuses, server.connections

    statuses, connections = run(main())
    assert statuses == [200] * 6 and connections == 6


def test_a_reused_connection_failing_twice_is_an_error_not_a_loop():
    async def main():
        async with RawServer(lambda n: ok() if n == 1 else b"") as server:
            pool = Http1Pool("127.0.0.1", server.port)
            assert (await pool.request("GET", "/"))[0] == 200
            with pytest.raises(Http1Error, match="closed"):
                await pool.request("GET", "/")
            await pool.close()
            return server.connections, server.requests

    # the reused connection failed before any answer: one retry on a new connection, then the error
    assert run(main()) == (2, 3)


def test_a_silent_server_times_out_and_garbage_is_an_error():
    async def silent():
        async with RawServer(lambda n: None) as server:
            pool = Http1Pool("127.0.0.1", server.port, timeout=0.2)
            try:
                await pool.request("GET", "/")
            finally:
                await pool.close()

    with pytest.raises(TimeoutError):
        run(silent())

    async def garbage():
        async with RawServer(lambda n: b"GARBAGE\r\n\r\n") as server:
            pool = Http1Pool("127.0.0.1", server.port)
            try:
                await pool.request("GET", "/")
            finally:
                await pool.close()

    with pytest.raises(Http1Error):
        run(garbage())


def test_the_client_maps_a_timeout_to_a_typed_error():
    async def main():
        async with (
            RawServer(lambda n: None) as server,
            AsyncRestClient(
                f"http://127.0.0.1:{server.port}", engine="http1", model="m", timeout=0.2
            ) as client,
        ):
            await client.predict(PAYLOAD)

    with pytest.raises(InferenceError, match="no answer within"):
        run(main())


def test_the_pool_bounds_connections():
    async def main():
        async with RawServer(lambda n: ok()) as server:
            pool = Http1Pool("127.0.0.1", server.port, limit=3)
            answers = await asyncio.gather(*(pool.request("GET", "/") for _ in range(30)))
            await pool.close()
            return answers, server.connections

    answers, connections = run(main())
    assert all(a[0] == 200 for a in answers) and connections <= 3
    with pytest.raises(ValueError, match="limit"):
        Http1Pool("127.0.0.1", 1, limit=0)


def test_client_bound_flag_for_closed_and_open_loops():
    from lesson.loadtest import LoadTestResult
    from lesson.loadtest.wire import _client_bound

    closed = LoadTestResult(0.001, 1000.0, 1.0, mode="closed", requests=1000)
    assert _client_bound(closed, 0.95) and not _client_bound(closed, 0.5)
    # open loop: a busy scheduler that kept its schedule is not the bottleneck ...
    on_time = LoadTestResult(0.001, 500.0, 1.0, mode="open", requests=1000, late_sends=3)
    assert not _client_bound(on_time, 0.95)
    # ... one that fell behind is
    behind = LoadTestResult(0.001, 500.0, 1.0, mode="open", requests=1000, late_sends=50)
    assert _client_bound(behind, 0.95) and not _client_bound(behind, 0.3)
    assert _client_bound(
        LoadTestResult(0.001, 500.0, 1.0, mode="open", requests=900, unsent=100), 0.9
    )
