"""The REST server: a FastAPI app over the core service, V1 and the Open Inference Protocol V2.

Run it::

    lesson serve rest --host 127.0.0.1 --port 8000        # uvicorn with httptools + uvloop
    curl -s localhost:8000/v2/health/ready
    curl -s -XPOST localhost:8000/v1/models/averaged_ensemble:predict -d '{"instances": [0.2, 0.4]}'

Routes: `POST /v1/models/{name}:predict` (the original lesson's schema), the V2 health,
metadata, inference and repository-index routes, `GET /metrics` (Prometheus) and `/docs`.
Every V2 error, validation errors included, is `{"error": "..."}` (the protocol's shape, the
one V2 clients read). Bodies are read by hand (not by pydantic) so that the body bound (413),
the binary tensor extension and the error shape are all under control.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Awaitable, Callable

from typing import Annotated

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from lesson.servers.backend import InferenceBackend, PredictFn, ServerOptions
from lesson.servers.errors import OverloadedError, RequestTimeoutError, classify
from lesson.servers.metrics import ServerMetrics
from lesson.servers.openapi import (
    EXAMPLE_METADATA,
    EXAMPLE_V1_REQUEST,
    EXAMPLE_V1_RESPONSE,
    EXAMPLE_V2_REQUEST,
    EXAMPLE_V2_RESPONSE,
    INFER_ERRORS,
    add_offline_docs,
    body_doc,
    error_example,
    json_example,
    offline_docs_settings,
)
from lesson.core.service import PredictionService
from lesson.core.v2 import HEADER_LENGTH, V2TooLargeError, encode_infer_response, parse_infer_request, split_body

ModelName = Annotated[str, Path(description="A registered model's name.", examples=["averaged_ensemble"])]
ModelVersion = Annotated[str, Path(description="A version of that model.", examples=["1"])]

R_V1_PREDICT = "/v1/models/{name}:predict"
R_V1_PREDICT_VERSION = "/v1/models/{name}/versions/{version}:predict"
_DRAIN_LIMIT = 16 << 20  # bytes of an over-bound body read and dropped before answering 413
R_V2_INFER = "/v2/models/{name}/infer"
R_V2_INFER_VERSION = "/v2/models/{name}/versions/{version}/infer"

# ---------------------------------------------------------------- helpers
def _error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) anything over `limit` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise V2TooLargeError("content-length", f"expected a byte count, got {declared!r}")
        if int(declared) > limit:
            if int(declared) <= _DRAIN_LIMIT:
                # Read and drop the body (bounded) so the client, still sending, gets the 413
                # instead of a broken pipe; larger bodies are cut off at once.
                async for _ in request.stream():
                    pass
            raise V2TooLargeError("body", f"{declared} bytes is over the bound of {limit}")
        return await request.body()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise V2TooLargeError("body", f"over the bound of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _Runner:
    """Runs the model inline (fast) or in a thread pool with a real timeout (`offload`), or
    awaits it on the event loop (micro-batching, `run_async`)."""

    def __init__(self, backend: InferenceBackend) -> None:
        options = backend.options
        self.timeout_s = options.timeout_s
        # batching through a sync hook (`predict_fn`) makes requests wait for each other: threads
        self.offload = options.offload or (options.max_batch_size is not None and not backend.async_batching)
        self.pool = ThreadPoolExecutor(max_workers=options.max_in_flight, thread_name_prefix="lesson-model") if self.offload else None

    async def run(self, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        if self.pool is None:
            result = fn()
        else:
            loop = asyncio.get_running_loop()
            try:
                result = await asyncio.wait_for(loop.run_in_executor(self.pool, fn), self.timeout_s)
            except asyncio.TimeoutError:
                raise RequestTimeoutError(f"request took longer than the server's {self.timeout_s} s timeout") from None
        if time.perf_counter() - started > self.timeout_s:  # inline: the answer is late, drop it
            raise RequestTimeoutError(f"request took longer than the server's {self.timeout_s} s timeout")
        return result

    async def run_async(self, work: Awaitable[Any]) -> Any:
        """Await `work` on the loop (micro-batched requests wait there, not in threads)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await work
        except TimeoutError:
            raise RequestTimeoutError(f"request took longer than the server's {self.timeout_s} s timeout") from None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------- the app
