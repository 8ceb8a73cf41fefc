"""Traces of the servers' requests (``--trace-ratio``): a SERVER span per inference request,
an ``infer`` span under it, and under that the wait in the micro-batcher's queue and the model
call that served the request.

Off by default, and then free: this module (and the OpenTelemetry SDK) is imported only when
`ServerOptions.trace_ratio` is set, and the backend's methods are left untouched. On,
`trace_backend` replaces one backend's ``score`` and ``predict_rows`` with traced wrappers;
the REST app adds `TracingMiddleware`, the gRPC server `TracingInterceptor`. Spans stay in
the process (`lesson.clients.tracing.Tracing`, a bounded buffer): ``GET /debug/spans`` returns
them (``--debug-routes``; REST on its port, gRPC on its ``--metrics-port``,
`lesson.servers.grpc_http`). The generative server uses the same middleware, with its own
phase spans (`lesson.servers.llm.tracing`).

Why not opentelemetry-instrumentation-asgi / -grpc: the ASGI middleware also opens internal
``http receive``/``http send`` spans unless told not to, and the gRPC instrumentor patches
``grpc.server`` for the whole process; both are beta (0.x) packages, and neither was measured
here against these spans. The lesson needs
one span per request, the W3C ``traceparent`` read from a header or the call's metadata, and
the batcher's timings: a 30-line ASGI middleware and a gRPC interceptor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import trace

from lesson.clients.tracing import Tracing
from lesson.patterns.microbatching.common import BATCH_TIMING

if TYPE_CHECKING:
    from lesson.servers.backend import InferenceBackend

__all__ = ["INFER", "MODEL", "QUEUE", "TracingInterceptor", "TracingMiddleware", "trace_backend"]

INFER, QUEUE, MODEL = "infer", "batcher.queue", "model"
_SERVER = trace.SpanKind.SERVER


def trace_backend(backend: InferenceBackend, ratio: float) -> Tracing:
    """Trace this backend's inference (sampled at ``ratio``); returns its `Tracing`."""
    tracing = Tracing(ratio, "lesson-server", at_door=True)
    tracer = tracing.tracer
    plain_score, plain_rows = backend.score, backend.predict_rows
    batching = backend.options.max_batch_size is not None

    async def score(rows: Any, *, model: str | None = None, version: str | None = None) -> Any:
        if not trace.get_current_span().is_recording():
            return await plain_score(rows, model=model, version=version)
        with _infer_span(tracer):
            return await plain_score(rows, model=model, version=version)

    def predict_rows(rows: Any, *, model: str | None = None, version: str | None = None) -> Any:
        current = trace.get_current_span()
        if not current.is_recording():  # not sampled
            return plain_rows(rows, model=model, version=version)
        if getattr(current, "name", None) == INFER:  # REST: `score` opened it (inline or offload)
            if batching:  # a threaded batcher behind `offload` reports its own call
                return plain_rows(rows, model=model, version=version)
            with tracer.start_as_current_span(MODEL):
                return plain_rows(rows, model=model, version=version)
        with _infer_span(tracer):  # gRPC: straight from the servicer
            if batching:  # the batcher reports the queue and the model call
                return plain_rows(rows, model=model, version=version)
            with tracer.start_as_current_span(MODEL):
                return plain_rows(rows, model=model, version=version)

    backend.score = score  # type: ignore[method-assign]
    backend.predict_rows = predict_rows
    return tracing


@contextmanager
def _infer_span(tracer: trace.Tracer) -> Iterator[None]:
    """An ``infer`` span; if the micro-batcher served the request, its ``batcher.queue`` (from
    the span's start until the model call began) and ``model`` (the call) children."""
    timing: list[int] = []
    token = BATCH_TIMING.set(timing)
    try:
        with tracer.start_as_current_span(INFER) as span:
            try:
                yield
            finally:
                if len(timing) >= 3:
                    parent = trace.set_span_in_context(span)
                    started, ended, requests = timing[-3:]
                    queued = tracer.start_span(QUEUE, parent, start_time=span.start_time)
                    queued.end(end_time=max(started, span.start_time))
                    call = tracer.start_span(
                        MODEL, parent, start_time=started, attributes={"batch.requests": requests}
                    )
                    call.end(end_time=ended)
    finally:
        BATCH_TIMING.reset(token)


class TracingMiddleware:
    """ASGI middleware: a SERVER span per sampled POST request (the inference routes;
    ``/debug/*`` excepted), child of the caller's ``traceparent`` if one came."""

    def __init__(self, app: Any, tracing: Tracing) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"].startswith("/debug/")
        ):
            await self.app(scope, receive, send)
            return
        carrier = {
            key.decode(): value.decode("latin-1")
            for key, value in scope["headers"]
            if key in (b"traceparent", b"tracestate")
        }
        if not self.tracing.admits(carrier.get("traceparent")):  # not sampled: no span at all
            await self.app(scope, receive, send)
            return
        parent = self.tracing.extract(carrier) if carrier else None
        name = f"POST {scope['path']}"
        with self.tracing.tracer.start_as_current_span(name, parent, kind=_SERVER) as span:

            async def noted(message: dict) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, noted)


class TracingInterceptor(grpc.ServerInterceptor):
    """gRPC server interceptor: a SERVER span per ``ModelInfer`` call, child of the
    ``traceparent`` in the call's metadata if one came."""

    def __init__(self, tracing: Tracing) -> None:
        self.tracing = tracing

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or not method.endswith("/ModelInfer"):
            return handler
        carrier = {
            key: value
            for key, value in handler_call_details.invocation_metadata or ()
            if key in ("traceparent", "tracestate")
        }
        if not self.tracing.admits(carrier.get("traceparent")):  # not sampled: no span at all
            return handler
        parent = self.tracing.extract(carrier) if carrier else None
        tracer, inner = self.tracing.tracer, handler.unary_unary

        def traced(request: Any, context: grpc.ServicerContext) -> Any:
            with tracer.start_as_current_span(method, parent, kind=_SERVER):
                return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            traced,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
