"""The Open Inference Protocol (V2, KServe / Triton) routes: metadata, model readiness,
the repository index, the model configuration (Triton's extension, which perf_analyzer reads)
and inference, JSON or with the binary tensor extension.

(Server liveness and readiness, ``/v2/health/*``, are in :mod:`lesson.servers.rest.health`.)
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from lesson.core.v2 import (
    HEADER_LENGTH,
    encode_infer_response,
    parse_infer_request,
    split_body,
)
from lesson.servers.errors import classify
from lesson.servers.openapi import (
    EXAMPLE_CONFIG,
    EXAMPLE_METADATA,
    EXAMPLE_V2_REQUEST,
    EXAMPLE_V2_RESPONSE,
    INFER_ERRORS,
    body_doc,
    json_example,
)
from lesson.servers.rest.http import error, error_for, read_body
from lesson.servers.rest.state import ModelName, ModelVersion, state_of

__all__ = ["R_V2_INFER", "R_V2_INFER_VERSION", "add_routes"]

R_V2_INFER = "/v2/models/{name}/infer"
R_V2_INFER_VERSION = "/v2/models/{name}/versions/{version}/infer"


# ---------------------------------------------------------------- metadata
async def server_metadata(request: Request) -> Response:
    return JSONResponse(state_of(request).backend.server_metadata())


def _metadata(request: Request, name: str, version: str | None) -> Response:
    try:
        return JSONResponse(state_of(request).backend.model_metadata(name, version))
    except Exception as exc:  # an unknown model answers 404, anything else 500
        return error_for(exc)


async def model_metadata(name: ModelName, request: Request) -> Response:
    return _metadata(request, name, None)


async def model_version_metadata(
    name: ModelName, version: ModelVersion, request: Request
) -> Response:
    return _metadata(request, name, version)


# ---------------------------------------------------------------- model configuration (extension)
def _config(request: Request, name: str, version: str | None) -> Response:
    try:
        return JSONResponse(state_of(request).backend.model_config(name, version))
    except Exception as exc:  # an unknown model answers 404, anything else 500
        return error_for(exc)


async def model_config(name: ModelName, request: Request) -> Response:
    return _config(request, name, None)


async def model_version_config(
    name: ModelName, version: ModelVersion, request: Request
) -> Response:
    return _config(request, name, version)


# ---------------------------------------------------------------- model readiness
def _model_ready(request: Request, name: str, version: str | None) -> Response:
    try:
        is_ready = state_of(request).backend.model_ready(name, version)
    except Exception as exc:  # an unknown model answers 404, anything else 500
        return error_for(exc)
    return JSONResponse({"name": name, "ready": is_ready}, status_code=200 if is_ready else 503)


async def model_ready(name: ModelName, request: Request) -> Response:
    return _model_ready(request, name, None)


async def model_version_ready(name: ModelName, version: ModelVersion, request: Request) -> Response:
    return _model_ready(request, name, version)


# ---------------------------------------------------------------- repository index (extension)
async def repository_index(request: Request) -> Response:
    state = state_of(request)
    try:
        raw = await read_body(request, state.limit)
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            return error(400, 'body: expected a JSON object such as {"ready": true}')
        ready_only = body.get("ready", False)
        if not isinstance(ready_only, bool):
            return error(400, "ready: expected true or false")
    except ValueError as exc:
        info = classify(exc)
        return error(
            info.http_status if info.http_status != 500 else 400, f"body: invalid JSON ({exc})"
        )
    return JSONResponse(state.backend.repository_index(ready_only))


# ---------------------------------------------------------------- inference
async def _infer(name: str, version: str | None, request: Request) -> Response:
    """A V2 inference for one model (and version, when pinned), guarded like every route."""
    state = state_of(request)
    backend = state.backend

    async def work() -> Response:
        body = await read_body(request, state.limit)
        payload, tail = split_body(body, request.headers.get(HEADER_LENGTH), state.limit)
        parsed = parse_infer_request(payload, tail, backend.limits)
        result = await state.call_model(
            lambda: backend.infer(parsed, name, version),
            lambda: backend.infer_async(parsed, name, version),
        )
        content, header_length = encode_infer_response(
            result.model.name,
            result.model.version,
            result.outputs,
            parsed.id,
            {"latency_ms": round(result.latency_ms, 4), "transport": "rest"},
        )
        if header_length is None:
            return Response(content, media_type="application/json")
        return Response(
            content,
            media_type="application/octet-stream",
            headers={HEADER_LENGTH: str(header_length)},
        )

    return await state.guarded(R_V2_INFER if version is None else R_V2_INFER_VERSION, name, work)


async def v2_infer(name: ModelName, request: Request) -> Response:
    return await _infer(name, None, request)


async def v2_infer_version(name: ModelName, version: ModelVersion, request: Request) -> Response:
    return await _infer(name, version, request)


def add_routes(app: FastAPI) -> None:
    """Add the V2 metadata, configuration, model-readiness, repository-index and inference routes to `app`."""
    app.get(
        "/v2",
        tags=["V2 metadata"],
        summary="Server metadata",
        responses={
            200: json_example(
                {
                    "name": "lesson",
                    "version": "0.1.0",
                    "extensions": ["binary_tensor_data", "model_repository", "model_configuration"],
                }
            )
        },
    )(server_metadata)
    app.get(
        "/v2/models/{name}",
        tags=["V2 metadata"],
        summary="Model metadata",
        responses={200: json_example(EXAMPLE_METADATA), 404: INFER_ERRORS[404]},
    )(model_metadata)
    app.get(
        "/v2/models/{name}/versions/{version}",
        tags=["V2 metadata"],
        summary="Model metadata (one version)",
        responses={200: json_example(EXAMPLE_METADATA), 404: INFER_ERRORS[404]},
    )(model_version_metadata)
    app.get(
        "/v2/models/{name}/config",
        tags=["V2 metadata"],
        summary="Model configuration (extension)",
        responses={200: json_example(EXAMPLE_CONFIG), 404: INFER_ERRORS[404]},
    )(model_config)
    app.get(
        "/v2/models/{name}/versions/{version}/config",
        tags=["V2 metadata"],
        summary="Model configuration (extension, one version)",
        responses={200: json_example(EXAMPLE_CONFIG), 404: INFER_ERRORS[404]},
    )(model_version_config)
    app.get(
        "/v2/models/{name}/ready",
        tags=["V2 health"],
        summary="Model readiness",
        responses={
            200: json_example({"name": "averaged_ensemble", "ready": True}),
            404: INFER_ERRORS[404],
        },
    )(model_ready)
    app.get(
        "/v2/models/{name}/versions/{version}/ready",
        tags=["V2 health"],
        summary="Model readiness (one version)",
        responses={
            200: json_example({"name": "averaged_ensemble", "ready": True}),
            404: INFER_ERRORS[404],
        },
    )(model_version_ready)
    app.post(
        "/v2/repository/index",
        tags=["V2 metadata"],
        summary="Model repository index (extension)",
        responses={
            200: json_example(
                [{"name": "averaged_ensemble", "version": "1", "state": "READY", "reason": ""}]
            )
        },
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {"schema": {"type": "object"}, "example": {"ready": False}}
                },
            }
        },
    )(repository_index)
    app.post(
        R_V2_INFER,
        tags=["V2 inference"],
        summary="Inference (Open Inference Protocol)",
        responses={200: json_example(EXAMPLE_V2_RESPONSE), **INFER_ERRORS},
        openapi_extra=body_doc(
            EXAMPLE_V2_REQUEST,
            "Tensors as JSON, or JSON followed by raw bytes with the "
            f"`{HEADER_LENGTH}` header (binary tensor extension).",
        ),
    )(v2_infer)
    app.post(
        R_V2_INFER_VERSION,
        tags=["V2 inference"],
        summary="Inference on one model version",
        responses={200: json_example(EXAMPLE_V2_RESPONSE), **INFER_ERRORS},
        openapi_extra=body_doc(EXAMPLE_V2_REQUEST, "As for `/v2/models/{name}/infer`."),
    )(v2_infer_version)