def create_app(
    backend: InferenceBackend | None = None,
    *,
    service: PredictionService | None = None,
    options: ServerOptions | None = None,
    predict_fn: PredictFn | None = None,
    **option_values: Any,
) -> FastAPI:
    """Build the FastAPI app.

    Args:
        backend: a ready-made backend (shared state); otherwise one is built from the rest.
        service: the core service to serve (default: the real model's registry, see
            `lesson.servers.backend.DEFAULT_SERVER_REGISTRY`).
        options: server options; `**option_values` are a shortcut (`create_app(max_in_flight=4)`).
        predict_fn: replaces `service.predict_rows` (micro-batching hook).

    Returns:
        The app; readiness turns true once its lifespan has warmed the models.
    """
    if backend is None:
        if options is None:
            options = ServerOptions.from_dict(option_values)
        backend = InferenceBackend(service, options, predict_fn)
    metrics = ServerMetrics("rest")
    runner = _Runner(backend)
    limit = backend.limits.max_body_bytes
    in_flight = metrics.in_flight_gauge

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        backend.start_warm_up()
        yield
        backend.start_draining()
        runner.close()
        for meta in backend.registry.list():  # micro-batchers: stop their workers on this loop
            aclose = getattr(backend.registry.get(meta.name, meta.version), "aclose", None)
            if aclose is not None:
                await aclose()

    app = FastAPI(
        title="Serving Patterns Lab — model server",
        version="0.1.0",
        description=(
            "The lesson's models over REST: the original V1 route and the Open Inference "
            "Protocol (V2), with the binary tensor extension. Errors on V2 routes are "
            '`{"error": "..."}`.'
        ),
        lifespan=lifespan,
        **offline_docs_settings(),
    )
    add_offline_docs(app)
    app.state.backend = backend
    app.state.metrics = metrics

    # -------------------------------------------------------- errors in the protocol's shape
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", []))
        return _error(422, f"{where}: {first.get('msg')}", detail=json.loads(json.dumps(exc.errors(), default=str)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}", headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, classify(exc).message)

    def _observe(route: str, name: str | None, status: int, started: float) -> None:
        metrics.observe(route, backend.model_label(name), status, time.perf_counter() - started)

    async def _guarded(route: str, name: str | None, work: Callable[[], Any], *, v1: bool = False) -> Response:
        """Shed, drain, count and map errors around one inference request."""
        started = time.perf_counter()
        status = 500
        try:
            backend.check_serving()
            if not backend.try_acquire():
                raise OverloadedError(backend.overload_message())
            in_flight.inc()
            try:
                response = await work()
            finally:
                in_flight.dec()
                backend.release()
            status = response.status_code
            return response
        except Exception as exc:  # every failure becomes a typed answer, never a bare 500
            info = classify(exc, v1=v1)
            status = info.http_status
            headers = {"Retry-After": "1"} if status == 503 else None
            extra = {"detail": exc.errors} if v1 and hasattr(exc, "errors") else {}
            return _error(status, info.message, headers, **extra)
        finally:
            _observe(route, name, status, started)

    # -------------------------------------------------------- V1
    async def _v1_answer(route: str, name: str, version: str | None, request: Request) -> Response:
        """A V1 prediction for one model (and version, when pinned), guarded like every route."""
        async def work() -> Response:
            body = await _read_body(request, limit)
            if backend.async_batching:
                result = await runner.run_async(backend.predict_v1_async(body, name, version, "rest"))
            else:
                result = await runner.run(lambda: backend.predict_v1(body, name, version, "rest"))
            return JSONResponse(result)

        return await _guarded(route, name, work, v1=True)

    @app.post(
        R_V1_PREDICT,
        tags=["V1"],
        summary="Predict (the original lesson's schema)",
        responses={200: json_example(EXAMPLE_V1_RESPONSE), 404: INFER_ERRORS[404], 413: INFER_ERRORS[413],
                   422: error_example("Invalid body", "body.instances.1: Input should be a number, got str (type_error)"),
                   503: INFER_ERRORS[503]},
        openapi_extra=body_doc(EXAMPLE_V1_REQUEST, '`{"instances": [...]}`: a flat feature vector is one instance, a list of rows is a batch.'),
    )
    async def v1_predict(name: ModelName, request: Request) -> Response:
        return await _v1_answer(R_V1_PREDICT, name, None, request)

    @app.post(
        R_V1_PREDICT_VERSION, tags=["V1"], summary="Predict with one model version (pinned)",
        responses={200: json_example(EXAMPLE_V1_RESPONSE), 404: INFER_ERRORS[404], 413: INFER_ERRORS[413],
                   503: INFER_ERRORS[503]},
        openapi_extra=body_doc(EXAMPLE_V1_REQUEST, "As for `/v1/models/{name}:predict`, answered by this version."),
    )
    async def v1_predict_version(name: ModelName, version: ModelVersion, request: Request) -> Response:
        return await _v1_answer(R_V1_PREDICT_VERSION, name, version, request)

    @app.get("/v1/models/{name}", tags=["V1"], summary="Model status (V1)",
             responses={200: json_example({"name": "averaged_ensemble", "ready": True}), 404: INFER_ERRORS[404]})
    async def v1_model(name: ModelName) -> Response:
        try:
            ready = backend.model_ready(name)
        except Exception as exc:
            info = classify(exc)
            return _error(info.http_status, info.message)
        return JSONResponse({"name": name, "ready": ready})

    # -------------------------------------------------------- V2 health and metadata
    @app.get("/v2/health/live", tags=["V2 health"], summary="Liveness: the process answers",
             responses={200: json_example({"live": True})})
    async def live() -> Response:
        return JSONResponse({"live": backend.live})

    @app.get("/v2/health/ready", tags=["V2 health"], summary="Readiness: models warmed, not draining",
             responses={200: json_example({"ready": True}), 503: json_example({"ready": False, "error": "warming up"}, "Not ready")})
    async def ready() -> Response:
        if backend.ready:
            return JSONResponse({"ready": True})
        reason = "draining" if backend.draining else (backend.state.warmup_error or "warming up")
        return JSONResponse({"ready": False, "error": reason}, status_code=503)

    @app.get("/v2", tags=["V2 metadata"], summary="Server metadata",
             responses={200: json_example({"name": "lesson", "version": "0.1.0", "extensions": ["binary_tensor_data", "model_repository"]})})
    async def server_metadata() -> Response:
        return JSONResponse(backend.server_metadata())

    def _metadata(name: str, version: str | None) -> Response:
        try:
            return JSONResponse(backend.model_metadata(name, version))
        except Exception as exc:
            info = classify(exc)
            return _error(info.http_status, info.message)

    @app.get("/v2/models/{name}", tags=["V2 metadata"], summary="Model metadata",
             responses={200: json_example(EXAMPLE_METADATA), 404: INFER_ERRORS[404]})
    async def model_metadata(name: ModelName) -> Response:
        return _metadata(name, None)

    @app.get("/v2/models/{name}/versions/{version}", tags=["V2 metadata"], summary="Model metadata (one version)",
             responses={200: json_example(EXAMPLE_METADATA), 404: INFER_ERRORS[404]})
    async def model_version_metadata(name: ModelName, version: ModelVersion) -> Response:
        return _metadata(name, version)

    def _model_ready(name: str, version: str | None) -> Response:
        try:
            is_ready = backend.model_ready(name, version)
        except Exception as exc:
            info = classify(exc)
            return _error(info.http_status, info.message)
        return JSONResponse({"name": name, "ready": is_ready}, status_code=200 if is_ready else 503)

    @app.get("/v2/models/{name}/ready", tags=["V2 health"], summary="Model readiness",
             responses={200: json_example({"name": "averaged_ensemble", "ready": True}), 404: INFER_ERRORS[404]})
    async def model_ready(name: ModelName) -> Response:
        return _model_ready(name, None)

    @app.get("/v2/models/{name}/versions/{version}/ready", tags=["V2 health"], summary="Model readiness (one version)",
             responses={200: json_example({"name": "averaged_ensemble", "ready": True}), 404: INFER_ERRORS[404]})
    async def model_version_ready(name: ModelName, version: ModelVersion) -> Response:
        return _model_ready(name, version)

    @app.post("/v2/repository/index", tags=["V2 metadata"], summary="Model repository index (extension)",
              responses={200: json_example([{"name": "averaged_ensemble", "version": "1", "state": "READY", "reason": ""}])},
              openapi_extra={"requestBody": {"required": False, "content": {"application/json": {"schema": {"type": "object"}, "example": {"ready": False}}}}})
    async def repository_index(request: Request) -> Response:
        try:
            raw = await _read_body(request, limit)
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                return _error(400, "body: expected a JSON object such as {\"ready\": true}")
            ready_only = body.get("ready", False)
            if not isinstance(ready_only, bool):
                return _error(400, "ready: expected true or false")
        except ValueError as exc:
            info = classify(exc)
            return _error(info.http_status if info.http_status != 500 else 400, f"body: invalid JSON ({exc})")
        return JSONResponse(backend.repository_index(ready_only))

    # -------------------------------------------------------- V2 inference
    async def _infer(name: str, version: str | None, request: Request) -> Response:
        async def work() -> Response:
            body = await _read_body(request, limit)
            payload, tail = split_body(body, request.headers.get(HEADER_LENGTH), limit)
            parsed = parse_infer_request(payload, tail, backend.bounds)
            if backend.async_batching:
                result = await runner.run_async(backend.infer_async(parsed, name, version))
            else:
                result = await runner.run(lambda: backend.infer(parsed, name, version))
            content, header_length = encode_infer_response(
                result.model.name, result.model.version, result.outputs, parsed.id,
                {"latency_ms": round(result.latency_ms, 4), "transport": "rest"},
            )
            if header_length is None:
                return Response(content, media_type="application/json")
            return Response(content, media_type="application/octet-stream", headers={HEADER_LENGTH: str(header_length)})

        return await _guarded(R_V2_INFER if version is None else R_V2_INFER_VERSION, name, work)

    @app.post(
        R_V2_INFER, tags=["V2 inference"], summary="Inference (Open Inference Protocol)",
        responses={200: json_example(EXAMPLE_V2_RESPONSE), **INFER_ERRORS},
        openapi_extra=body_doc(EXAMPLE_V2_REQUEST, "Tensors as JSON, or JSON followed by raw bytes with the "
                                f"`{HEADER_LENGTH}` header (binary tensor extension)."),
    )
    async def v2_infer(name: ModelName, request: Request) -> Response:
        return await _infer(name, None, request)

    @app.post(
        R_V2_INFER_VERSION, tags=["V2 inference"], summary="Inference on one model version",
        responses={200: json_example(EXAMPLE_V2_RESPONSE), **INFER_ERRORS},
        openapi_extra=body_doc(EXAMPLE_V2_REQUEST, "As for `/v2/models/{name}/infer`."),
    )
    async def v2_infer_version(name: ModelName, version: ModelVersion, request: Request) -> Response:
        return await _infer(name, version, request)

    # -------------------------------------------------------- operations
    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             responses={200: {"description": "Prometheus text format", "content": {"text/plain": {"example": "lesson_requests_total{...} 3.0"}}}})
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/docs")

    return app


def create_app_from_env() -> FastAPI:
    """App factory for `uvicorn --factory` with several workers: options from $LESSON_SERVER_OPTIONS."""
    import os

    return create_app(options=ServerOptions.from_dict(json.loads(os.environ.get("LESSON_SERVER_OPTIONS", "{}"))))
