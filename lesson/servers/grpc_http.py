"""The gRPC server's HTTP side port (``--metrics-port``): Prometheus ``/metrics`` and, with
``--debug-routes``, ``GET /debug/spans`` (the traced calls' spans, kept in the server process).

gRPC speaks HTTP/2 with protobuf on its own port; a scraper and a notebook want plain HTTP. So
the metrics port, served by prometheus_client's WSGI app on a thread, gets one more route when
the server runs for a lesson: the spans a `--trace-ratio` server kept
(`lesson.clients.tracing.Tracing.take`), as JSON, the same answer as the REST and generative
servers' ``/debug/spans`` (409 while tracing is off). Never on a server others use.
"""

from __future__ import annotations

import json
import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

__all__ = ["start_http_port"]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:  # no access log on stderr
        pass


def start_http_port(
    host: str, port: int, registry: Any, tracing: Any = None, debug_routes: bool = False
) -> WSGIServer:
    """Serve ``/metrics`` (and ``/debug/spans`` if ``debug_routes``) on ``host:port`` from a
    daemon thread; returns the server (``shutdown()`` stops it)."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict, start_response: Any) -> list[bytes]:
        if not (debug_routes and environ.get("PATH_INFO") == "/debug/spans"):
            return metrics(environ, start_response)
        if tracing is None:
            status, body = "409 Conflict", {"error": "tracing is off: start with --trace-ratio"}
        else:
            status, body = "200 OK", {"ratio": tracing.ratio, "spans": tracing.take()}
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    server_class = _Server6 if ":" in host else _Server  # an IPv6 address: its own family
    server = make_server(host, port, app, server_class, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="lesson-grpc-http", daemon=True).start()
    return server
